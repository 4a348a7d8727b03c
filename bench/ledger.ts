/**
 * plexus/ledger benchmark: events appended per second (publish: event + projection + audit row, one
 * DB transaction each) vs plain inserts of the same event rows with the same driver, on SQLite and
 * PostgreSQL; and hub fan-out latency to 1,000 WebSocket subscribers (publish → delivery, p50/p99,
 * measured with a zero batching window so the window is excluded).
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

const N_SQLITE = Number(process.env.N_SQLITE ?? 5000);
const N_PG = Number(process.env.N_PG ?? 2000);
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 30);

const row = (i: number) => ({ top: 'bench.item', key: String(i), cmd: 'new', arg: { name: `item ${i}`, n: i, tags: ['a', 'b'] } });

async function appendRate(l: StoreLedger, n: number, from = 0): Promise<number> {
  const t0 = performance.now();
  for (let i = from; i < from + n; i++) await l.publish({ acts: [row(i)] });
  return n / ((performance.now() - t0) / 1000);
}

/** The ledger's event table indexes (the baseline inserts into an identical table). */
const SQLITE_IDX = 'CREATE INDEX ev_sig ON ev (top, key);';
const PG_IDX = 'CREATE INDEX ON ev (rev); CREATE INDEX ON ev (top, key, rev);';

/** The same, with `k` publishes in flight at once (SQLite commits queued publishes as one group). */
async function appendRateConcurrent(l: StoreLedger, n: number, k: number, from: number): Promise<number> {
  const t0 = performance.now();
  let next = from;
  await Promise.all(Array.from({ length: k }, async () => { while (next < from + n) { const i = next++; await l.publish({ acts: [row(i)] }); } }));
  return n / ((performance.now() - t0) / 1000);
}

function sqliteBaseline(path: string, n: number, indexed: boolean): number {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE ev (id INTEGER PRIMARY KEY, rev INTEGER NOT NULL, top TEXT NOT NULL, key TEXT NOT NULL, cmd TEXT NOT NULL, arg TEXT)');
  if (indexed) db.exec(SQLITE_IDX);
  const ins = db.prepare('INSERT INTO ev (rev, top, key, cmd, arg) VALUES (?, ?, ?, ?, ?)');
  const t0 = performance.now();
  for (let i = 0; i < n; i++) { const r = row(i); ins.run(Date.now(), r.top, r.key, r.cmd, JSON.stringify(r.arg)); }
  const rate = n / ((performance.now() - t0) / 1000);
  db.close();
  return rate;
}

async function pgBaseline(url: string, n: number, indexed: boolean): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('DROP TABLE IF EXISTS ev; CREATE TABLE ev (id bigserial PRIMARY KEY, rev bigint NOT NULL, top text NOT NULL, key text NOT NULL, cmd text NOT NULL, arg jsonb)');
  if (indexed) await c.query(PG_IDX);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) { const r = row(i); await c.query('INSERT INTO ev (rev, top, key, cmd, arg) VALUES ($1, $2, $3, $4, $5)', [Date.now(), r.top, r.key, r.cmd, JSON.stringify(r.arg)]); }
  const rate = n / ((performance.now() - t0) / 1000);
  await c.end();
  return rate;
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
  const sl = new SqliteLedger(join(d.path, 'l.db'));
  await appendRate(sl, 200, 1e9); // warm-up
  const sqlitePlexus = await appendRate(sl, N_SQLITE);
  const sqliteGroup = await appendRateConcurrent(sl, N_SQLITE, 16, 2e9);
  await sl.close();
  const sqliteBase = sqliteBaseline(join(d.path, 'base.db'), N_SQLITE, true);
  const sqliteBare = sqliteBaseline(join(d.path, 'bare.db'), N_SQLITE, false);
  console.log(`SQLite      publish ${fmt(sqlitePlexus)} events/s | plain insert, same table+indexes ${fmt(sqliteBase)} rows/s: ratio ${(sqlitePlexus / sqliteBase).toFixed(2)}x | bare table ${fmt(sqliteBare)} rows/s: ratio ${(sqlitePlexus / sqliteBare).toFixed(2)}x  (n=${N_SQLITE})`);
  console.log(`SQLite      publish with 16 in flight (group commit) ${fmt(sqliteGroup)} events/s: ratio ${(sqliteGroup / sqliteBase).toFixed(2)}x vs the same plain inserts`);

  const s1 = await freshPgSchema('lbench'), s2 = await freshPgSchema('lbench');
  try {
    const pl = new PgLedger(s1.url);
    await appendRate(pl, 100, 1e9);
    const pgPlexus = await appendRate(pl, N_PG);
    await pl.close();
    const pgBase = await pgBaseline(s2.url, N_PG, true);
    const pgBare = await pgBaseline(s2.url, N_PG, false);
    console.log(`PostgreSQL  publish ${fmt(pgPlexus)} events/s | plain insert, same table+indexes ${fmt(pgBase)} rows/s: ratio ${(pgPlexus / pgBase).toFixed(2)}x | bare table ${fmt(pgBare)} rows/s: ratio ${(pgPlexus / pgBare).toFixed(2)}x  (n=${N_PG})`);
  } finally { await s1.drop(); await s2.drop(); }

  const f = await fanout();
  console.log(`fan-out     ${SUBSCRIBERS} subscribers x ${ROUNDS} publishes: ${f.deliveries} deliveries, publish->delivery p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms, max ${f.max.toFixed(1)} ms (batching window 0; production adds the 200 ms window)`);
} finally { d.rm(); }
