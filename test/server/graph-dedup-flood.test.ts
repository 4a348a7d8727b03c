import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { RUNTIME_SLACK_MIB, rssPeak } from '../helpers/stalled.js';
import { tmpDir } from '../helpers/tmp.js';
import { GRAPH_DEDUP_ID_BYTES, GRAPH_DEDUP_MAX_IDS, GRAPH_MAX_ID_LENGTH } from '../../src/limits.js';

const MiB = 1024 * 1024;
const CONNECTIONS = 4, FRAMES = 100, PER_FRAME = 1000;
/** README's bound for this attack: the dedup cap times its per-id estimate, plus RUNTIME_SLACK_MIB. */
const BOUND_MIB = (GRAPH_DEDUP_MAX_IDS * GRAPH_DEDUP_ID_BYTES) / MiB + RUNTIME_SLACK_MIB;
type Msg = Record<string, unknown>;
const msgs = (f: string): Msg[] => { const v = JSON.parse(f) as Msg | Msg[]; return Array.isArray(v) ? v : [v]; };
/** A message id of the longest accepted length, unique per (connection, frame, index). */
const longId = (c: number, f: number, i: number) => `${c}-${f}-${i}-`.padEnd(GRAPH_MAX_ID_LENGTH, 'x');

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  return ws;
}

/**
 * Send FRAMES frames of PER_FRAME messages with unique longest ids: acks (`@` + ok, which a relay only
 * de-duplicates, the cheapest message to send in bulk) and, last in each frame, one get whose answer
 * paces the flood (two frames in flight).
 */
async function flood(url: string, c: number, frames = FRAMES): Promise<void> {
  const ws = await open(url);
  let waiting = 0, wake: (() => void) | undefined;
  ws.on('message', (d) => { for (const m of msgs(d.toString())) if (typeof m['@'] === 'string' && m['@'].startsWith(`${c}-`)) { if (--waiting === 0) wake?.(); } });
  for (let f = 0; f < frames; f += 2) {
    waiting = 2;
    const done = new Promise<void>((r) => { wake = r; });
    for (const g of [f, f + 1]) {
      ws.send(JSON.stringify(Array.from({ length: PER_FRAME }, (_, i) => (i < PER_FRAME - 1 ? { '#': longId(c, g, i), '@': 'nothing-we-sent', ok: 1 } : { '#': longId(c, g, i), get: { '#': 'dedup-soul' } }))));
    }
    await done;
  }
  ws.close();
}

describe('bounded memory: a flood of unique message ids on /gun', () => {
  let s: ServeChild;
  const d = tmpDir();
  before(async () => { s = await serveChild(['--data', d.path]); });
  after(async () => { await s.kill(); d.rm(); });

  it(`${CONNECTIONS * FRAMES * PER_FRAME} unique ids: the dedup memory stays at GRAPH_DEDUP_MAX_IDS, RSS grows < ${BOUND_MIB.toFixed(0)} MiB, a normal client is served`, async () => {
    const url = s.url.replace('http', 'ws') + '/gun';
    const stats = async () => ((await (await fetch(`${s.url}/healthz`)).json()) as { stats: { graph: { dedupIds: number; duplicates: number; messages: number } } }).stats.graph;
    await flood(url, 99, 10); // warm up
    await new Promise((r) => setTimeout(r, 500));
    const base = s.rssMiB();
    const peak = rssPeak(() => s.rssMiB());
    const normal = await open(url);
    const trips: number[] = [];
    let flooding = true;
    const normalWork = (async () => {
      for (let i = 0; flooding || i < 5; i++) {
        const t0 = performance.now();
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('normal get not answered')), 10_000);
          const on = (dd: WebSocket.RawData) => { if (msgs(dd.toString()).some((m) => m['@'] === `n${i}`)) { clearTimeout(t); normal.off('message', on); resolve(); } };
          normal.on('message', on);
          normal.send(JSON.stringify({ '#': `n${i}`, get: { '#': `normal-${i}` } }));
        });
        trips.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const before0 = (await stats()).messages;
    let most = 0;
    const sampler = setInterval(() => void stats().then((x) => { most = Math.max(most, x.dedupIds); }, () => {}), 250);
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, c) => flood(url, c)));
    clearInterval(sampler);
    flooding = false;
    await normalWork;
    const top = peak.stop();
    const g = await stats();
    const worst = Math.max(...trips);
    console.log(`graph dedup flood: RSS ${base.toFixed(0)} -> peak ${top.toFixed(0)} MiB; ${CONNECTIONS * FRAMES * PER_FRAME} ids, at most ${most} remembered; normal gets ${trips.length}, slowest ${worst.toFixed(0)} ms`);
    assert.ok(g.messages >= before0 + CONNECTIONS * FRAMES * PER_FRAME, 'every message reached the relay');
    most = Math.max(most, g.dedupIds);
    assert.equal(most, GRAPH_DEDUP_MAX_IDS, 'the cap was reached and held');
        assert.ok(top - base < BOUND_MIB, `RSS grew by ${(top - base).toFixed(0)} MiB`);
    assert.ok(worst < 5_000, `a normal get took ${worst.toFixed(0)} ms`);
    // the newest ids are still remembered: a replay of one is dropped as a duplicate
    const replay = await open(url);
    replay.send(JSON.stringify({ '#': longId(0, FRAMES - 1, PER_FRAME - 1), get: { '#': 'dedup-soul' } }));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await stats()).duplicates, g.duplicates + 1, 'the replayed id counted as a duplicate');
    replay.close(); normal.close();
  });
});
