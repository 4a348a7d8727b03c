import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { tmpDir } from '../helpers/tmp.js';

/** Run the real CLI in a child process. */
function plexus(args: string[], input?: Buffer): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PLEXUS_STORE: '' } });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (c) => out.push(c));
    p.stderr.on('data', (c) => { err += c; });
    p.stdin.end(input);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
  });
}

describe('plexus CLI: blobs and anchors', () => {
  let server: PlexusServer;
  const d = tmpDir();
  before(async () => { server = await startServer({ port: 0, dataDir: join(d.path, 'srv'), logLevel: 'silent', mounts: [blobMount] }); });
  after(async () => { await server.close(); d.rm(); });

  it('blob put FILE prints a ref that curl-style GET /blob/:ref returns; - reads stdin', async () => {
    const f = join(d.path, 'hello.txt');
    writeFileSync(f, 'hello plexus\n');
    const put = await plexus(['blob', 'put', f, '--store', server.url]);
    assert.equal(put.code, 0, put.stderr);
    const ref = put.stdout.toString().trim();
    assert.match(ref, /^[0-9a-f]{64}$/);
    assert.equal(await (await fetch(`${server.url}/blob/${ref}`)).text(), 'hello plexus\n');
    const viaStdin = await plexus(['blob', 'put', '-', '-s', server.url], Buffer.from('hello plexus\n'));
    assert.equal(viaStdin.stdout.toString().trim(), ref);
    const get = await plexus(['blob', 'get', ref, '-s', server.url]);
    assert.equal(get.stdout.toString(), 'hello plexus\n');
  });

  it('put --split / get --split round-trip a multi-MiB file', async () => {
    const f = join(d.path, 'big.bin'), o = join(d.path, 'big.out');
    writeFileSync(f, randomBytes(3 * 1024 * 1024));
    const put = await plexus(['blob', 'put', '--split', f, '-s', server.url]);
    assert.equal(put.code, 0, put.stderr);
    const get = await plexus(['blob', 'get', '--split', put.stdout.toString().trim(), '-o', o, '-s', server.url]);
    assert.equal(get.code, 0, get.stderr);
    assert.ok(readFileSync(o).equals(readFileSync(f)));
  });

  it('anchor set/get/log/expire', async () => {
    const A = 'a'.repeat(64), B = 'b'.repeat(64);
    assert.equal((await plexus(['anchor', 'set', 'app', A, '--at', '2020-01-01T00:00:00Z', '-s', server.url])).code, 0);
    assert.equal((await plexus(['anchor', 'set', 'app', B, '--at', '2021-01-01T00:00:00Z', '-s', server.url])).code, 0);
    assert.equal((await plexus(['anchor', 'get', 'app', '-s', server.url])).stdout.toString().trim(), B);
    assert.equal((await plexus(['anchor', 'get', 'app', '--at', '2020-06-01T00:00:00Z', '-s', server.url])).stdout.toString().trim(), A);
    const log = (await plexus(['anchor', 'log', 'app', '-s', server.url])).stdout.toString();
    assert.equal(log, `2020-01-01T00:00:00.000Z ${A}\n2021-01-01T00:00:00.000Z ${B}\n`);
    const ex = await plexus(['anchor', 'expire', '--older-than', '1d', '--keep', '1', '-s', server.url]);
    assert.match(ex.stdout.toString(), /dropped 1 entries from 1 names/);
  });

  it('sync copies blobs and anchors between a server, a directory and a SQLite file', async () => {
    const dir = join(d.path, 'copy'), db = join(d.path, 'copy.db');
    const r = await plexus(['sync', server.url, dir, db]);
    assert.equal(r.code, 0, r.stderr);
    const ls = await plexus(['blob', 'ls', '-s', db]);
    const lsServer = await plexus(['blob', 'ls', '-s', server.url]);
    assert.equal(ls.stdout.toString(), lsServer.stdout.toString());
    assert.equal((await plexus(['anchor', 'get', 'app', '-s', dir])).stdout.toString().trim(), 'b'.repeat(64));
  });

  it('bad arguments fail with a clear message and a non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['blob', 'get', 'zz', '-s', server.url], /INVALID_REF/],
      [['anchor', 'get', 'nothing-here', '-s', server.url], /NOT_FOUND/],
      [['anchor', 'set', 'x', 'a'.repeat(64), '--at', 'noon', '-s', server.url], /INVALID_TIME/],
      [['anchor', 'expire', '--older-than', 'forever', '-s', server.url], /INVALID_TIME|invalid duration/],
      [['blob', 'put', join(d.path, 'missing.txt'), '-s', server.url], /ENOENT|no such file/],
      [['sync', server.url], /at least two stores/],
      [['blob', 'get', 'a'.repeat(64), '-s', 'http://127.0.0.1:1'], /UNAVAILABLE/],
      [['nonsense'], /unknown command/],
    ];
    for (const [args, re] of cases) {
      const r = await plexus(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
  });
});

describe('plexus serve', () => {
  it('serves with zero configuration in a fresh directory and shuts down gracefully on SIGTERM', async () => {
    const d = tmpDir();
    try {
      const p = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(process.cwd(), 'src/cli/main.ts'), 'serve', '--port', '0'], { cwd: d.path, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      p.stderr.on('data', (c) => { err += c; });
      const url = await new Promise<string>((resolve, reject) => {
        p.stdout.on('data', (c) => { out += c; const m = /serving on (\S+)/.exec(out); if (m) resolve(m[1]!); });
        p.on('exit', () => reject(new Error(`serve exited: ${err}`)));
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await (await fetch(`${url}/blob`, { method: 'POST', body: 'x', headers: { 'content-type': 'application/octet-stream' } })).json() as { ref: string };
      assert.match(r.ref, /^[0-9a-f]{64}$/);
      const code = await new Promise<number | null>((resolve) => { p.on('exit', resolve); p.kill('SIGTERM'); });
      assert.equal(code, 0, err);
      const lines = err.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; signal?: string });
      assert.deepEqual(lines.map((l) => [l.level, l.msg]), [['info', 'grpc listening'], ['info', 'plexus listening'], ['info', 'shutting down'], ['info', 'plexus stopped']]);
      assert.equal(lines.find((l) => l.msg === 'shutting down')!.signal, 'SIGTERM');
    } finally {
      d.rm();
    }
  });
});
