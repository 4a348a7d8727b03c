import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PlexusError, toPlexusError } from '../errors.js';
import { REQUEST_BODY_TIMEOUT_MS } from '../limits.js';
import type { Ref } from '../blob/ref.js';
import { stagingPath } from '../blob/store/stream.js';

/** A request body staged on disk: its file, the sha256 ref of its bytes and its size. */
export interface StagedUpload {
  path: string;
  ref: Ref;
  size: number;
  /** Remove the staged file (always call it, also after the store took the bytes). */
  remove(): void;
}

/**
 * Stream a request body into a temp file in `dir` while hashing it, with backpressure (the request is
 * paused while the disk catches up), so an upload holds at most a socket buffer in memory. Refuses more
 * than `limit` bytes (TOO_LARGE), a body shorter than its content-length (TRUNCATED) or one slower than
 * REQUEST_BODY_TIMEOUT_MS (TIMEOUT). On any failure the file is removed; when the body was not read to
 * its end the reply closes the connection (what is left of the body is never read).
 */
export function stageUpload(req: IncomingMessage, res: ServerResponse, dir: string, limit: number): Promise<StagedUpload> {
  const declared = req.headers['content-length'];
  const expect = declared === undefined ? undefined : Number(declared);
  if (expect !== undefined && (!Number.isSafeInteger(expect) || expect < 0)) return Promise.reject(new PlexusError('BAD_REQUEST', 'invalid content-length'));
  if (expect !== undefined && expect > limit) {
    res.setHeader('connection', 'close');
    return Promise.reject(new PlexusError('TOO_LARGE', `body of ${expect} bytes is over the limit of ${limit}`, { detail: { limit } }));
  }
  mkdirSync(dir, { recursive: true });
  const path = stagingPath(dir);
  const remove = () => rmSync(path, { force: true });
  return new Promise((resolve, reject) => {
    const out = createWriteStream(path, { flags: 'wx' });
    const h = createHash('sha256');
    let size = 0;
    let settled = false;
    const fail = (err: PlexusError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      if (!req.complete) res.setHeader('connection', 'close');
      req.resume();
      out.destroy();
      out.once('close', remove);
      remove();
      reject(err);
    };
    const timer = setTimeout(() => fail(new PlexusError('TIMEOUT', 'request body not received in time')), REQUEST_BODY_TIMEOUT_MS);
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) return fail(new PlexusError('TOO_LARGE', `body is over the limit of ${limit} bytes`, { detail: { limit } }));
      h.update(c);
      if (!out.write(c)) { req.pause(); out.once('drain', () => { if (!settled) req.resume(); }); }
    };
    req.on('data', onData);
    req.once('end', () => {
      if (settled) return;
      if (expect !== undefined && size < expect) return fail(new PlexusError('TRUNCATED', `body ended after ${size} of ${expect} bytes`));
      out.end(() => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ path, ref: h.digest('hex') as Ref, size, remove });
      });
    });
    req.once('aborted', () => fail(new PlexusError('TRUNCATED', `request aborted after ${size} bytes`)));
    req.once('error', () => fail(new PlexusError('TRUNCATED', `request failed after ${size} bytes`)));
    out.once('error', (err) => fail(storageError(err)));
  });
}

/** A file-system error as a PlexusError (a full disk STORAGE_FULL, a read-only one READ_ONLY, see storageFault). */
export function storageError(err: unknown): PlexusError {
  return toPlexusError(err);
}

/**
 * Send `parts` as the body of `res` with backpressure: the next part is read only once the socket took
 * the previous one. When the client goes away, reading stops. An error from `parts` after the headers
 * went out (HASH_MISMATCH) is rethrown; the caller's error path then destroys the response, so the client
 * sees a body shorter than its content-length, never a complete reply of corrupt bytes.
 */
export async function sendParts(res: ServerResponse, parts: AsyncIterable<Uint8Array>): Promise<void> {
  const it = parts[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      if (res.destroyed) return;
      if (!res.write(r.value)) {
        const gone = await new Promise<boolean>((resolve) => {
          const onDrain = () => { res.off('close', onClose); resolve(false); };
          const onClose = () => { res.off('drain', onDrain); resolve(true); };
          res.once('drain', onDrain);
          res.once('close', onClose);
        });
        if (gone) return;
      }
    }
    res.end();
  } finally {
    await it.return?.();
  }
}

/**
 * Remove staged uploads left in `dir` by processes that are gone (a crash or SIGKILL mid-upload); files of
 * live processes (another server on the same data directory) are kept.
 */
export function removeStaleUploads(dir: string): number {
  let removed = 0;
  let names: string[];
  try { names = readdirSync(dir); } catch { return 0; }
  for (const f of names) {
    const m = /^upload-(\d+)-[0-9a-f]+$/.exec(f);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid === process.pid;
    if (!alive) { try { process.kill(pid, 0); alive = true; } catch (err) { alive = (err as { code?: string }).code === 'EPERM'; } }
    if (!alive) { rmSync(join(dir, f), { force: true }); removed++; }
  }
  return removed;
}
