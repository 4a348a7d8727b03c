// plexus graph relay vs gun's own relay (gun 0.2020.1241), same clients, one machine, loopback.
//   node --import tsx bench/graph.ts        (env: PUTS=5000 NODES=100000 READS=20000)
// 1. acked puts/s: CLIENTS real gun clients (child processes) each fire PUTS/CLIENTS single-field puts at once and wait for every ack.
// 2. memory: NODES small nodes written by CLIENTS gun clients (250 in flight each, capped at PHASE_MS); relay RSS growth.
// 3. reads/s: CLIENTS fresh gun clients `once` READS distinct nodes of those (250 in flight each).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { GunPeer, startGunRelay } from '../test/graph/helpers/gun.js';
import { tmpDir } from '../test/helpers/tmp.js';

const PUTS = Number(process.env.PUTS ?? 5000);
const NODES = Number(process.env.NODES ?? 100_000);
const READS = Number(process.env.READS ?? 20_000);
const CLIENTS = Number(process.env.CLIENTS ?? 4);
const PHASE_MS = Number(process.env.PHASE_MS ?? 25_000); // cap of the node-writing phase per relay, to keep the run under 2 minutes

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function startPlexus(): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  const d = tmpDir('plexus-bench-');
  const p: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/graph/helpers/serve.ts', d.path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: p.stdout! }).on('line', (l) => { if (l.startsWith('{"url"')) resolve(JSON.parse(l).url); });
    p.once('exit', (c) => reject(new Error(`plexus exited ${c}`)));
  });
  return { url: `${url}/gun`, pid: p.pid!, async close() { const e = new Promise((r) => p.once('exit', r)); p.kill('SIGKILL'); await e; d.rm(); } };
}

async function run(name: string, relay: { url: string; pid: number; close(): Promise<void> }) {
  const clients = Array.from({ length: CLIENTS }, () => new GunPeer(relay.url));
  await Promise.all(clients.map((c) => c.ready()));
  await Promise.all(clients.map((c, i) => c.benchPut(`warmup${i}`, 200, 20_000)));
  const t0 = Date.now();
  const each = await Promise.all(clients.map((c, i) => c.benchPut(`bench${i}`, Math.ceil(PUTS / CLIENTS), 30_000)));
  const puts = { acked: each.reduce((n, x) => n + x.acked, 0), ms: Date.now() - t0 };
  await Promise.all(clients.map((c) => c.close()));
  await new Promise((r) => setTimeout(r, 500));
  const rss0 = rssMb(relay.pid);
  // memory: NODES small nodes from CLIENTS gun clients (time-capped; growth is also given per 100k nodes)
  const writers = Array.from({ length: CLIENTS }, () => new GunPeer(relay.url));
  await Promise.all(writers.map((c) => c.ready()));
  const per = Math.ceil(NODES / CLIENTS);
  const t1 = Date.now();
  const ws = await Promise.all(writers.map((c, i) => c.benchNodes('bench-nodes', { prefix: 'node', n: per, start: i * per, inflight: 250, timeoutMs: PHASE_MS })));
  const w = { acked: ws.reduce((n, x) => n + x.ok, 0), ms: Date.now() - t1 };
  await Promise.all(writers.map((c) => c.close()));
  await new Promise((r) => setTimeout(r, 1000));
  const rss1 = rssMb(relay.pid);
  // reads: fresh gun clients `once` distinct nodes written above
  const readers = Array.from({ length: CLIENTS }, () => new GunPeer(relay.url));
  await Promise.all(readers.map((c) => c.ready()));
  const t2 = Date.now();
  const rs = await Promise.all(readers.map((c, i) => c.benchNodes('bench-read', { prefix: 'node', n: Math.ceil(READS / CLIENTS), of: Math.max(1, Math.min(w.acked, per * CLIENTS)), start: i, inflight: 250, timeoutMs: 20_000 })));
  const reads = { answered: rs.reduce((n, x) => n + x.ok, 0), ms: Date.now() - t2 };
  await Promise.all(readers.map((c) => c.close()));
  await relay.close();
  const r = {
    name,
    putsPerSec: (puts.acked / puts.ms) * 1000, putsAcked: puts.acked,
    nodes: w.acked, nodesPerSec: (w.acked / w.ms) * 1000, rssBefore: rss0, rssAfter: rss1, rssGrowth: rss1 - rss0,
    readsPerSec: (reads.answered / reads.ms) * 1000, reads: reads.answered,
  };
  console.log(`${name.padEnd(12)} acked puts/s ${r.putsPerSec.toFixed(0).padStart(7)} (${puts.acked}/${PUTS})  nodes ${w.acked}/${NODES} at ${r.nodesPerSec.toFixed(0)}/s  RSS ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MB (+${r.rssGrowth.toFixed(0)})  reads/s ${r.readsPerSec.toFixed(0)} (${reads.answered}/${READS})`);
  return r;
}

const started = Date.now();
console.log(`graph bench: ${new Date().toISOString()}, node ${process.version}, PUTS=${PUTS} CLIENTS=${CLIENTS} NODES=${NODES} READS=${READS}`);
const p = await run('plexus', await startPlexus());
const g = await run('gun', await startGunRelay());
console.log(`ratio plexus/gun: acked puts/s ${(p.putsPerSec / g.putsPerSec).toFixed(2)}x (goal >= 2x), reads/s ${(p.readsPerSec / g.readsPerSec).toFixed(2)}x (goal >= 2x)`);
const perNode = (x: typeof p) => x.rssGrowth / Math.max(1, x.nodes);
console.log(`relay RSS growth per 100k nodes: plexus ${(perNode(p) * 1e5).toFixed(0)} MB, gun ${(perNode(g) * 1e5).toFixed(0)} MB`);
console.log(`memory per node plexus/gun: ${(perNode(p) / perNode(g)).toFixed(2)}x (goal <= 0.5x); RSS after: plexus ${p.rssAfter.toFixed(0)} MB (${p.nodes} nodes), gun ${g.rssAfter.toFixed(0)} MB (${g.nodes} nodes)`);
console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(0);
