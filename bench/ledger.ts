/**
 * plexus/ledger benchmark. Parts (env PARTS, comma separated, default all):
 * - append: events appended per second (publish: event + projection + audit row, one DB transaction
 *   each) vs plain inserts of the same event rows with the same driver, on SQLite and PostgreSQL. The
 *   sequential runs alternate chunks of the ledger and its baselines (CHUNKS, default 10) so the shared
 *   machine's other load hits all alike.
 * - append (PostgreSQL, concurrent): PG_INFLIGHT (16) appends in flight to different records, plexus
 *   (group commit) vs emmett (`@event-driven-io/emmett-postgresql`, one stream per record), alternating.
 * - hub: publishes/s through `plexus serve`'s /evt hub over WebSocket, 1 client and 8 clients with 64 in
 *   flight each, memory and SQLite ledger (WAL, synchronous=NORMAL as plexus serve runs it: acks survive a process crash; group commit), beside evt's Go hub reference figure.
 * - latency: publish -> subscriber push, 10 subscribers at 100 publishes/s and 1,000 subscribers.
 * - catchup (in a process of its own when other parts run): a subscriber asking for everything since zero on a SQLite ledger of CATCHUP_N events
 *   (default 1,000,000) while live publishes go on: events/s, the hub's RSS growth, order and gaps.
 * The hub's clients run in their own process (bench/hub-load.mjs) so the hub keeps a core.
 * Run: node --import tsx bench/ledger.ts   (PLEXUS_TEST_POSTGRES for the database, default local test db)
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import WebSocket from 'ws';
import { SqliteLedger, PgLedger, type StoreLedger, startServer, createLedgerMount, MemoryLedger } from './plexus.js';
import { tmpDir } from '../test/helpers/tmp.js';
import { freshPgSchema } from '../test/helpers/pg.js';
import { goal, load } from './goal.js';

const N_SQLITE = Number(process.env.N_SQLITE ?? 20_000); // a sustained run (checkpoints included), not a 0.5 s burst
const N_PG = Number(process.env.N_PG ?? 2000);
/** Appends of the concurrent PostgreSQL comparison (plexus vs emmett), and how many in flight. */
const N_PG_CONC = Number(process.env.N_PG_CONC ?? 4000);
const PG_INFLIGHT = Number(process.env.PG_INFLIGHT ?? 16);
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 1000);
/** Publishes/s to the 1,000 subscribers (the 10-subscriber run uses 100/s). */
const FANOUT_RATE = Number(process.env.FANOUT_RATE ?? 20);
const HUB_MS = Number(process.env.HUB_MS ?? 3000);
const CATCHUP_N = Number(process.env.CATCHUP_N ?? 1_000_000);
const PARTS = new Set((process.env.PARTS ?? 'append,hub,latency,catchup').split(','));
/** evt's Go hub on its memory ledger, one client with 64 in flight, as measured by issue 15's author. */
const EVT_REFERENCE = '34,000-38,000/s';
/** Sequential SQLite runs alternate in this many chunks (see sqliteSequential). */
const CHUNKS = Number(process.env.CHUNKS ?? 10);

const row = (i: number) => ({ top: 'bench.item', key: String(i), cmd: 'new', arg: { name: `item ${i}`, n: i, tags: ['a', 'b'] } });

async function appendRate(l: StoreLedger, n: number, from = 0): Promise<number> {
  const t0 = performance.now();
  for (let i = from; i < from + n; i++) await l.publish({ acts: [row(i)] });
  return n / ((performance.now() - t0) / 1000);
}

/** The ledger's event table: columns and indexes (the baseline inserts into an identical table). */
const SQLITE_TABLE = 'CREATE TABLE ev (id INTEGER PRIMARY KEY, rev INTEGER NOT NULL, top TEXT NOT NULL, key TEXT NOT NULL, cmd TEXT NOT NULL, arg TEXT, created REAL, arrived REAL, usr TEXT, extra TEXT, tid TEXT)';
const SQLITE_IDX = 'CREATE INDEX ev_sig ON ev (top, key); CREATE UNIQUE INDEX ev_tid ON ev (tid) WHERE tid IS NOT NULL;';
const PG_TABLE = 'DROP TABLE IF EXISTS ev; CREATE TABLE ev (id bigserial PRIMARY KEY, rev bigint NOT NULL, top text NOT NULL, key text NOT NULL, cmd text NOT NULL, arg jsonb, created double precision, arrived double precision, usr text, extra jsonb, tid text)';
const PG_IDX = 'CREATE INDEX ON ev (rev); CREATE INDEX ON ev (top, key, rev); CREATE UNIQUE INDEX ON ev (tid) WHERE tid IS NOT NULL;';

/** The same, with `k` publishes in flight at once (SQLite commits queued publishes as one group). */
async function appendRateConcurrent(l: StoreLedger, n: number, k: number, from: number): Promise<number> {
  const t0 = performance.now();
  let next = from;
  await Promise.all(Array.from({ length: k }, async () => { while (next < from + n) { const i = next++; await l.publish({ acts: [row(i)] }); } }));
  return n / ((performance.now() - t0) / 1000);
}

/**
 * Plain autocommit INSERTs of the rows the ledger writes to its event table (a one-action publish's event
 * row carries its transaction's audit fields), same driver and settings. With `withRecord`, also the
 * projection row each publish writes, both in one explicit transaction (what a publish writes, minus its
 * reads and checks). Returns a function inserting rows [from, from + n) and returning the ms it took.
 */
function sqliteBaseline(path: string, indexed: boolean, withRecord = false): { run: (from: number, n: number) => number; close: () => void } {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(SQLITE_TABLE);
  if (indexed) db.exec(SQLITE_IDX);
  if (withRecord) db.exec('CREATE TABLE rec (top TEXT NOT NULL, key TEXT NOT NULL, rev INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (top, key)) WITHOUT ROWID');
  const ins = db.prepare('INSERT INTO ev (rev, top, key, cmd, arg, created, arrived) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const rec = withRecord ? db.prepare('INSERT INTO rec (top, key, rev, data) VALUES (?, ?, ?, ?)') : undefined;
  const both = db.transaction((rev: number, r: ReturnType<typeof row>, arg: string) => { ins.run(rev, r.top, r.key, r.cmd, arg, rev, rev); rec!.run(r.top, r.key, rev, arg); });
  return {
    run(from, n) {
      const t0 = performance.now();
      for (let i = from; i < from + n; i++) {
        const r = row(i), t = Date.now(), arg = JSON.stringify(r.arg);
        if (rec) both(t, r, arg); else ins.run(t, r.top, r.key, r.cmd, arg, t, t);
      }
      return performance.now() - t0;
    },
    close: () => db.close(),
  };
}

/**
 * Sequential SQLite figures, measured in CHUNKS alternating chunks (the order rotating) so that the
 * other load on the shared machine falls on the ledger and its baselines alike; rates are rows per
 * second of the summed time of each.
 */
async function sqliteSequential(dir: string, n: number): Promise<{ plexus: number; base: number; bare: number; both: number }> {
  const sl = new SqliteLedger(join(dir, 'l.db'));
  await appendRate(sl, 200, 1e9); // warm-up
  const base = sqliteBaseline(join(dir, 'base.db'), true), bare = sqliteBaseline(join(dir, 'bare.db'), false), both = sqliteBaseline(join(dir, 'both.db'), true, true);
  const runs: Array<(from: number, k: number) => Promise<number>> = [
    async (from, k) => { const t0 = performance.now(); for (let i = from; i < from + k; i++) await sl.publish({ acts: [row(i)] }); return performance.now() - t0; },
    async (from, k) => base.run(from, k), async (from, k) => bare.run(from, k), async (from, k) => both.run(from, k),
  ];
  const ms = [0, 0, 0, 0];
  const chunk = Math.ceil(n / CHUNKS);
  for (let c = 0, from = 0; from < n; c++, from += chunk) {
    const k = Math.min(chunk, n - from);
    for (let j = 0; j < runs.length; j++) { const v = (j + c) % runs.length; ms[v]! += await runs[v]!(from, k); }
  }
  await sl.close();
  base.close(); bare.close(); both.close();
  const [plexus, b, r, o] = ms.map((x) => n / (x / 1000)) as [number, number, number, number];
  return { plexus, base: b, bare: r, both: o };
}

/** Plain autocommit INSERTs of the ledger's event rows into a table like evt_event, one statement each (pg driver). */
async function pgBaseline(url: string, indexed: boolean, withRecord = false): Promise<{ run: (from: number, n: number) => Promise<number>; close: () => Promise<void> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(PG_TABLE);
  if (indexed) await c.query(PG_IDX);
  // with the projection row, both inserts in one transaction, as a user writes it by hand: BEGIN, two INSERTs, COMMIT
  if (withRecord) await c.query('DROP TABLE IF EXISTS rec; CREATE TABLE rec (top text NOT NULL, key text NOT NULL, rev bigint NOT NULL, data jsonb NOT NULL, PRIMARY KEY (top, key))');
  const ins = 'INSERT INTO ev (rev, top, key, cmd, arg, created, arrived) VALUES ($1, $2, $3, $4, $5, $6, $7)';
  return {
    async run(from, n) {
      const t0 = performance.now();
      for (let i = from; i < from + n; i++) {
        const r = row(i), t = Date.now(), arg = JSON.stringify(r.arg);
        if (!withRecord) { await c.query(ins, [t, r.top, r.key, r.cmd, arg, t, t]); continue; }
        await c.query('BEGIN');
        await c.query(ins, [t, r.top, r.key, r.cmd, arg, t, t]);
        await c.query('INSERT INTO rec (top, key, rev, data) VALUES ($1, $2, $3, $4)', [r.top, r.key, t, arg]);
        await c.query('COMMIT');
      }
      return performance.now() - t0;
    },
    close: () => c.end(),
  };
}

/** The PostgreSQL figures, alternating chunks like sqliteSequential (ledger, same table, bare table: one schema each). */
async function pgSequential(urls: [string, string, string, string], n: number): Promise<{ plexus: number; base: number; bare: number; both: number }> {
  const pl = new PgLedger(urls[0]);
  await appendRate(pl, 100, 1e9); // warm-up (creates the tables and the function)
  const base = await pgBaseline(urls[1], true), bare = await pgBaseline(urls[2], false), both = await pgBaseline(urls[3], true, true);
  const runs: Array<(from: number, k: number) => Promise<number>> = [
    async (from, k) => { const t0 = performance.now(); for (let i = from; i < from + k; i++) await pl.publish({ acts: [row(i)] }); return performance.now() - t0; },
    base.run, bare.run, both.run,
  ];
  const ms = [0, 0, 0, 0];
  const chunk = Math.ceil(n / CHUNKS);
  for (let c = 0, from = 0; from < n; c++, from += chunk) {
    const k = Math.min(chunk, n - from);
    for (let j = 0; j < runs.length; j++) { const v = (j + c) % runs.length; ms[v]! += await runs[v]!(from, k); }
  }
  await pl.close(); await base.close(); await bare.close(); await both.close();
  const [plexus, b, r, o] = ms.map((x) => n / (x / 1000)) as [number, number, number, number];
  return { plexus, base: b, bare: r, both: o };
}

/** Events/s of `k` appends in flight, each to its own new stream, on emmett's PostgreSQL event store. */
async function emmettRateConcurrent(es: ReturnType<typeof getPostgreSQLEventStore>, n: number, k: number, from: number): Promise<number> {
  const t0 = performance.now();
  let next = from;
  await Promise.all(Array.from({ length: k }, async () => {
    while (next < from + n) { const i = next++; const r = row(i); await es.appendToStream(`bench.item-${i}`, [{ type: 'new', data: r.arg }]); }
  }));
  return n / ((performance.now() - t0) / 1000);
}

/**
 * PostgreSQL with PG_INFLIGHT appends in flight to different records: plexus (group commit) and emmett
 * (`@event-driven-io/emmett-postgresql`, one stream per record), in alternating rounds (CHUNKS / 2 each)
 * in one run; rates are events/s of the summed time of each.
 */
async function pgConcurrent(urls: [string, string], n: number, k: number): Promise<{ plexus: number; emmett: number }> {
  const pl = new PgLedger(urls[0]);
  const es = getPostgreSQLEventStore(urls[1]);
  await appendRateConcurrent(pl, 200, k, 3e9); // warm-up: tables, function, pool
  await emmettRateConcurrent(es, 200, k, 3e9);
  const rounds = Math.max(1, Math.floor(CHUNKS / 2));
  const chunk = Math.ceil(n / rounds);
  let plMs = 0, esMs = 0, done = 0;
  for (let c = 0; done < n; c++, done += chunk) {
    const m = Math.min(chunk, n - done);
    const runs = [async () => { plMs += m / (await appendRateConcurrent(pl, m, k, 4e9 + done)) * 1000; }, async () => { esMs += m / (await emmettRateConcurrent(es, m, k, 4e9 + done)) * 1000; }];
    if (c % 2) runs.reverse();
    for (const r of runs) await r();
  }
  await pl.close();
  await es.close();
  return { plexus: n / (plMs / 1000), emmett: n / (esMs / 1000) };
}

/** Run bench/hub-load.mjs with these arguments; its one JSON line. */
function loadChild<T>(args: Array<string | number>): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['bench/hub-load.mjs', ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (x: Buffer) => { out += x.toString(); });
    p.on('exit', (code) => { try { resolve(JSON.parse(out) as T); } catch { reject(new Error(`hub-load ${args[0]} exited ${code}: ${out.slice(0, 200)}`)); } });
  });
}

/** `plexus serve`'s ledger mount alone, with the default server limits (a pipelining client must get through them). */
async function hubServer(dir: string, ledger?: StoreLedger) {
  const server = await startServer({ port: 0, dataDir: dir, logLevel: 'silent', mounts: [createLedgerMount(ledger ? { ledger } : {})] });
  return { server, url: server.url.replace('http', 'ws') + '/evt' };
}

const k = (x: number) => Math.round(x).toLocaleString('en-US');

async function hubThroughput(): Promise<void> {
  // sqlite-full (no goal): the same with synchronous=FULL, every group's commit fsynced (survives a power loss)
  for (const kind of ['memory', 'sqlite', 'sqlite-full'] as const) {
    const dir = tmpDir();
    const { server, url } = await hubServer(dir.path, kind === 'memory' ? new MemoryLedger() : kind === 'sqlite-full' ? new SqliteLedger(join(dir.path, 'ledger.db'), { synchronous: 'FULL' }) : undefined);
    const want = kind === 'memory' ? 60_000 : 30_000;
    const name = kind === 'memory' ? 'memory ledger' : `SQLite ledger (WAL, synchronous=${kind === 'sqlite' ? 'NORMAL' : 'FULL'}, group commit)`;
    try {
      await loadChild(['pub', url, 1, 64, 500, 'warm']);
      for (const clients of [1, 8]) {
        const c0 = process.cpuUsage();
        const r = await loadChild<{ published: number; errors: number; ms: number; perClient: number[]; runCpuMs: number }>(['pub', url, clients, 64, HUB_MS, `c${clients}`]);
        const cpu = process.cpuUsage(c0);
        const rate = r.published / (r.ms / 1000);
        const perCpu = r.published / ((cpu.user + cpu.system) / 1e6);
        console.log(`hub         ${name}: ${clients} client${clients > 1 ? 's' : ' '} x 64 in flight over WebSocket ${k(rate).padStart(7)} publishes/s (${r.errors} errors; hub process ${k(perCpu)} publishes per CPU second = ${(1e6 / perCpu).toFixed(1)} µs each, client process ${(r.runCpuMs * 1000 / r.published).toFixed(1)} µs) | evt's Go hub, memory ledger, 1 client: ${EVT_REFERENCE}: ratio ${(rate / 36_000).toFixed(2)}x of its midpoint  (${await load()})`);
        if (kind !== 'sqlite-full') goal('ledger', `hub ${kind}, ${clients} client${clients > 1 ? 's' : ''} x 64 in flight >= ${k(want)} publishes/s`, `${k(rate)}/s`, rate >= want && r.errors === 0);
      }
    } finally { await server.close(); dir.rm(); }
  }
}

type Lat = { publishes: number; deliveries: number; expected: number; p50: number; p99: number; max: number };

async function hubLatency(): Promise<void> {
  const dir = tmpDir();
  const { server, url } = await hubServer(dir.path, new MemoryLedger());
  try {
    const a = await loadChild<Lat>(['lat', url, 10, 100, 5000]);
    console.log(`push        10 subscribers at 100 publishes/s: ${a.deliveries}/${a.expected} deliveries, publish->push p50 ${a.p50.toFixed(1)} ms, p99 ${a.p99.toFixed(1)} ms, max ${a.max.toFixed(1)} ms (adaptive; evt's hub: ~201 ms p50, its 200 ms window)  (${await load()})`);
    goal('ledger', 'push p50 <= 5 ms, 10 subscribers at 100 publishes/s', `${a.p50.toFixed(1)} ms`, a.p50 <= 5 && a.deliveries === a.expected);
    goal('ledger', 'push p99 <= 25 ms, 10 subscribers at 100 publishes/s', `${a.p99.toFixed(1)} ms`, a.p99 <= 25 && a.deliveries === a.expected);
    const b = await loadChild<Lat>(['lat', url, SUBSCRIBERS, FANOUT_RATE, 5000]);
    console.log(`push        ${SUBSCRIBERS} subscribers at ${FANOUT_RATE} publishes/s: ${b.deliveries}/${b.expected} deliveries, publish->push p50 ${b.p50.toFixed(1)} ms, p99 ${b.p99.toFixed(1)} ms, max ${b.max.toFixed(1)} ms (subscribers in one client process)  (${await load()})`);
    goal('ledger', `push p99 <= 60 ms, ${SUBSCRIBERS} subscribers`, `${b.p99.toFixed(1)} ms`, b.p99 <= 60 && b.deliveries === b.expected);
  } finally { await server.close(); dir.rm(); }
}

async function hubCatchup(): Promise<void> {
  const dir = tmpDir();
  try {
    const t0 = performance.now();
    // filled by a child process, so the hub's RSS below starts from a heap that never held the fill
    const filled = spawn(process.execPath, ['--import', 'tsx', 'bench/ledger.ts'], { stdio: 'inherit', env: { ...process.env, LEDGER_FILL: join(dir.path, 'ledger.db') } });
    const code = await new Promise((r) => filled.on('exit', r));
    if (code !== 0) throw new Error(`filling the catch-up ledger failed (${code})`);
    const fillMs = performance.now() - t0;
    const ledger = new SqliteLedger(join(dir.path, 'ledger.db'));
    const { server, url } = await hubServer(dir.path, ledger);
    try {
      // the last event: the ledger's first write in this process starts its checkpoint thread (an
      // isolate of its own), which is not what the RSS growth below is about
      await ledger.publish({ acts: [row(CATCHUP_N - 1)] });
      (globalThis as { gc?: () => void }).gc?.();
      await new Promise((r) => setTimeout(r, 500));
      const m0 = process.memoryUsage();
      const base = m0.rss;
      let peak = base, heapPeak = m0.heapTotal, extPeak = m0.external;
      const timer = setInterval(() => {
        const m = process.memoryUsage();
        if (m.rss > peak) peak = m.rss;
        if (m.heapTotal > heapPeak) heapPeak = m.heapTotal;
        if (m.external > extPeak) extPeak = m.external;
      }, 20);
      const r = await loadChild<{ events: number; catchupMs: number; perSec: number; live: number; dup: number; gap: number; complete: boolean }>(['catchup', url, 1, 200, CATCHUP_N]);
      clearInterval(timer);
      const gc = (globalThis as { gc?: () => void }).gc;
      let kept = '';
      if (gc) { gc(); await new Promise((r) => setTimeout(r, 100)); gc(); kept = `, heap after a full GC +${((process.memoryUsage().heapUsed - m0.heapUsed) / 2 ** 20).toFixed(1)} MB`; }
      const grow = (peak - base) / 2 ** 20;
      console.log(`catch-up    ${k(CATCHUP_N)} events since zero (SQLite, filled in ${(fillMs / 1000).toFixed(1)} s) with ${r.live} live publishes meanwhile: ${k(r.perSec)} events/s, hub RSS growth ${grow.toFixed(1)} MB (base ${(base / 2 ** 20).toFixed(0)} MB; V8 heap +${((heapPeak - m0.heapTotal) / 2 ** 20).toFixed(1)} MB, external +${((extPeak - m0.external) / 2 ** 20).toFixed(1)} MB${kept}), ${r.dup} duplicates, ${r.gap} gaps, ${r.complete ? 'complete' : 'INCOMPLETE'}  (${await load()})`);
      goal('ledger', `catch-up of ${k(CATCHUP_N)} events >= 100,000 events/s`, `${k(r.perSec)}/s`, r.perSec >= 100_000 && r.complete);
      goal('ledger', `catch-up of ${k(CATCHUP_N)} events: hub RSS growth < 50 MB`, `${grow.toFixed(1)} MB`, grow < 50);
      goal('ledger', 'catch-up -> live: every event once, in order', `${r.dup} duplicates, ${r.gap} gaps`, r.complete);
    } finally { await server.close(); }
  } finally { dir.rm(); }
}

if (process.env.LEDGER_FILL) {
  // the child of hubCatchup: fill a SQLite ledger with CATCHUP_N events, 1,000 a transaction
  const fill = new SqliteLedger(process.env.LEDGER_FILL);
  const n = CATCHUP_N - 1; // the last one is published by the hub's process (it starts its checkpoint thread)
  for (let i = 0; i < n; i += 1000) await fill.publish({ acts: Array.from({ length: Math.min(1000, n - i) }, (_, j) => row(i + j)) });
  await fill.close();
  process.exit(0);
}

const d = tmpDir('plexus-bench-ledger-');
const fmt = (x: number) => x.toFixed(0).padStart(7);
try {
  if (!process.env.LEDGER_CATCHUP_CHILD) console.log(`plexus/ledger bench  ${new Date().toISOString()}  node ${process.version}  ${await load()}`);
  if (PARTS.has('append')) {
    const { plexus: sqlitePlexus, base: sqliteBase, bare: sqliteBare, both: sqliteBoth } = await sqliteSequential(d.path, N_SQLITE);
    const gl = new SqliteLedger(join(d.path, 'group.db'));
    const sqliteGroup = await appendRateConcurrent(gl, N_SQLITE, 16, 2e9);
    await gl.close();
    console.log(`SQLite      publish ${fmt(sqlitePlexus)} events/s | plain insert, same table+indexes ${fmt(sqliteBase)} rows/s: ratio ${(sqlitePlexus / sqliteBase).toFixed(2)}x | bare table ${fmt(sqliteBare)} rows/s: ratio ${(sqlitePlexus / sqliteBare).toFixed(2)}x  (n=${N_SQLITE})`);
    console.log(`SQLite      plain insert of event + projection row per transaction ${fmt(sqliteBoth)}/s: publish ratio ${(sqlitePlexus / sqliteBoth).toFixed(2)}x`);
    console.log(`SQLite      publish with 16 in flight (group commit) ${fmt(sqliteGroup)} events/s: ratio ${(sqliteGroup / sqliteBase).toFixed(2)}x vs the same plain inserts`);
    goal('ledger', 'SQLite sequential publish >= 0.5x of plain inserts (same table + indexes)', `${(sqlitePlexus / sqliteBase).toFixed(2)}x`, sqlitePlexus / sqliteBase >= 0.5);
    goal('ledger', 'SQLite publish >= 0.9x of inserting its event + projection rows by hand in one transaction', `${(sqlitePlexus / sqliteBoth).toFixed(2)}x`, sqlitePlexus / sqliteBoth >= 0.9);

    const s1 = await freshPgSchema('lbench'), s2 = await freshPgSchema('lbench'), s3 = await freshPgSchema('lbench'), s4 = await freshPgSchema('lbench');
    try {
      const { plexus: pgPlexus, base: pgBase, bare: pgBare, both: pgBoth } = await pgSequential([s1.url, s2.url, s3.url, s4.url], N_PG);
      console.log(`PostgreSQL  publish ${fmt(pgPlexus)} events/s | plain insert, same table+indexes ${fmt(pgBase)} rows/s: ratio ${(pgPlexus / pgBase).toFixed(2)}x | bare table ${fmt(pgBare)} rows/s: ratio ${(pgPlexus / pgBare).toFixed(2)}x  (n=${N_PG})`);
      goal('ledger', 'PostgreSQL sequential publish >= 0.5x of plain inserts (same table + indexes)', `${(pgPlexus / pgBase).toFixed(2)}x`, pgPlexus / pgBase >= 0.5);
      console.log(`PostgreSQL  plain insert of event + projection row per transaction (BEGIN, 2 INSERTs, COMMIT) ${fmt(pgBoth)}/s: publish ratio ${(pgPlexus / pgBoth).toFixed(2)}x`);
      goal('ledger', 'PostgreSQL publish >= 0.9x of inserting its event + projection rows by hand in one transaction', `${(pgPlexus / pgBoth).toFixed(2)}x`, pgPlexus / pgBoth >= 0.9);
      const c = await pgConcurrent([s1.url, s2.url], N_PG_CONC, PG_INFLIGHT);
      console.log(`PostgreSQL  ${PG_INFLIGHT} appends in flight to different records: plexus publish (group commit) ${fmt(c.plexus)} events/s | emmett appendToStream ${fmt(c.emmett)} events/s: ratio ${(c.plexus / c.emmett).toFixed(2)}x  (n=${N_PG_CONC}; ${await load()})`);
      goal('ledger', `PostgreSQL ${PG_INFLIGHT} appends in flight >= 1.5x emmett`, `${(c.plexus / c.emmett).toFixed(2)}x`, c.plexus / c.emmett >= 1.5);
    } finally { await s1.drop(); await s2.drop(); await s3.drop(); await s4.drop(); }
  }

  if (PARTS.has('hub')) await hubThroughput();
  if (PARTS.has('latency')) await hubLatency();
  if (PARTS.has('catchup')) {
    if (PARTS.size === 1) await hubCatchup();
    else {
      // in a process of its own: the parts before leave V8 a heap limit raised so high that garbage piles
      // up to hundreds of MB before a full collection, which the RSS growth would measure instead
      const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/ledger.ts'], { stdio: 'inherit', env: { ...process.env, PARTS: 'catchup', LEDGER_CATCHUP_CHILD: '1' } });
      const code = await new Promise((r) => child.on('exit', r));
      if (code !== 0) throw new Error(`the catch-up part failed (${code})`);
    }
  }
} finally { d.rm(); }
