/**
 * The context of the request (or notification) being handled, as rinq-go's handler `ctx`: the calls,
 * executes, notifications and revision operations made while handling it inherit its trace id
 * (CorrelationId) and deadline. Where the current handler's context is kept across awaits is pluggable
 * (`setContextStore`): in Node it is an AsyncLocalStorage (context-node.ts, installed by the package's
 * entry point); elsewhere pass it explicitly with `{ context: req }`. This file is runtime-neutral.
 */

/** What work done for a request inherits from it. A handler's `req` (and a notification) is one. */
export interface BusContext {
  /** The trace id: the root request's message id. */
  readonly traceId: string;
  /** The handled request's deadline (ms since the epoch); undefined when it has none. */
  readonly deadline?: number | undefined;
}

/** Keeps the current handler's context across asynchronous continuations. */
export interface ContextStore {
  run<T>(ctx: BusContext, f: () => T): T;
  get(): BusContext | undefined;
}

let store: ContextStore | undefined;

/** Install (or with undefined, remove) the store of handler contexts. */
export function setContextStore(s: ContextStore | undefined): void { store = s; }

/** The installed store (undefined when none is). */
export function contextStore(): ContextStore | undefined { return store; }

/** The context of the handler this code runs for, if a store is installed and there is one. */
export function currentContext(): BusContext | undefined { return store?.get(); }

/** Run a handler in its context. */
export function runInContext<T>(ctx: BusContext, f: () => T): T { return store ? store.run(ctx, f) : f(); }

/** The context a send uses: `explicit` when given (null: none, a new root), else the current one. */
export function contextOf(explicit: BusContext | null | undefined): BusContext | undefined {
  return explicit === undefined ? store?.get() : explicit ?? undefined;
}
