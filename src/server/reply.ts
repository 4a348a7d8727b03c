import type { IncomingMessage, ServerResponse } from 'node:http';
import { PlexusError, toPlexusError } from '../errors.js';
import { MAX_JSON_BODY_BYTES, REQUEST_BODY_TIMEOUT_MS } from '../limits.js';
import { checkText } from '../text.js';
import { budgetOf } from './budget.js';

/** Send a JSON reply. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Send `{ error: { code, message } }` with the code's HTTP status. */
export function sendError(res: ServerResponse, err: unknown): void {
  const e = toPlexusError(err);
  if (res.headersSent) { res.destroy(); return; }
  // a body that timed out is not read further: close the connection after the 408
  if (e.code === 'TIMEOUT' && res.req && !res.req.complete) res.setHeader('connection', 'close');
  // INTERNAL messages may carry driver details; keep them out of replies.
  const body = e.code === 'INTERNAL' ? { code: e.code, message: 'internal error' } : e.toJSON();
  sendJson(res, e.status, { error: body });
}

/**
 * Read a request body into memory, refusing more than `limit` bytes (TOO_LARGE, checked against
 * content-length first and then as bytes arrive), a body shorter than its content-length (TRUNCATED),
 * or one that takes longer than REQUEST_BODY_TIMEOUT_MS (TIMEOUT).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    const expect = declared === undefined ? undefined : Number(declared);
    if (expect !== undefined && (!Number.isSafeInteger(expect) || expect < 0)) return reject(new PlexusError('BAD_REQUEST', 'invalid content-length'));
    if (expect !== undefined && expect > limit) {
      req.resume();
      return reject(new PlexusError('TOO_LARGE', `body of ${expect} bytes is over the limit of ${limit}`, { detail: { limit } }));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    // the body is held in memory: it counts against the server's memory budget (per connection and in total)
    const budget = budgetOf(req), owner = req.socket;
    let reserved = 0;
    const finish = (err: PlexusError | null, body?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (budget && reserved) budget.release(owner, reserved);
      req.off('data', onData);
      if (err) { req.resume(); reject(err); } else resolve(body!);
    };
    const timer = setTimeout(() => finish(new PlexusError('TIMEOUT', 'request body not received in time')), REQUEST_BODY_TIMEOUT_MS);
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) finish(new PlexusError('TOO_LARGE', `body is over the limit of ${limit} bytes`, { detail: { limit } }));
      else if (budget && !budget.reserve(owner, c.length, 'request bodies')) finish(new PlexusError('RATE_LIMITED', 'server memory budget for request bodies is used up: retry later'));
      else { reserved += c.length; chunks.push(c); }
    };
    req.on('data', onData);
    req.on('end', () => {
      if (expect !== undefined && size < expect) finish(new PlexusError('TRUNCATED', `body ended after ${size} of ${expect} bytes`));
      else finish(null, Buffer.concat(chunks, size));
    });
    req.on('aborted', () => finish(new PlexusError('TRUNCATED', `request aborted after ${size} bytes`)));
    req.on('error', () => finish(new PlexusError('TRUNCATED', `request failed after ${size} bytes`)));
  });
}

/** Read and parse a JSON object body (BAD_REQUEST if it is not JSON or not an object). */
export async function readJsonObject(req: IncomingMessage, limit = MAX_JSON_BODY_BYTES): Promise<Record<string, unknown>> {
  const body = await readBody(req, limit);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PlexusError('BAD_REQUEST', 'body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PlexusError('BAD_REQUEST', 'body must be a JSON object');
  return checkText(value as Record<string, unknown>, 'body');
}
