// Adaptive pushes (issue 15): an idle subscriber gets a committed transaction at once; while a push to it
// is in flight, later events coalesce into the next push, in order, none lost; evt's fixed window stays
// available (evtBatchMs / --evt-batch-ms / PLEXUS_EVT_BATCH_MS).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { MemoryLedger } from '../../src/ledger/memory.js';
import { Hub } from '../../src/ledger/hub.js';
import { tmpDir } from '../helpers/tmp.js';

const act = (i: number) => ({ top: 'todo', key: String(i), cmd: 'new', arg: { i } });

/** A WebSocket that records evt.update pushes (time, event ids) and answers replies by token. */
async function client(url: string) {
  const ws = new WebSocket(url);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const pushes: Array<{ at: number; ids: number[] }> = [];
  const replies = new Map<string, (body: string) => void>();
  let seq = 0;
  ws.on('message', (d) => {
    const s = d.toString();
    const nl = s.indexOf('\n');
    const head = s.slice(0, nl);
    if (head === 'evt.update') { const u = JSON.parse(s.slice(nl + 1)) as { evs?: Array<{ id: number }> }; pushes.push({ at: performance.now(), ids: (u.evs ?? []).map((e) => e.id) }); return; }
    const tok = head.slice(head.indexOf('#') + 1);
    replies.get(tok)?.(s.slice(nl + 1));
    replies.delete(tok);
  });
  const req = (subject: string, body: unknown) => new Promise<string>((r) => { const t = String(++seq); replies.set(t, r); ws.send(`${subject}#${t}\n${JSON.stringify(body)}`); });
  return { ws, pushes, req };
}

describe('hub: adaptive pushes', () => {
  it('an idle subscriber gets each publish well under evt\'s 200 ms window', async () => {
    const d = tmpDir();
    const srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ ledger: new MemoryLedger() })] });
    try {
      const url = srv.url.replace('http', 'ws') + '/evt';
      const sub = await client(url), pub = await client(url);
      await sub.req('evt.sub', { tops: ['todo'] });
      const lat: number[] = [];
      for (let i = 0; i < 20; i++) {
        const n = sub.pushes.length;
        const t0 = performance.now();
        await pub.req('evt.pub', { acts: [act(i)] });
        while (sub.pushes.length === n && performance.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 1));
        assert.equal(sub.pushes.length, n + 1, `push ${i} arrived`);
        lat.push(sub.pushes[n]!.at - t0);
        await new Promise((r) => setTimeout(r, 5));
      }
      lat.sort((a, b) => a - b);
      console.log(`publish -> push: p50 ${lat[10]!.toFixed(1)} ms, max ${lat[19]!.toFixed(1)} ms`);
      assert.ok(lat[10]! < 25, `p50 ${lat[10]} ms`);
      assert.ok(lat[19]! < 150, `max ${lat[19]} ms`);
      sub.ws.close(); pub.ws.close();
    } finally { await srv.close(); d.rm(); }
  });

  it('while a push is in flight, later events coalesce into the next one, in order, none lost', async () => {
    const ledger = new MemoryLedger();
    const hub = new Hub(ledger);
    const frames: string[] = [];
    const held: Array<() => void> = [];
    const conn = hub.connect({ send: (t) => frames.push(t), write: (t, done) => { frames.push(t); held.push(() => done()); }, close: () => undefined });
    const pubs: string[] = [];
    const pconn = hub.connect({ send: (t) => pubs.push(t), close: () => undefined });
    await hub.refresh();
    conn.receive('evt.sub#1\n{"tops":["todo"]}');
    await hub.refresh();
    assert.match(frames.shift()!, /^evt\.sub#1\n/);
    pconn.receive(`evt.pub#1\n${JSON.stringify({ acts: [act(1)] })}`);
    await hub.refresh();
    assert.equal(frames.length, 1, 'the first publish is pushed at once');
    for (let i = 2; i <= 50; i++) pconn.receive(`evt.pub#${i}\n${JSON.stringify({ acts: [act(i)] })}`);
    await hub.refresh();
    assert.equal(frames.length, 1, 'nothing more while the push is in flight');
    held.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.equal(frames.length, 2, 'one push with everything that arrived meanwhile');
    const ids = frames.map((f) => (JSON.parse(f.slice(f.indexOf('\n') + 1)) as { evs: Array<{ id: number }> }).evs.map((e) => e.id));
    assert.deepEqual(ids, [[1], Array.from({ length: 49 }, (_, i) => i + 2)]);
    assert.equal(pubs.length, 50);
    held.shift()!();
    await hub.close();
  });

  it('under load over WebSocket (64 in flight): every event once, in id order, fewer pushes than publishes', async () => {
    const d = tmpDir();
    const srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', wsMessagesPerSecond: 1_000_000, mounts: [createLedgerMount({ ledger: new MemoryLedger() })] });
    try {
      const url = srv.url.replace('http', 'ws') + '/evt';
      const subs = await Promise.all([1, 2, 3].map(() => client(url)));
      for (const s of subs) await s.req('evt.sub', { tops: ['todo'] });
      const pub = await client(url);
      const N = 3000;
      let next = 0;
      await Promise.all(Array.from({ length: 64 }, async () => { while (next < N) { const i = next++; await pub.req('evt.pub', { acts: [act(i)] }); } }));
      for (const s of subs) {
        const t0 = Date.now();
        while (s.pushes.reduce((n, p) => n + p.ids.length, 0) < N && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
        const ids = s.pushes.flatMap((p) => p.ids);
        assert.deepEqual(ids, Array.from({ length: N }, (_, i) => i + 1));
        assert.ok(s.pushes.length < N, `${s.pushes.length} pushes for ${N} publishes`);
      }
      for (const s of [...subs, pub]) s.ws.close();
    } finally { await srv.close(); d.rm(); }
  });

  it('evtBatchMs restores evt\'s fixed window', async () => {
    const d = tmpDir();
    const srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', evtBatchMs: 150, mounts: [createLedgerMount({ ledger: new MemoryLedger() })] });
    try {
      const url = srv.url.replace('http', 'ws') + '/evt';
      const sub = await client(url), pub = await client(url);
      await sub.req('evt.sub', { tops: ['todo'] });
      const t0 = performance.now();
      await pub.req('evt.pub', { acts: [act(1)] });
      await pub.req('evt.pub', { acts: [act(2)] });
      while (!sub.pushes.length && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 2));
      assert.ok(sub.pushes[0]!.at - t0 >= 140, `waited ${sub.pushes[0]!.at - t0} ms`);
      assert.deepEqual(sub.pushes[0]!.ids, [1, 2]);
      sub.ws.close(); pub.ws.close();
    } finally { await srv.close(); d.rm(); }
  });
});
