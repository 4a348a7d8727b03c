import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createLogger, formatPretty } from '../../src/server/log.js';
import { startServer } from '../../src/server/http.js';
import { PlexusError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('server log lines', () => {
  it('keep the caller\'s msg: fields named msg/level/time are renamed, errors become objects', () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ sink: (l) => lines.push(l) });
    log('info', 'request failed', { msg: 'boom', level: 'x', err: new PlexusError('NOT_FOUND', 'no such blob') });
    log('debug', 'dropped');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.msg, 'request failed');
    assert.equal(lines[0]!.level, 'info');
    assert.equal(lines[0]!.field_msg, 'boom');
    assert.deepEqual(lines[0]!.err, { name: 'PlexusError', message: 'no such blob', code: 'NOT_FOUND' });
  });

  it('rate-limit repeated warnings per message: one line per window, then the count of the held-back ones', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ sink: (l) => lines.push(l), repeatWindowMs: 200 });
    for (let i = 0; i < 1000; i++) log('warn', 'connection refused', { i });
    log('warn', 'another warning');
    log('info', 'info is never held back');
    log('info', 'info is never held back');
    assert.deepEqual(lines.map((l) => l.msg), ['connection refused', 'another warning', 'info is never held back', 'info is never held back']);
    await sleep(350);
    const summary = lines.find((l) => l.suppressed !== undefined)!;
    assert.equal(summary.msg, 'connection refused');
    assert.equal(summary.suppressed, 998);
    assert.equal(summary.i, 999, 'the last held-back line is written late, counting the others');
    // flush() (on shutdown) writes what a window still holds back.
    const held: Record<string, unknown>[] = [];
    const slow = createLogger({ sink: (l) => held.push(l), repeatWindowMs: 60_000 });
    for (let i = 0; i < 3; i++) slow('error', 'store down', { i });
    slow.flush();
    assert.deepEqual(held.map((l) => [l.i, l.suppressed]), [[0, undefined], [2, 1]]);
  });

  it('pretty lines read as text', () => {
    assert.equal(formatPretty({ time: '2026-01-01T12:00:00.123Z', level: 'warn', msg: 'connection refused', ip: '127.0.0.1', n: 2, why: 'a b' }),
      '12:00:00.123 WARN  connection refused ip=127.0.0.1 n=2 why="a b"');
  });

  it('a flood of refused connections logs a handful of lines with the count', async () => {
    const d = tmpDir();
    const lines: Record<string, unknown>[] = [];
    const server = await startServer({ port: 0, dataDir: d.path, maxConnections: 1, logger: (l) => lines.push(l), env: {} });
    try {
      const keep = connect(server.port, '127.0.0.1');
      await new Promise((r) => keep.once('connect', r));
      const refused = await Promise.all(Array.from({ length: 200 }, () => new Promise<void>((resolve) => {
        const s = connect(server.port, '127.0.0.1');
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.on('data', () => s.destroy());
      })));
      assert.equal(refused.length, 200);
      keep.destroy();
    } finally {
      await server.close();
      d.rm();
    }
    const refusals = lines.filter((l) => l.msg === 'connection refused');
    assert.ok(refusals.length >= 1 && refusals.length <= 5, `${refusals.length} lines`);
    const counted = refusals.reduce((n, l) => n + 1 + ((l.suppressed as number | undefined) ?? 0), 0);
    assert.equal(counted, 200);
    assert.ok(refusals.every((l) => typeof l.error === 'string' && l.code === 'RATE_LIMITED'));
  });

  it('plexus serve --log-format pretty writes text lines; SIGTERM is logged like any other line', async () => {
    const d = tmpDir();
    const p = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(process.cwd(), 'src/cli/main.ts'), 'serve', '--port', '0', '--log-format', 'pretty', '--data', d.path],
      { cwd: d.path, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH! } });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { err += c; });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`not serving: ${out} ${err}`)), 30_000);
        p.stdout.on('data', () => { if (out.includes('serving on')) { clearTimeout(t); resolve(); } });
      });
      p.kill('SIGTERM');
      assert.equal(await new Promise((r) => p.on('exit', r)), 0, err);
    } finally {
      p.kill('SIGKILL');
      d.rm();
    }
    const lines = err.trim().split('\n');
    assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO  plexus listening url=http:/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /INFO  shutting down signal=SIGTERM/.test(l)), err);
    assert.ok(lines.every((l) => !l.startsWith('{')), err);
  });
});
