import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { RUNTIME_SLACK_MIB, rssPeak, stalledSocket } from '../helpers/stalled.js';
import { tmpDir } from '../helpers/tmp.js';
import { SERVER_MEMORY_BUDGET_BYTES } from '../../src/limits.js';

const MiB = 1024 * 1024;
const SUBSCRIBERS = 30, ACTS = 50, ARG = 'a'.repeat(8 * 1024), PUBS = 400;
/** README's bound for this attack: the memory budget plus RUNTIME_SLACK_MIB. */
const BOUND_MIB = SERVER_MEMORY_BUDGET_BYTES / MiB + RUNTIME_SLACK_MIB;

const pub = (token: string, n: number) => `evt.pub#${token}\n${JSON.stringify({ acts: Array.from({ length: ACTS }, (_, i) => ({ top: 'item', key: `k${n}-${i}`, cmd: 'new', arg: { n, i, pad: ARG } })) })}`;

/** A hub client that reads its replies: one publish to its own topic, resolving with the round trip (ms). */
function roundTrip(ws: WebSocket, i: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no reply to n${i}`)), 10_000);
    const on = (d: WebSocket.RawData) => { if (d.toString().startsWith(`evt.pub#n${i}\n`)) { clearTimeout(t); ws.off('message', on); resolve(performance.now() - t0); } };
    ws.on('message', on);
    ws.send(`evt.pub#n${i}\n${JSON.stringify({ acts: [{ top: 'normal', key: `n${i}`, cmd: 'new', arg: { i } }] })}`);
  });
}

describe('bounded memory: /evt subscribers that never read while publishes flow', () => {
  let s: ServeChild;
  const d = tmpDir();
  before(async () => { s = await serveChild(['--data', d.path]); });
  after(async () => { await s.kill(); d.rm(); });

  it(`${SUBSCRIBERS} stalled subscribers: RSS grows < ${BOUND_MIB} MiB, each is let go and counted, a normal client is served`, async () => {
    const url = s.url.replace('http', 'ws') + '/evt';
    const open = async () => { const ws = new WebSocket(url); await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }); return ws; };
    const normal = await open(), publisher = await open();
    for (let i = 0; i < 20; i++) await roundTrip(normal, -1 - i); // warm up
    await new Promise<void>((r) => { publisher.once('message', () => r()); publisher.send(pub('warm', -1)); });
    await new Promise((r) => setTimeout(r, 500));
    const base = s.rssMiB();
    const peak = rssPeak(() => s.rssMiB());

    const subs = await Promise.all(Array.from({ length: SUBSCRIBERS }, async (_, k) => {
      const c = await stalledSocket(url);
      c.ws.send(`evt.sub#s${k}\n{"rev":"0001-01-01T00:00:00Z","tops":["item"]}`);
      await c.next((f) => f.startsWith(`evt.sub#s${k}\n`), 10_000);
      // wait for the catch-up stream (the warm-up publish) to end before stalling
      await new Promise((r) => setTimeout(r, 50));
      c.stall();
      return c;
    }));

    // the publisher keeps 4 transactions of ACTS events in flight, reading its replies
    let replied = 0;
    const flow = new Promise<void>((resolve, reject) => {
      let sent = 0;
      const more = () => { while (sent < PUBS && sent - replied < 4) { publisher.send(pub(`p${sent}`, sent)); sent++; } };
      publisher.on('message', (d) => {
        const f = d.toString();
        if (!f.startsWith('evt.pub#p')) return;
        if (!f.includes('"evs"')) { reject(new Error(f.slice(0, 200))); return; }
        if (++replied >= PUBS) resolve(); else more();
      });
      more();
    });
    const trips: number[] = [];
    let flowing = true;
    const normalWork = (async () => { for (let i = 0; flowing || i < 5; i++) trips.push(await roundTrip(normal, i)); })();
    await flow;
    flowing = false;
    await normalWork;
    await new Promise((r) => setTimeout(r, 200));
    const top = peak.stop();
    const health = (await (await fetch(`${s.url}/healthz`)).json()) as { memory: { usedBytes: number; totalBytes: number; refusedBy: Record<string, number>; evicted: number }; stats: { ledger: { connections: number } } };
    const cut = (health.memory.refusedBy['ledger pending events'] ?? 0) + (health.memory.refusedBy['ledger pushes'] ?? 0) + health.memory.evicted;
    const worst = Math.max(...trips);
    console.log(`ledger stalled subscribers: RSS ${base.toFixed(0)} -> peak ${top.toFixed(0)} MiB; ${PUBS * ACTS} events of ${ARG.length >> 10} KiB to ${SUBSCRIBERS} subscribers; ` +
      `refused ${JSON.stringify(health.memory.refusedBy)}, evicted ${health.memory.evicted}; normal publishes ${trips.length}, slowest ${worst.toFixed(0)} ms`);
    assert.equal(replied, PUBS, 'every publish answered');
    assert.ok(cut >= SUBSCRIBERS, `every stalled subscriber was let go by the budget (${cut})`);
    assert.equal(health.stats.ledger.connections, 2, 'only the normal client and the publisher remain');
    assert.ok(top - base < BOUND_MIB, `RSS grew by ${(top - base).toFixed(0)} MiB`);
    assert.ok(worst < 5_000, `a normal publish took ${worst.toFixed(0)} ms`);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /plexus_memory_budget_refused_total\{what="ledger (pending events|pushes)"\} [1-9]/);
    for (const c of subs) c.ws.terminate();
    normal.close(); publisher.close();
  });
});
