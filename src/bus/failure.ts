/**
 * Typed bus errors. Every one is a PlexusError with a stable code:
 *  - FAILURE: an application-defined failure from a handler (`Failure`: type, message, payload);
 *  - SERVER_ERROR: the handler failed unexpectedly (rinq's CommandError), message = the error text;
 *  - TIMEOUT / ABORTED: the call's deadline passed / its signal fired;
 *  - STALE / FROZEN / NOT_FOUND: optimistic-locking outcomes of revision operations.
 */
import { PlexusError, isPlexusError } from '../errors.js';

/** An expected, application-defined failure returned by a command handler (`res.fail`). */
export class Failure extends PlexusError {
  /** Application failure type (rinq's `Failure.Type`), never empty. */
  readonly type: string;
  /** The failure message as sent (may be empty). */
  readonly failureMessage: string;
  /** The decoded failure payload (`null` when none). */
  readonly payload: unknown;

  constructor(type: string, message = '', payload: unknown = null) {
    super('FAILURE', message ? `${type}: ${message}` : type, { detail: { type } });
    if (!type) throw new PlexusError('BAD_REQUEST', 'failure type must not be empty');
    this.type = type;
    this.failureMessage = message;
    this.payload = payload;
  }
}

/** True when `err` is a command Failure (optionally of the given type). */
export function isFailure(err: unknown, type?: string): err is Failure {
  return err instanceof Failure && (type === undefined || err.type === type);
}

/** The handler on the other side failed unexpectedly; `message` is the error text it sent. */
export function serverError(message: string): PlexusError {
  return new PlexusError('SERVER_ERROR', message);
}

/** Revision is not the session's latest (update) or the value at it is no longer known (get). */
export function staleError(ref: string, fetch = false): PlexusError {
  return new PlexusError('STALE', fetch ? `can not fetch attributes at ${ref}, one or more attributes have been modified since that revision` : `can not update ${ref}, the session has been updated since that revision`, { detail: { ref } });
}
export function frozenError(ref: string): PlexusError {
  return new PlexusError('FROZEN', `can not update ${ref}, the change would modify one or more frozen attributes`, { detail: { ref } });
}
export function notFoundError(sessionId: string): PlexusError {
  return new PlexusError('NOT_FOUND', `session ${sessionId} not found`, { detail: { session: sessionId } });
}

/** True when retrying with a fresh revision (`rev.refresh()`) may succeed: the error is STALE. */
export function shouldRetry(err: unknown): boolean {
  return isPlexusError(err, 'STALE');
}
