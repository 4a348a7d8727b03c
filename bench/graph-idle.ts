// Idle connections and fan-out (issue 15's goal): N open /gun WebSockets with one subscription each,
// then a change to a soul that F of them subscribe to. Run against `plexus serve`'s graph mount and gun's
// own relay in the same run; prints relay RSS per idle connection and the change -> delivery latency of
// every subscriber, with the ratio of plexus to gun.
//   node --import tsx bench/graph-idle.ts            (10,000 connections, 1,000 on the hot soul, 20 changes)
//   env: CONNS=10000 HOT=1000 CHANGES=20 GUN_CONNS=1000
// gun's relay forwards every get to all its other connections (each new subscriber costs it work in
// proportion to the connections already open), so at 10,000 it does not finish in minutes: its
// baseline runs GUN_CONNS connections (default 1,000, all of them hot), and the ratio compares per
// connection and the fan-out latency to those many subscribers.
// Clients speak gun's wire directly (one `get` each, as a gun client's `on` sends it), so the bench
// process stays light: 10,000 real gun instances would not fit in one process next to the relay.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { startGunRelay } from '../test/graph/helpers/gun.js';
import { tmpDir } from '../test/helpers/tmp.js';
import { goal, load } from './goal.js';

const CONNS = Number(process.env.CONNS ?? 10_000);
const HOT = Math.min(CONNS, Number(process.env.HOT ?? 1_000));
const CHANGES = Number(process.env.CHANGES ?? 20);
const GUN_CONNS = Math.min(CONNS, Number(process.env.GUN_CONNS ?? 1_000));
/** Connections opened at once while connecting. */
const BATCH = 250;

type Relay = { name: string; url: string; pid: number; close(): Promise<void> };

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startPlexus(): Promise<Relay> {
  const d = tmpDir('plexus-idle-');
  // the connection limits are raised for this bench only (defaults: 10,000 in total, 2,000 per IP)
  const env = { ...process.env, PLEXUS_MAX_CONNECTIONS: String(CONNS + 100), PLEXUS_MAX_CONNECTIONS_PER_IP: String(CONNS + 100) };
  const p: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/graph-relay.ts', d.path], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: p.stdout! }).on('line', (l) => { if (l.startsWith('{"url"')) resolve(JSON.parse(l).url); });
    p.once('exit', (c) => reject(new Error(`plexus exited ${c}`)));
  });
  return { name: 'plexus', url: `${url.replace('http', 'ws')}/gun`, pid: p.pid!, async close() { const e = new Promise((r) => p.once('exit', r)); p.kill('SIGKILL'); await e; d.rm(); } };
}

async function startGun(): Promise<Relay> {
  const g = await startGunRelay();
  return { name: 'gun', url: g.url.replace('http', 'ws'), pid: g.pid, close: () => g.close() };
}

let seq = 0;
const id = () => `b${(seq++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** Open one connection and subscribe it to `soul` (answered or not), resolving once the get is sent and a reply (if any) came. */
function subscriber(url: string, soul: string, onFrame: (text: string) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.on('message', (data) => onFrame(data.toString()));
      ws.send(JSON.stringify({ get: { '#': soul }, '#': id() }));
      resolve(ws);
    });
  });
}

interface Result { first: number; conns: number; rssPerConnKb: number; rss0: number; rss1: number; p50: number; p99: number; delivered: number; expected: number; connectMs: number }

async function run(relay: Relay, nConns: number, nHot: number): Promise<Result> {
  await sleep(500);
  const rss0 = rssKb(relay.pid);
  const socks: WebSocket[] = [];
  // arrival times of each change's marker, per hot subscriber
  const arrivals = new Map<string, number[]>();
  const t0 = Date.now();
  for (let i = 0; i < nConns; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(nConns, i + BATCH); j++) {
      const hot = j < nHot;
      batch.push(subscriber(relay.url, hot ? 'idle-hot' : `idle-${j}`, hot ? (text) => {
        const m = /"mark":"(m\d+)"/.exec(text);
        if (m) { const a = arrivals.get(m[1]!); if (a) a.push(performance.now()); }
      } : () => {}));
    }
    socks.push(...(await Promise.all(batch)));
  }
  const connectMs = Date.now() - t0;
  await sleep(2000); // let every get be answered and the relay settle
  global.gc?.();
  const rss1 = rssKb(relay.pid);
  const writer = await subscriber(relay.url, 'idle-writer', () => {});
  const lat: number[] = [], firsts: number[] = [];
  let delivered = 0;
  for (let c = 0; c < CHANGES; c++) {
    const mark = `m${c}`;
    const got: number[] = [];
    arrivals.set(mark, got);
    const state = Date.now();
    const sent = performance.now();
    writer.send(JSON.stringify({ put: { 'idle-hot': { _: { '#': 'idle-hot', '>': { mark: state } }, mark } }, '#': id() }));
    const until = Date.now() + 5000;
    while (got.length < nHot && Date.now() < until) await sleep(5);
    await sleep(50); // late duplicates are not counted
    arrivals.delete(mark);
    delivered += Math.min(nHot, got.length);
    for (const t of got.slice(0, nHot)) lat.push(t - sent);
    if (got.length) firsts.push(got[0]! - sent);
    await sleep(150);
  }
  writer.terminate();
  for (const s of socks) s.terminate();
  return { first: pct(firsts, 50), conns: nConns, rss0, rss1, rssPerConnKb: (rss1 - rss0) / nConns, p50: pct(lat, 50), p99: pct(lat, 99), delivered, expected: CHANGES * nHot, connectMs };
}

console.log(`graph idle connections: ${CONNS} /gun WebSockets with one subscription each (${HOT} on one hot soul), ${CHANGES} changes to it; ${await load()}, Node ${process.version}`);
const results: Record<string, Result> = {};
for (const [start, conns, hot] of [[startPlexus, CONNS, HOT], [startGun, GUN_CONNS, Math.min(HOT, GUN_CONNS)]] as const) {
  const relay = await start();
  try {
    const r = await run(relay, conns, hot);
    results[relay.name] = r;
    console.log(`${relay.name.padEnd(7)} ${conns} connections in ${r.connectMs} ms; RSS ${(r.rss0 / 1024).toFixed(0)} -> ${(r.rss1 / 1024).toFixed(0)} MB = ${r.rssPerConnKb.toFixed(1)} KB per connection; change -> ${hot} subscribers: first arrival p50 ${r.first.toFixed(1)} ms (commit + one frame), all p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, delivered ${r.delivered}/${r.expected}`);
  } finally {
    await relay.close();
  }
}
const p = results.plexus!, g = results.gun!;
console.log(`ratio plexus/gun: RSS per connection ${(p.rssPerConnKb / g.rssPerConnKb).toFixed(2)}x, fan-out p99 ${(p.p99 / g.p99).toFixed(2)}x (plexus ${CONNS} connections / ${HOT} hot, gun ${GUN_CONNS} / ${Math.min(HOT, GUN_CONNS)}); ${await load()}`);
goal('graph-idle', `${CONNS} idle /gun connections with one subscription cost <= 20 KB of relay RSS each`, `${p.rssPerConnKb.toFixed(1)} KB (gun ${g.rssPerConnKb.toFixed(1)} KB at ${GUN_CONNS})`, p.rssPerConnKb <= 20);
goal('graph-idle', `a change reaches all ${HOT} subscribers of a soul within 100 ms p99`, `${p.p99.toFixed(1)} ms p99, ${p.delivered}/${p.expected} delivered (gun ${g.p99.toFixed(1)} ms to ${Math.min(HOT, GUN_CONNS)}, ${g.delivered}/${g.expected})`, p.p99 <= 100 && p.delivered === p.expected);
