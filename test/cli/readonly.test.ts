import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';
import pg from 'pg';
import { freshPgSchema } from '../helpers/pg.js';

/** Run the real CLI in a child process. */
function plexus(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PLEXUS_STORE: '' } });
    let err = '';
    p.stderr.on('data', (c) => { err += c; });
    p.on('close', (code) => resolve({ code: code ?? -1, stderr: err }));
  });
}

describe('plexus CLI: commands that only read create nothing; --data must be a directory', () => {
  it('read-only blob/anchor commands answer NOT_FOUND for a store that does not exist; serve --data FILE is a clear error', async () => {
    const d = tmpDir();
    try {
      writeFileSync(join(d.path, 'hello.txt'), 'hello');
      const cases: [string[], RegExp][] = [
        [['blob', 'ls', '--store', join(d.path, 'typo', 'dir')], /plexus: NOT_FOUND: no store at .*typo/],
        [['blob', 'get', 'a'.repeat(64), '--store', join(d.path, 'typo.db')], /plexus: NOT_FOUND: no store at/],
        [['anchor', 'get', 'x', '--store', join(d.path, 'typo', 'dir')], /plexus: NOT_FOUND: no store at/],
        [['anchor', 'log', 'x', '--store', d.path], /plexus: NOT_FOUND: .* is a directory but not a plexus file store/],
        [['serve', '--port', '0', '--data', join(d.path, 'hello.txt')], /plexus: BAD_REQUEST: data directory .*hello\.txt .* is a file, not a directory/],
        [['serve', '--port', '0', '--data', join(d.path, 'hello.txt', 'sub')], /plexus: BAD_REQUEST: data directory .* is under .*hello\.txt, which is a file/],
      ];
      const results = await Promise.all(cases.map(([args]) => plexus(args)));
      results.forEach((r, i) => {
        assert.equal(r.code, 1, cases[i]![0].join(' '));
        assert.match(r.stderr, cases[i]![1], cases[i]![0].join(' '));
      });
      assert.ok(!existsSync(join(d.path, 'typo')) && !existsSync(join(d.path, 'typo.db')), 'read-only commands created no store');
      assert.ok(!existsSync(join(d.path, 'blobs')), 'nor made a store of an unrelated directory');
    } finally {
      d.rm();
    }
  });

  it('a read-only command on a PostgreSQL database without a plexus store answers NOT_FOUND and creates no table', async () => {
    const sc = await freshPgSchema('ro_cli');
    try {
      const r = await plexus(['blob', 'ls', '--store', sc.url]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /plexus: NOT_FOUND: no plexus blob store in/);
      const c = new pg.Client({ connectionString: sc.url });
      await c.connect();
      const t = await c.query('SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1', [sc.schema]);
      await c.end();
      assert.equal(t.rows[0].n, 0, 'no table was created');
    } finally {
      await sc.drop();
    }
  });
});
