// The floor of bench/graph.ts's ack latency: a WebSocket endpoint that acks every gun put at once and stores
// nothing (no HAM, no disk, no forwarding). Its ack p50 with the same gun clients is the lowest any relay can
// reach on this machine at that load: what is left is the gun clients' own cost and the loopback round trip.
// Not a relay (gets are never answered); a reference line of the bench only.
// Usage: node --import tsx bench/ack-floor-relay.ts   prints {"url": ...} once listening
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
let seq = 0;
wss.on('connection', (ws) => {
  let acks: string[] = [];
  // the acks of one turn go out as one frame, as a relay's batched replies would
  const flush = () => { const a = acks; acks = []; ws.send(a.length === 1 ? a[0]! : `[${a.join(',')}]`); };
  ws.on('message', (data) => {
    let v: unknown;
    try { v = JSON.parse(data.toString()); } catch { return; }
    for (const m of (Array.isArray(v) ? v : [v]) as Record<string, unknown>[]) {
      if (!m || typeof m !== 'object' || !m.put || typeof m['#'] !== 'string') continue;
      if (acks.length === 0) setImmediate(flush);
      acks.push(`{"#":"f${(seq++).toString(36)}","@":${JSON.stringify(m['#'])},"ok":1}`);
    }
  });
});
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` }) + '\n');
});
