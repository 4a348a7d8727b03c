// Load generator for bench/ledger.ts (a separate process, so the hub under test has its own core):
// CLIENTS WebSocket hub clients on URL, each keeping INFLIGHT evt.pub requests in flight for MS ms.
// Prints one JSON line: { published, errors, ms, perClient }.
import WebSocket from 'ws';

const [url, clients = '1', inflight = '64', ms = '3000', tag = 'x'] = process.argv.slice(2);
const C = Number(clients), K = Number(inflight), MS = Number(ms);
let published = 0, errors = 0, stop = false;
const perClient = [];
async function one(c) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  let seq = 0, mine = 0, open = 0;
  let finish;
  const done = new Promise((r) => { finish = r; });
  const send = () => { const i = ++seq; open++; ws.send(`evt.pub#${i}\n{"acts":[{"top":"bench.item","key":"${tag}-${c}-${i}","cmd":"new","arg":{"name":"item ${i}","n":${i},"tags":["a","b"]}}]}`); };
  ws.on('message', (d) => {
    const s = d.toString();
    if (!s.startsWith('evt.pub')) return;
    open--;
    if (s.includes('{"res"')) { published++; mine++; } else errors++;
    if (!stop) send(); else if (open === 0) finish();
  });
  for (let i = 0; i < K; i++) send();
  await done;
  perClient.push(mine);
  ws.close();
}
const t0 = performance.now();
setTimeout(() => { stop = true; }, MS);
await Promise.all(Array.from({ length: C }, (_, c) => one(c)));
process.stdout.write(JSON.stringify({ published, errors, ms: performance.now() - t0, perClient }) + '\n');
