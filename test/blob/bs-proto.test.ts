import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { BsStore } from '../../src/blob/bs/bs-store.js';
import { RpcStore } from '../../src/blob/bs/rpc-store.js';
import { getProto, putProto, typesOf, PROTO_TYPES_ANCHOR, descriptorOf } from '../../src/blob/bs/proto-types.js';
import { refOf } from '../../src/blob/ref.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount, type BlobMount } from '../../src/server/blob.js';
import { tmpDir } from '../helpers/tmp.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const cli = (args: string[]) => promisify(execFile)(process.execPath, ['--import', import.meta.resolve('tsx'), join(process.cwd(), 'src/cli/main.ts'), ...args], { encoding: 'utf8' });

const Point = protobuf.parse('syntax = "proto3"; package demo; message Point { int32 x = 1; int32 y = 2; string label = 3; repeated int64 tags = 4; Inner inner = 5; message Inner { bool ok = 1; } }').root.lookupType('demo.Point');

describe('putProto / getProto / typesOf (bs anchor.PutProto)', () => {
  const servers: { server: PlexusServer; rm(): void }[] = [];
  after(async () => { for (const s of servers) { await s.server.close(); s.rm(); } });

  it('stores the message, its descriptor and the types map under bs\'s reserved anchor; decodes from the descriptor alone', async () => {
    const s = await BsStore.open(new MemoryStore());
    const msg = { x: 3, y: -4, label: 'here', tags: [1, 2], inner: { ok: true } };
    const r = await putProto(s, Point, msg);
    assert.equal(r.added, true);
    assert.equal(r.ref, refOf(Point.encode(Point.fromObject(msg)).finish()));
    const types = await typesOf(s, r.ref);
    assert.deepEqual(types, [refOf(descriptorOf(Point))]);
    const d = await getProto(s, r.ref);
    assert.equal(d.type, 'Point');
    assert.deepEqual(d.value, { x: 3, y: -4, label: 'here', tags: ['1', '2'], inner: { ok: true } });
    assert.deepEqual((await putProto(s, Point, msg)), { ref: r.ref, added: false });
    const names = [];
    for await (const n of s.anchorNames()) names.push(n);
    assert.deepEqual(names, [PROTO_TYPES_ANCHOR]);
    await assert.rejects(getProto(s, refOf(new Uint8Array([9]))), /no recorded protobuf type/);
  });

  it('concurrent putProto through gRPC loses no type (the set update is a compare-and-swap)', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
    servers.push({ server, rm: d.rm });
    const grpc = (server.mounts.find((m) => m.name === 'blob') as BlobMount).grpcAddress;
    const conns = [new RpcStore(grpc), new RpcStore(grpc), new RpcStore(grpc)];
    try {
      const msgs = Array.from({ length: 12 }, (_, i) => ({ x: i, label: `p${i}` }));
      const res = await Promise.all(msgs.map((m, i) => putProto(conns[i % 3]!, Point, m, { retries: 1000 })));
      const serverStore = (server.mounts.find((m) => m.name === 'blob') as BlobMount).store;
      // `plexus blob get REF --decode`, through the gRPC port and through the HTTP API
      for (const store of [`grpc://${grpc}`, server.url]) {
        const { stdout } = await cli(['blob', 'get', res[5]!.ref, '--decode', '--store', store]);
        const out = JSON.parse(stdout) as { type: string; value: { x: number; label: string } };
        assert.equal(out.type, 'Point');
        assert.equal(out.value.x, 5);
        assert.equal(out.value.label, 'p5');
      }
      // GET /blob/:ref/proto (what the dashboard shows): decoded for a typed blob, no types for a plain one, 404 for none
      const typed = await (await fetch(`${server.url}/blob/${res[5]!.ref}/proto`)).json() as { types: string[]; type: string; value: { x: number; label: string } };
      assert.deepEqual([typed.types.length, typed.type, typed.value.x, typed.value.label], [1, 'Point', 5, 'p5']);
      const plain = await serverStore.put(new TextEncoder().encode('not typed'));
      assert.deepEqual(await (await fetch(`${server.url}/blob/${plain.ref}/proto`)).json(), { ref: plain.ref, types: [] });
      const missing = await fetch(`${server.url}/blob/${refOf(new Uint8Array([7, 7]))}/proto`);
      assert.equal(missing.status, 404);
      assert.equal((await missing.json() as { error: { code: string } }).error.code, 'NOT_FOUND');
      for (const [i, r] of res.entries()) {
        assert.equal(r.added, true);
        assert.equal((await getProto(serverStore, r.ref)).value.label, `p${i}`);
        assert.equal((await typesOf(conns[0]!, r.ref)).length, 1);
      }
    } finally { for (const c of conns) await c.close(); }
  });
});
