import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { PlexusError } from '../../src/errors.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { ledgerConformance } from '../conformance/ledger.js';
import { tmpDir } from '../helpers/tmp.js';

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

  it('commits every publish of a burst larger than one group', async () => {
    const l = new SqliteLedger(join(d.path, 'burst.db'));
    try {
      const rs = await Promise.all(Array.from({ length: 600 }, (_, i) => l.publish({ acts: [{ top: 'burst', key: String(i), cmd: 'new', arg: { i } }] })));
      assert.equal(new Set(rs.map((r) => r.rev)).size, 600);
      assert.equal((await l.list('burst')).length, 600);
    } finally { await l.close(); }
  });
});
