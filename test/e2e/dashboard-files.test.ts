// The dashboard is served from its own files only: no path (encoded or not) reaches beyond dist/dashboard/
// and dist/browser/, where `npm run build` also puts the compiled server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { tmpDir } from '../helpers/tmp.js';

/** GET a raw path (no URL normalisation by the client). */
function get(url: string, path: string): Promise<{ status: number; body: string; type: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard files', () => {
  let server: PlexusServer;
  const d = tmpDir();
  before(async () => {
    const web = join(d.path, 'dist');
    for (const dir of ['dashboard', 'browser', 'server']) mkdirSync(join(web, dir), { recursive: true });
    writeFileSync(join(web, 'dashboard', 'index.html'), '<!doctype html><title>dash</title>');
    writeFileSync(join(web, 'dashboard', 'app.js'), 'export {};');
    writeFileSync(join(web, 'dashboard', 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(web, 'browser', 'graph.js'), 'export {};');
    writeFileSync(join(web, 'server', 'auth.js'), 'SECRET SERVER CODE');
    writeFileSync(join(web, 'secret.txt'), 'SECRET');
    writeFileSync(join(d.path, 'outside.txt'), 'SECRET');
    server = await startServer({ port: 0, dataDir: join(d.path, 'data'), webDir: web, logLevel: 'silent', mounts: [], env: {} });
  });
  after(async () => { await server?.close(); d.rm(); });

  it('serves its own files, and the favicon', async () => {
    assert.equal((await get(server.url, '/')).status, 200);
    assert.equal((await get(server.url, '/dashboard/app.js')).status, 200);
    assert.equal((await get(server.url, '/browser/graph.js')).status, 200);
    const icon = await get(server.url, '/favicon.ico');
    assert.equal(icon.status, 200);
    assert.match(icon.type, /svg/);
  });

  it('answers 404 for every path that leaves the dashboard or browser directory', async () => {
    for (const p of [
      '/dashboard/..%2fserver%2fauth.js', '/dashboard/..%2Fserver%2Fauth.js', '/dashboard/%2e%2e/server/auth.js', '/dashboard/%2e%2e%2fsecret.txt',
      '/browser/..%2fserver%2fauth.js', '/browser/..%2fdashboard%2findex.html', '/dashboard/..%2f..%2foutside.txt', '/dashboard/..%5csecret.txt',
      '/dashboard/%2fetc%2fpasswd', '/dashboard/../secret.txt', '/dashboard/x%00.js', '/dashboard/', '/dashboard/nope.js',
    ]) {
      const r = await get(server.url, p);
      if (p === '/dashboard/') { assert.equal(r.status, 200, p); continue; }
      assert.equal(r.status, 404, `${p} → ${r.status} ${r.body.slice(0, 40)}`);
      assert.doesNotMatch(r.body, /SECRET/, p);
    }
  });
});
