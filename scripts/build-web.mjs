// Builds the web files `plexus serve` ships: the dashboard (dist/dashboard/) and ES module bundles of
// the browser clients (dist/browser/graph.js, dist/browser/ledger.js). No CDN at run time.
// Usage: node scripts/build-web.mjs [outDir]   (default dist)
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const out = resolve(process.argv[2] ?? join(root, 'dist'));

/**
 * Browser bundles of the clients: each re-exports the modules' browser-safe files that exist (modules
 * land independently). esbuild's browser platform fails on any node:* import, so a build proves the
 * bundle is browser-safe.
 */
const BROWSER = [
  ['graph', ['src/graph/browser.ts', 'src/graph/index.ts', 'src/graph/client.ts']],
  ['ledger', ['src/ledger/browser.ts', 'src/ledger/index.ts', 'src/ledger/client.ts']],
];

const common = { bundle: true, format: 'esm', platform: 'browser', target: ['es2022'], sourcemap: true, minify: true, logLevel: 'warning', absWorkingDir: root };

export async function buildWeb(outDir = out) {
  const dash = join(outDir, 'dashboard');
  rmSync(join(dash, 'chunks'), { recursive: true, force: true });
  mkdirSync(dash, { recursive: true });
  // cytoscape (the graph drawing) is a chunk of its own, loaded when the graph view first shows
  await build({ ...common, entryPoints: { app: join(root, 'src/server/dashboard/app.ts') }, outdir: dash, splitting: true, chunkNames: 'chunks/[name]-[hash]' });
  for (const f of ['index.html', 'favicon.svg']) copyFileSync(join(root, 'src/server/dashboard', f), join(dash, f));
  // one stylesheet: uPlot's (bundled, no CDN) then the dashboard's
  const uplotCss = readFileSync(join(root, 'node_modules/uplot/dist/uPlot.min.css'), 'utf8');
  writeFileSync(join(dash, 'style.css'), `${uplotCss}\n${readFileSync(join(root, 'src/server/dashboard/style.css'), 'utf8')}`);
  const built = ['dashboard'];
  for (const [name, candidates] of BROWSER) {
    const entries = candidates.filter((c) => existsSync(join(root, c)));
    if (!entries.length) { console.warn(`build-web: no browser entry for ${name} yet (${candidates.join(', ')}), skipped`); continue; }
    const contents = entries.map((e) => `export * from './${e}';`).join('\n');
    await build({ ...common, stdin: { contents, resolveDir: root, sourcefile: `${name}-browser.ts`, loader: 'ts' }, outfile: join(outDir, 'browser', `${name}.js`) });
    built.push(`browser/${name}.js`);
  }
  return built;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  const built = await buildWeb();
  console.log(`build-web: ${built.join(', ')} → ${out} in ${Date.now() - t0} ms`);
}
