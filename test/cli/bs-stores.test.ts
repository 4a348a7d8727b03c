import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
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

describe('plexus blob put --split --format bs', () => {
  it("stores bs's split tree (the root putStream gives) and get --split reads it back", async () => {
    const d = tmpDir();
    try {
      const file = join(d.path, 'in.bin');
      const data = Buffer.alloc(300_000); // the fixture input "300000 zero bytes" of test/fixtures/bs/split.json
      writeFileSync(file, data);
      const store = join(d.path, 'store');
      const put = await plexus(['blob', 'put', file, '--split', '--format', 'bs', '--store', store]);
      assert.equal(put.code, 0, put.stderr);
      const root = put.stdout.trim();
      const fx = (JSON.parse(readFileSync(join(fixtures, 'split.json'), 'utf8')) as { id: string; root: string }[]).find((f) => f.id === 'zeros-300k')!;
      assert.equal(root, fx.root, 'the root the real bs wrote for these bytes');
      const out = join(d.path, 'out.bin');
      const get = await plexus(['blob', 'get', root, '--split', '-o', out, '--store', store]);
      assert.equal(get.code, 0, get.stderr);
      assert.ok(readFileSync(out).equals(data));
      const bad = await plexus(['blob', 'put', file, '--format', 'gzip', '--split', '--store', store]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /BAD_REQUEST/);
    } finally {
      d.rm();
    }
  });
});
