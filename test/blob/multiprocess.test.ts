import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import { PgStore } from '../../src/blob/store/postgres.js';
import { FileStore } from '../../src/blob/store/file.js';
import type { Store } from '../../src/blob/store.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

const PROCS = 4, EACH = 25;

// Each writer process anchors EACH distinct refs to one contended name, concurrently with the others.
const WRITER = `
const [spec, id, each] = process.argv.slice(-3);
const { openStore } = await import(${JSON.stringify(new URL('../../src/blob/open.ts', import.meta.url).href)});
const { refOf } = await import(${JSON.stringify(new URL('../../src/blob/ref.ts', import.meta.url).href)});
const store = await openStore(spec);
await Promise.all(Array.from({ length: Number(each) }, (_, i) =>
  store.putAnchor('contended', refOf(new TextEncoder().encode(id + ':' + i)), Number(id) * 1000 + i, { retries: 5000 })));
await store.close();
`;

function runWriter(spec: string, id: number): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', WRITER, spec, String(id), String(EACH)], { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('exit', (code) => resolve(code ?? -1));
  });
}

async function contendAcrossProcesses(spec: string, open: () => Promise<Store>): Promise<void> {
  const codes = await Promise.all(Array.from({ length: PROCS }, (_, i) => runWriter(spec, i + 1)));
  assert.deepEqual(codes, Array(PROCS).fill(0));
  const s = await open();
  try {
    const h = await s.history('contended');
    assert.equal(h.length, PROCS * EACH, 'an anchor was lost');
    assert.deepEqual(h.map((e) => e.at), [...h.map((e) => e.at)].sort((a, b) => a - b));
  } finally {
    await s.close();
  }
}

describe(`${PROCS} writer processes x ${EACH} anchors on one name`, () => {
  it('SQLite file: none lost', async () => {
    const d = tmpDir();
    try {
      const db = join(d.path, 'a.db');
      new SqliteStore(db).close();
      await contendAcrossProcesses(db, async () => new SqliteStore(db));
    } finally { d.rm(); }
  });
  it('PostgreSQL: none lost', async () => {
    const pg = await freshPgSchema('mp');
    try {
      await (await PgStore.open(pg.url)).close();
      await contendAcrossProcesses(pg.url, () => PgStore.open(pg.url));
    } finally { await pg.drop(); }
  });
  it('file store directory: none lost', async () => {
    const d = tmpDir();
    try {
      new FileStore(d.path);
      await contendAcrossProcesses(d.path, async () => new FileStore(d.path));
    } finally { d.rm(); }
  });
});
