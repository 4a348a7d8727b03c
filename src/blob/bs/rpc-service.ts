import { status as Status, type ServiceDefinition } from '@grpc/grpc-js';
import { PlexusError, type ErrorCode } from '../../errors.js';
import { GRPC_MAX_MESSAGE_BYTES } from '../../limits.js';
import { messageType } from './wire.js';

/**
 * bs v0.4.5's gRPC service `rpc.Store` (store/rpc/rpc.proto): the method table shared by plexus's
 * server (src/server/grpc.ts) and RpcStore, and the one table mapping gRPC status codes to plexus codes.
 */

/** Largest gRPC message either side accepts (GRPC_MAX_MESSAGE_BYTES in limits.ts). */
export const RPC_MAX_MESSAGE_BYTES = GRPC_MAX_MESSAGE_BYTES;

/** The messages of rpc.Store as plain values (bytes fields are raw 32-byte refs or blob bytes). */
export interface RpcMessages {
  GetRequest: { ref: Uint8Array };
  GetResponse: { blob: Uint8Array };
  PutRequest: { blob: Uint8Array };
  PutResponse: { ref: Uint8Array; added: boolean };
  ListRefsRequest: { start: Uint8Array };
  ListRefsResponse: { ref: Uint8Array };
  AnchorMapRefRequest: Record<string, never>;
  AnchorMapRefResponse: { ref: Uint8Array };
  UpdateAnchorMapRequest: { old_ref: Uint8Array; new_ref: Uint8Array };
  UpdateAnchorMapResponse: Record<string, never>;
}
type Name = keyof RpcMessages;

/** A request the server could not parse: handlers answer INVALID_ARGUMENT instead of crashing. */
export interface Unparsed { readonly unparsed: string }
export const isUnparsed = (v: unknown): v is Unparsed => typeof v === 'object' && v !== null && 'unparsed' in v;

const EMPTY = new Uint8Array();

function serializer<N extends Name>(name: N): (v: RpcMessages[N]) => Buffer {
  const t = messageType(`rpc.${name}`);
  return (v) => {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!(x instanceof Uint8Array && x.length === 0) && x !== false) o[k] = x;
    const b = t.encode(o).finish();
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  };
}

function deserializer<N extends Name>(name: N, fields: Record<string, 'bytes' | 'bool'>): (b: Buffer) => RpcMessages[N] | Unparsed {
  const t = messageType(`rpc.${name}`);
  return (b) => {
    try {
      const m = t.decode(b) as unknown as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [k, kind] of Object.entries(fields)) out[k] = kind === 'bytes' ? (m[k] instanceof Uint8Array ? m[k] : EMPTY) : m[k] === true;
      return out as RpcMessages[N];
    } catch (err) {
      return { unparsed: `malformed ${name}: ${(err as Error).message}` };
    }
  };
}

function method<Q extends Name, R extends Name>(rpc: string, q: Q, qf: Record<string, 'bytes' | 'bool'>, r: R, rf: Record<string, 'bytes' | 'bool'>, responseStream = false) {
  return {
    path: `/rpc.Store/${rpc}`,
    requestStream: false,
    responseStream,
    requestSerialize: serializer(q),
    requestDeserialize: deserializer(q, qf),
    responseSerialize: serializer(r),
    responseDeserialize: deserializer(r, rf),
    originalName: rpc,
  };
}

/** rpc.Store's five methods with their (de)serializers. */
export const STORE_SERVICE = {
  Get: method('Get', 'GetRequest', { ref: 'bytes' }, 'GetResponse', { blob: 'bytes' }),
  Put: method('Put', 'PutRequest', { blob: 'bytes' }, 'PutResponse', { ref: 'bytes', added: 'bool' }),
  ListRefs: method('ListRefs', 'ListRefsRequest', { start: 'bytes' }, 'ListRefsResponse', { ref: 'bytes' }, true),
  AnchorMapRef: method('AnchorMapRef', 'AnchorMapRefRequest', {}, 'AnchorMapRefResponse', { ref: 'bytes' }),
  UpdateAnchorMap: method('UpdateAnchorMap', 'UpdateAnchorMapRequest', { old_ref: 'bytes', new_ref: 'bytes' }, 'UpdateAnchorMapResponse', {}),
} satisfies ServiceDefinition;

/** plexus code -> gRPC status (what the server answers). CONFLICT is FAILED_PRECONDITION, as bs's client expects. */
const TO_GRPC: Partial<Record<ErrorCode, Status>> = {
  NOT_FOUND: Status.NOT_FOUND,
  CONFLICT: Status.FAILED_PRECONDITION,
  BAD_REQUEST: Status.INVALID_ARGUMENT,
  INVALID_REF: Status.INVALID_ARGUMENT,
  HASH_MISMATCH: Status.INVALID_ARGUMENT,
  INVALID_NAME: Status.INVALID_ARGUMENT,
  INVALID_TIME: Status.INVALID_ARGUMENT,
  TOO_LARGE: Status.RESOURCE_EXHAUSTED,
  RATE_LIMITED: Status.RESOURCE_EXHAUSTED,
  UNAUTHORIZED: Status.UNAUTHENTICATED,
  FORBIDDEN: Status.PERMISSION_DENIED,
  TIMEOUT: Status.DEADLINE_EXCEEDED,
  ABORTED: Status.CANCELLED,
  UNAVAILABLE: Status.UNAVAILABLE,
  CLOSED: Status.UNAVAILABLE,
  UNSUPPORTED: Status.UNIMPLEMENTED,
};

/** gRPC status -> plexus code (what RpcStore raises). */
const FROM_GRPC: Partial<Record<Status, ErrorCode>> = {
  [Status.NOT_FOUND]: 'NOT_FOUND',
  [Status.FAILED_PRECONDITION]: 'CONFLICT',
  [Status.INVALID_ARGUMENT]: 'BAD_REQUEST',
  [Status.RESOURCE_EXHAUSTED]: 'TOO_LARGE',
  [Status.UNAUTHENTICATED]: 'UNAUTHORIZED',
  [Status.PERMISSION_DENIED]: 'FORBIDDEN',
  [Status.DEADLINE_EXCEEDED]: 'TIMEOUT',
  [Status.CANCELLED]: 'ABORTED',
  [Status.UNAVAILABLE]: 'UNAVAILABLE',
  [Status.UNIMPLEMENTED]: 'UNSUPPORTED',
};

/** The gRPC status for a plexus error code. */
export const grpcStatusOf = (code: ErrorCode): Status => TO_GRPC[code] ?? Status.INTERNAL;

/** A PlexusError for a gRPC failure (`err` as grpc-js reports it: { code, details }). */
export function errorFromGrpc(err: unknown, what: string): PlexusError {
  const e = err as { code?: number; details?: string; message?: string };
  const code = (typeof e?.code === 'number' ? FROM_GRPC[e.code as Status] : undefined) ?? 'INTERNAL';
  return new PlexusError(code, `${what}: ${e?.details ?? e?.message ?? String(err)}`, { cause: err, detail: { grpcStatus: e?.code } });
}
