/**
 * The part of the WebSocket API plexus's browser-capable clients (graph, ledger hub) use: the browser's
 * WebSocket and `ws` both fit, and so does an in-process link. Types only. Like errors.ts and limits.ts,
 * a root file every module may import.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** A WebSocket constructor (`globalThis.WebSocket`, or `WebSocket` from 'ws'). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;
