import type { IncomingMessage } from 'node:http';
import {
  Server, ServerCredentials, status as Status, type Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { PlexusError, isPlexusError } from '../errors.js';
import { MAX_BLOB_BYTES, SHUTDOWN_GRACE_MS } from '../limits.js';
import { refFromBytes, refToBytes, ZERO_REF, type Ref } from '../blob/ref.js';
import type { AnchorMapStore } from '../blob/bs/anchor-map.js';
import { grpcStatusOf, isUnparsed, RPC_MAX_MESSAGE_BYTES, STORE_SERVICE, type RpcMessages, type Unparsed } from '../blob/bs/rpc-service.js';

/** A running gRPC server of bs's rpc.Store service. */
export interface GrpcServer {
  /** host:port it listens on */
  address: string;
  port: number;
  close(): Promise<void>;
}

export interface GrpcServerOptions {
  store: AnchorMapStore;
  host: string;
  /** 0 = any free port */
  port: number;
  /**
   * Throws UNAUTHORIZED / FORBIDDEN unless the caller may do `scope`; gets a request-like object
   * carrying the call's `authorization` metadata as a header (the HTTP server's token checks).
   */
  check(req: IncomingMessage, scope: 'read' | 'write'): void;
  log?(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}

/** Wait until a stream can take more writes or its call was cancelled (listeners removed either way). */
function drainOrCancel(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { call.off('drain', done); call.off('cancelled', done); call.off('close', done); resolve(); };
    call.on('drain', done);
    call.on('cancelled', done);
    call.on('close', done);
  });
}

const ref32 = (b: Uint8Array, what: string, emptyIsZero = false): Ref => {
  if (b.length === 0 && emptyIsZero) return ZERO_REF;
  if (b.length !== 32) throw new PlexusError('INVALID_REF', `${what} must be 32 bytes, got ${b.length}`);
  return refFromBytes(b);
};

/**
 * Serve bs v0.4.5's `rpc.Store` (Get, Put, ListRefs, AnchorMapRef, UpdateAnchorMap) over HTTP/2 on
 * its own port, backed by `store`. Unlike bs's own server, UpdateAnchorMap is a real compare-and-swap
 * (a stale or wrong old_ref answers FAILED_PRECONDITION and changes nothing) and messages up to
 * MAX_BLOB_BYTES (plus framing) go through. Bad input answers a gRPC status, never crashes.
 */
export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const { store, check, log = () => {} } = opts;
  const server = new Server({
    'grpc.max_receive_message_length': RPC_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': RPC_MAX_MESSAGE_BYTES,
  });

  const authorize = (md: Metadata, peer: string, path: string, scope: 'read' | 'write') => {
    const a = md.get('authorization')[0];
    const req = { headers: typeof a === 'string' ? { authorization: a } : {}, url: path, method: 'POST', socket: { remoteAddress: peer } };
    check(req as unknown as IncomingMessage, scope);
  };

  const fail = (err: unknown, rpc: string) => {
    const e = isPlexusError(err) ? err : new PlexusError('INTERNAL', String((err as Error)?.message ?? err));
    if (e.code === 'INTERNAL') log('error', 'grpc call failed', { rpc, msg: e.message });
    return { code: grpcStatusOf(e.code), details: e.message };
  };

  function unary<Q extends keyof RpcMessages, R extends keyof RpcMessages>(rpc: string, scope: 'read' | 'write', fn: (req: RpcMessages[Q]) => Promise<RpcMessages[R]>) {
    return (call: ServerUnaryCall<RpcMessages[Q] | Unparsed, RpcMessages[R]>, cb: sendUnaryData<RpcMessages[R]>) => {
      (async () => {
        authorize(call.metadata, call.getPeer(), `/rpc.Store/${rpc}`, scope);
        const req = call.request;
        if (isUnparsed(req)) throw new PlexusError('BAD_REQUEST', req.unparsed);
        return fn(req);
      })().then((res) => cb(null, res), (err) => cb(fail(err, rpc)));
    };
  }

  const impl: UntypedServiceImplementation = {
    Get: unary<'GetRequest', 'GetResponse'>('Get', 'read', async ({ ref }) => ({ blob: await store.get(ref32(ref, 'ref')) })),
    Put: unary<'PutRequest', 'PutResponse'>('Put', 'write', async ({ blob }) => {
      if (blob.length > MAX_BLOB_BYTES) throw new PlexusError('TOO_LARGE', `blob of ${blob.length} bytes is over MAX_BLOB_BYTES (${MAX_BLOB_BYTES})`);
      const r = await store.put(blob);
      return { ref: refToBytes(r.ref), added: r.added };
    }),
    ListRefs: (call: ServerWritableStream<RpcMessages['ListRefsRequest'] | Unparsed, RpcMessages['ListRefsResponse']>) => {
      (async () => {
        authorize(call.metadata, call.getPeer(), '/rpc.Store/ListRefs', 'read');
        const req = call.request;
        if (isUnparsed(req)) throw new PlexusError('BAD_REQUEST', req.unparsed);
        const after = ref32(req.start, 'start', true);
        for await (const ref of store.refs({ after })) {
          if (call.cancelled) return;
          if (!call.write({ ref: refToBytes(ref) })) await drainOrCancel(call);
        }
      })().then(() => { if (!call.cancelled) call.end(); }, (err) => { if (!call.cancelled) call.emit('error', Object.assign(new Error(), fail(err, 'ListRefs'))); });
    },
    AnchorMapRef: unary<'AnchorMapRefRequest', 'AnchorMapRefResponse'>('AnchorMapRef', 'read', async () => {
      const ref = await store.anchorMapRef();
      if (!ref) throw new PlexusError('NOT_FOUND', 'no anchor map');
      return { ref: refToBytes(ref) };
    }),
    UpdateAnchorMap: unary<'UpdateAnchorMapRequest', 'UpdateAnchorMapResponse'>('UpdateAnchorMap', 'write', async (req) => {
      const prev = ref32(req.old_ref, 'old_ref', true);
      const next = ref32(req.new_ref, 'new_ref', true);
      if (prev === next) {
        // Nothing to swap (bs's Expire on a store without anchors sends zero -> zero); still a CAS check.
        const cur = (await store.anchorMapRef()) ?? ZERO_REF;
        if (cur !== prev) throw new PlexusError('CONFLICT', 'update conflict: old_ref is not the current anchor map');
        return {};
      }
      await store.swapAnchorMap(prev, next);
      return {};
    }),
  };
  server.addService(STORE_SERVICE, impl);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  const address = `${opts.host}:${port}`;
  log('info', 'grpc listening', { address, service: 'rpc.Store (bs v0.4.5)' });
  return {
    address,
    port,
    close: () => new Promise<void>((resolve) => {
      const t = setTimeout(() => { server.forceShutdown(); resolve(); }, SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => { clearTimeout(t); resolve(); });
    }),
  };
}
