import { PlexusError, isErrorCode } from '../../errors.js';
import { AnchorStore, type AnchorEntry, type VersionedHistory } from '../anchor.js';
import { parseRef, verifyRef, ZERO_REF, type Ref } from '../ref.js';
import type { BlobStore, PutResult } from '../store.js';

/**
 * A store that is a running `plexus serve`, over its HTTP API. Verifies every blob it downloads.
 * Browser-safe (uses fetch only).
 */
export class HttpStore extends AnchorStore implements BlobStore {
  readonly base: string;
  #headers: Record<string, string>;

  /** `url` is the server's base URL, e.g. http://127.0.0.1:8765; `token` for servers that require one. */
  constructor(url: string, opts: { token?: string } = {}) {
    super();
    this.base = url.replace(/\/+$/, '');
    this.#headers = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  }

  async #fetch(path: string, init: RequestInit = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.base + path, { ...init, headers: { ...this.#headers, ...(init.headers as Record<string, string> | undefined) } });
    } catch (err) {
      throw new PlexusError('UNAVAILABLE', `cannot reach ${this.base}: ${(err as Error).message}`, { cause: err });
    }
    if (res.ok) return res;
    let code: string = res.status === 404 ? 'NOT_FOUND' : 'INTERNAL', message = `HTTP ${res.status} from ${this.base}${path}`;
    try {
      const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
      if (isErrorCode(body.error?.code)) code = body.error.code;
      if (typeof body.error?.message === 'string') message = body.error.message;
    } catch { /* not JSON */ }
    throw new PlexusError(isErrorCode(code) ? code : 'INTERNAL', message);
  }

  async #json<T>(path: string, init?: RequestInit): Promise<T> {
    return (await (await this.#fetch(path, init)).json()) as T;
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const data = new Uint8Array(await (await this.#fetch(`/blob/${parseRef(ref)}`)).arrayBuffer());
    verifyRef(ref, data);
    return data;
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    const r = await this.#json<{ ref: string; added: boolean }>('/blob', { method: 'POST', body: bytes as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'application/octet-stream' } });
    return { ref: parseRef(r.ref), added: r.added };
  }

  async has(ref: Ref): Promise<boolean> {
    try {
      await this.#fetch(`/blob/${parseRef(ref)}`, { method: 'HEAD' });
      return true;
    } catch (err) {
      if (err instanceof PlexusError && err.code === 'NOT_FOUND') return false;
      throw err;
    }
  }

  async *refs({ after = ZERO_REF }: { after?: Ref } = {}): AsyncIterable<Ref> {
    let cursor: string | undefined = parseRef(after);
    while (cursor !== undefined) {
      const page: { refs: string[]; next?: string } = await this.#json(`/blob?after=${cursor}&limit=1000`);
      for (const r of page.refs) yield parseRef(r);
      cursor = page.next;
    }
  }

  async readAnchors(name: string): Promise<VersionedHistory> {
    const r = await this.#json<{ version: number; history: { at: number; ref: string }[] }>(`/anchor/${encodeURIComponent(name)}/history`);
    return { version: r.version, history: r.history.map((e) => ({ at: e.at, ref: parseRef(e.ref) })) };
  }

  protected async casAnchors(name: string, version: number, history: readonly AnchorEntry[]): Promise<number> {
    const r = await this.#json<{ version: number }>(`/anchor/${encodeURIComponent(name)}/history`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version, history }),
    });
    return r.version;
  }

  async *anchorNames(): AsyncIterable<string> {
    let after: string | undefined = '';
    while (after !== undefined) {
      const page: { names: string[]; next?: string } = await this.#json(`/anchor?after=${encodeURIComponent(after)}&limit=1000`);
      yield* page.names;
      after = page.next;
    }
  }

  async close(): Promise<void> {}
}
