import WebSocket from 'ws';

/**
 * A WebSocket client that stops reading on demand: `stall()` pauses its TCP socket, so the server's
 * writes fill the kernel buffers and then pile up in the server (a hostile or stuck reader).
 */
export async function stalledSocket(url: string): Promise<{ ws: WebSocket; frames: string[]; stall(): void; next(pred: (f: string) => boolean, ms?: number): Promise<string> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const frames: string[] = [];
  const waiters: { pred: (f: string) => boolean; resolve(f: string): void }[] = [];
  ws.on('message', (m) => {
    const f = m.toString();
    frames.push(f);
    for (const w of [...waiters]) if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(f); }
  });
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return {
    ws, frames,
    stall: () => (ws as unknown as { _socket: { pause(): void; removeAllListeners(e: string): void } })._socket.pause(),
    next(pred, ms = 5000) {
      const found = frames.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching frame in ${ms} ms`)), ms);
        waiters.push({ pred, resolve: (f) => { clearTimeout(t); resolve(f); } });
      });
    },
  };
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
