import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Client, credentials, Metadata, status as Status } from '@grpc/grpc-js';
import { isPlexusError } from '../../src/errors.js';
import { MAX_BLOB_BYTES } from '../../src/limits.js';
import { refOf, refToBytes, ZERO_REF, type Ref } from '../../src/blob/ref.js';
import { RpcStore } from '../../src/blob/bs/rpc-store.js';
import { STORE_SERVICE } from '../../src/blob/bs/rpc-service.js';
import { EMPTY_MAP_REF } from '../../src/blob/bs/schema-map.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount, type BlobMount } from '../../src/server/blob.js';
import { HttpStore } from '../../src/blob/store/http.js';
import { tmpDir } from '../helpers/tmp.js';

const servers: { server: PlexusServer; rm(): void }[] = [];
after(async () => { for (const s of servers) { await s.server.close(); s.rm(); } });

async function serve(extra: Record<string, unknown> = {}): Promise<{ server: PlexusServer; grpc: string }> {
  const d = tmpDir();
  const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {}, ...extra });
  servers.push({ server, rm: d.rm });
  return { server, grpc: (server.mounts.find((m) => m.name === 'blob') as BlobMount).grpcAddress };
}

/** A raw call with arbitrary request bytes (no serializer), answering the status code. */
function rawCall(address: string, path: string, body: Buffer, md = new Metadata()): Promise<{ code: number; details: string; response?: Buffer }> {
  const c = new Client(address, credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  return new Promise((resolve) => {
    c.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, md, {}, (err, res) => {
      c.close();
      resolve(err ? { code: err.code, details: err.details } : { code: Status.OK, details: '', response: res as Buffer });
    });
  });
}

const enc = <K extends keyof typeof STORE_SERVICE>(k: K, v: Parameters<(typeof STORE_SERVICE)[K]['requestSerialize']>[0]) => (STORE_SERVICE[k].requestSerialize as (x: unknown) => Buffer)(v);

describe('bs gRPC service: bad input answers gRPC status codes and changes nothing', () => {
  let server: PlexusServer, grpc: string, store: RpcStore;
  before(async () => { ({ server, grpc } = await serve()); store = new RpcStore(grpc); });
  after(async () => store.close());

  it('refs of the wrong length are INVALID_ARGUMENT; a missing blob is NOT_FOUND', async () => {
    assert.equal((await rawCall(grpc, '/rpc.Store/Get', enc('Get', { ref: new Uint8Array(5) }))).code, Status.INVALID_ARGUMENT);
    assert.equal((await rawCall(grpc, '/rpc.Store/Get', enc('Get', { ref: new Uint8Array(32).fill(7) }))).code, Status.NOT_FOUND);
    assert.equal((await rawCall(grpc, '/rpc.Store/ListRefs', enc('ListRefs', { start: new Uint8Array(3) }))).code, Status.INVALID_ARGUMENT);
  });

  it('garbage request bytes are INVALID_ARGUMENT; unknown methods UNIMPLEMENTED; the server keeps serving', async () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x99]);
    for (const m of ['Get', 'Put', 'UpdateAnchorMap']) assert.equal((await rawCall(grpc, `/rpc.Store/${m}`, garbage)).code, Status.INVALID_ARGUMENT, m);
    assert.equal((await rawCall(grpc, '/rpc.Store/Delete', Buffer.alloc(0))).code, Status.UNIMPLEMENTED);
    assert.deepEqual(await store.put(new TextEncoder().encode('still alive')), { ref: refOf(new TextEncoder().encode('still alive')), added: true });
  });

  it('garbage on the TCP port (not HTTP/2) is dropped without harm', async () => {
    const [host, port] = grpc.split(':') as [string, string];
    await new Promise<void>((resolve) => {
      const s = connect(Number(port), host, () => s.write(Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\x01garbage'.repeat(50))));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      setTimeout(() => { s.destroy(); resolve(); }, 1500).unref();
    });
    assert.equal(await store.has(refOf(new TextEncoder().encode('still alive'))), true);
  });

  it('a blob of MAX_BLOB_BYTES goes through; a bigger message is RESOURCE_EXHAUSTED', async () => {
    const big = new Uint8Array(MAX_BLOB_BYTES).fill(3);
    big[12345] = 9;
    const r = await store.put(big);
    assert.equal(r.ref, refOf(big));
    assert.equal((await store.get(r.ref)).length, MAX_BLOB_BYTES);
    const tooBig = await rawCall(grpc, '/rpc.Store/Put', enc('Put', { blob: new Uint8Array(MAX_BLOB_BYTES + 1) }));
    assert.equal(tooBig.code, Status.RESOURCE_EXHAUSTED);
    await assert.rejects(store.put(new Uint8Array(MAX_BLOB_BYTES + 1)), (e: unknown) => isPlexusError(e, 'TOO_LARGE'));
  });

  it('UpdateAnchorMap: a stale or wrong old_ref is FAILED_PRECONDITION and changes nothing; a bad new_ref too', async () => {
    assert.equal(await store.anchorMapRef(), undefined);
    assert.equal((await rawCall(grpc, '/rpc.Store/AnchorMapRef', enc('AnchorMapRef', {}))).code, Status.NOT_FOUND);
    // bs's Expire on a store without anchors sends zero -> zero: a no-op that must not install the zero ref (anchor.md A3)
    const zero = refToBytes(ZERO_REF);
    assert.equal((await rawCall(grpc, '/rpc.Store/UpdateAnchorMap', enc('UpdateAnchorMap', { old_ref: zero, new_ref: zero }))).code, Status.OK);
    assert.equal((await rawCall(grpc, '/rpc.Store/AnchorMapRef', enc('AnchorMapRef', {}))).code, Status.NOT_FOUND);
    await store.putAnchor('x', refOf(new Uint8Array([1])), 1000);
    const root = (await store.anchorMapRef())!;
    const upd = (old_ref: Uint8Array, new_ref: Uint8Array) => rawCall(grpc, '/rpc.Store/UpdateAnchorMap', enc('UpdateAnchorMap', { old_ref, new_ref }));
    await store.put(new Uint8Array([0x0a, 0x00])); // the empty map node, a valid root
    assert.equal((await upd(refToBytes(ZERO_REF), refToBytes(EMPTY_MAP_REF))).code, Status.FAILED_PRECONDITION, 'old_ref zero while a map exists');
    assert.equal((await upd(new Uint8Array(32).fill(4), refToBytes(EMPTY_MAP_REF))).code, Status.FAILED_PRECONDITION, 'wrong old_ref');
    assert.equal((await upd(refToBytes(root), new Uint8Array(32).fill(5))).code, Status.NOT_FOUND, 'new root not stored');
    const notAMap = await store.put(new TextEncoder().encode('\xff\xff not a protobuf'));
    assert.equal((await upd(refToBytes(root), refToBytes(notAMap.ref))).code, Status.INVALID_ARGUMENT, 'new root not a schema.Map');
    assert.equal((await upd(refToBytes(root), new Uint8Array(31))).code, Status.INVALID_ARGUMENT);
    assert.equal(await store.anchorMapRef(), root);
    assert.equal((await store.getAnchor('x', 1000)).ref, refOf(new Uint8Array([1])));
    // the current root as old_ref works
    assert.equal((await upd(refToBytes(root), refToBytes(EMPTY_MAP_REF))).code, Status.OK);
    assert.equal(await store.anchorMapRef(), EMPTY_MAP_REF);
    await assert.rejects(store.getAnchor('x', 1000), (e: unknown) => isPlexusError(e, 'NOT_FOUND'));
  });

  it('plexus\'s HTTP anchor API and the gRPC anchor map are the same anchors', async () => {
    const http = new HttpStore(server.url);
    const r = refOf(new TextEncoder().encode('shared'));
    await http.putAnchor('shared', r, 5000);
    assert.equal((await store.getAnchor('shared', 5000)).ref, r);
    const r2 = refOf(new TextEncoder().encode('shared2'));
    await store.putAnchor('shared', r2, 6000);
    assert.deepEqual(await http.history('shared'), [{ at: 5000, ref: r }, { at: 6000, ref: r2 }]);
    await http.close();
  });
});

describe('bs gRPC service: compare-and-swap under many concurrent writers', () => {
  it('48 writers on 8 connections, 4 names: no anchor is lost', async () => {
    const { grpc } = await serve();
    const conns = Array.from({ length: 8 }, () => new RpcStore(grpc));
    try {
      const n = 48;
      const refs: Ref[] = Array.from({ length: n }, (_, i) => refOf(new TextEncoder().encode(`writer-${i}`)));
      await Promise.all(refs.map((r, i) => conns[i % conns.length]!.putAnchor(`name-${i % 4}`, r, 1_000_000 + i, { retries: 10_000 })));
      for (let k = 0; k < 4; k++) {
        const h = await conns[0]!.history(`name-${k}`);
        assert.deepEqual(h.map((e) => e.ref), refs.filter((_, i) => i % 4 === k), `name-${k}`);
      }
    } finally { for (const c of conns) await c.close(); }
  });
});

describe('bs gRPC service: token auth through gRPC metadata', () => {
  it('writes need `authorization: Bearer T`; reads stay open unless authReads', async () => {
    const { grpc } = await serve({ token: 'grpc-secret-1' });
    const anon = new RpcStore(grpc), ok = new RpcStore(grpc, { token: 'grpc-secret-1' }), bad = new RpcStore(grpc, { token: 'wrong-token-x' });
    try {
      await assert.rejects(anon.put(new Uint8Array([1])), (e: unknown) => isPlexusError(e, 'UNAUTHORIZED'));
      await assert.rejects(bad.put(new Uint8Array([1])), (e: unknown) => isPlexusError(e, 'UNAUTHORIZED'));
      const { ref } = await ok.put(new Uint8Array([1]));
      assert.equal((await anon.get(ref))[0], 1);
      await assert.rejects(anon.putAnchor('a', ref, 1), (e: unknown) => isPlexusError(e, 'UNAUTHORIZED'));
      await ok.putAnchor('a', ref, 1);
    } finally { for (const s of [anon, ok, bad]) await s.close(); }
  });
});
