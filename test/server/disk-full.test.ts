import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { tmpDir } from '../helpers/tmp.js';
import { rawSocket as raw } from '../helpers/ws-raw.js';

describe('storage faults: a full disk (8 MiB tmpfs) answers STORAGE_FULL, acks only what is stored, corrupts nothing', () => {
  const d = tmpDir();
  let s: ServeChild;
  before(async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', d.path]);
    s = await serveChild(['--data', d.path]);
  });
  after(async () => { await s?.kill(); execFileSync('umount', [d.path]); d.rm(); });

  const acked = { blobs: [] as string[], graph: [] as Array<[string, string]>, ledger: [] as Array<[string, string]> };

  const postBlob = async (bytes: Buffer) => {
    const r = await fetch(`${s.url}/blob`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(bytes) });
    const body = await r.json() as { ref?: string; error?: { code: string; message: string } };
    if (r.ok) { assert.equal(body.ref, createHash('sha256').update(bytes).digest('hex')); acked.blobs.push(body.ref!); }
    return r.ok ? undefined : { status: r.status, code: body.error?.code, message: body.error?.message };
  };
  const graphPut = async (G: Awaited<ReturnType<typeof raw>>, soul: string, v: string) => {
    G.send(JSON.stringify({ '#': `p${soul}`, put: { [soul]: { _: { '#': soul, '>': { f: Date.now() } }, f: v } } }));
    const a = JSON.parse(await G.next()) as { err?: string; code?: string };
    if (!a.err) acked.graph.push([soul, v]);
    return a.err ? JSON.stringify(a) : undefined;
  };
  const ledgerPub = async (E: Awaited<ReturnType<typeof raw>>, key: string, v: string) => {
    E.send(`evt.pub#${key}\n${JSON.stringify({ acts: [{ top: 't', key, cmd: 'new', arg: { v } }] })}`);
    const r = await E.next();
    if (!r.includes('"err"')) acked.ledger.push([key, v]);
    return r.includes('"err"') ? r : undefined;
  };

  it('blobs, graph puts and ledger publishes are acked while there is room; then blob uploads answer 507 STORAGE_FULL', async () => {
    const G = await raw(s.url.replace('http', 'ws') + '/gun'), E = await raw(s.url.replace('http', 'ws') + '/evt');
    for (let i = 0; i < 3; i++) {
      assert.equal(await postBlob(randomBytes(256 * 1024)), undefined);
      assert.equal(await graphPut(G, `s${i}`, 'é😀'.repeat(1000) + i), undefined);
      assert.equal(await ledgerPub(E, `k${i}`, 'ü'.repeat(1000) + i), undefined);
    }
    G.ws.close(); E.ws.close();
    let failure: { status: number; code?: string; message?: string } | undefined;
    for (let i = 0; i < 40 && !failure; i++) failure = await postBlob(randomBytes(512 * 1024));
    assert.equal(failure?.status, 507, JSON.stringify(failure));
    assert.equal(failure?.code, 'STORAGE_FULL');
  });

  it('graph puts and ledger publishes on the full disk answer STORAGE_FULL (no SqliteError text)', async () => {
    const G = await raw(s.url.replace('http', 'ws') + '/gun');
    let graphErr: string | undefined;
    for (let i = 0; i < 100 && !graphErr; i++) graphErr = await graphPut(G, `big${i}`, 'v'.repeat(200_000));
    assert.match(graphErr ?? '', /STORAGE_FULL/);
    assert.doesNotMatch(graphErr!, /Sqlite/i);
    G.ws.close();
    const E = await raw(s.url.replace('http', 'ws') + '/evt');
    let ledgerErr: string | undefined;
    for (let i = 0; i < 100 && !ledgerErr; i++) ledgerErr = await ledgerPub(E, `big${i}`, 'x'.repeat(400_000));
    assert.match(ledgerErr ?? '', /STORAGE_FULL/);
    assert.doesNotMatch(ledgerErr!, /Sqlite/i);
    E.ws.close();
  });

  it('after SIGKILL and a restart on the same (still full) disk, everything acked reads back identical', async () => {
    await s.kill();
    s = await serveChild(['--data', d.path]);
    for (const ref of acked.blobs) {
      const r = await fetch(`${s.url}/blob/${ref}`);
      assert.equal(r.status, 200);
      assert.equal(createHash('sha256').update(Buffer.from(await r.arrayBuffer())).digest('hex'), ref);
    }
    const G = await raw(s.url.replace('http', 'ws') + '/gun');
    for (const [soul, v] of acked.graph) {
      G.send(JSON.stringify({ '#': `g${soul}`, get: { '#': soul, '.': 'f' } }));
      const a = JSON.parse(await G.next()) as { put?: Record<string, Record<string, unknown>> };
      assert.equal(a.put?.[soul]?.f, v, `graph ${soul}`);
    }
    G.ws.close();
    const E = await raw(s.url.replace('http', 'ws') + '/evt');
    E.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["t"]}');
    const got = JSON.parse((await E.next()).split('\n')[1]!) as { res: { evs?: Array<{ key: string; arg: { v: string } }> } };
    assert.deepEqual((got.res.evs ?? []).map((e) => [e.key, e.arg.v]), acked.ledger);
    E.ws.close();
  });
});
