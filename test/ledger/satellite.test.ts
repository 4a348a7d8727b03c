import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { connectHub, type WebSocketCtor } from '../../src/ledger/client.js';
import { satellite, type Satellite } from '../../src/ledger/satellite.js';
import { MemoryLedger } from '../../src/ledger/memory.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { Event, Trans } from '../../src/ledger/event.js';
import type { PlexusError } from '../../src/errors.js';
import { ZERO_TIME } from '../../src/ledger/time.js';
import { tmpDir } from '../helpers/tmp.js';

const WS = WebSocket as unknown as WebSocketCtor;

async function until(cond: () => Promise<boolean> | boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('satellites', () => {
  it('keep working while the hub is down; on restart everything converges, nothing lost or doubled', async () => {
    const d = tmpDir();
    const start = (port = 0) => startServer({ port, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ batchMs: 20 })] });
    let srv: PlexusServer = await start();
    const port = srv.port;
    const url = `ws://127.0.0.1:${port}/evt`;
    const rejected: Array<{ sat: string; trans: Trans; err: PlexusError }> = [];
    const mk = (name: string, ledger: MemoryLedger | SqliteLedger): Satellite => satellite({
      hub: url, ledger, tops: ['todo'], WebSocket: WS, batchMs: 10,
      authority: (acts) => acts.every((a) => a.top === 'todo'),
      onReject: (trans, err) => rejected.push({ sat: name, trans, err }),
    });
    const X = mk('X', new SqliteLedger(join(d.path, 'sat-x.db')));
    const Y = mk('Y', new MemoryLedger());
    try {
      await X.settled(); await Y.settled();
      // online: Y publishes through the hub, X replicates it
      const r0 = await Y.publish({ acts: [{ top: 'todo', key: '1', cmd: 'new', arg: { title: 'one' } }, { top: 'todo', key: '2', cmd: 'new', arg: { title: 'two' } }] });
      assert.equal(r0.local, false);
      assert.ok(r0.evs[0]!.id > 0);
      await until(async () => (await X.ledger.rev()) === r0.rev, 'X to replicate');
      // a local subscriber of X sees hub events
      const lc = await X.client();
      const sub = lc.subscribe(['todo']);
      const seen: Event[] = [];
      void (async () => { for await (const u of sub) seen.push(...(u.evs ?? [])); })();
      await until(() => seen.length >= 2, 'local subscriber catch-up');

      // hub down
      await srv.close();
      await until(() => !X.online && !Y.online, 'satellites to notice');
      const x1 = await X.publish({ acts: [{ top: 'todo', key: 'x1', cmd: 'new', arg: { by: 'X' } }] });
      const x2 = await X.publish({ acts: [{ top: 'todo', key: '1', cmd: 'mod', arg: { title: 'X wins?' } }] });
      const x3 = await X.publish({ acts: [{ top: 'todo', key: 'x1', cmd: 'mod', arg: { n: 2 } }] }); // builds on its own pending x1
      const y1 = await lc.publish({ acts: [{ top: 'todo', key: 'xx', cmd: 'new', arg: { via: 'local client of X' } }] });
      const y2 = await Y.publish({ acts: [{ top: 'todo', key: '1', cmd: 'mod', arg: { title: 'Y wins?' } }] });
      const y3 = await Y.publish({ acts: [{ top: 'todo', key: 'y1', cmd: 'new', arg: { by: 'Y' } }] });
      for (const r of [x1, x2, x3, y2, y3]) assert.equal(r.local, true);
      assert.ok(y1.rev > x3.rev, 'local revisions increase');
      await assert.rejects(() => Y.publish({ acts: [{ top: 'other', key: '1', cmd: 'new' }] }), /not connected/);
      assert.deepEqual((await X.ledger.get('todo', '1'))!.data, { title: 'X wins?' });
      assert.deepEqual((await Y.ledger.get('todo', '1'))!.data, { title: 'Y wins?' });
      assert.equal((await X.ledger.locals()).length, 4);
      await until(() => seen.some((e) => e.key === 'xx'), 'local subscriber sees offline publish');

      // hub back on the same port and data
      srv = await start(port);
      await X.settled(); await Y.settled();
      await new Promise((r) => setTimeout(r, 100));
      await until(async () => (await X.ledger.rev()) === (await Y.ledger.rev()), 'both at the same revision');

      const c = await connectHub(url, { WebSocket: WS });
      const hubEvs: Event[] = [];
      const hs = c.subscribe(['todo']);
      for await (const u of hs) { hubEvs.push(...(u.evs ?? [])); break; }
      hs.close(); c.close();
      // exactly one of the two conflicting mods of record 1 was rejected and rolled back
      assert.equal(rejected.length, 1, JSON.stringify(rejected.map((r) => [r.sat, r.err.code, r.err.message])));
      assert.equal(rejected[0]!.err.code, 'CONFLICT');
      const winner = rejected[0]!.sat === 'X' ? 'Y wins?' : 'X wins?';
      const expectedKeys = ['1', '2', 'x1', 'xx', 'y1'];
      // hub: every accepted transaction once
      const mods1 = hubEvs.filter((e) => e.key === '1' && e.cmd === 'mod');
      assert.equal(mods1.length, 1);
      assert.equal(hubEvs.filter((e) => e.key === 'x1').length, 2);
      assert.equal(hubEvs.filter((e) => e.key === 'xx').length, 1);
      assert.equal(hubEvs.filter((e) => e.key === 'y1').length, 1);
      assert.equal(new Set(hubEvs.map((e) => e.id)).size, hubEvs.length);
      for (const sat of [X, Y]) {
        const recs = await sat.ledger.list('todo');
        assert.deepEqual(recs.map((r) => r.key), expectedKeys);
        assert.deepEqual((await sat.ledger.get('todo', '1'))!.data, { title: winner });
        assert.deepEqual((await sat.ledger.get('todo', 'x1'))!.data, { by: 'X', n: 2 });
        assert.deepEqual(await sat.ledger.locals(), []);
        const evs: Event[] = [];
        for await (const e of sat.ledger.events(ZERO_TIME)) evs.push(e);
        assert.deepEqual(evs.map((e) => e.id), hubEvs.map((e) => e.id), 'same events, hub ids');
      }
      const st = await lc.status();
      assert.equal(st.off, ZERO_TIME);
      assert.ok(st.on > ZERO_TIME);
      sub.close(); lc.close();
    } finally {
      await X.close(); await Y.close();
      await srv.close();
      d.rm();
    }
  });

  it('work the hub refuses (no write token) is reported and rolled back locally', async () => {
    const d = tmpDir();
    const probe = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [] });
    const port = probe.port;
    await probe.close();
    const rejected: Array<[string | undefined, string]> = [];
    const sat = satellite({ hub: `ws://127.0.0.1:${port}/evt`, ledger: new MemoryLedger(), tops: ['todo'], WebSocket: WS, onReject: (t, e) => rejected.push([t.tid, e.code]) });
    let srv: PlexusServer | undefined;
    try {
      const r = await sat.publish({ tid: 'mine', acts: [{ top: 'todo', key: 'k', cmd: 'new', arg: { v: 1 } }] });
      assert.equal(r.local, true);
      assert.ok(await sat.ledger.get('todo', 'k'));
      srv = await startServer({ port, dataDir: d.path, logLevel: 'silent', token: 'secret-token-123', mounts: [createLedgerMount({ batchMs: 10 })] });
      await sat.settled();
      assert.deepEqual(rejected, [['mine', 'UNAUTHORIZED']]);
      assert.equal(await sat.ledger.get('todo', 'k'), undefined, 'rolled back');
      assert.deepEqual(await sat.ledger.locals(), []);
      await assert.rejects(() => sat.publish({ acts: [{ top: 'todo', key: 'k', cmd: 'new' }] }), (e: unknown) => (e as PlexusError).code === 'UNAUTHORIZED');
    } finally {
      await sat.close();
      await srv?.close();
      d.rm();
    }
  });

  it('hub applies a resent evt.sat transaction once (idempotent tid)', async () => {
    const d = tmpDir();
    const srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ batchMs: 10 })] });
    try {
      const c = await connectHub(srv.url.replace('http', 'ws') + '/evt', { WebSocket: WS });
      const t: Trans = { id: 1, tid: 's:1', base: ZERO_TIME, rev: ZERO_TIME, created: ZERO_TIME, arrived: ZERO_TIME, acts: [{ top: 'todo', key: 'a', cmd: 'new', arg: {} }] };
      const r1 = await c.sat(ZERO_TIME, [t], ['todo']);
      const r2 = await c.sat(ZERO_TIME, [t, { ...t, tid: 's:2', acts: [{ top: 'todo', key: 'a', cmd: 'mod', arg: { v: 1 } }] }], ['todo']);
      assert.equal(r1.sat[0]!.rev, r2.sat[0]!.rev);
      assert.equal(r2.sat[1]!.err, undefined, 'own earlier transaction of the batch is no conflict');
      assert.deepEqual(r2.update.evs!.map((e) => [e.key, e.cmd]), [['a', 'new'], ['a', 'mod']]);
      c.close();
    } finally { await srv.close(); d.rm(); }
  });
});
