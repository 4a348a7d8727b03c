import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { RUNTIME_SLACK_MIB, rssPeak, stalledSocket } from '../helpers/stalled.js';
import { tmpDir } from '../helpers/tmp.js';
import { SERVER_MEMORY_BUDGET_BYTES, WS_BYTES_PER_SECOND, WS_MAX_QUEUED_BYTES } from '../../src/limits.js';

const MiB = 1024 * 1024;
const READERS = 12, VALUE = 'v'.repeat(200 * 1024), PUTS = 600;
/** README's bound for this attack: the memory budget plus RUNTIME_SLACK_MIB (garbage not yet collected, allocator caches). */
const BOUND_MIB = SERVER_MEMORY_BUDGET_BYTES / MiB + RUNTIME_SLACK_MIB;

type Msg = Record<string, unknown>;
const msgs = (f: string): Msg[] => { const v = JSON.parse(f) as Msg | Msg[]; return Array.isArray(v) ? v : [v]; };
const putMsg = (id: string, soul: string, field: string, value: string, state: number) =>
  JSON.stringify({ '#': id, put: { [soul]: { _: { '#': soul, '>': { [field]: state } }, [field]: value } } });

/** A client that reads its answers: put then get one soul, resolving with the round trip (ms). */
async function roundTrip(ws: WebSocket, i: number): Promise<number> {
  const t0 = performance.now();
  const answered = (id: string) => new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer to ${id}`)), 10_000);
    const on = (d: WebSocket.RawData) => { if (msgs(d.toString()).some((m) => m['@'] === id)) { clearTimeout(t); ws.off('message', on); resolve(); } };
    ws.on('message', on);
  });
  const a = answered(`np${i}`);
  ws.send(putMsg(`np${i}`, `normal-${i}`, 'n', String(i), Date.now()));
  await a;
  const b = answered(`ng${i}`);
  ws.send(JSON.stringify({ '#': `ng${i}`, get: { '#': `normal-${i}` } }));
  await b;
  return performance.now() - t0;
}

describe('bounded memory: /gun readers that subscribe and never read while a writer floods changes', () => {
  let s: ServeChild;
  const d = tmpDir();
  before(async () => { s = await serveChild(['--data', d.path]); });
  after(async () => { await s.kill(); d.rm(); });

  it(`${READERS} stalled readers: RSS grows < ${BOUND_MIB} MiB, their queues stop at their share and are counted, a normal client is served`, async () => {
    const url = s.url.replace('http', 'ws') + '/gun';
    const normal = new WebSocket(url);
    await new Promise((r, j) => { normal.once('open', r); normal.once('error', j); });
    for (let i = 0; i < 20; i++) await roundTrip(normal, -1 - i); // warm up
    const writer = new WebSocket(url);
    await new Promise((r, j) => { writer.once('open', r); writer.once('error', j); });
    // warm the flood path too (one big put stored and acked)
    await new Promise<void>((resolve) => { writer.once('message', () => resolve()); writer.send(putMsg('w-warm', 'warm', 'f', VALUE, Date.now())); });
    await new Promise((r) => setTimeout(r, 500));
    const base = s.rssMiB();
    const peak = rssPeak(() => s.rssMiB());

    const readers = await Promise.all(Array.from({ length: READERS }, async (_, r) => {
      const c = await stalledSocket(url);
      c.ws.send(JSON.stringify({ '#': `r${r}`, get: { '#': 'hot' } }));
      await c.next((f) => msgs(f).some((m) => m['@'] === `r${r}`));
      c.stall();
      return c;
    }));

    // the writer floods changes of the soul every reader subscribed to, 8 puts in flight, reading its acks,
    // at half the per-connection byte rate (WS_BYTES_PER_SECOND: a faster writer is itself closed, 1008)
    let acked = 0;
    const t0 = Date.now() - 60_000; // increasing states in the past: applied at once (future ones are deferred)
    const flood = new Promise<void>((resolve, reject) => {
      writer.once('close', (code, why) => reject(new Error(`the writer was closed: ${code} ${String(why)}`)));
      let sent = 0, paused = false;
      const started = performance.now();
      const more = () => {
        while (sent < PUTS && sent - acked < 8) {
          const ahead = (sent + 1) * VALUE.length - ((performance.now() - started) / 1000) * (WS_BYTES_PER_SECOND / 2);
          if (ahead > 0) { if (!paused) { paused = true; setTimeout(() => { paused = false; more(); }, Math.ceil((ahead / (WS_BYTES_PER_SECOND / 2)) * 1000)); } return; }
          writer.send(putMsg(`w${sent}`, 'hot', 'f', VALUE + sent, t0 + sent));
          sent++;
        }
      };
      writer.on('message', (d) => { for (const m of msgs(d.toString())) if (typeof m['@'] === 'string' && m['@'].startsWith('w') && m['@'] !== 'w-warm') acked++; if (acked >= PUTS) resolve(); else more(); });
      more();
    });
    // meanwhile a normal client keeps doing round trips
    const trips: number[] = [];
    let flooding = true;
    const normalWork = (async () => { for (let i = 0; flooding || i < 5; i++) trips.push(await roundTrip(normal, i)); })();
    await flood;
    flooding = false;
    await normalWork;
    const top = peak.stop();
    const health = (await (await fetch(`${s.url}/healthz`)).json()) as { memory: { usedBytes: number; totalBytes: number; refusedBy: Record<string, number>; evicted: number; queuedBytes: number } };
    const worst = Math.max(...trips);
    console.log(`graph stalled readers: RSS ${base.toFixed(0)} -> peak ${top.toFixed(0)} MiB; ${PUTS} puts of ${VALUE.length >> 10} KiB to ${READERS} readers; ` +
      `refused ${health.memory.refusedBy['graph replies'] ?? 0}, evicted ${health.memory.evicted}; normal round trips ${trips.length}, slowest ${worst.toFixed(0)} ms`);
    assert.equal(acked, PUTS, 'every put acked');
    assert.ok((health.memory.refusedBy['graph replies'] ?? 0) + health.memory.evicted >= READERS, 'every stalled reader was cut off by the budget');
    assert.ok(top - base < BOUND_MIB, `RSS grew by ${(top - base).toFixed(0)} MiB`);
    assert.ok(health.memory.queuedBytes <= READERS * WS_MAX_QUEUED_BYTES && health.memory.usedBytes <= health.memory.totalBytes);
    assert.ok(worst < 5_000, `a normal round trip took ${worst.toFixed(0)} ms`);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /plexus_memory_budget_refused_total\{what="graph replies"\} [1-9]/);
    for (const r of readers) r.ws.terminate();
    normal.close(); writer.close();
  });
});
