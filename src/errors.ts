/**
 * One error type for all of plexus. `code` is stable and is what callers (and the wire) match on;
 * `message` is for humans and may change.
 */

/** Every error code plexus raises. Add new codes here, in the section of the module that owns them. */
export const ERROR_CODES = {
  // generic
  BAD_REQUEST: 400, // malformed input that fits no more specific code
  UNAUTHORIZED: 401, // a write (or read) without a valid token
  FORBIDDEN: 403, // token valid but lacks the scope
  NOT_FOUND: 404, // no such blob / anchor / record / route / session
  METHOD_NOT_ALLOWED: 405,
  TIMEOUT: 408, // a deadline passed
  CONFLICT: 409, // optimistic-lock failure: someone else wrote first; re-read and retry
  TOO_LARGE: 413, // an input over a limit in limits.ts
  UNSUPPORTED: 415, // unknown content type / encoding
  MISDIRECTED: 421, // the Host header names no address of this server (DNS-rebinding defence, --allow-host)
  RATE_LIMITED: 429, // too many requests or connections
  ABORTED: 499, // the caller's AbortSignal fired
  INTERNAL: 500, // a bug or an unexpected failure of a dependency
  UNAVAILABLE: 503, // a store / broker / peer cannot be reached right now
  CLOSED: 503, // the resource was closed
  STORAGE_FULL: 507, // the disk or database is full (ENOSPC): nothing was stored
  READ_ONLY: 503, // the storage is read-only (EROFS, a read-only database file): nothing was stored
  // blob
  INVALID_REF: 400, // not 64 lowercase hex chars
  HASH_MISMATCH: 400, // bytes do not hash to the ref they were sent under (or stored corrupt)
  INVALID_NAME: 400, // anchor name outside the allowed form
  INVALID_TIME: 400, // unparseable or out-of-range timestamp
  TRUNCATED: 400, // body shorter than announced
  // graph
  LOOKUP_ON_TOP_LEVEL: 400, // `.get` needed before this operation
  NOT_OBJECT: 400, // value is not a node where one is required
  INVALID_STATE: 400, // HAM state is NaN, negative or too far in the future
  // bus
  STALE: 409, // rinq: revision is not the latest
  FROZEN: 409, // rinq: attribute is frozen
  FAILURE: 422, // rinq: an application-defined failure from a command handler
  SERVER_ERROR: 500, // rinq: handler failed unexpectedly
  // ledger
  INVALID_TRANS: 400, // a transaction that does not validate
  DUPLICATE: 409, // replayed transaction id
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** scheme://user:PASSWORD@ (greedy to the last @ of the word: a password may hold @). */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s"'`\/:@]*:)[^\s"'`]*@/gi;
/** password=... / token=... in a query string or a key=value connection string. */
const PASSWORD_PARAM = /((?:^|[?&;\s])(?:password|passwd|pwd|token|access_token)=)(?!TOKEN\b|\.\.\.)[^&;\s"'`)]+/gi;

/**
 * Hide credentials in text that is about to be printed, logged or put into an error: the password of
 * every URL (`postgres://u:***@host`), `password=` and `token=` parameters (`ws://h/evt?token=***`),
 * and any of `secrets` (e.g. the server's token).
 * The one masking function of plexus: errors (every PlexusError message), log lines, config dumps and
 * printed store URLs all go through it.
 */
export function maskSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text.replace(URL_PASSWORD, '$1***@').replace(PASSWORD_PARAM, '$1***');
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  return out;
}

export interface PlexusErrorOptions {
  cause?: unknown;
  /** Extra structured detail (safe to show a client; never secrets). */
  detail?: Record<string, unknown>;
}

/** The one error class of plexus: `code` is stable, match on it instead of the message. */
export class PlexusError extends Error {
  override readonly name = 'PlexusError';
  readonly code: ErrorCode;
  readonly detail?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: PlexusErrorOptions = {}) {
    super(maskSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.detail) this.detail = options.detail;
  }

  /** HTTP status for this code (used by the HTTP API). */
  get status(): number {
    return ERROR_CODES[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; detail?: Record<string, unknown> } {
    return this.detail ? { code: this.code, message: this.message, detail: this.detail } : { code: this.code, message: this.message };
  }
}

/** True when `err` is a PlexusError, optionally with the given code. */
export function isPlexusError(err: unknown, code?: ErrorCode): err is PlexusError {
  return err instanceof PlexusError && (code === undefined || err.code === code);
}

/** True for a known error code string (for errors that crossed a wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/**
 * A storage failure of the file system, SQLite or PostgreSQL as STORAGE_FULL / READ_ONLY with a plain
 * message (no driver text), or undefined for anything else. Used by toPlexusError, so every module and
 * route reports a full or read-only disk the same way.
 */
export function storageFault(err: unknown): PlexusError | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code !== 'string') return undefined;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === '53100') return new PlexusError('STORAGE_FULL', 'storage is full: nothing was stored', { cause: err });
  if (code === 'EROFS' || code.startsWith('SQLITE_READONLY') || code === '25006') return new PlexusError('READ_ONLY', 'storage is read-only: nothing was stored', { cause: err });
  return undefined;
}

/** Wrap anything thrown into a PlexusError (INTERNAL unless it already is one; storage faults see storageFault). */
export function toPlexusError(err: unknown): PlexusError {
  if (err instanceof PlexusError) return err;
  const fault = storageFault(err);
  if (fault) return fault;
  if (err instanceof Error && err.name === 'AbortError') return new PlexusError('ABORTED', err.message, { cause: err });
  return new PlexusError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}

/** Throws ABORTED if the signal has fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new PlexusError('ABORTED', 'operation aborted', { cause: signal.reason });
}
