// Builds dist/: the library and CLI (tsc -p tsconfig.build.json) and the web files (scripts/build-web.mjs).
// `npm install` in a checkout and installs from git run it (`prepare`), so every documented import and
// `npm start` work straight after install. Without the devDependencies (npm install --omit=dev in an
// unpacked tarball, which already holds dist/) there is nothing to build with: it keeps dist/ and exits 0.
// Usage: node scripts/build.mjs [--lenient]   (--lenient: type errors warn instead of failing, for prepare)
import { cpSync, existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const require = createRequire(join(root, 'package.json'));

function resolvable(name) {
  try { require.resolve(`${name}/package.json`); return true; } catch { return false; }
}

const lenient = process.argv.includes('--lenient');
const t0 = Date.now();
if (!resolvable('typescript') || !resolvable('esbuild') || !existsSync(join(root, 'src'))) {
  if (existsSync(join(root, 'dist', 'cli', 'main.js'))) {
    console.log('build: no TypeScript/esbuild or sources here (a production install); using the shipped dist/');
    process.exit(0);
  }
  console.error('build: dist/ is missing and TypeScript/esbuild are not installed: run npm install (with devDependencies)');
  process.exit(1);
}
rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = join(require.resolve('typescript/package.json'), '..', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  // tsc still emits on type errors. An install (`prepare`, run with --lenient) must not fail for a
  // type error in a work in progress: npm test reports it. `npm run build` does fail.
  if (!lenient || !existsSync(join(root, 'dist', 'cli', 'main.js'))) process.exit(r.status ?? 1);
  console.warn('build: type errors (above); dist/ was emitted anyway, npm test will fail until they are fixed');
}
// the .proto files of bs's wire (loaded at run time by the gRPC service and RpcStore)
cpSync(join(root, 'src', 'blob', 'bs', 'proto'), join(root, 'dist', 'blob', 'bs', 'proto'), { recursive: true });
const { buildWeb } = await import('./build-web.mjs');
const web = await buildWeb(join(root, 'dist'));
console.log(`build: dist/ (library, CLI, ${web.join(', ')}) in ${Date.now() - t0} ms`);
