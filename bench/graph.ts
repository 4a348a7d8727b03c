// plexus graph relay vs gun's own relay (gun 0.2020.1241), same gun clients, one machine, loopback.
//   node --import tsx bench/graph.ts
//   env: CLIENTS=4 INFLIGHT=16,256,1024 ROUND_MS=3000 ROUNDS=3 SIZE=64 SHAPE=node|field NODES=100000 PHASE_MS=20000 READ_WAIT=1
//        PHASES=puts,reads,mixed,signed (a subset runs only those; reads and mixed write their nodes first)
// 1. acked puts/s: CLIENTS real gun clients (child processes) per relay, closed loop: each keeps INFLIGHT puts
//    unacked at most for ROUND_MS, then drains. Each put is a new node {text: SIZE chars, n, by} (SHAPE=field:
//    field f<i> = text of one node per client). After a warm-up round, ROUNDS rounds per level, plexus and gun
//    rounds interleaved (the machine is shared and noisy); the median round is printed, with the relay's own CPU per acked put (/proc/<pid>/stat, robust
//    to noise), the clients' CPU per put, and ack latency (median client p50, worst client p99).
//    At the lowest level the same rounds also run against bench/ack-floor-relay.ts (acks at once, stores nothing):
//    its ack p50 is the floor these clients set on this machine, printed beside the Little's-law bound of plexus;
//    then plexus alone with raw WebSocket writers sending the same frames (its ack latency when light clients leave it the cores).
// 2. memory (fresh relays): NODES small nodes written by CLIENTS gun clients (250 in flight each, capped at PHASE_MS); relay RSS growth.
// 3. reads/s on the same fresh relays, measured like the puts: closed loop, each of CLIENTS gun clients keeps
//    INFLIGHT `once` reads (same options for both relays) in flight for ROUND_MS, each of a distinct node acked by
//    both relays in 2.; fresh reader processes every round (no client cache); a read counts only when it returns
//    that node's data. Warm-up round, then ROUNDS rounds per level, plexus and gun interleaved, median printed,
//    with relay and client CPU per read and read latency (median client p50, worst client p99).
// 4. signed puts (plexus only; ONLY=signed runs just this): relay CPU per acked put of SEA-signed user-space
//    fields (`~pub/…`, verified with WebCrypto before they are stored) vs the same frames on plain souls of the same
//    length (identical bytes, no verification). CLIENTS raw WebSocket writers (one SEA key each), SIGNED_INFLIGHT
//    puts in flight each, SIGNED_PUTS puts per kind and round, one field per put; ROUNDS rounds, kinds interleaved.
// 5. mixed (plexus only, issue 15): reads at 16 in flight x CLIENTS alone, then the same reads while CLIENTS
//    writers stream puts at 16 in flight each: reads' p99 with puts must stay within 2x of alone (SQLite
//    commits run on a worker thread, so reads do not wait for a commit's fsync).
// Both relays run as a user runs them: plexus = `plexus serve`'s graph mount from dist/ (bench/graph-relay.ts) (SQLite, WAL, synchronous=FULL:
// an ack means fsync'd); gun = `Gun({ web, file })` (radisk: acks after its 250 ms write batch reaches the
// file system, without fsync).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { GunPeer, startGunRelay } from '../test/graph/helpers/gun.js';
import { signedValue, testPair } from '../test/graph/helpers/sea-sign.js';
import { tmpDir } from '../test/helpers/tmp.js';
import { goal, load } from './goal.js';

const CLIENTS = Number(process.env.CLIENTS ?? 4);
const INFLIGHT = (process.env.INFLIGHT ?? '16,256,1024').split(',').map(Number);
/** The lowest in-flight level: where the ack floor and the raw writers run too. */
const LOW = Math.min(...INFLIGHT);
const ROUND_MS = Number(process.env.ROUND_MS ?? 3000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SIZE = Number(process.env.SIZE ?? 64);
const SHAPE = process.env.SHAPE === 'field' ? 'field' : 'node'; // field: every put is one field of one node per client (issue 4's first bench)
const NODES = Number(process.env.NODES ?? 100_000);
const PHASE_MS = Number(process.env.PHASE_MS ?? 20_000);
// `once(cb, {wait})` for both relays: gun calls back `wait || 99` ms after the data arrived (wait 0 means 99 ms),
// a fixed client timer that caps reads/s at in-flight / 0.1 s whatever the relay; 1 ms keeps it out of the way.
const READ_WAIT = Number(process.env.READ_WAIT ?? 1); // cap of the node-writing phase per relay, to keep the run short
const SIGNED_PUTS = Number(process.env.SIGNED_PUTS ?? 20_000);
const SIGNED_INFLIGHT = Number(process.env.SIGNED_INFLIGHT ?? 64);
const PHASES = new Set((process.env.PHASES ?? 'puts,reads,mixed,signed').split(','));

/** The relay's event-loop delay (ms) since the last call (plexus only: bench/graph-relay.ts with PLEXUS_SERVE_ELD=1). */
type Eld = { p50: number; p99: number; max: number; mean: number; gcs: number; gcMs: number; gcMaxMs: number };
type Relay = { name: string; url: string; pid: number; close(): Promise<void>; eld?(): Promise<Eld> };

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
/** Time a process's main thread spent waiting for a CPU (run queue) so far, in ms (/proc/<pid>/schedstat). */
const waitMs = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
/** CPU time (user + system) of a process so far, in ms (clock ticks of 10 ms). */
const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const f0 = (x: number) => x.toFixed(0);
const CORES = availableParallelism();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function startPlexus(): Promise<Relay> {
  const d = tmpDir('plexus-bench-');
  const p: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/graph-relay.ts', d.path], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PLEXUS_SERVE_ELD: '1' } });
  const eld: ((e: Eld) => void)[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: p.stdout! }).on('line', (l) => {
      if (l.startsWith('{"url"')) resolve(JSON.parse(l).url);
      else if (l.startsWith('{"eld"')) eld.shift()?.(JSON.parse(l).eld);
    });
    p.once('exit', (c) => reject(new Error(`plexus exited ${c}`)));
  });
  return {
    name: 'plexus', url: `${url}/gun`, pid: p.pid!,
    async close() { const e = new Promise((r) => p.once('exit', r)); p.kill('SIGKILL'); await e; d.rm(); },
    eld: () => new Promise<Eld>((r) => { eld.push(r); p.kill('SIGUSR2'); }),
  };
}

/** bench/ack-floor-relay.ts: acks every put at once, stores nothing (the floor of the ack latency with these clients). */
async function startFloor(): Promise<Relay> {
  const p: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/ack-floor-relay.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: p.stdout! }).once('line', (l) => resolve(JSON.parse(l).url));
    p.once('exit', (c) => reject(new Error(`ack floor relay exited ${c}`)));
  });
  return { name: 'floor', url, pid: p.pid!, async close() { const e = new Promise((r) => p.once('exit', r)); p.kill('SIGKILL'); await e; } };
}

interface Round { rate: number; acked: number; errs: number; lost: number; relayUs: number; clientUs: number; p50: number; p99: number }

/** One closed-loop round of every client of one relay; relay and client CPU measured over the round. */
async function putRound(relay: Relay, clients: GunPeer[], tag: string, inflight: number, ms: number): Promise<Round> {
  const r0 = cpuMs(relay.pid), c0 = clients.map((c) => cpuMs(c.pid!)), t0 = Date.now();
  const res = await Promise.all(clients.map((c, i) => c.benchFlow({ prefix: `${tag}c${i}-`, ms, inflight, size: SIZE, shape: SHAPE })));
  const wall = Date.now() - t0;
  const relayCpu = cpuMs(relay.pid) - r0, clientCpu = clients.reduce((s, c, i) => s + cpuMs(c.pid!) - c0[i]!, 0);
  const acked = res.reduce((n, x) => n + x.acked, 0);
  return {
    rate: (acked / wall) * 1000, acked, errs: res.reduce((n, x) => n + x.errs, 0), lost: res.reduce((n, x) => n + x.lost, 0),
    relayUs: (relayCpu * 1000) / Math.max(1, acked), clientUs: (clientCpu * 1000) / Math.max(1, acked),
    p50: median(res.map((x) => x.p50 ?? Infinity)), p99: Math.max(...res.map((x) => x.p99 ?? Infinity)),
  };
}

/** Memory: NODES small nodes written by CLIENTS gun clients on a fresh relay (time-capped); relay RSS growth. Returns the nodes each writer got acked. */
async function memory(relay: Relay) {
  await new Promise((r) => setTimeout(r, 500));
  const rss0 = rssMb(relay.pid);
  const writers = Array.from({ length: CLIENTS }, () => new GunPeer(relay.url));
  await Promise.all(writers.map((c) => c.ready()));
  const per = Math.ceil(NODES / CLIENTS);
  const t1 = Date.now();
  const ws = await Promise.all(writers.map((c, i) => c.benchNodes('bench-nodes', { prefix: 'node', n: per, start: i * per, inflight: 250, timeoutMs: PHASE_MS, listAcked: true })));
  const w = { acked: ws.reduce((n, x) => n + x.ok, 0), ms: Date.now() - t1 };
  await Promise.all(writers.map((c) => c.close()));
  await new Promise((r) => setTimeout(r, 1000));
  const rss1 = rssMb(relay.pid);
  const r = { nodes: w.acked, nodesPerSec: (w.acked / w.ms) * 1000, rssBefore: rss0, rssAfter: rss1, rssGrowth: rss1 - rss0, acked: ws.map((x) => x.acked ?? []) };
  console.log(`${relay.name.padEnd(7)} nodes ${w.acked}/${NODES} at ${r.nodesPerSec.toFixed(0)}/s  RSS ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MB (+${r.rssGrowth.toFixed(0)})`);
  return r;
}

interface ReadRound { rate: number; answered: number; missed: number; lost: number; exhausted: number; relayUs: number; clientUs: number; p50: number; p99: number }

/** One closed-loop read round of fresh gun clients (nothing cached) of one relay; relay and client CPU measured over the round. */
async function readRound(relay: Relay, readers: GunPeer[], pools: number[][], offset: number, inflight: number, ms: number): Promise<ReadRound> {
  const r0 = cpuMs(relay.pid), c0 = readers.map((c) => cpuMs(c.pid!)), t0 = Date.now();
  const res = await Promise.all(readers.map((c, i) => c.benchReadFlow({ prefix: 'node', pool: pools[i]!, offset, ms, inflight, wait: READ_WAIT })));
  const wall = Date.now() - t0;
  const relayCpu = cpuMs(relay.pid) - r0, clientCpu = readers.reduce((s, c, i) => s + cpuMs(c.pid!) - c0[i]!, 0);
  const answered = res.reduce((n, x) => n + x.answered, 0);
  return {
    rate: (answered / wall) * 1000, answered, missed: res.reduce((n, x) => n + x.missed, 0), lost: res.reduce((n, x) => n + x.lost, 0), exhausted: res.filter((x) => x.exhausted).length,
    relayUs: (relayCpu * 1000) / Math.max(1, answered), clientUs: (clientCpu * 1000) / Math.max(1, answered),
    p50: median(res.map((x) => x.p50 ?? Infinity)), p99: Math.max(...res.map((x) => x.p99 ?? Infinity)),
  };
}

/** Fresh reader processes for every relay (connected), so no read is answered from a gun client's cache. */
async function freshReaders(relays: Relay[]): Promise<Map<Relay, GunPeer[]>> {
  const m = new Map(relays.map((r) => [r, Array.from({ length: CLIENTS }, () => new GunPeer(r.url))]));
  await Promise.all([...m.values()].flat().map((c) => c.ready()));
  await new Promise((r) => setTimeout(r, 300)); // let the WebSockets connect before the clock starts
  return m;
}

/** Closed loop over one raw WebSocket: `frames` sent with at most `inflight` unacked; resolves with acks ok / err. */
async function rawFlow(url: string, frames: { id: string; text: string }[], inflight: number): Promise<{ ok: number; err: number; firstErr?: string }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'));
  await new Promise<void>((r, j) => { ws.once('open', () => r()); ws.once('error', j); });
  const ids = new Set(frames.map((f) => f.id));
  let next = 0, ok = 0, err = 0, firstErr: string | undefined;
  return new Promise((resolve) => {
    const send = () => { while (next < frames.length && next - ok - err < inflight) ws.send(frames[next++]!.text); };
    ws.on('message', (d) => {
      const v = JSON.parse(d.toString());
      for (const m of Array.isArray(v) ? v : [v]) {
        if (!ids.delete(m['@'])) continue;
        if (m.err) { err++; firstErr ??= m.err; } else ok++;
      }
      if (ok + err === frames.length) { ws.terminate(); resolve({ ok, err, ...(firstErr ? { firstErr } : {}) }); } else send();
    });
    send();
  });
}

/**
 * Plexus's own ack latency with light clients: CLIENTS raw WebSockets (in this process) keep `inflight` puts of
 * the shape gun's clients send (new node {text, n, by}, frames of 5 puts) in flight for `ms`; ack p50 / p99 and
 * puts/s. Shows what the relay does when the clients' CPU is not what bounds the round trip.
 */
async function rawAckRound(relay: Relay, inflight: number, ms: number): Promise<{ rate: number; p50: number; p99: number; relayUs: number }> {
  const PER = 5, text = 'x'.repeat(SIZE), lat: number[] = [];
  let acked = 0, seq = 0, stop = false;
  const r0 = cpuMs(relay.pid), t0 = Date.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => new Promise<void>((done, fail) => {
    const ws = new WebSocket(relay.url.replace(/^http/, 'ws'), { perMessageDeflate: false });
    const sent = new Map<string, number>();
    const fill = () => {
      if (stop) { if (sent.size === 0) { ws.close(); done(); } return; }
      while (sent.size + PER <= inflight) {
        const ms: string[] = [], at = performance.now();
        for (let i = 0; i < PER; i++) {
          // a new node per put; its soul doubles as the message id
          const soul = `raw${t0}c${c}-${seq++}`, st = Date.now();
          sent.set(soul, at);
          ms.push(JSON.stringify({ '#': soul, put: { [soul]: { _: { '#': soul, '>': { text: st, n: st, by: st } }, text, n: seq, by: `raw${c}` } } }));
        }
        ws.send(`[${ms.join(',')}]`);
      }
    };
    ws.once('open', fill);
    ws.once('error', fail);
    ws.on('message', (d) => {
      const now = performance.now(), v = JSON.parse(d.toString());
      for (const m of Array.isArray(v) ? v : [v]) {
        const at = sent.get(m['@']);
        if (at === undefined) continue;
        sent.delete(m['@']);
        if (!m.err) { acked++; lat.push(now - at); }
      }
      fill();
    });
  })).concat(new Promise<void>((r) => setTimeout(() => { stop = true; r(); }, ms))));
  const wall = Date.now() - t0;
  lat.sort((a, b) => a - b);
  return { rate: (acked / wall) * 1000, p50: lat[Math.floor(lat.length / 2)] ?? Infinity, p99: lat[Math.floor(lat.length * 0.99)] ?? Infinity, relayUs: ((cpuMs(relay.pid) - r0) * 1000) / Math.max(1, acked) };
}

/** Phase 4: relay CPU per acked signed (verified) put vs the same frames on plain souls. */
async function signedPuts(): Promise<void> {
  const relay = await startPlexus();
  const pairs = await Promise.all(Array.from({ length: CLIENTS }, () => testPair()));
  const per = Math.ceil(SIGNED_PUTS / CLIENTS);
  const build = async (round: number, signed: boolean) => Promise.all(pairs.map(async (pair, c) => {
    const frames: { id: string; text: string }[] = [];
    const soul = `~${pair.pub}/bench`, plain = `u${pair.pub}/bench`;
    for (let i = 0; i < per; i++) {
      const field = `r${round}c${c}f${i}`, state = Date.now();
      const value = await signedValue(pair, { soul, field, value: `message ${i} of writer ${c}`, state });
      const s = signed ? soul : plain, id = `${signed ? 's' : 'u'}${round}c${c}i${i}`;
      frames.push({ id, text: JSON.stringify({ '#': id, put: { [s]: { _: { '#': s, '>': { [field]: state } }, [field]: value } } }) });
    }
    return frames;
  }));
  const rows = { signed: [] as number[], unsigned: [] as number[] }, rates = { signed: [] as number[], unsigned: [] as number[] };
  for (let round = -1; round < ROUNDS; round++) {
    for (const signed of round % 2 ? [false, true] : [true, false]) {
      const frames = await build(round + 1, signed);
      const r0 = cpuMs(relay.pid), t0 = Date.now();
      const res = await Promise.all(frames.map((f) => rawFlow(relay.url, f, SIGNED_INFLIGHT)));
      const wall = Date.now() - t0, cpu = cpuMs(relay.pid) - r0;
      const ok = res.reduce((n, x) => n + x.ok, 0), errs = res.reduce((n, x) => n + x.err, 0);
      if (errs) throw new Error(`signed bench: ${errs} puts refused: ${res.find((x) => x.firstErr)?.firstErr}`);
      if (round < 0) continue; // warm-up
      const kind = signed ? 'signed' : 'unsigned';
      rows[kind].push((cpu * 1000) / ok);
      rates[kind].push((ok / wall) * 1000);
    }
  }
  await relay.close();
  for (const kind of ['unsigned', 'signed'] as const) {
    console.log(`plexus  ${kind.padEnd(8)} puts (${CLIENTS} raw writers x ${SIGNED_INFLIGHT} in flight, ${per * CLIENTS} per round): relay CPU ${f0(median(rows[kind]))} us/put (rounds ${rows[kind].map(f0).join(' ')})  acked puts/s ${f0(median(rates[kind]))} (rounds ${rates[kind].map(f0).join(' ')})`);
  }
  const q = median(rows.signed) / median(rows.unsigned);
  console.log(`ratio signed/unsigned relay CPU per acked put: ${q.toFixed(2)}x (goal <= 2x)`);
  goal('graph', 'a SEA-signed put costs the relay <= 2x an unsigned one (CPU per acked put)', `${q.toFixed(2)}x (${f0(median(rows.signed))} vs ${f0(median(rows.unsigned))} us)`, q <= 2);
}

if (process.env.ONLY === 'signed' || (PHASES.size === 1 && PHASES.has('signed'))) {
  console.log(`graph bench (signed puts only): ${new Date().toISOString()}, node ${process.version}, CLIENTS=${CLIENTS} SIGNED_PUTS=${SIGNED_PUTS} SIGNED_INFLIGHT=${SIGNED_INFLIGHT} ROUNDS=${ROUNDS}`);
  await signedPuts();
  process.exit(0);
}

/**
 * Where the time of a mixed-phase window went: the relay's event-loop delay, the cores busy (CPU of the relay and
 * every client / wall), and the time the readers' and the relay's main threads waited in the run queue for a core.
 */
async function window<T>(relay: Relay, readers: GunPeer[], others: GunPeer[], run: () => Promise<T>): Promise<{ r: T; eld: Eld | undefined; cores: number; readerWaitMs: number; relayWaitMs: number; ms: number }> {
  await relay.eld?.();
  const all = [relay.pid, ...[...readers, ...others].map((c) => c.pid!)];
  const c0 = all.map(cpuMs), w0 = readers.map((c) => waitMs(c.pid!)), rw0 = waitMs(relay.pid), t0 = Date.now();
  const r = await run();
  const ms = Date.now() - t0;
  const cores = all.reduce((s, pid, i) => s + cpuMs(pid) - c0[i]!, 0) / ms;
  return { r, eld: await relay.eld?.(), cores, readerWaitMs: readers.reduce((s, c, i) => s + waitMs(c.pid!) - w0[i]!, 0), relayWaitMs: waitMs(relay.pid) - rw0, ms };
}

/** Reads alone, then the same reads while CLIENTS writers stream puts (16 in flight each), on one relay. */
async function mixed(relay: Relay, pools: number[][], offset: number) {
  let rd = await freshReaders([relay]);
  const a = await window(relay, rd.get(relay)!, [], () => readRound(relay, rd.get(relay)!, pools, offset, 16, ROUND_MS));
  const alone = a.r;
  for (const c of rd.get(relay)!) await c.close();
  rd = await freshReaders([relay]);
  const writers = Array.from({ length: CLIENTS }, () => new GunPeer(relay.url));
  await Promise.all(writers.map((c) => c.ready()));
  const m = await window(relay, rd.get(relay)!, writers, () => Promise.all([readRound(relay, rd.get(relay)!, pools, offset + 5003, 16, ROUND_MS), putRound(relay, writers, 'mix', 16, ROUND_MS)]));
  const [withPuts, puts] = m.r;
  for (const c of [...rd.get(relay)!, ...writers]) await c.close();
  console.log(`mixed   reads 16 in flight x ${CLIENTS}: alone p50 ${alone.p50.toFixed(1)} ms p99 ${alone.p99.toFixed(1)} ms (${f0(alone.rate)}/s) | with ${CLIENTS} clients x 16 puts in flight: p50 ${withPuts.p50.toFixed(1)} ms p99 ${withPuts.p99.toFixed(1)} ms (${f0(withPuts.rate)}/s; puts ${f0(puts.rate)}/s acked, ack p50 ${puts.p50.toFixed(1)} ms p99 ${puts.p99.toFixed(1)} ms): p99 ratio ${(withPuts.p99 / alone.p99).toFixed(2)}x  (${await load()})`);
  const where = (w: Omit<typeof a, 'r'>, reads: ReadRound) => `relay event-loop delay p50 ${w.eld?.p50.toFixed(1)} p99 ${w.eld?.p99.toFixed(1)} max ${w.eld?.max.toFixed(1)} ms, GC pauses ${w.eld?.gcs} (${w.eld?.gcMs.toFixed(0)} ms, longest ${w.eld?.gcMaxMs.toFixed(1)} ms); cores busy ${w.cores.toFixed(2)}; readers waited for a core ${((w.readerWaitMs / Math.max(1, reads.answered)) * 1000).toFixed(0)} us/read (${((w.readerWaitMs / w.ms / CLIENTS) * 100).toFixed(0)}% of their time), relay ${((w.relayWaitMs / w.ms) * 100).toFixed(0)}%`;
  console.log(`mixed   alone: ${where(a, alone)} | with puts: ${where(m, withPuts)}`);
  return { alone, withPuts, puts };
}

const started = Date.now();
console.log(`graph bench: ${new Date().toISOString()}, node ${process.version}, CLIENTS=${CLIENTS} INFLIGHT=${INFLIGHT.join(',')} ROUND_MS=${ROUND_MS} ROUNDS=${ROUNDS} SIZE=${SIZE} SHAPE=${SHAPE} NODES=${NODES} READ_WAIT=${READ_WAIT}`);
const summary: { inflight: number; p: Round; g: Round; floor?: Round }[] = [];
if (PHASES.has('puts')) {
const relays = [await startPlexus(), await startGunRelay().then((g) => ({ name: 'gun', ...g }))];
// at the lowest level only, the same clients' rounds against a relay that acks at once and stores nothing
const floor = await startFloor();
const clients = new Map([...relays, floor].map((r) => [r, Array.from({ length: CLIENTS }, () => new GunPeer(r.url))]));
await Promise.all([...clients.values()].flat().map((c) => c.ready()));
// warm-up (JIT, SQLite/radisk files, sockets), not counted: a short round at the highest level, then one at the
// lowest (small batches take other code paths, which were otherwise still being compiled in its first round)
for (const r of relays) await putRound(r, clients.get(r)!, 'warm', Math.max(...INFLIGHT), 1500);
for (const r of [...relays, floor]) await putRound(r, clients.get(r)!, 'warm-low', LOW, 1500);
for (const inflight of INFLIGHT) {
  const level = inflight === LOW ? [...relays, floor] : relays;
  const rounds = new Map<Relay, Round[]>(level.map((r) => [r, []]));
  for (let i = 0; i < ROUNDS; i++) {
    for (const r of i % 2 ? [...level].reverse() : level) rounds.get(r)!.push(await putRound(r, clients.get(r)!, `f${inflight}r${i}`, inflight, ROUND_MS));
  }
  const med = new Map<Relay, Round>();
  for (const r of level) {
    const rs = rounds.get(r)!;
    const m = [...rs].sort((a, b) => a.rate - b.rate)[Math.floor(rs.length / 2)]!;
    med.set(r, m);
    console.log(`${r.name.padEnd(7)} ${String(inflight).padStart(4)} in flight x ${CLIENTS}: acked puts/s ${f0(m.rate).padStart(6)} (rounds ${rs.map((x) => f0(x.rate)).join(' ')}; ${m.acked} acked, ${m.errs} err, ${m.lost} unacked)  relay CPU ${f0(m.relayUs).padStart(4)} us/put (rounds ${rs.map((x) => f0(x.relayUs)).join(' ')})  clients CPU ${f0(m.clientUs)} us/put  ack p50 ${m.p50.toFixed(1)} ms p99 ${m.p99.toFixed(1)} ms`);
  }
  summary.push({ inflight, p: med.get(relays[0]!)!, g: med.get(relays[1]!)!, floor: med.get(floor) });
}
for (const c of [...clients.values()].flat()) await c.close();
await rawAckRound(relays[0]!, LOW, 1000); // warm-up
const raws = [];
for (let i = 0; i < ROUNDS; i++) raws.push(await rawAckRound(relays[0]!, LOW, ROUND_MS));
const raw = [...raws].sort((a, b) => a.p50 - b.p50)[Math.floor(raws.length / 2)]!;
console.log(`plexus  ${String(LOW).padStart(4)} in flight x ${CLIENTS} raw WebSocket writers (gun's put frames, 5 puts a frame, light clients): acked puts/s ${f0(raw.rate)}  relay CPU ${f0(raw.relayUs)} us/put  ack p50 ${raw.p50.toFixed(1)} ms p99 ${raw.p99.toFixed(1)} ms (rounds p50 ${raws.map((x) => x.p50.toFixed(1)).join(' ')})`);
for (const r of [...relays, floor]) await r.close();
}
// memory and reads on fresh relays: after the put rounds the heap has grown and RSS growth would mean little
type Mem = Awaited<ReturnType<typeof memory>>;
const readSummary: { inflight: number; p: ReadRound; g: ReadRound }[] = [];
let mix: Awaited<ReturnType<typeof mixed>> | undefined, p: Mem | undefined, g: Mem | undefined;
const perNode = (x: Mem) => x.rssGrowth / Math.max(1, x.nodes);
if (PHASES.has('reads') || PHASES.has('mixed')) {
const fresh = [await startPlexus(), await startGunRelay().then((g) => ({ name: 'gun', ...g }))];
const mem = new Map<Relay, Mem>();
for (const r of fresh) mem.set(r, await memory(r));
[p, g] = [mem.get(fresh[0]!)!, mem.get(fresh[1]!)!];
// reads: reader i of either relay reads only nodes writer i got acked by BOTH relays (the same souls on both)
const pools = p.acked.map((xs, i) => { const inG = new Set(g!.acked[i]); return xs.filter((n) => inG.has(n)); });
let offset = 0;
if (PHASES.has('reads')) {
console.log(`reads: pools of ${pools.map((x) => x.length).join(', ')} nodes per reader (acked on both relays); fresh reader processes every round`);
{ const rd = await freshReaders(fresh); for (const r of fresh) await readRound(r, rd.get(r)!, pools, offset, Math.max(...INFLIGHT), 1500); for (const c of [...rd.values()].flat()) await c.close(); }
for (const inflight of INFLIGHT) {
  const rounds = new Map<Relay, ReadRound[]>(fresh.map((r) => [r, []]));
  for (let i = 0; i < ROUNDS; i++) {
    const rd = await freshReaders(fresh);
    offset += 1009;
    for (const r of i % 2 ? [...fresh].reverse() : fresh) rounds.get(r)!.push(await readRound(r, rd.get(r)!, pools, offset, inflight, ROUND_MS));
    for (const c of [...rd.values()].flat()) await c.close();
  }
  const med = new Map<Relay, ReadRound>();
  for (const r of fresh) {
    const rs = rounds.get(r)!;
    const m = [...rs].sort((a, b) => a.rate - b.rate)[Math.floor(rs.length / 2)]!;
    med.set(r, m);
    console.log(`${r.name.padEnd(7)} ${String(inflight).padStart(4)} in flight x ${CLIENTS}: reads/s ${f0(m.rate).padStart(6)} (rounds ${rs.map((x) => f0(x.rate)).join(' ')}; ${m.answered} answered with data, ${m.missed} missed, ${m.lost} unanswered${m.exhausted ? `, ${m.exhausted} pools used up` : ''})  relay CPU ${f0(m.relayUs).padStart(4)} us/read (rounds ${rs.map((x) => f0(x.relayUs)).join(' ')})  clients CPU ${f0(m.clientUs)} us/read  read p50 ${m.p50.toFixed(1)} ms p99 ${m.p99.toFixed(1)} ms`);
  }
  readSummary.push({ inflight, p: med.get(fresh[0]!)!, g: med.get(fresh[1]!)! });
}
}
if (PHASES.has('mixed')) mix = await mixed(fresh[0]!, p.acked, offset + 20011); // plexus only: every node it acked
for (const r of fresh) await r.close();
console.log(`relay RSS growth per 100k nodes: plexus ${(perNode(p) * 1e5).toFixed(0)} MB, gun ${(perNode(g) * 1e5).toFixed(0)} MB`);
console.log(`memory per node plexus/gun: ${(perNode(p) / perNode(g)).toFixed(2)}x (goal <= 0.5x); RSS after: plexus ${p.rssAfter.toFixed(0)} MB (${p.nodes} nodes), gun ${g.rssAfter.toFixed(0)} MB (${g.nodes} nodes)`);
}
for (const s of summary) {
  // if the box were CPU-saturated by clients + relay, puts/s would be proportional to 1 / (client + relay CPU per put)
  const bound = (s.g.clientUs + s.g.relayUs) / (s.p.clientUs + s.p.relayUs);
  console.log(`ratio plexus/gun at ${s.inflight} in flight x ${CLIENTS}: acked puts/s ${(s.p.rate / s.g.rate).toFixed(2)}x (goal >= 2x); relay CPU per acked put gun/plexus ${(s.g.relayUs / s.p.relayUs).toFixed(2)}x; CPU-saturation bound of the puts/s ratio with these clients ${bound.toFixed(2)}x`);
  // Little's law: with in-flight x clients puts always open, the mean ack latency is that many over the puts/s, and
  // puts/s can be at most the cores over the CPU each put costs the clients plus the relay
  if (s.floor) console.log(`ack floor at ${s.inflight} in flight x ${CLIENTS}: a relay that acks at once and stores nothing: ack p50 ${s.floor.p50.toFixed(1)} ms at ${f0(s.floor.rate)} puts/s, clients CPU ${f0(s.floor.clientUs)} us/put (plexus: ack p50 ${s.p.p50.toFixed(1)} ms, clients ${f0(s.p.clientUs)} + relay ${f0(s.p.relayUs)} us/put, so at most ${f0(CORES * 1e6 / (s.p.clientUs + s.p.relayUs))} puts/s on ${CORES} cores: a mean ack of >= ${(s.inflight * CLIENTS * (s.p.clientUs + s.p.relayUs) / CORES / 1000).toFixed(1)} ms)`);
}
for (const s of readSummary) {
  const bound = (s.g.clientUs + s.g.relayUs) / (s.p.clientUs + s.p.relayUs);
  console.log(`ratio plexus/gun at ${s.inflight} in flight x ${CLIENTS}: reads/s ${(s.p.rate / s.g.rate).toFixed(2)}x (goal >= 2x); relay CPU per read gun/plexus ${(s.g.relayUs / s.p.relayUs).toFixed(2)}x; CPU-saturation bound of the reads/s ratio with these clients ${bound.toFixed(2)}x`);
}
if (PHASES.has('signed')) await signedPuts();
const ok = (...xs: number[]) => xs.every((x) => Number.isFinite(x) && x > 0); // a run that measured nothing meets no goal
const at16 = summary.find((s) => s.inflight === 16);
if (at16) goal('graph', `ack p50 <= 5 ms at 16 in flight x ${CLIENTS} clients (durable acks)`, `${at16.p.p50.toFixed(1)} ms`, ok(at16.p.p50) && at16.p.p50 <= 5);
if (mix) goal('graph', `reads' p99 while ${CLIENTS} clients stream puts <= 2x of reads' p99 alone`, `${(mix.withPuts.p99 / mix.alone.p99).toFixed(2)}x (${mix.withPuts.p99.toFixed(1)} vs ${mix.alone.p99.toFixed(1)} ms)`, ok(mix.withPuts.p99, mix.alone.p99) && mix.withPuts.p99 <= 2 * mix.alone.p99);
for (const s of summary) goal('graph', `acked puts/s >= 2x gun's relay at ${s.inflight} in flight`, `${(s.p.rate / s.g.rate).toFixed(2)}x`, ok(s.p.rate, s.g.rate) && s.p.rate >= 2 * s.g.rate);
for (const s of readSummary) if (s.inflight === 16) goal('graph', `reads/s >= 2x gun's relay at ${s.inflight} in flight`, `${(s.p.rate / s.g.rate).toFixed(2)}x`, ok(s.p.rate, s.g.rate) && s.p.rate >= 2 * s.g.rate);
for (const s of summary) if (s.inflight > 16) goal('graph', `relay CPU per acked put <= 0.25x gun's at ${s.inflight} in flight`, `${(s.p.relayUs / s.g.relayUs).toFixed(2)}x`, ok(s.p.relayUs, s.g.relayUs) && s.p.relayUs <= 0.25 * s.g.relayUs);
for (const s of readSummary) if (s.inflight > 16) goal('graph', `relay CPU per read <= 0.25x gun's at ${s.inflight} in flight`, `${(s.p.relayUs / s.g.relayUs).toFixed(2)}x`, ok(s.p.relayUs, s.g.relayUs) && s.p.relayUs <= 0.25 * s.g.relayUs);
if (p && g) goal('graph', 'relay RSS per node <= 0.5x gun\'s', `${(perNode(p) / perNode(g)).toFixed(2)}x`, ok(perNode(p), perNode(g)) && p.nodes > 0 && g.nodes > 0 && perNode(p) <= 0.5 * perNode(g));
console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(0);
