import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { tmpDir } from '../helpers/tmp.js';
import { SERVER_MEMORY_BUDGET_BYTES } from '../../src/limits.js';

const MiB = 1024 * 1024;
const CONNECTIONS = 10, GETS = 40_000, PER_FRAME = 1000;
/** README's bound for this attack: the budget itself plus the runtime's slack (parsing garbage, sockets). */
const BOUND_MIB = SERVER_MEMORY_BUDGET_BYTES / MiB + 96;

/** Send `GETS` gets for distinct souls in frames of PER_FRAME, each frame after the previous one's answers. */
async function flood(url: string, c: number, gets = GETS): Promise<{ answered: number; refused: number }> {
  const ws = new WebSocket(url);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  let answered = 0, refused = 0, waiting = 0, wake: (() => void) | undefined;
  ws.on('message', (d) => {
    for (const m of (JSON.parse(d.toString()) as unknown[] | Record<string, unknown>) instanceof Array ? JSON.parse(d.toString()) as Record<string, unknown>[] : [JSON.parse(d.toString()) as Record<string, unknown>]) {
      if (typeof m['@'] !== 'string') continue;
      answered++;
      if (m.code === 'RATE_LIMITED') refused++;
      if (--waiting === 0) wake?.();
    }
  });
  // two frames in flight (the relay queues at most GRAPH_MAX_PENDING_PER_PEER = 2,000 messages per connection)
  for (let f = 0; f < gets / PER_FRAME; f += 2) {
    waiting = 2 * PER_FRAME;
    const done = new Promise<void>((r) => { wake = r; });
    for (const g of [f, f + 1]) ws.send(JSON.stringify(Array.from({ length: PER_FRAME }, (_, i) => ({ '#': `c${c}f${g}i${i}`, get: { '#': `soul-${c}-${g}-${i}-${'x'.repeat(40)}` } }))));
    await done;
  }
  ws.close();
  return { answered, refused };
}

describe('bounded memory: 10 /gun connections sending 40k gets each stay under the server memory budget', () => {
  let s: ServeChild;
  const d = tmpDir();
  before(async () => { s = await serveChild(['--data', d.path]); });
  after(async () => { await s.kill(); d.rm(); });

  it(`RSS grows < ${BOUND_MIB} MiB, gets past the budget are refused with RATE_LIMITED and counted, others are still served`, async () => {
    // warm up first (code paths compiled, pools and caches allocated), so the bound measures what the attack holds
    const warm = await flood(s.url.replace('http', 'ws') + '/gun', 99, 4 * PER_FRAME);
    assert.equal(warm.answered, 4 * PER_FRAME);
    await new Promise((r) => setTimeout(r, 500));
    const base = s.rssMiB();
    let peak = base;
    const t = setInterval(() => { peak = Math.max(peak, s.rssMiB()); }, 50);
    const sockets = Array.from({ length: CONNECTIONS }, (_, c) => flood(s.url.replace('http', 'ws') + '/gun', c));
    // hold the flooders' connections open (their subscriptions stay) while a normal client works
    const results = await Promise.all(sockets);
    clearInterval(t);
    peak = Math.max(peak, s.rssMiB());
    const refused = results.reduce((n, r) => n + r.refused, 0);
    console.log(`graph gets: RSS ${base.toFixed(0)} -> peak ${peak.toFixed(0)} MiB; ${refused} of ${CONNECTIONS * GETS} gets refused`);
    assert.ok(results.every((r) => r.answered === GETS), 'every get answered (data or err)');
    assert.ok(refused > 0, 'the budget refused some gets');
    assert.ok(peak - base < BOUND_MIB, `RSS grew by ${(peak - base).toFixed(0)} MiB`);
    const health = (await (await fetch(`${s.url}/healthz`)).json()) as { memory: { refused: number; refusedBy: Record<string, number> } };
    assert.ok(health.memory.refusedBy['graph subscriptions']! >= refused);
    const r = await fetch(`${s.url}/blob`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([1, 2, 3]) });
    assert.equal(r.status, 201, 'a normal client is served');
  });
});
