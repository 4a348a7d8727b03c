import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { FileStore } from '../../src/blob/store/file.js';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import type { Store } from '../../src/blob/store.js';
import { tmpDir } from '../helpers/tmp.js';

const WRITER = `
const [kind, target] = process.argv.slice(-2);
const mod = await import(kind === 'file' ? './src/blob/store/file.ts' : './src/blob/store/sqlite.ts');
const store = kind === 'file' ? new mod.FileStore(target) : new mod.SqliteStore(target);
for (let i = 0; ; i++) {
  const data = new Uint8Array(200_000 + (i % 7) * 10_000).fill(i % 256);
  data[0] = i & 255; data[1] = (i >> 8) & 255;
  const { ref } = await store.put(data);
  await store.putAnchor('latest', ref, 1000 + i);
  process.stdout.write(ref + '\\n');
}
`;

/** Start a writer, SIGKILL it mid-stream, return the refs it reported as stored. */
async function killMidWrite(kind: string, target: string): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WRITER, kind, target], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  // Kill once the writer is well into its stream (a fixed delay gave 0 acks when the machine was loaded
  // and the child's startup took longer than the delay).
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 30_000);
    child.stdout.on('data', (c) => {
      out += c;
      if (out.split('\n').length > 20) { clearTimeout(timer); resolve(); }
    });
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  return out.split('\n').filter((l) => l.length === 64);
}

for (const [kind, open] of [['file', (p: string) => new FileStore(p)], ['sqlite', (p: string) => new SqliteStore(join(p, 'b.db'))]] as const) {
  describe(`${kind} store: SIGKILL mid-write`, () => {
    it('keeps every acknowledged blob and anchor, and every stored blob verifies', async () => {
      const d = tmpDir();
      try {
        const target = kind === 'file' ? d.path : join(d.path, 'b.db');
        const acked = await killMidWrite(kind, target);
        assert.ok(acked.length > 3, `writer acknowledged only ${acked.length} blobs`);
        const store: Store = open(d.path);
        for (const r of acked) assert.ok(await store.has(r as never), `acked blob ${r} lost`);
        let n = 0;
        for await (const r of store.refs()) { await store.get(r); n++; } // get verifies the hash
        assert.ok(n >= acked.length);
        const h = await store.history('latest');
        assert.ok(h.length >= acked.length, 'every anchor acknowledged before the kill is kept');
        await store.close();
      } finally {
        d.rm();
      }
    });
  });
}
