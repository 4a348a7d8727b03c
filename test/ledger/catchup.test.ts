// Streaming catch-up (issue 15): a subscriber asking for everything since zero on a big ledger gets it
// in pages with backpressure (the hub's memory stays flat), in order, and the live events published
// meanwhile follow the catch-up with no gap and no duplicate.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { tmpDir } from '../helpers/tmp.js';

const N = Number(process.env.CATCHUP_TEST_N ?? 60_000);
/** Bytes of padding per event: 60k events are ~65 MB of JSON, which a hub holding the catch-up in memory would need at least twice. */
const PAD = 1000;
/** What the hub may grow by (V8's heap and the socket buffers of a page or two in flight). */
const MAX_GROWTH_MB = 90;

describe('hub: streaming catch-up', () => {
  it(`${N.toLocaleString('en-US')} events since zero while live publishes go on: bounded RSS, in order, no gap or duplicate at the boundary`, async () => {
    const d = tmpDir();
    const fill = new SqliteLedger(join(d.path, 'ledger.db'));
    for (let i = 0; i < N; i += 1000) {
      await fill.publish({ acts: Array.from({ length: 1000 }, (_, j) => ({ top: 'item', key: String(i + j), cmd: 'new', arg: { name: `item ${i + j}`, n: i + j, pad: 'x'.repeat(PAD) } })) });
    }
    await fill.close();
    const srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', wsMessagesPerSecond: 100_000, mounts: [createLedgerMount()] });
    try {
      const url = srv.url.replace('http', 'ws') + '/evt';
      const ws = new WebSocket(url), pub = new WebSocket(url);
      await Promise.all([ws, pub].map((s) => new Promise((r, j) => { s.once('open', r); s.once('error', j); })));
      // one publish first: the ledger's first write starts its checkpoint thread (an isolate of its own,
      // not part of what is measured)
      const warm = new Promise((r) => pub.once('message', r));
      pub.send(`evt.pub#w\n${JSON.stringify({ acts: [{ top: 'item', key: 'warm', cmd: 'new' }] })}`);
      await warm;
      pub.on('message', () => {});
      global.gc?.();
      await new Promise((r) => setTimeout(r, 200));
      const base = process.memoryUsage().rss;
      let peak = base;
      const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
      let expect = 1, dups = 0, gaps = 0, frames = 0;
      // the client reads slowly now and then, so the socket's backpressure is exercised
      ws.on('message', (data) => {
        const s = data.toString();
        if (!s.startsWith('evt.sub') && !s.startsWith('evt.update')) return;
        frames++;
        for (let k = s.indexOf('{"id":'); k >= 0; k = s.indexOf('{"id":', k + 6)) {
          const id = parseInt(s.slice(k + 6, k + 26), 10);
          if (id === expect) expect++; else if (id < expect) dups++; else { gaps++; expect = id + 1; }
        }
        if (frames % 10 === 0) { ws.pause(); setTimeout(() => ws.resume(), 5); }
      });
      const t0 = performance.now();
      ws.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["item"]}');
      let live = 1; // the warm-up publish
      while (expect <= N && performance.now() - t0 < 30_000) {
        pub.send(`evt.pub#${live}\n${JSON.stringify({ acts: [{ top: 'item', key: `live-${live}`, cmd: 'new', arg: { live } }] })}`);
        live++;
        await new Promise((r) => setTimeout(r, 2));
      }
      const ms = performance.now() - t0;
      for (let i = 0; i < 20; i++) { pub.send(`evt.pub#x${i}\n${JSON.stringify({ acts: [{ top: 'item', key: `after-${i}`, cmd: 'new' }] })}`); live++; }
      const t1 = Date.now();
      // on a loaded machine the catch-up may outlast the live phase: wait for the rest
      while (expect <= N + live && Date.now() - t1 < 60_000) await new Promise((r) => setTimeout(r, 10));
      clearInterval(sampler);
      const grow = (peak - base) / 2 ** 20;
      console.log(`catch-up of ${N} events: ${(N / (ms / 1000)).toFixed(0)} events/s, ${live} live publishes, ${frames} frames, RSS growth ${grow.toFixed(1)} MB`);
      assert.equal(dups, 0, 'no duplicate');
      assert.equal(gaps, 0, 'no gap');
      assert.equal(expect, N + live + 1, 'every catch-up and live event arrived');
      assert.ok(live > 20, 'live publishes went on during the catch-up');
      assert.ok(grow < MAX_GROWTH_MB, `RSS grew ${grow.toFixed(1)} MB`);
      ws.close(); pub.close();
    } finally { await srv.close(); d.rm(); }
  });

  it('events buffered for a subscriber before it adds a topic merge into that topic\'s catch-up by id, and the rest streams as text pages', async () => {
    const d = tmpDir();
    const ledger = new SqliteLedger(join(d.path, 'ledger.db'));
    // a fixed push window: the events of topic a wait in the subscriber's buffer when it adds topic b
    const srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ ledger, batchMs: 500 })] });
    try {
      const url = srv.url.replace('http', 'ws') + '/evt';
      const ws = new WebSocket(url), pub = new WebSocket(url);
      await Promise.all([ws, pub].map((s) => new Promise((r, j) => { s.once('open', r); s.once('error', j); })));
      const frames: string[] = [];
      let waiting: ((f: string) => void) | undefined;
      ws.on('message', (data) => { const f = data.toString(); frames.push(f); waiting?.(f); });
      const reply = (prefix: string) => new Promise<string>((r) => { waiting = (f) => { if (f.startsWith(prefix)) { waiting = undefined; r(f); } }; });
      let got = reply('evt.sub#1');
      ws.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["a"]}');
      await got;
      const acked = new Promise((r) => { let n = 0; pub.on('message', () => { if (++n === 3) r(undefined); }); });
      for (let i = 0; i < 3; i++) pub.send(`evt.pub#${i}\n{"acts":[{"top":"a","key":"a${i}","cmd":"new"}]}`);
      await acked;
      // written by the embedding app (not through the hub): the hub reads them when b is added
      for (let t = 0; t < 25; t++) await ledger.publish({ acts: Array.from({ length: 100 }, (_, i) => ({ top: 'b', key: `b-${t}-${i}`, cmd: 'new' as const, arg: { t, i } })) });
      const from = frames.length;
      got = reply('evt.sub#2');
      ws.send('evt.sub#2\n{"rev":"0001-01-01T00:00:00Z","tops":["b"]}');
      await got;
      const ids: number[] = [];
      const t0 = Date.now();
      while (ids.length < 2503 && Date.now() - t0 < 10_000) {
        ids.length = 0;
        for (const f of frames.slice(from)) {
          if (!f.startsWith('evt.sub#2') && !f.startsWith('evt.update')) continue;
          const u = JSON.parse(f.slice(f.indexOf('\n') + 1)) as { res?: { evs?: Array<{ id: number }> }; evs?: Array<{ id: number }> };
          for (const e of (u.res ?? u).evs ?? []) ids.push(e.id);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(ids, Array.from({ length: 2503 }, (_, i) => i + 1), 'a\'s buffered events and b\'s catch-up, each once, by id');
      assert.ok(frames.slice(from).filter((f) => f.startsWith('evt.update')).length >= 2, 'the rest came as pushes');
      ws.close(); pub.close();
    } finally { await srv.close(); d.rm(); }
  });
});
