// Run test code in a real browser: bundle TypeScript for a page (node:test / node:assert mapped to small
// shims, so conformance suites run unchanged) and serve it from a throwaway origin.
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const shims: Plugin = {
  name: 'node-shims',
  setup(b) {
    b.onResolve({ filter: /^node:test$/ }, () => ({ path: root + 'test/helpers/browser/node-test-shim.ts' }));
    b.onResolve({ filter: /^node:assert\/strict$/ }, () => ({ path: root + 'test/helpers/browser/assert-shim.ts' }));
  },
};

/** Bundle `contents` (TypeScript, imports relative to the repo root) as one ES module for a page. */
export async function bundleForPage(contents: string): Promise<string> {
  const r = await build({
    stdin: { contents, resolveDir: root, sourcefile: 'page.ts', loader: 'ts' }, bundle: true, write: false, format: 'esm',
    platform: 'browser', target: ['es2022'], logLevel: 'silent', plugins: [shims], define: { 'process.env': '{}' },
  });
  return r.outputFiles[0]!.text;
}

/** A static page server on http://localhost:PORT: `/` loads `/app.js` as a module; `files` maps paths to JavaScript. */
export async function servePages(files: Record<string, string>): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/') { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>'); return; }
    const body = files[path];
    if (body === undefined) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://localhost:${port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** Outcome of a suite run in a page by the node:test shim. */
export interface PageOutcome { name: string; ok: boolean; error?: string }

/**
 * Run a suite in a fresh page of `browser`: `app` (from bundleForPage) registers it through the node:test
 * shim and sets `window.results = runCollected()`. Resolves with the outcomes once no page error occurred.
 */
export async function runSuiteInPage(browser: { newPage(): Promise<import('playwright-core').Page> }, app: string): Promise<{ results: PageOutcome[]; errors: string[] }> {
  const site = await servePages({ '/app.js': app });
  const page = await browser.newPage();
  try {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(site.url);
    await page.waitForFunction(() => (window as unknown as { results?: unknown }).results !== undefined);
    const results = await page.evaluate(() => (window as unknown as { results: Promise<PageOutcome[]> }).results);
    return { results, errors };
  } finally {
    await page.close();
    await site.close();
  }
}

/** Assert a page run: no page errors, at least `min` tests, none failed (their names and errors in the message). */
export function assertSuitePassed(run: { results: PageOutcome[]; errors: string[] }, min: number, fail: (msg: string) => never): void {
  if (run.errors.length) fail(`page errors: ${run.errors.join('\n')}`);
  if (run.results.length < min) fail(`ran ${run.results.length} tests, expected at least ${min}`);
  const failed = run.results.filter((r) => !r.ok);
  if (failed.length) fail(failed.map((f) => `${f.name}: ${f.error}`).join('\n'));
}
