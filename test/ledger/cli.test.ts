import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { tmpDir } from '../helpers/tmp.js';

function plexus(args: string[], input?: string): { done: Promise<{ code: number; stdout: string; stderr: string }>; lines: string[]; kill(): void } {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PLEXUS_URL: '', PLEXUS_TOKEN: '' } });
  let out = '', err = '';
  const lines: string[] = [];
  p.stdout.on('data', (c) => { out += c; lines.splice(0, lines.length, ...out.split('\n').filter(Boolean)); });
  p.stderr.on('data', (c) => { err += c; });
  p.stdin.end(input);
  return { lines, kill: () => p.kill('SIGINT'), done: new Promise((resolve) => p.on('close', (code) => resolve({ code: code ?? -1, stdout: out, stderr: err }))) };
}

describe('plexus ledger CLI', () => {
  let srv: PlexusServer;
  const d = tmpDir();
  before(async () => { srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ batchMs: 10 })] }); });
  after(async () => { await srv.close(); d.rm(); });

  it('publish, tail (catch-up then live), status, and clear errors', async () => {
    const p1 = await plexus(['ledger', 'publish', 'new', 'todo', '1', '{"title":"milk"}', '-u', srv.url]).done;
    assert.equal(p1.code, 0, p1.stderr);
    const u1 = JSON.parse(p1.stdout);
    assert.equal(u1.evs[0].key, '1');
    const tail = plexus(['ledger', 'tail', 'todo', '--since', '0', '-n', '3', '-u', srv.url]);
    for (let i = 0; i < 100 && tail.lines.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    const p2 = await plexus(['ledger', 'publish', '--stdin', '-u', srv.url], JSON.stringify({ acts: [{ top: 'todo', key: '1', cmd: 'mod', arg: { done: true } }, { top: 'other', key: 'x', cmd: 'new' }] })).done;
    assert.equal(p2.code, 0, p2.stderr);
    const p3 = await plexus(['ledger', 'publish', 'del', 'todo', '1', '--base', u1.rev, '-u', srv.url]).done;
    assert.equal(p3.code, 1);
    assert.match(p3.stderr, /plexus: CONFLICT: /);
    const p4 = await plexus(['ledger', 'publish', 'del', 'todo', '1', '-u', srv.url]).done;
    assert.equal(p4.code, 0, p4.stderr);
    const t = await tail.done;
    assert.equal(t.code, 0, t.stderr);
    assert.deepEqual(t.stdout.trim().split('\n').map((l) => JSON.parse(l).cmd), ['new', 'mod', 'del']);
    const st = await plexus(['ledger', 'status', '-u', srv.url]).done;
    assert.equal(st.code, 0, st.stderr);
    assert.equal(JSON.parse(st.stdout).off, '0001-01-01T00:00:00Z');
    const bad = await plexus(['ledger', 'publish', 'zap', 'todo', '1', '-u', srv.url]).done;
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /INVALID_TRANS/);
    const all = await plexus(['ledger', 'tail', '-n', '4', '-u', srv.url]).done;
    assert.deepEqual(all.stdout.trim().split('\n').map((l) => JSON.parse(l).top), ['todo', 'todo', 'other', 'todo']);
  });
});
