import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PlexusError } from '../errors.js';
import { BLOB_PART_BYTES, MAX_BLOB_BYTES, MAX_JSON_BODY_BYTES } from '../limits.js';
import { holdFor } from './budget.js';
import { parseAnchorName, parseTime, type AnchorEntry } from '../blob/anchor.js';
import { parseRef, ZERO_REF, type Ref } from '../blob/ref.js';
import type { Store } from '../blob/store.js';
import { SqliteStore } from '../blob/store/sqlite.js';
import { PgStore } from '../blob/store/postgres.js';
import type { BsStore } from '../blob/bs/bs-store.js';
import type { Mount, MountContext, MountFactory } from './mount.js';
import { readJsonObject, sendJson } from './reply.js';
import { openReadAny, putFileAny } from '../blob/store/stream.js';
import { removeStaleUploads, sendParts, stageUpload, storageError } from './upload.js';

/** Most refs or names one listing page returns. */
export const MAX_LIST_PAGE = 10_000;

function parseLimit(v: string | null): number {
  if (v === null) return 1000;
  if (!/^\d{1,6}$/.test(v) || Number(v) < 1 || Number(v) > MAX_LIST_PAGE) throw new PlexusError('BAD_REQUEST', `limit must be 1..${MAX_LIST_PAGE}`);
  return Number(v);
}

function decodeName(segment: string): string {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    throw new PlexusError('INVALID_NAME', 'anchor name is not valid percent-encoding');
  }
  return parseAnchorName(name);
}

const entryJson = (e: AnchorEntry) => ({ at: e.at, time: new Date(e.at).toISOString(), ref: e.ref });

function parseHistory(v: unknown): AnchorEntry[] {
  if (!Array.isArray(v)) throw new PlexusError('BAD_REQUEST', 'history must be an array of { at, ref }');
  return v.map((e: unknown) => {
    if (typeof e !== 'object' || e === null) throw new PlexusError('BAD_REQUEST', 'history entries must be objects { at, ref }');
    const o = e as { at?: unknown; ref?: unknown };
    return { at: parseTime(o.at as number), ref: parseRef(o.ref) };
  });
}

/**
 * Stage an upload on disk (hashing it), check it against `expect` (PUT /blob/:ref), hand it to the store
 * in parts, and remove the staged file: an upload never sits in memory whole.
 */
async function putUpload(store: Store, req: IncomingMessage, res: ServerResponse, dir: string, expect?: Ref) {
  // an upload holds about one part at a time: charged to the memory budget while it runs
  const release = holdFor(req, BLOB_PART_BYTES, 'blob uploads');
  let up;
  try { up = await stageUpload(req, res, dir, MAX_BLOB_BYTES); } catch (err) { release(); throw err; }
  try {
    if (expect !== undefined && up.ref !== expect) throw new PlexusError('HASH_MISMATCH', `content hashes to ${up.ref}, not ${expect}`, { detail: { ref: expect, actual: up.ref } });
    return await putFileAny(store, up.path, up.ref).catch((err: unknown) => { throw err instanceof PlexusError ? err : storageError(err); });
  } finally {
    up.remove();
    release();
  }
}

/** HTTP routes for blobs and anchors over any Store (used by `plexus serve` and by tests); uploads are staged in `uploadDir`. */
export function blobRoutes(store: Store, ctx: Pick<MountContext, 'checkRead' | 'checkWrite'>, uploadDir = join(tmpdir(), 'plexus-uploads')): Mount['handle'] {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const parts = url.pathname.split('/').slice(1); // ['blob', ref?] or ['anchor', name?, 'history'?]
    const method = req.method ?? 'GET';
    const write = method !== 'GET' && method !== 'HEAD';
    if (write) ctx.checkWrite(req); else ctx.checkRead(req);

    if (parts[0] === 'blob') {
      if (parts.length === 1 || (parts.length === 2 && parts[1] === '')) {
        if (method === 'GET') {
          const after = url.searchParams.has('after') ? parseRef(url.searchParams.get('after')) : ZERO_REF;
          const limit = parseLimit(url.searchParams.get('limit'));
          const refs: Ref[] = [];
          for await (const r of store.refs({ after })) { refs.push(r); if (refs.length === limit) break; }
          return sendJson(res, 200, refs.length === limit ? { refs, next: refs[refs.length - 1] } : { refs });
        }
        if (method === 'POST') {
          const r = await putUpload(store, req, res, uploadDir);
          return sendJson(res, r.added ? 201 : 200, r);
        }
      } else if (parts.length === 2) {
        const ref = parseRef(parts[1]);
        if (method === 'GET' || method === 'HEAD') {
          // HEAD answers GET's headers; GET streams one part at a time, the last part only after the hash verified (see BlobReader)
          const blob = await openReadAny(store, ref);
          // a download holds about two parts (one read ahead, one in the socket): charged while it streams
          const release = method === 'GET' ? holdFor(req, Math.min(2 * BLOB_PART_BYTES, blob.size), 'blob downloads') : () => {};
          try {
            res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.size, etag: `"${ref}"`, 'cache-control': 'public, max-age=31536000, immutable' });
            if (method === 'HEAD') return void res.end(); // the parts are lazy: nothing was read
            return await sendParts(res, blob.parts);
          } finally { release(); }
        }
        if (method === 'PUT') {
          const r = await putUpload(store, req, res, uploadDir, ref);
          return sendJson(res, r.added ? 201 : 200, r);
        }
      } else if (parts.length === 3 && parts[2] === 'proto' && (method === 'GET' || method === 'HEAD')) {
        // a typed blob (bs PutProto): its recorded type descriptors and, when it has one, the value decoded with it
        const ref = parseRef(parts[1]);
        if (!(await store.has(ref))) throw new PlexusError('NOT_FOUND', `no blob ${ref}`);
        const { getProto, typesOf } = await import('../blob/bs/proto-types.js');
        const types = await typesOf(store, ref);
        return sendJson(res, 200, types.length ? { ref, types, ...(await getProto(store, ref, types)) } : { ref, types });
      }
    } else if (parts[0] === 'anchor') {
      if (parts.length === 1) {
        if (method === 'GET') {
          const after = url.searchParams.get('after') ?? '';
          const limit = parseLimit(url.searchParams.get('limit'));
          const names: string[] = [];
          for await (const n of store.anchorNames()) if (n > after) names.push(n);
          names.sort();
          const page = names.slice(0, limit);
          return sendJson(res, 200, names.length > limit ? { names: page, next: page[page.length - 1] } : { names: page });
        }
        if (method === 'DELETE') {
          const olderThan = url.searchParams.get('older-than');
          const keep = url.searchParams.get('keep') ?? '0';
          if (olderThan === null) throw new PlexusError('BAD_REQUEST', 'expire needs ?older-than=TIME (and optional &keep=N)');
          if (!/^\d{1,9}$/.test(keep)) throw new PlexusError('BAD_REQUEST', 'keep must be a non-negative integer');
          return sendJson(res, 200, await store.expire(parseTime(olderThan), Number(keep)));
        }
      } else if (parts.length === 2) {
        const name = decodeName(parts[1]!);
        if (method === 'GET') {
          const at = url.searchParams.get('at');
          const e = await store.getAnchor(name, at === null ? Date.now() : parseTime(at));
          return sendJson(res, 200, { name, ...entryJson(e) });
        }
        if (method === 'PUT') {
          const body = await readJsonObject(req, MAX_JSON_BODY_BYTES);
          const ref = parseRef(body.ref);
          const at = body.at === undefined ? Date.now() : parseTime(body.at as string | number);
          await store.putAnchor(name, ref, at);
          return sendJson(res, 200, { name, ...entryJson({ at, ref }) });
        }
      } else if (parts.length === 3 && parts[2] === 'history') {
        const name = decodeName(parts[1]!);
        if (method === 'GET') {
          const { history, version } = await store.readAnchors(name);
          return sendJson(res, 200, { name, version, history: history.map(entryJson) });
        }
        if (method === 'PUT') {
          const body = await readJsonObject(req, MAX_JSON_BODY_BYTES);
          const version = body.version;
          if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) throw new PlexusError('BAD_REQUEST', 'version must be a non-negative integer');
          const history = parseHistory(body.history);
          return sendJson(res, 200, { name, version: await store.writeAnchors(name, version, history) });
        }
      }
    }
    const known = parts[0] === 'blob' || parts[0] === 'anchor';
    if (known && parts.length <= 3) throw new PlexusError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`);
    throw new PlexusError('NOT_FOUND', `no route for ${method} ${url.pathname}`);
  };
}

/**
 * Open the server's blob store: PostgreSQL when configured, else SQLite in the data directory. A
 * database or file in bs's own layout (written by, or shared with, Go bs programs) is served as it is.
 */
export async function openServerBlobStore(ctx: MountContext): Promise<Store & { stats?(): Promise<Record<string, number>> }> {
  const { postgres, dataDir } = ctx.config;
  if (postgres) {
    const { BsPgStore, pgHoldsBsTables } = await import('../blob/store/bs-postgres.js');
    return (await pgHoldsBsTables(postgres)) ? BsPgStore.open(postgres) : PgStore.open(postgres);
  }
  const file = join(dataDir, 'blob.db');
  const { BsSqliteStore, isBsSqlite } = await import('../blob/store/bs-sqlite.js');
  return isBsSqlite(file) ? new BsSqliteStore(file) : new SqliteStore(file);
}

/** The blob mount: its store (anchors in bs's anchor map) and the address of its gRPC service. */
export interface BlobMount extends Mount {
  store: BsStore;
  /** host:port of bs's rpc.Store gRPC service */
  grpcAddress: string;
}

/** Mounts /blob and /anchor, and serves bs's gRPC rpc.Store on its own port (src/server/grpc.ts). */
export const blobMount: MountFactory = async (ctx) => {
  const inner = await openServerBlobStore(ctx);
  const stale = removeStaleUploads(join(ctx.config.dataDir, 'tmp'));
  if (stale) ctx.log('info', 'blob: removed uploads left by a crashed server', { files: stale });
  // Loaded on demand: gRPC and protobufjs cost every CLI command a second of startup otherwise.
  const [{ BsStore }, { startGrpcServer }] = await Promise.all([import('../blob/bs/bs-store.js'), import('./grpc.js')]);
  let store: BsStore;
  try { store = await BsStore.open(inner); } catch (err) { await inner.close(); throw err; }
  const { port, grpcPort = port === 0 ? 0 : port + 1, host } = ctx.config;
  const grpc = await startGrpcServer({
    store, host, port: grpcPort, log: ctx.log,
    check: (req, scope) => (scope === 'write' ? ctx.checkWrite(req) : ctx.checkRead(req)),
  }).catch(async (err) => { await store.close(); throw err; });
  const mount: BlobMount = {
    name: 'blob',
    prefixes: ['/blob', '/anchor'],
    handle: blobRoutes(store, ctx, join(ctx.config.dataDir, 'tmp')),
    stats: () => store.stats(),
    close: async () => { await grpc.close(); await store.close(); },
    store,
    grpcAddress: grpc.address,
  };
  return mount;
};
