import type WebSocket from 'ws';
import { frameSocket } from './ws-raw.js';

/**
 * A WebSocket client that stops reading on demand: `stall()` pauses its TCP socket, so the server's
 * writes fill the kernel buffers and then pile up in the server (a hostile or stuck reader).
 */
export async function stalledSocket(url: string): Promise<{ ws: WebSocket; frames: string[]; stall(): void; next(pred: (f: string) => boolean, ms?: number): Promise<string> }> {
  const s = await frameSocket(url, { perMessageDeflate: false }, 5000);
  s.ws.on('error', () => {});
  return { ...s, stall: () => (s.ws as unknown as { _socket: { pause(): void } })._socket.pause() };
}

/**
 * README's runtime slack (MiB): RSS a flood adds beyond what the limits let the server hold (garbage V8
 * has not collected yet, freed memory the allocator keeps); the memory tests bound growth by
 * what the limits allow plus this.
 */
export const RUNTIME_SLACK_MIB = 192;

/** Sample a child's RSS every 50 ms; `stop()` gives the peak seen (MiB). */
export function rssPeak(rss: () => number): { stop(): number } {
  let peak = rss();
  const t = setInterval(() => { try { peak = Math.max(peak, rss()); } catch { /* exited */ } }, 50);
  return { stop: () => { clearInterval(t); try { peak = Math.max(peak, rss()); } catch { /* exited */ } return peak; } };
}
