import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { parsePeerUrl, peerUrlForLog, RelayPeering } from '../../src/graph/peering.js';
import { WebSocketServer, type WebSocket } from 'ws';
import { GraphRelay } from '../../src/graph/relay.js';
import { MemoryGraphStore } from '../../src/graph/store/memory.js';
import { MemoryBudget, SendQueue } from '../../src/server/budget.js';
import { resolveConfig } from '../../src/server/config.js';
import { tmpDir } from '../helpers/tmp.js';
import { GunPeer, eventually, startGunRelay } from './helpers/gun.js';

const dirs: { rm(): void }[] = [];
async function relay(peers: string[] = [], port = 0, dir?: string): Promise<PlexusServer & { dir: string }> {
  const d = dir ?? (() => { const t = tmpDir(); dirs.push(t); return t.path; })();
  const s = await startServer({ port, dataDir: d, logLevel: 'silent', mounts: [graphMount], peers });
  return Object.assign(s, { dir: d });
}
const gunUrl = (s: PlexusServer) => `${s.url}/gun`;
const value = async (p: GunPeer, soul: string) => ((await p.once([soul], 200)) as Record<string, unknown> | undefined)?.v;

describe('graph relay peering (--peer)', () => {
  it('parses and hides peer URLs', () => {
    assert.equal(parsePeerUrl('http://a:1/gun'), 'ws://a:1/gun');
    assert.throws(() => parsePeerUrl('ftp://x/gun'));
    assert.equal(peerUrlForLog('ws://u:secret@h/gun?token=abcdefgh'), 'ws://u:***@h/gun?token=***');
    assert.deepEqual(resolveConfig({}, { PLEXUS_PEERS: 'ws://a/gun, http://b/gun' }).peers, ['ws://a/gun', 'http://b/gun']);
    assert.throws(() => resolveConfig({}, { PLEXUS_PEERS: 'nope' }), /peers/);
  });

  it('plexus <-> plexus: writes on either relay reach gun clients of the other, live', async () => {
    const a = await relay();
    const b = await relay([gunUrl(a)]);
    const ca = new GunPeer(gunUrl(a)), cb = new GunPeer(gunUrl(b));
    try {
      await Promise.all([ca.ready(), cb.ready()]);
      const seenA: unknown[] = [];
      await ca.on(['pp'], (ev) => seenA.push((ev.data as Record<string, unknown> | null)?.v));
      await new Promise((r) => setTimeout(r, 300));
      assert.ok((await cb.put(['pp', 'v'], 'from b')).ok !== undefined);
      await eventually(() => seenA.includes('from b'), 10_000, 'a client of A sees the write on B');
      assert.ok((await ca.put(['qq', 'v'], 'from a')).ok !== undefined);
      await eventually(async () => (await value(cb, 'qq')) === 'from a', 10_000, 'a client of B reads the write on A');
    } finally {
      await Promise.all([ca.close(), cb.close()]);
      await b.close(); await a.close();
    }
  });

  it('plexus dialing a gun relay syncs both ways', async () => {
    const g = await startGunRelay();
    const p = await relay([g.url]);
    const cg = new GunPeer(g.url), cp = new GunPeer(gunUrl(p));
    try {
      await Promise.all([cg.ready(), cp.ready()]);
      assert.ok((await cp.put(['toGun', 'v'], 'plexus wrote')).ok !== undefined);
      await eventually(async () => (await value(cg, 'toGun')) === 'plexus wrote', 15_000, 'gun relay (dialed by plexus) has the write');
      assert.ok((await cg.put(['fromGun', 'v'], 'gun wrote')).ok !== undefined);
      await eventually(async () => (await value(cp, 'fromGun')) === 'gun wrote', 15_000, 'plexus has the write made on the gun relay it dialed');
    } finally {
      await Promise.all([cg.close(), cp.close()]);
      await p.close(); await g.close();
    }
  });

  it('a gun relay that dials plexus (peers, super: false) syncs both ways, live and once, 20 times within 1 s, also after it restarts', async (t) => {
    const p = await relay();
    const g = await startGunRelay([gunUrl(p)]);
    const cg = new GunPeer(g.url), cp = new GunPeer(gunUrl(p));
    try {
      await Promise.all([cg.ready(), cp.ready()]);
      let worst = 0;
      /** Write `v` with `from` (live soul `live`, and a soul of its own read once by `to`): both must show up within 1 s. */
      const roundTrip = async (live: string, from: GunPeer, to: GunPeer, seen: unknown[], v: string) => {
        const t0 = Date.now();
        assert.ok((await from.put([live, 'v'], v)).ok !== undefined);
        await eventually(() => seen.includes(v), Math.max(0, 1000 - (Date.now() - t0)), `${v}: live`);
        worst = Math.max(worst, Date.now() - t0);
        const t1 = Date.now();
        assert.ok((await from.put([`${live}-${v}`, 'v'], v)).ok !== undefined);
        assert.equal(await value(to, `${live}-${v}`), v, `${v}: once`);
        assert.ok(Date.now() - t1 < 1000, `${v}: once took ${Date.now() - t1} ms`);
        worst = Math.max(worst, Date.now() - t1);
      };
      /** Once `probe` says the link is up, both clients subscribe to `live`, then 20 round trips each way. */
      const rounds = async (live: string, probe?: () => Promise<void>) => {
        await probe?.();
        const seenG: unknown[] = [], seenP: unknown[] = [];
        await cg.on([live], (ev) => seenG.push((ev.data as Record<string, unknown> | null)?.v));
        await cp.on([live], (ev) => seenP.push((ev.data as Record<string, unknown> | null)?.v));
        for (let i = 0; i < 20; i++) {
          await roundTrip(live, cg, cp, seenP, `gun-${i}`);
          await roundTrip(live, cp, cg, seenG, `plexus-${i}`);
        }
      };
      /** Until a write on the gun relay reaches plexus: the relay dials plexus on its own after it starts. */
      const linkUp = (soul: string, what: string) => async () => {
        let probes = 0;
        await eventually(async () => {
          const v = `probe-${probes++}`;
          void cg.put([`${soul}-${v}`, 'v'], v).catch(() => {});
          await new Promise((r) => setTimeout(r, 300));
          return (await value(cp, `${soul}-${v}`)) === v;
        }, 30_000, what);
      };
      await rounds('dial', linkUp('dial', 'a write on the gun relay reaches plexus'));
      // SIGKILL and start again on the same port and data: it redials plexus, and its client redials it (gun's
      // own backoff). gun clients do not renew their live subscriptions with a restarted gun relay (the same
      // with gun alone), so the second rounds subscribe to a new soul once the gun client is back, as an app would after a reconnect.
      await g.restart();
      await rounds('again', linkUp('again', 'a write on the restarted gun relay reaches plexus'));
      t.diagnostic(`slowest of 160 deliveries: ${worst} ms`);
    } finally {
      await Promise.all([cg.close(), cp.close()]);
      await g.close(); await p.close();
    }
  });

  it('a triangle of three relays converges and stops sending (no loop)', async () => {
    const a = await relay();
    const b = await relay([gunUrl(a)]);
    const c = await relay([gunUrl(b), gunUrl(a)]);
    const ca = new GunPeer(gunUrl(a)), cc = new GunPeer(gunUrl(c));
    try {
      await Promise.all([ca.ready(), cc.ready()]);
      await new Promise((r) => setTimeout(r, 300));
      const seenC: unknown[] = [];
      await cc.on(['tri'], (ev) => seenC.push((ev.data as Record<string, unknown> | null)?.v));
      for (let i = 0; i < 10; i++) assert.ok((await ca.put(['tri', 'v'], `w${i}`)).ok !== undefined);
      await eventually(() => seenC.includes('w9'), 10_000, 'C sees the last write on A');
      const forwards = async () => Promise.all([a, b, c].map(async (s) => Number(((await s.mounts.find((m) => m.name === 'graph')!.stats!()) as { forwards?: number }).forwards ?? 0)));
      await new Promise((r) => setTimeout(r, 500));
      const f1 = await forwards();
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(await forwards(), f1, 'no relay keeps forwarding once converged');
      assert.equal(await value(cc, 'tri'), 'w9');
    } finally {
      await Promise.all([ca.close(), cc.close()]);
      await c.close(); await b.close(); await a.close();
    }
  });

  it('a peer that restarts mid-stream is redialed, and both sides catch up', async () => {
    const a = await relay();
    const port = Number(new URL(a.url).port);
    const b = await relay([gunUrl(a)]);
    const cb = new GunPeer(gunUrl(b));
    let a2: PlexusServer | undefined;
    try {
      await cb.ready();
      for (let i = 0; i < 5; i++) assert.ok((await cb.put([`rs${i}`, 'v'], 'before')).ok !== undefined);
      await a.close();
      for (let i = 0; i < 5; i++) assert.ok((await cb.put([`rs${i}`, 'v'], 'while A was down')).ok !== undefined);
      a2 = await relay([], port, a.dir);
      const ca = new GunPeer(gunUrl(a2));
      try {
        await ca.ready();
        await eventually(async () => (await value(ca, 'rs4')) === 'while A was down', 20_000, 'A, restarted, reads a write B took while A was down');
        assert.ok((await ca.put(['after', 'v'], 'on A')).ok !== undefined);
        await eventually(async () => (await value(cb, 'after')) === 'on A', 20_000, 'B gets writes on A after the redial');
      } finally { await ca.close(); }
    } finally {
      await cb.close();
      await b.close(); await a2?.close();
      for (const d of dirs.splice(0)) d.rm();
    }
  });
});

describe('graph relay peering: a link whose peer stops reading', () => {
  it('is charged to the memory budget, closed with 1013 once its share is full, and redialed', async () => {
    const conns: WebSocket[] = [];
    const fake = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    // the first connection never reads; later ones do
    fake.on('connection', (ws) => { conns.push(ws); if (conns.length === 1) (ws as unknown as { _socket: import('node:net').Socket })._socket.pause(); });
    await new Promise((r) => fake.once('listening', r));
    const url = `ws://127.0.0.1:${(fake.address() as import('node:net').AddressInfo).port}/gun`;
    const budget = new MemoryBudget();
    const relay = new GraphRelay({ store: new MemoryGraphStore(), heartbeatMs: 0 });
    const peering = new RelayPeering(relay, [url], { minDelayMs: 50, maxDelayMs: 100, queue: (ws) => new SendQueue(budget, ws, 'graph peer links', undefined, 256 * 1024) });
    try {
      await eventually(() => conns.length === 1, 5_000, 'the link is up');
      await eventually(() => peering.status[0]!.up, 5_000, 'the link is up');
      const writer = relay.connect({ send() {}, close() {} });
      const big = 'x'.repeat(60_000);
      for (let i = 0; i < 800 && !budget.refusedBy['graph peer links']; i++) {
        writer.receive(JSON.stringify({ '#': `m${i}`, put: { [`s${i}`]: { _: { '#': `s${i}`, '>': { v: Date.now() } }, v: big } } }));
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
      }
      await eventually(() => budget.refusedBy['graph peer links'], 10_000, 'the slow link was refused');
      await eventually(() => conns.length >= 2 && peering.status[0]!.up, 10_000, 'and redialed');
      assert.equal(budget.stats().queuedBytes < 512 * 1024, true, `what the closed link held was given back: ${budget.stats().queuedBytes}`);
      writer.closed();
    } finally {
      await peering.close();
      await relay.close();
      for (const c of conns) c.terminate();
      await new Promise((r) => fake.close(r));
    }
  });
});
