// bench/bus.ts: plexus bus calls over RabbitMQ (rinq protocol) vs a plain amqplib request/reply with
// the same CBOR payloads, at 1, 16 and 256 concurrent calls; plus the memory transport's calls/s.
// Run: node --import tsx bench/bus.ts   (env PLEXUS_TEST_AMQP; BENCH_SECONDS per measurement, default 2;
// BENCH_ROUNDS, default 3: every level is measured ROUNDS times, the three clients interleaved, and the
// medians are reported (the machine is shared, single runs vary a lot); BENCH_LEVELS e.g. "1,256";
// BENCH_ONLY=plexus|amqplib|rinq measures that client alone, for profiling with --cpu-prof; BENCH_CALLS=n makes each
// measurement exactly n calls after n/4 warm-up calls instead of BENCH_SECONDS, to compare CPU/call)
import amqp from 'amqplib';
import { goal } from './goal.js';
import { readFileSync, readdirSync } from 'node:fs';
import { Encoder } from 'cbor-x';
import { connect, memoryNetwork, type Peer } from './plexus.js';

const URL = process.env.PLEXUS_TEST_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const LEVELS = (process.env.BENCH_LEVELS ?? '1,16,256').split(',').map(Number);
const ONLY = process.env.BENCH_ONLY;
const CALLS = Number(process.env.BENCH_CALLS ?? 0);
const payload = { user: 'bench', n: 42, tags: ['a', 'b', 'c'], text: 'x'.repeat(64) };
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, tagUint8Array: false } as ConstructorParameters<typeof Encoder>[0]);

/**
 * cpuUs: this Node process's CPU time (user + system) per call, both peers together: less noisy than
 * calls/s. brokerUs: the local RabbitMQ's (beam.smp) CPU time per call, when it runs on this machine.
 */
interface Result { callsPerSec: number; p50: number; p99: number; cpuUs: number; brokerUs: number }

/** pid of a local beam.smp (RabbitMQ), or undefined (then broker CPU is not measured). */
const brokerPid = ((): string | undefined => {
  try {
    for (const d of readdirSync('/proc')) if (/^\d+$/.test(d)) { try { if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'beam.smp') return d; } catch { /* gone */ } }
  } catch { /* no /proc */ }
  return undefined;
})();
/** The broker's user + system CPU time in µs (clock ticks of 10 ms), NaN when unknown. */
function brokerCpuUs(): number {
  if (!brokerPid) return NaN;
  try {
    const f = readFileSync(`/proc/${brokerPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch { return NaN; }
}

/** Run `call` with `concurrency` workers for SECONDS; latency percentiles in ms. */
async function measure(concurrency: number, call: () => Promise<unknown>, seconds = SECONDS): Promise<Result> {
  // warm-up (JIT): BENCH_CALLS mode warms up with a quarter of the calls
  if (CALLS) await runCalls(concurrency, call, Math.floor(CALLS / 4), []);
  else await Promise.all(Array.from({ length: Math.min(concurrency, 16) }, () => call()));
  const lat: number[] = [];
  const start = performance.now();
  const cpu0 = process.cpuUsage(), b0 = brokerCpuUs();
  if (CALLS) await runCalls(concurrency, call, CALLS, lat);
  else {
    const end = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await call();
        lat.push(performance.now() - t);
      }
    }));
  }
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0), broker = brokerCpuUs() - b0;
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? NaN;
  return { callsPerSec: lat.length / elapsed, p50: pct(0.5), p99: pct(0.99), cpuUs: (cpu.user + cpu.system) / lat.length, brokerUs: broker / lat.length };
}

/** Exactly `n` calls with `concurrency` workers (BENCH_CALLS mode: fixed work, for CPU/call comparisons). */
async function runCalls(concurrency: number, call: () => Promise<unknown>, n: number, lat: number[]): Promise<void> {
  let left = n;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left > 0) {
      left--;
      const t = performance.now();
      await call();
      lat.push(performance.now() - t);
    }
  }));
}

/** Plain amqplib RPC: one durable-less queue, direct reply-to, manual acks, same CBOR bytes. */
async function baseline(): Promise<{ call: () => Promise<unknown>; close: () => Promise<void> }> {
  const queue = `bench.rpc.${process.pid}`;
  const sconn = await amqp.connect(URL, { noDelay: true });
  const sch = await sconn.createChannel();
  await sch.prefetch(64);
  await sch.assertQueue(queue, { durable: false, autoDelete: true });
  await sch.consume(queue, (m) => {
    if (!m) return;
    const req = cbor.decode(m.content) as unknown;
    sch.publish('', m.properties.replyTo as string, cbor.encode({ echo: req }), { correlationId: m.properties.correlationId as string });
    sch.ack(m);
  });
  const cconn = await amqp.connect(URL, { noDelay: true });
  const cch = await cconn.createChannel();
  const pending = new Map<string, (v: unknown) => void>();
  await cch.consume('amq.rabbitmq.reply-to', (m) => {
    if (!m) return;
    const f = pending.get(m.properties.correlationId as string);
    pending.delete(m.properties.correlationId as string);
    f?.(cbor.decode(m.content));
  }, { noAck: true });
  let seq = 0;
  return {
    call: () => new Promise((resolve) => {
      const id = String(++seq);
      pending.set(id, resolve);
      cch.publish('', queue, cbor.encode(payload), { correlationId: id, replyTo: 'amq.rabbitmq.reply-to', expiration: '5000' });
    }),
    close: async () => { await cconn.close(); await sch.deleteQueue(queue).catch(() => {}); await sconn.close(); },
  };
}

/** amqplib by hand on rinq's topology (durable priority cmd.<ns>, headers, TTL, topic cmd.rsp): the protocol's own cost. */
async function rinqTopology(): Promise<{ call: () => Promise<unknown>; close: () => Promise<void> }> {
  const ns = `bench.raw.${process.pid}`, q = `cmd.${ns}`, rsp = `BEEF.rsp.${process.pid}`, me = `6553F100-BEEF`;
  const sconn = await amqp.connect(URL, { noDelay: true });
  const sch = await sconn.createChannel();
  await sch.prefetch(64);
  await sch.assertExchange('cmd.bal', 'direct', { durable: false });
  await sch.assertExchange('cmd.rsp', 'topic', { durable: false });
  await sch.assertQueue(q, { durable: true, arguments: { 'x-max-priority': 3 } });
  await sch.bindQueue(q, 'cmd.bal', ns);
  await sch.consume(q, (m) => {
    if (!m) return;
    const req = cbor.decode(m.content) as unknown;
    const h = m.properties.headers ?? {};
    sch.publish('cmd.rsp', m.properties.messageId as string, cbor.encode({ echo: req }), { type: 's', expiration: m.properties.expiration as string, headers: { dl: { '!': 'int64', value: Number(h.dl) } } });
    sch.ack(m);
  });
  const cconn = await amqp.connect(URL, { noDelay: true });
  const cch = await cconn.createChannel();
  await cch.assertQueue(rsp, { exclusive: true });
  await cch.bindQueue(rsp, 'cmd.rsp', `${me}.*`);
  const pending = new Map<string, (v: unknown) => void>();
  await cch.consume(rsp, (m) => {
    if (!m) return;
    const f = pending.get(m.fields.routingKey);
    pending.delete(m.fields.routingKey);
    f?.(cbor.decode(m.content));
  }, { noAck: true });
  let seq = 0;
  return {
    call: () => new Promise((resolve) => {
      const id = `${me}.1@0#${++seq}`;
      pending.set(id, resolve);
      cch.publish('cmd.bal', ns, cbor.encode(payload), { messageId: id, priority: 1, replyTo: 'c', expiration: '5000', headers: { n: ns, c: 'echo', dl: { '!': 'int64', value: Date.now() + 5000 } } });
    }),
    close: async () => { await cconn.close(); await sch.deleteQueue(q).catch(() => {}); await sconn.close(); },
  };
}

async function plexus(): Promise<{ call: () => Promise<unknown>; close: () => Promise<void> }> {
  const ns = `bench.bus.${process.pid}`;
  const server: Peer = await connect({ url: URL, connectionName: 'plexus-bench server' });
  const client: Peer = await connect({ url: URL, connectionName: 'plexus-bench client' });
  await server.listen(ns, (req, res) => res.done({ echo: req.payload }));
  const s = client.session();
  return {
    call: () => s.call(ns, 'echo', payload),
    close: async () => {
      await client.stop();
      await server.stop();
      const c = await amqp.connect(URL);
      const ch = await c.createChannel();
      await ch.deleteQueue(`cmd.${ns}`).catch(() => {});
      await c.close();
    },
  };
}

const fmt = (r: Result) => `${r.callsPerSec.toFixed(0).padStart(7)} calls/s  p50 ${r.p50.toFixed(2).padStart(6)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ${r.cpuUs.toFixed(0).padStart(4)} µs CPU/call, broker ${r.brokerUs.toFixed(0).padStart(4)} µs`;

const rows: string[] = [];
/** Per level: plexus and the by-hand client on rinq's topology (the reference of the speed goals). */
const vsRinq: { c: number; p: Result; r: Result }[] = [];
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const med = (rs: Result[]): Result => ({ callsPerSec: median(rs.map((r) => r.callsPerSec)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), cpuUs: median(rs.map((r) => r.cpuUs)), brokerUs: median(rs.map((r) => r.brokerUs)) });
const nan: Result = { callsPerSec: NaN, p50: NaN, p99: NaN, cpuUs: NaN, brokerUs: NaN };
const base = !ONLY || ONLY === 'amqplib' ? await baseline() : undefined;
const raw = !ONLY || ONLY === 'rinq' ? await rinqTopology() : undefined;
const plx = !ONLY || ONLY === 'plexus' ? await plexus() : undefined;
try {
  for (const c of LEVELS) {
    const bs: Result[] = [], rs: Result[] = [], ps: Result[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (base) bs.push(await measure(c, base.call));
      if (raw) rs.push(await measure(c, raw.call));
      if (plx) ps.push(await measure(c, plx.call));
    }
    const b = bs.length ? med(bs) : nan, r = rs.length ? med(rs) : nan, p = ps.length ? med(ps) : nan;
    const each = (xs: Result[]) => xs.map((x) => x.callsPerSec.toFixed(0)).join('/');
    console.log(`concurrency ${String(c).padStart(3)}: plexus ${fmt(p)} | amqplib ${fmt(b)} | ratio ${(p.callsPerSec / b.callsPerSec).toFixed(2)}x`);
    console.log(`                 amqplib on rinq's topology ${fmt(r)} | plexus/that ${(p.callsPerSec / r.callsPerSec).toFixed(2)}x`);
    console.log(`                 rounds (calls/s): plexus ${each(ps)}  amqplib ${each(bs)}  rinq topology ${each(rs)}`);
    vsRinq.push({ c, p, r });
    rows.push(`| ${c} | ${p.callsPerSec.toFixed(0)} | ${p.p50.toFixed(2)} | ${p.p99.toFixed(2)} | ${b.callsPerSec.toFixed(0)} | ${b.p50.toFixed(2)} | ${b.p99.toFixed(2)} | ${(p.callsPerSec / b.callsPerSec).toFixed(2)}x | ${r.callsPerSec.toFixed(0)} | ${(p.callsPerSec / r.callsPerSec).toFixed(2)}x |`);
  }
} finally {
  await plx?.close();
  await raw?.close();
  await base?.close();
}
if (ONLY) process.exit(0);
// the goals (issue 12): plexus >= 0.95x of amqplib by hand on rinq's topology at 1, 16 and 256
// concurrent calls, and p99 at c=1 no more than 1.5x that client's
console.log('\nagainst amqplib by hand on rinq\'s topology:');
for (const { c, p, r } of vsRinq) {
  const ratio = p.callsPerSec / r.callsPerSec;
  console.log(`  c=${String(c).padStart(3)}: ${ratio.toFixed(2)}x calls/s: goal >= 0.95x ${ratio >= 0.95 ? 'met' : 'not met'}`);
  goal('bus', `calls/s >= 0.95x amqplib by hand on rinq's topology at c=${c}`, `${ratio.toFixed(2)}x`, ratio >= 0.95);
}
const one = vsRinq.find((x) => x.c === 1);
if (one) {
  const q = one.p.p99 / one.r.p99;
  console.log(`  c=  1: p99 ${one.p.p99.toFixed(2)} ms vs ${one.r.p99.toFixed(2)} ms = ${q.toFixed(2)}x: goal <= 1.5x ${q <= 1.5 ? 'met' : 'not met'}`);
  goal('bus', 'p99 at c=1 <= 1.5x amqplib by hand on rinq\'s topology', `${q.toFixed(2)}x (${one.p.p99.toFixed(2)} vs ${one.r.p99.toFixed(2)} ms)`, q <= 1.5);
}
const net = memoryNetwork();
const ms = net.peer(), mc = net.peer();
await ms.listen('bench', (req, res) => res.done({ echo: req.payload }));
const sess = mc.session();
const mem = await measure(16, () => sess.call('bench', 'echo', payload));
console.log(`memory transport (16 concurrent): ${fmt(mem)}`);
await ms.stop(); await mc.stop();
console.log('\nmarkdown:\n| concurrency | plexus calls/s | p50 ms | p99 ms | amqplib RPC calls/s | p50 ms | p99 ms | ratio | amqplib on rinq topology calls/s | plexus / that |\n|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`memory transport, 16 concurrent: ${mem.callsPerSec.toFixed(0)} calls/s (p50 ${mem.p50.toFixed(3)} ms, p99 ${mem.p99.toFixed(3)} ms)`);
