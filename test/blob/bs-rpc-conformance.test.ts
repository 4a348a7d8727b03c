import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { RpcStore } from '../../src/blob/bs/rpc-store.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount, type BlobMount } from '../../src/server/blob.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { tmpDir } from '../helpers/tmp.js';

const servers: { server: PlexusServer; rm(): void }[] = [];
after(async () => { for (const s of servers) { await s.server.close(); s.rm(); } });

// RpcStore through a real gRPC connection to `plexus serve`'s bs rpc.Store service.
blobStoreConformance('rpc (bs gRPC to plexus serve)', async () => {
  const d = tmpDir();
  const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
  servers.push({ server, rm: d.rm });
  const grpc = (server.mounts.find((m) => m.name === 'blob') as BlobMount).grpcAddress;
  const stores: RpcStore[] = [];
  const open = async () => { const s = new RpcStore(grpc); stores.push(s); return s; };
  return { store: await open(), cleanup: async () => { for (const s of stores) await s.close(); }, open };
}, { concurrentWriters: 24 }); // every write swaps the one map root over gRPC; bs-rpc.test.ts runs 48 writers on 4 names


// Optional, by hand: PLEXUS_TEST_BS_RPC_SERVER="CMD ARGS..." runs the same suite against another bs
// rpc.Store server too, e.g. a Go program serving bs's own rpc.NewServer (test/fixtures/bs/gen:
// `gen serve ADDR DIR`). The command gets `127.0.0.1:0 DIR` appended (a fresh store per call) and must
// print its address as `on 127.0.0.1:PORT`. Unset (as in npm test), only plexus's server is tested.
const external = process.env.PLEXUS_TEST_BS_RPC_SERVER;
if (external) {
  const children: ChildProcess[] = [];
  after(() => { for (const c of children) c.kill(); });
  blobStoreConformance(`rpc (bs gRPC to ${external})`, async () => {
    const d = tmpDir();
    const [cmd, ...args] = external.split(' ');
    const child = spawn(cmd!, [...args, '127.0.0.1:0', d.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (b: Buffer) => { out += b; const m = /on (127\.0\.0\.1:\d+)/.exec(out); if (m) resolve(m[1]!); });
      child.once('exit', (code) => reject(new Error(`${external} exited (${code}) before printing its address`)));
    });
    const stores: RpcStore[] = [];
    const open = async () => { const s = new RpcStore(address); stores.push(s); return s; };
    return {
      store: await open(),
      cleanup: async () => { for (const s of stores) await s.close(); child.kill(); d.rm(); },
      open,
    };
  }, { concurrentWriters: 24 });
}
