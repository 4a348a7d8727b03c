import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PlexusError } from '../errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Where the built web files live: `webDir` if given, else the package's dist/ (next to dist/server/ when
 * running compiled code, ../../dist from src/server/ when running the sources).
 */
export function findWebDir(webDir?: string): string {
  if (webDir) return webDir;
  const candidates = [fileURLToPath(new URL('../', import.meta.url)), fileURLToPath(new URL('../../dist/', import.meta.url))];
  return candidates.find((d) => existsSync(join(d, 'dashboard', 'index.html'))) ?? candidates[candidates.length - 1]!;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>plexus</title>
<body style="font-family:system-ui;max-width:40em;margin:3em auto">
<h1>plexus is running</h1><p>The dashboard has not been built. Run <code>npm run build</code> (or
<code>node scripts/build-web.mjs</code>) and reload. The API is up: <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>.</p>`;

/**
 * Serve the dashboard (`/`, `/dashboard/*`) and the browser bundles (`/browser/*`) from `webDir`.
 * Returns false when the path is not one of these.
 */
export function serveWeb(req: IncomingMessage, res: ServerResponse, url: URL, webDir: string): boolean {
  const p = url.pathname;
  let rel: string;
  if (p === '/' || p === '/index.html' || p === '/dashboard' || p === '/dashboard/') rel = 'dashboard/index.html';
  else if (p === '/favicon.ico' || p === '/favicon.svg') rel = 'dashboard/favicon.svg';
  else if (p.startsWith('/dashboard/') || p.startsWith('/browser/')) rel = p.slice(1);
  else return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new PlexusError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${p}`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    throw new PlexusError('BAD_REQUEST', 'malformed path');
  }
  // Only the dashboard's and the browser bundles' own files: the path must stay inside its own directory
  // (dist/ also holds the compiled server, which `..%2f` would otherwise reach).
  const top = rel.slice(0, rel.indexOf('/'));
  const root = normalize(join(webDir, top) + sep);
  const file = normalize(join(webDir, decoded));
  if (!file.startsWith(root) || decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').includes('..')) throw new PlexusError('NOT_FOUND', `no such file ${p}`);
  let body: Buffer;
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
    body = readFileSync(file);
  } catch {
    if (rel === 'dashboard/index.html') {
      res.writeHead(200, { 'content-type': TYPES['.html']!, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : NOT_BUILT);
      return true;
    }
    throw new PlexusError('NOT_FOUND', `no such file ${p}`);
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    ...(rel.endsWith('.html') ? { 'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'" } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
