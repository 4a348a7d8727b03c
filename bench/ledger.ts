/**
 * plexus/ledger benchmark: events appended per second (publish: event + projection + audit row, one
 * DB transaction each) vs plain inserts of the same event rows with the same driver, on SQLite and
 * PostgreSQL; and hub fan-out latency to 1,000 WebSocket subscribers (publish → delivery, p50/p99,
 * measured with a zero batching window so the window is excluded). The sequential runs alternate chunks
 * of the ledger and its baselines (CHUNKS, default 10) so the shared machine's other load hits all alike.
 * Run: node --import tsx bench/ledger.ts   (PLEXUS_TEST_POSTGRES for the database, default local test db)
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import WebSocket from 'ws';
import { SqliteLedger } from '../src/ledger/sqlite.js';
import { PgLedger } from '../src/ledger/postgres.js';
import type { StoreLedger } from '../src/ledger/ledger.js';
import { startServer } from '../src/server/http.js';
import { createLedgerMount } from '../src/server/ledger.js';
import { MemoryLedger } from '../src/ledger/memory.js';
import { tmpDir } from '../test/helpers/tmp.js';
import { freshPgSchema } from '../test/helpers/pg.js';

const N_SQLITE = Number(process.env.N_SQLITE ?? 20_000); // a sustained run (checkpoints included), not a 0.5 s burst
const N_PG = Number(process.env.N_PG ?? 2000);
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 30);
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
async function pgBaseline(url: string, indexed: boolean): Promise<{ run: (from: number, n: number) => Promise<number>; close: () => Promise<void> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(PG_TABLE);
  if (indexed) await c.query(PG_IDX);
  return {
    async run(from, n) {
      const t0 = performance.now();
      for (let i = from; i < from + n; i++) { const r = row(i); const t = Date.now(); await c.query('INSERT INTO ev (rev, top, key, cmd, arg, created, arrived) VALUES ($1, $2, $3, $4, $5, $6, $7)', [t, r.top, r.key, r.cmd, JSON.stringify(r.arg), t, t]); }
      return performance.now() - t0;
    },
    close: () => c.end(),
  };
}

/** The PostgreSQL figures, alternating chunks like sqliteSequential (ledger, same table, bare table: one schema each). */
async function pgSequential(urls: [string, string, string], n: number): Promise<{ plexus: number; base: number; bare: number }> {
  const pl = new PgLedger(urls[0]);
  await appendRate(pl, 100, 1e9); // warm-up (creates the tables and the function)
  const base = await pgBaseline(urls[1], true), bare = await pgBaseline(urls[2], false);
  const runs: Array<(from: number, k: number) => Promise<number>> = [
    async (from, k) => { const t0 = performance.now(); for (let i = from; i < from + k; i++) await pl.publish({ acts: [row(i)] }); return performance.now() - t0; },
    base.run, bare.run,
  ];
  const ms = [0, 0, 0];
  const chunk = Math.ceil(n / CHUNKS);
  for (let c = 0, from = 0; from < n; c++, from += chunk) {
    const k = Math.min(chunk, n - from);
    for (let j = 0; j < runs.length; j++) { const v = (j + c) % runs.length; ms[v]! += await runs[v]!(from, k); }
  }
  await pl.close(); await base.close(); await bare.close();
  const [plexus, b, r] = ms.map((x) => n / (x / 1000)) as [number, number, number];
  return { plexus, base: b, bare: r };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function fanout(): Promise<{ p50: number; p99: number; max: number; deliveries: number }> {
  const d = tmpDir();
  const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ ledger: new MemoryLedger(), batchMs: 0 })] });
  const url = server.url.replace('http', 'ws') + '/evt';
  const lat: number[] = [];
  let sentAt = 0;
  let got = 0;
  const socks: WebSocket[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const ws = new WebSocket(url);
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    await new Promise<void>((r) => { ws.once('message', () => r()); ws.send('evt.sub#1\n{"tops":["bench.item"]}'); });
    ws.on('message', (m) => { if (m.toString().startsWith('evt.update')) { lat.push(performance.now() - sentAt); got++; } });
    socks.push(ws);
  }
  const pubWs = new WebSocket(url);
  await new Promise((r) => pubWs.once('open', r));
  for (let k = 0; k < ROUNDS; k++) {
    got = 0;
    sentAt = performance.now();
    pubWs.send(`evt.pub#${k}\n${JSON.stringify({ acts: [row(k)] })}`);
    const t0 = Date.now();
    while (got < SUBSCRIBERS && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const s of [...socks, pubWs]) s.terminate();
  await server.close();
  d.rm();
  return { p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat), deliveries: lat.length };
}

const d = tmpDir('plexus-bench-ledger-');
const fmt = (x: number) => x.toFixed(0).padStart(7);
try {
  console.log(`plexus/ledger bench  ${new Date().toISOString()}  node ${process.version}`);
  const { plexus: sqlitePlexus, base: sqliteBase, bare: sqliteBare, both: sqliteBoth } = await sqliteSequential(d.path, N_SQLITE);
  const gl = new SqliteLedger(join(d.path, 'group.db'));
  const sqliteGroup = await appendRateConcurrent(gl, N_SQLITE, 16, 2e9);
  await gl.close();
  console.log(`SQLite      publish ${fmt(sqlitePlexus)} events/s | plain insert, same table+indexes ${fmt(sqliteBase)} rows/s: ratio ${(sqlitePlexus / sqliteBase).toFixed(2)}x | bare table ${fmt(sqliteBare)} rows/s: ratio ${(sqlitePlexus / sqliteBare).toFixed(2)}x  (n=${N_SQLITE})`);
  console.log(`SQLite      plain insert of event + projection row per transaction ${fmt(sqliteBoth)}/s: publish ratio ${(sqlitePlexus / sqliteBoth).toFixed(2)}x`);
  console.log(`SQLite      publish with 16 in flight (group commit) ${fmt(sqliteGroup)} events/s: ratio ${(sqliteGroup / sqliteBase).toFixed(2)}x vs the same plain inserts`);

  const s1 = await freshPgSchema('lbench'), s2 = await freshPgSchema('lbench'), s3 = await freshPgSchema('lbench');
  try {
    const { plexus: pgPlexus, base: pgBase, bare: pgBare } = await pgSequential([s1.url, s2.url, s3.url], N_PG);
    console.log(`PostgreSQL  publish ${fmt(pgPlexus)} events/s | plain insert, same table+indexes ${fmt(pgBase)} rows/s: ratio ${(pgPlexus / pgBase).toFixed(2)}x | bare table ${fmt(pgBare)} rows/s: ratio ${(pgPlexus / pgBare).toFixed(2)}x  (n=${N_PG})`);
  } finally { await s1.drop(); await s2.drop(); await s3.drop(); }

  const f = await fanout();
  console.log(`fan-out     ${SUBSCRIBERS} subscribers x ${ROUNDS} publishes: ${f.deliveries} deliveries, publish->delivery p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms, max ${f.max.toFixed(1)} ms (batching window 0; production adds the 200 ms window)`);
} finally { d.rm(); }
