import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';

/** Run the real CLI in a child process; its stdout and exit code. */
function plexus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PLEXUS_STORE: '' } });
    let out = '', err = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { err += c; });
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: out, stderr: err }));
  });
}

const fixtures = new URL('../fixtures/bs/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8')) as { stores: { kind: string; path: string; histories: Record<string, { ref: string }[]> }[] };

describe('plexus CLI on stores bs wrote', () => {
  for (const st of manifest.stores.filter((s) => s.kind !== 'pg')) {
    it(`${st.kind}: anchor get and blob get read bs's anchors and blobs (--store on a copy)`, async () => {
      const d = tmpDir();
      try {
        const spec = join(d.path, st.kind === 'file' ? 'store' : 'bs.db');
        cpSync(join(fixtures, st.path), spec, { recursive: true });
        const want = st.histories['site/main']!.at(-1)!.ref;
        const a = await plexus(['anchor', 'get', 'site/main', '--store', spec]);
        assert.equal(a.code, 0, a.stderr);
        assert.match(a.stdout, new RegExp(want));
        const b = await plexus(['blob', 'get', want, '--store', spec]);
        assert.equal(b.code, 0, b.stderr);
        assert.equal(b.stdout, 'hello');
      } finally {
        d.rm();
      }
    });
  }
});
