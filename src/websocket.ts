/**
 * The part of the WebSocket API plexus's browser-capable clients (graph, ledger hub) use: the browser's
 * WebSocket and `ws` both fit, and so does an in-process link. Types only. Like errors.ts and limits.ts,
 * a root file every module may import.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<unknown> | null;
  onerror: Handler<unknown> | null;
}

/**
 * An event handler property. Declared through a method so its parameter is compared bivariantly:
 * `ws`'s handlers take its own event types, which a plain function type would refuse.
 */
type Handler<E> = { bivarianceHack(ev: E): void }['bivarianceHack'];

/** A WebSocket constructor (`globalThis.WebSocket`, or `WebSocket` from 'ws'). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;
