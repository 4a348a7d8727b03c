import WebSocket from 'ws';

/** A raw WebSocket that queues the text frames it receives (gun heartbeats `[]` and `dam` handshakes skipped). */
export async function rawSocket(url: string): Promise<{ ws: WebSocket; next(ms?: number): Promise<string>; send(s: string): void; close(): void }> {
  const ws = new WebSocket(url);
  const q: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  ws.on('message', (d) => { const s = d.toString(); if (s === '[]' || s.includes('"dam"')) return; const w = waiters.shift(); if (w) w(s); else q.push(s); });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  return {
    ws,
    send: (s) => ws.send(s),
    close: () => ws.close(),
    next: (ms = 10_000) => q.length ? Promise.resolve(q.shift()!) : new Promise((r, j) => { const t = setTimeout(() => j(new Error('no frame')), ms); waiters.push((s) => { clearTimeout(t); r(s); }); }),
  };
}

/** Text for property tests: arbitrary UTF-16 (lone surrogates included), graphemes, and edge strings. */
export const EDGE_STRINGS = ['', ' ', '__proto__', 'constructor', 'toString', '\u0000', '\u2028\u2029', '<>&', '"\\', '😀', 'e\u0301', '\ud800', '\udfff', '\ufeff', '\uffff'];

/** A raw WebSocket keeping every text frame: `next(pred)` resolves with the first matching one (seen or still to come). */
export async function frameSocket(url: string, options: WebSocket.ClientOptions = {}, defaultMs = 3000): Promise<{ ws: WebSocket; frames: string[]; closed: Promise<number>; next(pred: (f: string) => boolean, ms?: number): Promise<string> }> {
  const ws = new WebSocket(url, options);
  const frames: string[] = [];
  const waiters: { pred: (f: string) => boolean; resolve(f: string): void }[] = [];
  ws.on('message', (m) => {
    const f = m.toString();
    frames.push(f);
    for (const w of [...waiters]) if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(f); }
  });
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return {
    ws, frames, closed,
    next(pred, ms = defaultMs) {
      const found = frames.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching frame in ${ms} ms; got ${JSON.stringify(frames)}`)), ms);
        waiters.push({ pred, resolve: (f) => { clearTimeout(t); resolve(f); } });
      });
    },
  };
}
