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
