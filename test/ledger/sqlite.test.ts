import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { PlexusError } from '../../src/errors.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { ledgerConformance } from '../conformance/ledger.js';
import { tmpDir } from '../helpers/tmp.js';
import { runScript } from '../helpers/child.js';

const d = tmpDir('plexus-ledger-');
let n = 0;
ledgerConformance('sqlite', async (opts) => new SqliteLedger(join(d.path, `l${n++}.db`), opts), async () => d.rm());

describe('sqlite ledger storage', () => {
  const d = tmpDir('plexus-ledger-store-');
  after(() => d.rm());
  it('moves the audit rows of a file written before audit fields lived on events onto its events', async () => {
    const path = join(d.path, 'old-format.db');
    const db = new Database(path);
    db.exec(`
      CREATE TABLE evt_event (id INTEGER PRIMARY KEY, rev INTEGER NOT NULL, top TEXT NOT NULL, key TEXT NOT NULL, cmd TEXT NOT NULL, arg TEXT);
      CREATE INDEX evt_event_sig ON evt_event (top, key);
      CREATE TABLE evt_audit (rev INTEGER PRIMARY KEY, created REAL NOT NULL, arrived REAL NOT NULL, usr TEXT, extra TEXT, tid TEXT);
      CREATE UNIQUE INDEX evt_audit_tid ON evt_audit (tid) WHERE tid IS NOT NULL;
      CREATE TABLE evt_record (top TEXT NOT NULL, key TEXT NOT NULL, rev INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (top, key)) WITHOUT ROWID;
      INSERT INTO evt_event VALUES (1, 1000, 'todo', 'a', 'new', '{"t":"a"}'), (2, 1000, 'todo', 'b', 'new', '{"t":"b"}'), (3, 2000, 'todo', 'a', 'mod', '{"t":"A"}');
      INSERT INTO evt_audit VALUES (1000, 999.5, 1000.25, 'bob', '{"why":"x"}', 't1'), (2000, 2000, 2000, NULL, NULL, NULL);
      INSERT INTO evt_record VALUES ('todo', 'a', 2000, '{"t":"A"}'), ('todo', 'b', 1000, '{"t":"b"}');
    `);
    db.close();
    const l = new SqliteLedger(path, { clock: () => 3000 });
    try {
      assert.deepEqual(await l.audit(1000), { rev: 1000, created: 999.5, arrived: 1000.25, usr: 'bob', extra: { why: 'x' }, tid: 't1' });
      assert.deepEqual(await l.audit(2000), { rev: 2000, created: 2000, arrived: 2000 });
      assert.equal(await l.audit(1500), undefined);
      await assert.rejects(l.publish({ acts: [{ top: 'todo', key: 'c', cmd: 'new' }], tid: 't1' }), (e: PlexusError) => e.code === 'DUPLICATE' && (e.detail as { rev: number }).rev === 1000);
      const r = await l.publish({ acts: [{ top: 'todo', key: 'c', cmd: 'new' }], tid: 't2' });
      assert.equal(r.rev, 3000);
      assert.deepEqual(await l.audit(3000), { rev: 3000, created: 3000, arrived: 3000, tid: 't2' });
      assert.deepEqual((await l.get('todo', 'a'))!.data, { t: 'A' });
    } finally { await l.close(); }
    const check = new Database(path);
    assert.deepEqual(check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'evt_audit'").get(), { n: 0 });
    check.close();
  });

  it('synchronous: FULL fsyncs every commit (the connection says 2), NORMAL is the default (1), and both keep what they acked', async () => {
    for (const synchronous of [undefined, 'FULL'] as const) {
      const file = join(d.path, `sync-${synchronous ?? 'default'}.db`);
      const l = new SqliteLedger(file, synchronous ? { synchronous } : {});
      const setting = (l as unknown as { store: { db: Database.Database } }).store.db.pragma('synchronous', { simple: true });
      assert.equal(setting, synchronous === 'FULL' ? 2 : 1);
      const r = await Promise.all(Array.from({ length: 10 }, (_, i) => l.publish({ acts: [{ top: 't', key: `k${i}`, cmd: 'new', arg: { i } }] })));
      await l.close();
      const again = new SqliteLedger(file);
      assert.equal((await again.list('t')).length, 10);
      assert.equal(await again.rev(), Math.max(...r.map((x) => x.rev)));
      await again.close();
    }
  });

  it('commits every publish of a burst larger than one group', async () => {
    const l = new SqliteLedger(join(d.path, 'burst.db'));
    try {
      const rs = await Promise.all(Array.from({ length: 600 }, (_, i) => l.publish({ acts: [{ top: 'burst', key: String(i), cmd: 'new', arg: { i } }] })));
      assert.equal(new Set(rs.map((r) => r.rev)).size, 600);
      assert.equal((await l.list('burst')).length, 600);
    } finally { await l.close(); }
  });

  describe('background WAL checkpoints', () => {
    const walPages = (path: string) => existsSync(`${path}-wal`) ? Math.round((statSync(`${path}-wal`).size - 32) / (4096 + 24)) : 0;

    it('keeps the WAL bounded over many publishes and loses nothing across a reopen', async () => {
      const path = join(d.path, 'ckpt.db');
      const l = new SqliteLedger(path, { checkpointPages: 50, walMaxPages: 200 });
      let most = 0;
      try {
        for (let i = 0; i < 3000; i++) {
          await l.publish({ acts: [{ top: 'ck', key: String(i), cmd: 'new', arg: { i, pad: 'x'.repeat(100) } }], tid: `t${i}` });
          if (i % 25 === 0) most = Math.max(most, walPages(path));
        }
        // bursts (group commits) too
        for (let b = 0; b < 5; b++) {
          await Promise.all(Array.from({ length: 100 }, (_, j) => l.publish({ acts: [{ top: 'ck', key: `b${b}.${j}`, cmd: 'new', arg: { b, j } }] })));
          most = Math.max(most, walPages(path));
        }
      } finally { await l.close(); }
      // ~4.5 frames a publish: unchecked, 3,500 publishes would leave a WAL of ~15,000 pages
      assert.ok(most > 0 && most <= 600, `WAL reached ${most} pages (bound 200 + what one drain and the estimate add)`);
      assert.equal(existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0, 0, 'the last close checkpoints and removes the WAL');
      const again = new SqliteLedger(path);
      try {
        const recs = await again.list('ck');
        assert.equal(recs.length, 3500);
        assert.deepEqual((await again.get('ck', '2999'))!.data, { i: 2999, pad: 'x'.repeat(100) });
        let evs = 0;
        for await (const e of again.events(0, ['ck'])) if (e.top === 'ck') evs++;
        assert.equal(evs, 3500);
        assert.ok(await again.audit((await again.get('ck', '1234'))!.rev));
      } finally { await again.close(); }
    });

    it('close() stops the checkpoint thread: a process that closes its ledger exits by itself', async () => {
      const path = join(d.path, 'exit.db');
      const script = `
const { SqliteLedger } = await import('./src/ledger/sqlite.ts');
const l = new SqliteLedger(process.argv.at(-1), { checkpointPages: 10, walMaxPages: 40 });
for (let i = 0; i < 300; i++) await l.publish({ acts: [{ top: 'x', key: String(i), cmd: 'new', arg: { i } }] });
await l.close();
process.stdout.write('closed');
`;
      const { code, out } = await runScript(script, [path]);
      assert.equal(code, 0);
      assert.equal(out, 'closed');
      const l = new SqliteLedger(path);
      try { assert.equal((await l.list('x')).length, 300); } finally { await l.close(); }
    });
  });
});
