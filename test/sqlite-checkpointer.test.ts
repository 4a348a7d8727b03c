import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteCheckpointer } from '../src/sqlite-checkpointer.js';
import { tmpDir } from './helpers/tmp.js';
import { runScript } from './helpers/child.js';

const walPages = (path: string) => existsSync(`${path}-wal`) ? Math.round((statSync(`${path}-wal`).size - 32) / (4096 + 24)) : 0;

function open(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  return db;
}

describe('SqliteCheckpointer', () => {
  const d = tmpDir('plexus-ckpt-');
  after(() => d.rm());

  it('checkpoints on its thread and keeps the WAL under its bound while writers await room()', async () => {
    const path = join(d.path, 'a.db');
    const db = open(path);
    const ck = new SqliteCheckpointer(path, { checkpointPages: 20, walMaxPages: 100 });
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
    let most = 0;
    for (let i = 0; i < 4000; i++) {
      const wait = ck.room();
      if (wait) await wait;
      ins.run('x'.repeat(1500)); // ~one new table page every two rows, plus the commit's other pages
      ck.wrote(2);
      if (i % 20 === 0) most = Math.max(most, walPages(path));
    }
    assert.ok(ck.checkpoints > 10, `${ck.checkpoints} checkpoints`);
    assert.equal(ck.lastError, undefined);
    // unchecked (wal_autocheckpoint = 0) the WAL would hold every frame: ~4,000 pages
    assert.ok(most > 0 && most <= 250, `WAL reached ${most} pages`);
    await ck.close();
    db.close();
    const check = new Database(path);
    assert.deepEqual(check.prepare('SELECT count(*) AS n FROM t').get(), { n: 4000 });
    check.close();
  });

  it('a writer that never yields to the event loop still learns of finished checkpoints and starts the next', () => {
    // a sequential writer awaiting only its own (microtask) work gives its loop no turn, so a reply
    // message would not arrive before it pauses; the worker's shared counter is read at each write
    const path = join(d.path, 'busy.db');
    const db = open(path);
    const ck = new SqliteCheckpointer(path, { checkpointPages: 20, walMaxPages: 1_000_000 });
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 3000; i++) {
      ins.run('w'.repeat(1500));
      ck.wrote(2);
      if (i % 100 === 99) Atomics.wait(nap, 0, 0, 20); // the worker gets time; this thread's loop does not run
    }
    assert.ok(ck.checkpoints >= 10, `${ck.checkpoints} checkpoints seen without an event-loop turn`);
    assert.equal(ck.lastError, undefined);
    db.close();
    return ck.close();
  });

  it('a reader pinning the WAL makes writers wait once per walMaxPages, not at every write', async () => {
    const path = join(d.path, 'pinned.db');
    const db = open(path);
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
    ins.run('first');
    const reader = new Database(path);
    reader.prepare('BEGIN').run();
    reader.prepare('SELECT count(*) FROM t').get(); // holds its snapshot: no checkpoint can copy past it
    const ck = new SqliteCheckpointer(path, { checkpointPages: 20, walMaxPages: 100 });
    let waits = 0;
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const wait = ck.room();
        if (wait) { waits++; await wait; }
        ins.run('z'.repeat(1500));
        ck.wrote(2);
      }
    };
    await write(1000);
    assert.ok(waits >= 5 && waits <= 2 * 1000 / 100 + 2, `${waits} waits for 2,000 pages`);
    reader.prepare('COMMIT').run();
    reader.close();
    await write(400); // the pin gone, the WAL restarts: it is back under its bound
    assert.ok(ck.walPages < 200, `${ck.walPages} pages in the WAL`);
    await ck.close();
    db.close();
  });

  it('without writes it starts no thread; close() is then immediate', async () => {
    const ck = new SqliteCheckpointer(join(d.path, 'none.db'), { checkpointPages: 1, walMaxPages: 1 });
    assert.equal(ck.room(), undefined);
    await ck.close();
    assert.equal(ck.checkpoints, 0);
  });

  it('close() runs the last checkpoint and stops the thread: the process exits by itself', async () => {
    const path = join(d.path, 'exit.db');
    const script = `
const { SqliteCheckpointer } = await import('./src/sqlite-checkpointer.ts');
const { default: Database } = await import('better-sqlite3');
const { statSync } = await import('node:fs');
const path = process.argv.at(-1);
const db = new Database(path);
db.pragma('journal_mode = WAL');
db.pragma('wal_autocheckpoint = 0');
db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
const ck = new SqliteCheckpointer(path, { checkpointPages: 1000000, walMaxPages: 1000000 });
for (let i = 0; i < 200; i++) { db.prepare('INSERT INTO t (v) VALUES (?)').run('y'.repeat(3000)); ck.wrote(1); }
const before = statSync(path).size;
await ck.close();
process.stdout.write(JSON.stringify({ checkpoints: ck.checkpoints, before, after: statSync(path).size }));
db.close();
`;
    const { code, out } = await runScript(script, [path]);
    assert.equal(code, 0);
    // no checkpoint was due; close() ran the last one: the rows (~600 KB) are in the database file
    const r = JSON.parse(out) as { checkpoints: number; before: number; after: number };
    assert.equal(r.checkpoints, 0);
    assert.ok(r.before < 100_000 && r.after > 600_000, out);
  });
});
