import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { serveChild, serveExit } from '../helpers/serve-child.js';
import { tmpDir } from '../helpers/tmp.js';

const NOBODY = 65534;

describe('storage faults: a read-only data directory or database refuses to start, naming the path', () => {
  const d = tmpDir();
  const ro = tmpDir();
  let mounted = false;
  before(async () => {
    const s = await serveChild(['--data', d.path]); // creates blob.db, ledger.db, graph.db
    await s.stop();
  });
  after(() => { if (mounted) execFileSync('umount', [ro.path]); ro.rm(); d.rm(); });

  it('a data directory on a read-only mount: exit code != 0 and READ_ONLY naming the directory', async () => {
    execFileSync('mount', ['--bind', d.path, ro.path]);
    mounted = true;
    execFileSync('mount', ['-o', 'remount,ro,bind', ro.path]);
    const r = await serveExit(['--data', ro.path]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /READ_ONLY/);
    assert.ok(r.stderr.includes(ro.path), r.stderr);
    assert.doesNotMatch(r.stderr, /SqliteError/);
  });

  it('a read-only blob.db (server running as an unprivileged user): refuses, naming the file', async () => {
    const u = tmpDir();
    try {
      const s = await serveChild(['--data', u.path]);
      await s.stop();
      chownSync(u.path, NOBODY, NOBODY);
      for (const f of readdirSync(u.path)) chownSync(join(u.path, f), NOBODY, NOBODY);
      chmodSync(join(u.path, 'blob.db'), 0o444);
      const r = await serveExit(['--data', u.path], 30_000, NOBODY);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /READ_ONLY: cannot write .*blob\.db/);
    } finally { u.rm(); }
  });
});

