import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { maskSecrets, PlexusError, toPlexusError } from '../../src/errors.js';
import { describeStore } from '../../src/blob/open.js';
import { startServer } from '../../src/server/http.js';
import type { MountFactory } from '../../src/server/mount.js';
import { tmpDir } from '../helpers/tmp.js';

/** Run the plexus CLI; returns its exit code and everything it printed. */
function cli(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PLEXUS_POSTGRES: '', PLEXUS_AMQP: '', PLEXUS_TOKEN: '' } });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('secrets are masked in every printed URL, config dump, error and log line', () => {
  it('maskSecrets hides URL passwords (even with @ inside), password= parameters and given secrets', () => {
    assert.equal(maskSecrets('postgres://u:secret@db:5432/x'), 'postgres://u:***@db:5432/x');
    assert.equal(maskSecrets('amqps://guest:p@ss@mq/vh and more'), 'amqps://guest:***@mq/vh and more');
    assert.equal(maskSecrets('"postgresql://u:secret@h/d?password=two&x=1"'), '"postgresql://u:***@h/d?password=***&x=1"');
    assert.equal(maskSecrets('host=db password=hunter2 user=u'), 'host=db password=*** user=u');
    assert.equal(maskSecrets('cannot reach ws://h:1/evt?token=abc123&x=1'), 'cannot reach ws://h:1/evt?token=***&x=1');
    assert.equal(maskSecrets('needs a token (Bearer TOKEN or ?token=TOKEN), (?token=...)'), 'needs a token (Bearer TOKEN or ?token=TOKEN), (?token=...)');
    assert.equal(maskSecrets('token is abcdefgh12', ['abcdefgh12']), 'token is ***');
    assert.equal(maskSecrets('http://127.0.0.1:8765/blob and postgres://u@h/d'), 'http://127.0.0.1:8765/blob and postgres://u@h/d');
    assert.equal(describeStore('postgres://u:secret@h/d'), 'postgres://u:***@h/d');
  });

  it('a PlexusError never carries a URL password in its message (INTERNAL wrappers included)', () => {
    assert.doesNotMatch(new PlexusError('UNAVAILABLE', 'cannot reach postgres://u:secret@h/d').message, /secret/);
    assert.doesNotMatch(toPlexusError(new Error('connect to amqp://u:secret@h failed')).message, /secret/);
  });

  it('plexus serve --check-config prints neither the PostgreSQL nor the AMQP password nor the token', () => {
    const r = cli(['serve', '--check-config', '--postgres', 'postgres://u:pgsecret@db/x', '--amqp', 'amqp://u:mqsecret@mq', '--token', 'tokensecret123']);
    assert.equal(r.code, 0, r.out);
    const cfg = JSON.parse(r.out);
    assert.equal(cfg.postgres, 'postgres://u:***@db/x');
    assert.equal(cfg.amqp, 'amqp://u:***@mq');
    assert.equal(cfg.token, '(set)');
    assert.doesNotMatch(r.out, /pgsecret|mqsecret|tokensecret/);
  });

  it('a bad --postgres URL (wrong scheme, unreachable, malformed) fails without its password in the error', () => {
    for (const url of ['mysql://u:pgsecret@db/x', 'postgres://u:pgsecret@127.0.0.1:1/x', 'postgres://u:pgsecret@[bad/x']) {
      const d = tmpDir();
      try {
        const r = cli(['serve', '--port', '0', '--data', d.path, '--log-level', 'warn', '--postgres', url]);
        assert.notEqual(r.code, 0, `${url}: ${r.out}`);
        assert.match(r.out, /plexus: [A-Z_]+:/);
        assert.doesNotMatch(r.out, /pgsecret/, r.out);
      } finally { d.rm(); }
    }
  });

  it('log lines mask URL passwords and the server token, whatever module logs them', async () => {
    const lines: string[] = [];
    const leaky: MountFactory = async (ctx) => {
      ctx.log('warn', 'store failed: postgres://u:pgsecret@h/d', { err: 'Error: amqp://u:mqsecret@mq refused', token: 'the-server-token-1' });
      return { name: 'leaky', close: async () => {} };
    };
    const d = tmpDir();
    const s = await startServer({ port: 0, dataDir: d.path, logLevel: 'info', token: 'the-server-token-1', logger: (l) => lines.push(JSON.stringify(l)), mounts: [leaky], env: {} });
    await s.close();
    d.rm();
    const all = lines.join('\n');
    assert.match(all, /store failed: postgres:\/\/u:\*\*\*@h\/d/);
    assert.doesNotMatch(all, /pgsecret|mqsecret|the-server-token-1/);
  });
});
