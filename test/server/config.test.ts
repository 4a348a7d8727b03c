import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_SCHEMA, loadConfigFile, resolveConfig } from '../../src/server/config.js';
import { startServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { MAX_CONNECTIONS, WS_MESSAGES_PER_SECOND } from '../../src/limits.js';
import { tmpDir } from '../helpers/tmp.js';

const cli = (args: string[], env: Record<string, string> = {}, cwd = process.cwd()) =>
  spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(process.cwd(), 'src/cli/main.ts'), ...args], { cwd, env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8', timeout: 60_000 });

const tmpdirOf = (p: string) => { const q = join(p, 'empty'); mkdirSync(q, { recursive: true }); return q; };

describe('config: one schema from flags, env and plexus.config.json', () => {
  it('defaults with nothing given', () => {
    const c = resolveConfig({}, {});
    assert.equal(c.port, 8765);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.dataDir, './data');
    assert.equal(c.authReads, false);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.maxConnections, MAX_CONNECTIONS);
    assert.equal(c.wsMessagesPerSecond, WS_MESSAGES_PER_SECOND);
    assert.equal(c.token, undefined);
  });

  it('flags win over env, env over the file, the file over defaults', () => {
    const file = { port: 1111, host: '0.0.0.0', dataDir: '/file', maxConnections: 7, authReads: true, token: 'file-token-1' };
    const env = { PLEXUS_PORT: '2222', PLEXUS_HOST: '::1', PLEXUS_MAX_CONNECTIONS: '9' };
    const c = resolveConfig({ port: 3333 }, env, file);
    assert.equal(c.port, 3333);
    assert.equal(c.host, '::1');
    assert.equal(c.dataDir, '/file');
    assert.equal(c.maxConnections, 9);
    assert.equal(c.authReads, true);
    assert.equal(c.token, 'file-token-1');
    assert.equal(resolveConfig({}, { PLEXUS_AUTH_READS: 'true', PLEXUS_LOG_LEVEL: 'warn' }).authReads, true);
  });

  it('bad values name the key and where they came from; secrets are not echoed', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => resolveConfig({}, { PLEXUS_PORT: '70000' }), /invalid port .*env PLEXUS_PORT/],
      [() => resolveConfig({ logLevel: 'loud' as 'info' }, {}), /invalid logLevel "loud" from --log-level: want one of debug/],
      [() => resolveConfig({}, { PLEXUS_POSTGRES: 'mysql://x' }), /postgres.*postgres:\/\//],
      [() => resolveConfig({}, { PLEXUS_AMQP: 'http://x' }), /amqp.*amqp:\/\//],
      [() => resolveConfig({}, { PLEXUS_MAX_CONNECTIONS: '0' }), /maxConnections.*positive integer/],
      [() => resolveConfig({}, { PLEXUS_AUTH_READS: 'maybe' }), /authReads.*true or false/],
      [() => resolveConfig({}, {}, { wsMaxFrameBytes: -1 }), /wsMaxFrameBytes.*config file/],
    ];
    for (const [f, re] of cases) assert.throws(f, re);
    assert.throws(() => resolveConfig({}, { PLEXUS_TOKEN: 'short' }), (e: Error) => /at least 8/.test(e.message) && !e.message.includes('short'));
  });

  it('the config file: unknown keys, bad JSON and bad values are clear errors', () => {
    const d = tmpDir();
    try {
      const f = join(d.path, 'plexus.config.json');
      writeFileSync(f, JSON.stringify({ port: 0, prot: 1 }));
      assert.throws(() => loadConfigFile(f), /unknown key "prot" in config file .*known: port, host/);
      writeFileSync(f, '{ port: 1 }');
      assert.throws(() => loadConfigFile(f), /not valid JSON/);
      writeFileSync(f, JSON.stringify({ port: 'x' }));
      assert.throws(() => loadConfigFile(f), /invalid port "x" from config file/);
      writeFileSync(f, JSON.stringify({ port: 0, logLevel: 'warn', maxConnectionsPerIp: 5 }));
      assert.deepEqual(loadConfigFile(f), { port: 0, logLevel: 'warn', maxConnectionsPerIp: 5 });
      assert.throws(() => loadConfigFile(join(d.path, 'missing.json')), /cannot read config file/);
    } finally {
      d.rm();
    }
  });

  it('startServer reads a config file when given one', async () => {
    const d = tmpDir();
    try {
      const f = join(d.path, 'plexus.config.json');
      writeFileSync(f, JSON.stringify({ port: 0, dataDir: join(d.path, 'data'), logLevel: 'silent', token: 'config-file-token' }));
      const s = await startServer({ mounts: [blobMount], configFile: f, env: {} });
      try {
        assert.equal((await fetch(`${s.url}/blob`, { method: 'POST', body: 'x', headers: { 'content-type': 'application/octet-stream' } })).status, 401);
        assert.equal((await fetch(`${s.url}/blob`, { method: 'POST', body: 'x', headers: { authorization: 'Bearer config-file-token', 'content-type': 'application/octet-stream' } })).status, 201);
      } finally {
        await s.close();
      }
    } finally {
      d.rm();
    }
  });

  it('plexus serve --help lists every setting with its env var; bad config fails at start with a clear message; --check-config shows the result', () => {
    const help = cli(['serve', '--help'], { PLEXUS_TOKEN: 'secret-token-do-not-show' });
    assert.equal(help.status, 0);
    for (const k of CONFIG_SCHEMA) {
      assert.ok(help.stdout.includes(k.flag), k.flag);
      assert.ok(help.stdout.replace(/\s+/g, ' ').includes(k.env), k.env);
    }
    assert.match(help.stdout, /--config/);
    assert.doesNotMatch(help.stdout, /secret-token-do-not-show/);
    const d = tmpDir();
    try {
      writeFileSync(join(d.path, 'plexus.config.json'), JSON.stringify({ port: 0, colour: 'blue' }));
      const r = cli(['serve'], {}, d.path);
      assert.equal(r.status, 1);
      const line = JSON.parse(r.stderr.trim()) as { level: string; code: string; msg: string };
      assert.equal(line.level, 'error');
      assert.equal(line.code, 'BAD_REQUEST');
      assert.match(line.msg, /plexus: BAD_REQUEST: unknown key "colour" in config file/);
      const r2 = cli(['serve', '--port', '0', '--max-connections', 'lots'], {}, tmpdirOf(d.path));
      assert.match((JSON.parse(r2.stderr.trim()) as { msg: string }).msg, /invalid maxConnections "lots" from --max-connections/);
      writeFileSync(join(d.path, 'plexus.config.json'), JSON.stringify({ port: 1234, logLevel: 'warn' }));
      const r3 = cli(['serve', '--check-config', '--host', '0.0.0.0'], { PLEXUS_TOKEN: 'secret-token-do-not-show', PLEXUS_LOG_LEVEL: 'error' }, d.path);
      assert.equal(r3.status, 0, r3.stderr);
      const shown = JSON.parse(r3.stdout);
      assert.equal(shown.port, 1234);
      assert.equal(shown.host, '0.0.0.0');
      assert.equal(shown.logLevel, 'error');
      assert.equal(shown.token, '(set)');
      assert.doesNotMatch(r3.stdout, /secret-token-do-not-show/);
    } finally {
      d.rm();
    }
  });
});
