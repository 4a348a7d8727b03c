/**
 * Blob transports: put/get of individual 1 MiB blobs through bs's gRPC service (RpcStore), the HTTP API
 * (HttpStore) and the direct store (SqliteStore, what the server uses), in one run, sequential awaits.
 * Part 4 of bench/blob.ts; alone: `node --import tsx bench/blob-rpc.ts` (env BENCH_RPC_MIB, default 128).
 */
import { createCipheriv } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BlobStore, SqliteStore, HttpStore, RpcStore, startServer, blobMount, type BlobMount } from './plexus.js';

const MiB = 1 << 20;

function blobs(count: number, seed: number): Buffer[] {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Array.from({ length: count }, () => c.update(Buffer.alloc(MiB)));
}

/** Markdown rows (and log lines) of the transport comparison. */
export async function benchTransports(totalMiB = Number(process.env.BENCH_RPC_MIB ?? 128)): Promise<string[]> {
  const rows = ['', `### 4. Transports: ${totalMiB} x 1 MiB blobs, put then get, sequential awaits, server on loopback (SqliteStore behind it)`, '',
    '| transport | put MB/s | get MB/s | put vs direct | get vs direct |', '|---|---|---|---|---|'];
  console.log(`# 4. transports: ${totalMiB} x 1 MiB blobs`);
  const root = await fs.mkdtemp(join(tmpdir(), 'plexus-bench-rpc-'));
  const server = await startServer({ port: 0, dataDir: join(root, 'server'), logLevel: 'warn', mounts: [blobMount], env: {} });
  try {
    const grpc = (server.mounts.find((m) => m.name === 'blob') as BlobMount).grpcAddress;
    const contenders: [string, () => BlobStore][] = [
      ['direct SqliteStore', () => new SqliteStore(join(root, 'direct', 'blob.db'))],
      ['HTTP API (HttpStore)', () => new HttpStore(server.url)],
      ['bs gRPC (RpcStore)', () => new RpcStore(grpc)],
    ];
    const results: { name: string; put: number; get: number }[] = [];
    for (const [i, [name, make]] of contenders.entries()) {
      const data = blobs(totalMiB, 100 + i);
      const store = make();
      let t = performance.now();
      const refs = [];
      for (const b of data) refs.push((await store.put(b)).ref);
      const put = (performance.now() - t) / 1000;
      t = performance.now();
      for (const r of refs) await store.get(r);
      const get = (performance.now() - t) / 1000;
      await store.close();
      results.push({ name, put: totalMiB / put, get: totalMiB / get });
      console.log(`  ${name}: put ${(totalMiB / put).toFixed(1)} MB/s, get ${(totalMiB / get).toFixed(1)} MB/s`);
    }
    const d = results[0]!;
    for (const r of results) rows.push(`| ${r.name} | ${r.put.toFixed(1)} | ${r.get.toFixed(1)} | ${(r.put / d.put).toFixed(2)}x | ${(r.get / d.get).toFixed(2)}x |`);
  } finally {
    await server.close();
    await fs.rm(root, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log((await benchTransports()).join('\n'));
