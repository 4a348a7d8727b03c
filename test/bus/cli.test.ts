// `plexus bus call|listen|notify` against the real broker.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AMQP_URL, amqpTestNetwork } from './amqp-helpers.js';
import { set } from '../../src/bus/index.js';

const run = promisify(execFile);
const cli = ['--import', 'tsx', 'src/cli/main.ts', 'bus'];
const env = { ...process.env, PLEXUS_AMQP_URL: '', PLEXUS_AMQP: AMQP_URL };

describe('plexus bus CLI', () => {
  it('listen prints requests and answers; call prints the result; notify reaches matching sessions', async () => {
    const net = await amqpTestNetwork('cli');
    const ns = net.ns('cli');
    const listener = spawn(process.execPath, [...cli, 'listen', ns, '--reply', '{"ok":true}'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '', err = '';
      listener.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      listener.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const end = Date.now() + 20_000;
      while (!err.includes('listening') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const { stdout } = await run(process.execPath, [...cli, 'call', ns, 'hello', '{"a":[1,2]}'], { env });
      assert.deepEqual(JSON.parse(stdout), { ok: true });
      const line = JSON.parse(out.trim().split('\n')[0]!) as Record<string, unknown>;
      assert.equal(line.command, 'hello');
      assert.deepEqual(line.payload, { a: [1, 2] });

      const p = await net.peer({ logger: () => {} });
      const s = p.session(), other = p.session();
      await s.currentRevision().update('app', set('room', '1'));
      const got: string[] = [];
      await s.listen(ns, (n) => { got.push(`s:${n.type}`); });
      await other.listen(ns, (n) => { got.push(`other:${n.type}`); });
      await run(process.execPath, [...cli, 'notify', ns, 'ping', '--where', 'room=1', '--attr-ns', 'app'], { env });
      await run(process.execPath, [...cli, 'notify', ns, 'direct', '{"x":1}', '--session', other.id], { env });
      const end2 = Date.now() + 5000;
      while (got.length < 2 && Date.now() < end2) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got.sort(), ['other:direct', 's:ping']);
      await assert.rejects(run(process.execPath, [...cli, 'call', net.ns('cli.nobody'), 'x', '--timeout', '200'], { env }), (e: { stderr?: string }) => /TIMEOUT/.test(e.stderr ?? ''));
    } finally {
      listener.kill('SIGINT');
      await new Promise((r) => listener.once('exit', r));
      await net.close();
    }
  });

  it('reads the old env name PLEXUS_AMQP_URL with a one-line deprecation warning', async () => {
    const net = await amqpTestNetwork('cli-env');
    try {
      const old = { ...process.env, PLEXUS_AMQP: '', PLEXUS_AMQP_URL: AMQP_URL };
      const r = await run(process.execPath, [...cli, 'notify', net.ns('cli.env'), 'ping'], { env: old });
      const warnings = r.stderr.split('\n').filter((l) => /deprecated/.test(l));
      assert.deepEqual(warnings, ['plexus: PLEXUS_AMQP_URL is deprecated, set PLEXUS_AMQP instead']);
      const { stderr } = await run(process.execPath, [...cli, 'notify', net.ns('cli.env'), 'ping'], { env });
      assert.doesNotMatch(stderr, /deprecated/);
    } finally {
      await net.close();
    }
  });
});
