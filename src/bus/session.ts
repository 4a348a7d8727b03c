/**
 * A session: the identity commands and notifications are sent from, with a versioned attribute table.
 * Sessions are created by `peer.session()` and live until `destroy()` (or the peer stops).
 */
import { PlexusError } from '../errors.js';
import { validateNamespace } from './attributes.js';
import type { BusContext } from './context.js';
import type { Constraint } from './constraint.js';
import { notFoundError } from './failure.js';
import { LocalRevision, type Revision, SessionState } from './revision.js';

/**
 * Options of anything a session sends (calls, executes, notifications). Sent while handling a
 * request or notification, a message inherits the handler's context (its trace id and deadline, as
 * rinq-go does with the handler's ctx): found by itself in Node, or given as `{ context: req }`.
 */
export interface SendOptions {
  /**
   * Trace id to send with (CorrelationId), overriding the context's. Default: the context's trace id;
   * without a context none (the message is a root; its own id is its trace id).
   */
  traceId?: string;
  /**
   * The request (or notification) whose work this is: its trace id and deadline are inherited.
   * Default: the handler this code runs in (Node); `null`: none (a new root, no inherited deadline).
   */
  context?: BusContext | null;
}

/** Options of a command call. */
export interface CallOptions extends SendOptions {
  /**
   * Deadline for the response, ms, overriding the context's. Default: the handled request's remaining
   * time inside a handler, else BUS_DEFAULT_TIMEOUT_MS (rinq's 5 s).
   */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A notification delivered to a session. */
export interface Notification extends BusContext {
  /** Message id, `<ref>#<seq>` of the sender. */
  readonly id: string;
  /** The trace id (the root request's message id; this notification's id when it is a root). */
  readonly traceId: string;
  /** The sender's revision at the time it sent the notification. */
  readonly source: Revision;
  readonly namespace: string;
  readonly type: string;
  readonly payload: unknown;
  readonly isMulticast: boolean;
  readonly constraint?: Constraint;
}

export type NotificationHandler = (n: Notification, session: Session) => void | Promise<void>;

/** A response to a `callAsync`, delivered to the session's async handler. */
export interface AsyncResponse {
  /** The message id `callAsync` returned. */
  readonly id: string;
  readonly namespace: string;
  readonly command: string;
  /** The success payload (or a failure's payload). */
  readonly payload: unknown;
  /** Set when the call failed (Failure, SERVER_ERROR). */
  readonly error?: PlexusError;
}
export type AsyncResponseHandler = (r: AsyncResponse, session: Session) => void | Promise<void>;

/** What a session needs from its peer (implemented by Peer). */
export interface SessionHost {
  readonly id: string;
  sessionCall(s: Session, ns: string, cmd: string, payload: unknown, opts: CallOptions): Promise<unknown>;
  sessionCallAsync(s: Session, ns: string, cmd: string, payload: unknown, opts: CallOptions): Promise<string>;
  sessionExecute(s: Session, ns: string, cmd: string, payload: unknown, multicast: boolean, opts: SendOptions): Promise<void>;
  sessionNotify(s: Session, ns: string, type: string, target: string, payload: unknown, opts: SendOptions): Promise<void>;
  sessionNotifyMany(s: Session, ns: string, type: string, c: Constraint, payload: unknown, opts: SendOptions): Promise<void>;
  sessionListen(s: Session, ns: string, first: boolean): Promise<void>;
  sessionUnlisten(s: Session, ns: string): Promise<void>;
  sessionGone(s: Session): void;
}

/** A session of this peer. */
export class Session {
  readonly id: string;
  /** Per-peer sequence number (the part after the last '.'). */
  readonly seq: number;
  /** @internal */ readonly state: SessionState;
  /** @internal */ readonly handlers = new Map<string, NotificationHandler>();
  /** @internal */ asyncHandler: AsyncResponseHandler | undefined;
  /** Resolves when the session is destroyed. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly host: SessionHost, seq: number) {
    this.seq = seq;
    this.id = `${host.id}.${seq}`;
    this.done = new Promise((r) => { this.resolveDone = r; });
    this.state = new SessionState(this.id, () => {
      this.resolveDone();
      this.host.sessionGone(this);
    });
  }

  /** True once destroyed. */
  get isDestroyed(): boolean { return this.state.destroyed; }

  /** The latest revision; NOT_FOUND once destroyed. */
  currentRevision(): Revision {
    if (this.state.destroyed) throw notFoundError(this.id);
    return new LocalRevision(this.state, this.state.rev);
  }

  /** @internal next message id from this session's current ref. */
  nextMessageId(): string {
    this.state.msgSeq++;
    return `${this.state.ref()}#${this.state.msgSeq}`;
  }

  private alive(): void { if (this.state.destroyed) throw notFoundError(this.id); }

  /** Call a command on whichever peer serves ns (load-balanced); resolves the response payload. */
  call(ns: string, command: string, payload: unknown = null, opts: CallOptions = {}): Promise<unknown> {
    // not `async`: one promise per call instead of two (errors still come back as rejections)
    try {
      this.alive();
      validateNamespace(ns);
      return this.host.sessionCall(this, ns, command, payload, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Like call, but returns the message id at once; the response goes to `onAsyncResponse`'s handler. */
  async callAsync(ns: string, command: string, payload: unknown = null, opts: CallOptions = {}): Promise<string> {
    this.alive();
    validateNamespace(ns);
    return this.host.sessionCallAsync(this, ns, command, payload, opts);
  }

  /** Set (or with undefined, remove) the handler of callAsync responses. */
  onAsyncResponse(handler: AsyncResponseHandler | undefined): void { this.asyncHandler = handler; }

  /** Send a command without waiting for (or getting) a response; persistent, no deadline (inside a handler: the handler's). */
  async execute(ns: string, command: string, payload: unknown = null, opts: SendOptions = {}): Promise<void> {
    this.alive();
    validateNamespace(ns);
    return this.host.sessionExecute(this, ns, command, payload, false, opts);
  }

  /** Send a command to EVERY peer listening to ns (multicast), without a response. */
  async executeMany(ns: string, command: string, payload: unknown = null, opts: SendOptions = {}): Promise<void> {
    this.alive();
    validateNamespace(ns);
    return this.host.sessionExecute(this, ns, command, payload, true, opts);
  }

  /** Notify one session (by id) that listens to ns. */
  async notify(ns: string, type: string, sessionId: string, payload: unknown = null, opts: SendOptions = {}): Promise<void> {
    this.alive();
    validateNamespace(ns);
    return this.host.sessionNotify(this, ns, type, sessionId, payload, opts);
  }

  /** Notify every session listening to ns whose attributes match the constraint. */
  async notifyMany(ns: string, type: string, constraint: Constraint, payload: unknown = null, opts: SendOptions = {}): Promise<void> {
    this.alive();
    validateNamespace(ns);
    return this.host.sessionNotifyMany(this, ns, type, constraint, payload, opts);
  }

  /** Receive notifications in ns (replaces an earlier handler for ns). */
  async listen(ns: string, handler: NotificationHandler): Promise<void> {
    this.alive();
    validateNamespace(ns);
    const first = !this.handlers.has(ns);
    this.handlers.set(ns, handler);
    await this.host.sessionListen(this, ns, first);
  }

  async unlisten(ns: string): Promise<void> {
    validateNamespace(ns);
    if (!this.handlers.delete(ns)) return;
    await this.host.sessionUnlisten(this, ns);
  }

  /** Destroy the session (regardless of revision); idempotent. */
  destroy(): void { this.state.close(); }
}
