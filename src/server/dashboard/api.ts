/** HTTP helpers of the dashboard (browser code: no node:* imports). */

const TOKEN_KEY = 'plexus.token';

/** The token the user entered (kept in localStorage), or ''. */
export function getToken(): string {
  try { return localStorage.getItem(TOKEN_KEY) ?? ''; } catch { return ''; }
}

export function setToken(t: string): void {
  try { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ }
}

/** An error answered by the server: its stable code and message. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status: number) { super(`${code}: ${message}`); }
}

/** fetch with the token; JSON errors become ApiError. */
export async function api<T = unknown>(method: string, path: string, body?: BodyInit | object): Promise<T> {
  const headers: Record<string, string> = {};
  const t = getToken();
  if (t) headers.authorization = `Bearer ${t}`;
  let payload: BodyInit | undefined;
  if (body instanceof Blob || body instanceof ArrayBuffer) { payload = body; headers['content-type'] = 'application/octet-stream'; } // the server takes bytes only as octet-stream
  else if (typeof body === 'string') payload = body;
  else if (body !== undefined) { payload = JSON.stringify(body); headers['content-type'] = 'application/json'; }
  const res = await fetch(path, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
  const text = await res.text();
  let json: unknown;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  if (!res.ok) {
    const e = (json as { error?: { code: string; message: string } } | undefined)?.error;
    throw new ApiError(e?.code ?? String(res.status), e?.message ?? (text || res.statusText), res.status);
  }
  return json as T;
}

/** ws:// URL for a path on this server, with the token as ?token= (browsers cannot set headers on WebSockets). */
export function wsUrl(path: string): string {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  const t = getToken();
  if (t) u.searchParams.set('token', t);
  return u.toString();
}

/** Random id for wire messages. */
export function randomId(n = 9): string {
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  const r = crypto.getRandomValues(new Uint8Array(n));
  for (const b of r) s += a[b % a.length];
  return s;
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
}

export function fmtDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m ${s % 60}s` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

/** Parse what a user typed as a value: JSON when it parses, else the plain string. */
export function parseTyped(text: string): unknown {
  try { return JSON.parse(text); } catch { return text; }
}

let access: Promise<boolean> | undefined;

/**
 * Whether this page may read the server's data: /healthz shows the figures only to readers (with
 * --auth-reads, a token with read scope is needed). `force` asks again instead of using the last answer.
 */
export function readAccess(force = false): Promise<boolean> {
  if (!access || force) {
    const t = getToken();
    access = fetch('/healthz', t ? { headers: { authorization: `Bearer ${t}` } } : {})
      .then((r) => r.json() as Promise<Record<string, unknown>>)
      .then((j) => 'modules' in j, () => true);
  }
  return access;
}
