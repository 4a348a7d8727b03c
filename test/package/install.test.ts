import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';

/**
 * The package as a user gets it: a clean checkout is packed (`npm pack`, which runs `prepare`, the same
 * build an install from git runs), the tarball is installed into a fresh project with `npm ci --offline
 * --omit=dev` (dependencies come from the npm cache, pinned by a lockfile derived from ours), and the
 * installed package is imported and run. No network, no devDependencies at run time.
 */
const repo = process.cwd();
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  version: string; dependencies: Record<string, string>; overrides?: Record<string, string>; exports: Record<string, unknown>; bin: Record<string, string>;
};
const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, npm_config_update_notifier: 'false', ...env } });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

describe('the packed package, installed without devDependencies', () => {
  const d = tmpDir('plexus-pack-');
  const app = join(d.path, 'app');
  const installed = join(app, 'node_modules', 'plexus');
  const env = { PATH: process.env.PATH!, HOME: process.env.HOME!, PLEXUS_LOG_LEVEL: 'info' };

  before(() => {
    // A clean checkout: the files git knows (tracked or new) that a build needs, with our node_modules linked in.
    const checkout = join(d.path, 'checkout');
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: repo, encoding: 'utf8' }).split('\0').filter(Boolean);
    // What a build needs (tests, benches and docs images are not packed and not built).
    const needed = (f: string) => /^(src|scripts|bin)\//.test(f) || /^(package(-lock)?\.json|tsconfig(\.build)?\.json|README\.md|LICENSE.*)$/.test(f);
    for (const f of files) {
      if (!needed(f) || !existsSync(join(repo, f))) continue; // not needed, or deleted in the work tree
      mkdirSync(dirname(join(checkout, f)), { recursive: true });
      copyFileSync(join(repo, f), join(checkout, f));
    }
    symlinkSync(join(repo, 'node_modules'), join(checkout, 'node_modules'));
    npm(['pack', '--pack-destination', d.path], checkout);
    const tarball = `plexus-${pkg.version}.tgz`;
    assert.ok(existsSync(join(d.path, tarball)), 'npm pack wrote the tarball');

    // A fresh project depending on the tarball; its lockfile pins our production dependencies.
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const integrity = `sha512-${createHash('sha512').update(readFileSync(join(d.path, tarball))).digest('base64')}`;
    const manifest = { name: 'app', private: true, type: 'module', dependencies: { plexus: `file:../${tarball}` }, overrides: pkg.overrides ?? {} };
    const packages: Record<string, unknown> = {
      '': { name: 'app', dependencies: manifest.dependencies },
      'node_modules/plexus': { version: pkg.version, resolved: `file:../${tarball}`, integrity, dependencies: pkg.dependencies, bin: pkg.bin },
    };
    for (const [k, v] of Object.entries(lock.packages)) if (k && !v.dev) packages[k] = v;
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2));
    // --ignore-scripts: native addons are not compiled again (that needs the network or minutes); the
    // one we built already is copied in (same version: the lockfile pins it).
    npm(['ci', '--offline', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], app);
    cpSync(join(repo, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'), join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'));
    for (const dev of ['typescript', 'tsx', 'esbuild']) assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} is not installed`);
  });
  after(() => d.rm());

  it('ships the built code, not the sources', () => {
    assert.ok(existsSync(join(installed, 'dist', 'cli', 'main.js')));
    assert.ok(existsSync(join(installed, 'dist', 'dashboard', 'index.html')));
    assert.ok(!existsSync(join(installed, 'src')));
    assert.ok(readdirSync(join(installed, 'dist')).includes('index.d.ts'));
  });

  it('imports every subpath export and runs a round trip', () => {
    const subpaths = Object.keys(pkg.exports).map((k) => (k === '.' ? 'plexus' : `plexus/${k.slice(2)}`));
    const script = `
      const subpaths = ${JSON.stringify(subpaths)};
      const counts = {};
      for (const s of subpaths) counts[s] = Object.keys(await import(s)).length;
      const { SqliteStore } = await import('plexus/blob');
      const { startServer } = await import('plexus/server');
      const { PlexusError } = await import('plexus');
      const store = new SqliteStore('./blob.db');
      const { ref } = await store.put(new TextEncoder().encode('hello'));
      const back = new TextDecoder().decode(await store.get(ref));
      await store.close();
      const server = await startServer({ port: 0, dataDir: './data', logLevel: 'silent' });
      const posted = await (await fetch(server.url + '/blob', { method: 'POST', body: 'over http', headers: { 'content-type': 'application/octet-stream' } })).json();
      const fetched = await (await fetch(server.url + '/blob/' + posted.ref)).text();
      await server.close();
      console.log(JSON.stringify({ counts, back, fetched, err: new PlexusError('NOT_FOUND', 'x').code }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { counts: Record<string, number>; back: string; fetched: string; err: string };
    for (const s of subpaths) assert.ok(out.counts[s]! > 0, `${s} exports something`);
    assert.deepEqual([out.back, out.fetched, out.err], ['hello', 'over http', 'NOT_FOUND']);
  });

  it('a TypeScript user of the installed package type-checks against its shipped .d.ts files', () => {
    writeFileSync(join(app, 'use.ts'), `
      import { SqliteStore, type Ref } from 'plexus/blob';
      import { Graph } from 'plexus/graph/node';
      import { connectHub } from 'plexus/ledger';
      import { SqliteLedger } from 'plexus/ledger/node';
      import { memoryNetwork } from 'plexus/bus';
      import { startServer } from 'plexus/server';
      import { PlexusError, type ErrorCode } from 'plexus';
      const store = new SqliteStore('./x.db');
      const ref: Ref = (await store.put(new Uint8Array([1]))).ref;
      const code: ErrorCode = new PlexusError('NOT_FOUND', String(ref)).code;
      void [Graph, connectHub, SqliteLedger, memoryNetwork, startServer, code];
      export {};
    `);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: [], typeRoots: [join(repo, 'node_modules/@types')] }, files: ['use.ts'] }));
    const r = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('plexus --version prints the package version', () => {
    const r = spawnSync(join(app, 'node_modules', '.bin', 'plexus'), ['--version'], { cwd: app, encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it('npm start serves from the install, and every stderr line is JSON', async () => {
    const child = spawn('npm', ['start', '--silent'], { cwd: installed, env: { ...env, PLEXUS_PORT: '0', PLEXUS_DATA: join(d.path, 'start-data') }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    // 'close': npm has exited and every holder of its pipes too (plexus, npm's child, writes its last
    // lines after npm itself may have gone)
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no listening line in 30 s:\n${stdout}\n${stderr}`)), 30_000);
        child.stdout.on('data', () => {
          const m = /serving on (http:\S+)/.exec(stdout);
          if (m) { clearTimeout(t); resolve(m[1]!); }
        });
        child.on('exit', () => reject(new Error(`exited early:\n${stdout}\n${stderr}`)));
      });
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
    }
    await exited;
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length >= 2, stderr);
    const parsed = lines.map((l) => { try { return JSON.parse(l) as { msg: string }; } catch { assert.fail(`stderr line is not JSON: ${l}`); } });
    assert.ok(parsed.some((l) => l.msg === 'plexus listening'), stderr);
    assert.ok(parsed.some((l) => l.msg === 'shutting down'), stderr);
  });
});
