import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'esbuild';

describe('graph client: browser-safe import graph', () => {
  it('src/graph/index.ts bundles for the browser with no node:* (or Node-only package) imports', async () => {
    const imports: string[] = [];
    const r = await build({
      entryPoints: ['src/graph/index.ts'], bundle: true, write: false, format: 'esm', platform: 'browser', metafile: true, logLevel: 'silent',
      plugins: [{ name: 'spy', setup(b) { b.onResolve({ filter: /.*/ }, (a) => { imports.push(a.path); return undefined; }); } }],
    });
    const bad = imports.filter((p) => p.startsWith('node:') || ['ws', 'pg', 'better-sqlite3', 'fs', 'path', 'crypto', 'net'].includes(p));
    assert.deepEqual(bad, []);
    const js = r.outputFiles[0]!.text;
    assert.ok(Object.values(r.metafile!.outputs)[0]!.exports.includes('Graph'));
    assert.ok(js.length < 200_000, `bundle is ${js.length} bytes`);
  });
});
