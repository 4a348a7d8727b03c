import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { PgLedger } from '../../src/ledger/postgres.js';
import type { StoreLedger } from '../../src/ledger/ledger.js';
import type { Event } from '../../src/ledger/event.js';
import { ZERO_TIME } from '../../src/ledger/time.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

const ACTS = 5;
const WRITER = `
const [kind, target] = process.argv.slice(-2);
const mod = await import(kind === 'sqlite' ? './src/ledger/sqlite.ts' : './src/ledger/postgres.ts');
const l = kind === 'sqlite' ? new mod.SqliteLedger(target) : new mod.PgLedger(target);
const one = (i) => {
  const acts = [];
  for (let j = 0; j < ${ACTS}; j++) acts.push({ top: 'crash', key: String(i * ${ACTS} + j), cmd: 'new', arg: { i, j, pad: 'x'.repeat(2000) } });
  if (i > 0) acts.push({ top: 'crash', key: 'counter', cmd: 'mod', arg: { i } }); else acts.push({ top: 'crash', key: 'counter', cmd: 'new', arg: { i } });
  return l.publish({ acts, tid: 'w' + i });
};
// four publishes in flight at a time (SQLite commits them as one group)
for (let i = 0; ; i += 4) {
  const rs = await Promise.all([one(i), one(i + 1), one(i + 2), one(i + 3)]);
  for (const r of rs) process.stdout.write(r.rev + '\\n');
}
`;

async function killMidPublish(kind: string, target: string): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WRITER, kind, target], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  // wait until it is publishing, then kill at a random moment
  for (let t = 0; t < 200 && out.split('\n').length < 5; t++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  return out.split('\n').filter(Boolean).map(Number);
}

async function check(l: StoreLedger, acked: number[]): Promise<void> {
  const evs: Event[] = [];
  for await (const e of l.events(ZERO_TIME)) evs.push(e);
  const byRev = new Map<number, Event[]>();
  for (const e of evs) byRev.set(e.rev, [...(byRev.get(e.rev) ?? []), e]);
  assert.ok(acked.length >= 3, `writer acknowledged only ${acked.length} transactions`);
  for (const r of acked) assert.ok(byRev.has(r), `acknowledged revision ${r} lost`);
  for (const [rev, list] of byRev) {
    assert.equal(list.length, ACTS + 1, `transaction at ${rev} is partial`);
    assert.ok(await l.audit(rev), `transaction at ${rev} has no audit row`);
  }
  const n = byRev.size;
  assert.ok(n >= acked.length);
  // projection agrees with the events
  assert.equal((await l.list('crash')).length, n * ACTS + 1);
  assert.deepEqual((await l.get('crash', 'counter'))!.data, { i: n - 1 });
  assert.deepEqual(await l.list('crash'), (await l.at(await l.rev(), ['crash'])).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
}

describe('SIGKILL mid-publish', () => {
  it('sqlite: every transaction is whole (events, projection, audit) or absent', async () => {
    const d = tmpDir();
    try {
      const target = join(d.path, 'l.db');
      const acked = await killMidPublish('sqlite', target);
      const l = new SqliteLedger(target);
      await check(l, acked);
      await l.close();
    } finally { d.rm(); }
  });
  it('postgres: every transaction is whole (events, projection, audit) or absent', async () => {
    const s = await freshPgSchema('lcrash');
    try {
      const acked = await killMidPublish('pg', s.url);
      const l = new PgLedger(s.url);
      await check(l, acked);
      await l.close();
    } finally { await s.drop(); }
  });
});
