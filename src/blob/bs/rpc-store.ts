import { Client, credentials, Metadata, type CallOptions, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { PlexusError } from '../../errors.js';
import { MAX_BLOB_BYTES } from '../../limits.js';
import { parseRef, refFromBytes, refOf, refToBytes, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { PutResult } from '../store.js';
import { AnchorMapStore } from './anchor-map.js';
import { errorFromGrpc, isUnparsed, RPC_MAX_MESSAGE_BYTES, STORE_SERVICE, type RpcMessages, type Unparsed } from './rpc-service.js';

/** RpcStore options. */
export interface RpcStoreOptions {
  /** Sent as gRPC metadata `authorization: Bearer TOKEN` on every call. */
  token?: string;
  /** Channel credentials (default: plaintext, as `plexus serve` and bs's `insecure: true` use). */
  credentials?: ChannelCredentials;
  /** Deadline of each unary call in ms (default: none). */
  timeoutMs?: number;
}

type M = typeof STORE_SERVICE;

/**
 * A plexus Store that talks to any server of bs v0.4.5's gRPC service `rpc.Store` (a Go bs server or
 * `plexus serve`'s gRPC port). Anchors live in the server's bs anchor map; updates go through its
 * UpdateAnchorMap compare-and-swap (FAILED_PRECONDITION is CONFLICT), so writers never lose anchors.
 */
export class RpcStore extends AnchorMapStore {
  readonly address: string;
  readonly #client: Client;
  readonly #token: string | undefined;
  readonly #timeoutMs: number | undefined;

  /** `address` is host:port (a leading grpc:// is accepted). */
  constructor(address: string, opts: RpcStoreOptions = {}) {
    super();
    this.address = address.replace(/^grpc:\/\//, '');
    this.#token = opts.token;
    this.#timeoutMs = opts.timeoutMs;
    this.#client = new Client(this.address, opts.credentials ?? credentials.createInsecure(), {
      'grpc.max_receive_message_length': RPC_MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': RPC_MAX_MESSAGE_BYTES,
      // A large HTTP/2 receive window: 1 MiB+ responses need no window-update round trips.
      'grpc-node.flow_control_window': 16 * 1024 * 1024,
    });
  }

  #meta(): Metadata {
    const md = new Metadata();
    if (this.#token) md.set('authorization', `Bearer ${this.#token}`);
    return md;
  }

  #unary<K extends 'Get' | 'Put' | 'AnchorMapRef' | 'UpdateAnchorMap'>(name: K, req: Parameters<M[K]['requestSerialize']>[0]): Promise<Exclude<ReturnType<M[K]['responseDeserialize']>, Unparsed>> {
    const m = STORE_SERVICE[name];
    const options: CallOptions = this.#timeoutMs ? { deadline: Date.now() + this.#timeoutMs } : {};
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(m.path, m.requestSerialize as (v: unknown) => Buffer, m.responseDeserialize, req, this.#meta(), options, (err: ServiceError | null, res?: unknown) => {
        if (err) return reject(errorFromGrpc(err, `${name} on ${this.address}`));
        if (isUnparsed(res)) return reject(new PlexusError('INTERNAL', `${name} on ${this.address}: ${res.unparsed}`));
        resolve(res as Exclude<ReturnType<M[K]['responseDeserialize']>, Unparsed>);
      });
    });
  }

  async get(ref: Ref): Promise<Uint8Array> {
    parseRef(ref);
    const { blob } = await this.#unary('Get', { ref: refToBytes(ref) });
    verifyRef(ref, blob);
    return blob;
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    if (bytes.length > MAX_BLOB_BYTES) throw new PlexusError('TOO_LARGE', `blob of ${bytes.length} bytes is over MAX_BLOB_BYTES (${MAX_BLOB_BYTES})`);
    const r = await this.#unary('Put', { blob: bytes });
    const ref = refFromBytes(r.ref);
    if (ref !== refOf(bytes)) throw new PlexusError('HASH_MISMATCH', `server answered ref ${ref} for a blob that hashes to ${refOf(bytes)}`);
    return { ref, added: r.added };
  }

  /** bs's protocol has no "has": list from the ref just below `ref` and look at the first answer (no blob transferred). */
  async has(ref: Ref): Promise<boolean> {
    parseRef(ref);
    if (ref === ZERO_REF) return false;
    const below = refToBytes(ref);
    for (let i = below.length - 1; i >= 0; i--) { if (below[i]! > 0) { below[i]!--; break; } below[i] = 0xff; }
    for await (const r of this.refs({ after: refFromBytes(below) })) return r === ref;
    return false;
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    parseRef(after);
    const m = STORE_SERVICE.ListRefs;
    const call = this.#client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { start: refToBytes(after) }, this.#meta(), {});
    try {
      for await (const msg of call as AsyncIterable<RpcMessages['ListRefsResponse'] | Unparsed>) {
        if (isUnparsed(msg) || msg.ref.length !== 32) throw new PlexusError('INTERNAL', `ListRefs on ${this.address}: malformed response`);
        yield refFromBytes(msg.ref);
      }
    } catch (err) {
      throw err instanceof PlexusError ? err : errorFromGrpc(err, `ListRefs on ${this.address}`);
    } finally {
      call.cancel();
    }
  }

  async anchorMapRef(): Promise<Ref | undefined> {
    try {
      const { ref } = await this.#unary('AnchorMapRef', {});
      if (ref.length !== 32) throw new PlexusError('INTERNAL', `AnchorMapRef on ${this.address}: malformed ref`);
      const r = refFromBytes(ref);
      return r === ZERO_REF ? undefined : r;
    } catch (err) {
      if (err instanceof PlexusError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  async swapAnchorMap(prev: Ref, next: Ref): Promise<void> {
    await this.#unary('UpdateAnchorMap', { old_ref: refToBytes(parseRef(prev)), new_ref: refToBytes(parseRef(next)) });
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}
