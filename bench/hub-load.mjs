// Load generator for bench/ledger.ts, run as its own process so the hub under test keeps its core.
// Prints one JSON line with what it measured.
//   pub URL CLIENTS INFLIGHT MS TAG   CLIENTS hub clients each keeping INFLIGHT evt.pub in flight for MS ms
//   lat URL SUBS RATE MS              SUBS subscribers of bench.lat + one publisher at RATE/s for MS ms;
//                                     latency = push arrival - publish send (performance.timeOrigin clock)
//   catchup URL FROM_ID LIVE_RATE N   one subscriber asks for everything since zero (topic bench.item) while
//                                     a publisher adds LIVE_RATE events/s; checks that the N ids from FROM_ID and the live ones
//                                     arrive once each, in order
import WebSocket from 'ws';

const [mode, url, ...args] = process.argv.slice(2);
const clock = () => performance.timeOrigin + performance.now();
const open = async () => {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  return ws;
};
const pct = (xs, p) => { if (!xs.length) return NaN; const s = Float64Array.from(xs).sort(); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (mode === 'pub') {
  const [clients, inflight, ms, tag] = args;
  const C = Number(clients), K = Number(inflight), MS = Number(ms);
  let published = 0, errors = 0, stop = false;
  const perClient = [];
  const one = async (c) => {
    const ws = await open();
    let seq = 0, mine = 0, pending = 0, finish;
    const done = new Promise((r) => { finish = r; });
    // replies that arrive together are answered with one write (a pipelining client's buffered writer)
    let corked = false;
    const send = () => {
      if (!corked) { corked = true; ws._socket.cork(); process.nextTick(() => { corked = false; ws._socket.uncork(); }); }
      const i = ++seq; pending++; ws.send(`evt.pub#${i}\n{"acts":[{"top":"bench.item","key":"${tag}-${c}-${i}","cmd":"new","arg":{"name":"item ${i}","n":${i},"tags":["a","b"]}}]}`);
    };
    ws.on('message', (d) => {
      const s = d.toString();
      if (!s.startsWith('evt.pub')) return;
      pending--;
      if (s.includes('{"res"')) { published++; mine++; } else errors++;
      if (!stop) send(); else if (pending === 0) finish();
    });
    await start;
    for (let i = 0; i < K; i++) send();
    await done;
    perClient.push(mine);
    ws.close();
  };
  let go;
  const start = new Promise((r) => { go = r; });
  const all = Array.from({ length: C }, (_, c) => one(c));
  await new Promise((r) => setTimeout(r, 200)); // every connection open
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  go();
  setTimeout(() => { stop = true; }, MS);
  await Promise.all(all);
  const cpu = process.cpuUsage(), run = process.cpuUsage(c0);
  // clientCpuMs: the whole process (start-up included); runCpuMs: from the start signal to the last reply
  out({ published, errors, ms: performance.now() - t0, perClient, clientCpuMs: (cpu.user + cpu.system) / 1000, runCpuMs: (run.user + run.system) / 1000 });
} else if (mode === 'lat') {
  const [subs, rate, ms] = args.map(Number);
  const lat = [];
  const socks = [];
  for (let i = 0; i < subs; i++) {
    const ws = await open();
    await new Promise((r) => { ws.once('message', r); ws.send('evt.sub#1\n{"tops":["bench.lat"]}'); });
    ws.on('message', (d) => {
      const s = d.toString();
      if (!s.startsWith('evt.update')) return;
      const at = clock();
      for (let k = s.indexOf('"t":'); k >= 0; k = s.indexOf('"t":', k + 4)) lat.push(at - parseFloat(s.slice(k + 4, k + 30)));
    });
    socks.push(ws);
  }
  const pub = await open();
  pub.on('message', () => {});
  const n = Math.round(rate * ms / 1000);
  const tag = Math.random().toString(36).slice(2, 8);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pub.send(`evt.pub#${i}\n{"acts":[{"top":"bench.lat","key":"${tag}-${i}","cmd":"new","arg":{"t":${clock()}}}]}`);
  }
  const end = Date.now();
  while (lat.length < n * subs && Date.now() - end < 10_000) await new Promise((r) => setTimeout(r, 20));
  out({ publishes: n, deliveries: lat.length, expected: n * subs, p50: pct(lat, 50), p99: pct(lat, 99), max: lat.length ? Math.max(...lat) : NaN });
  for (const s of [...socks, pub]) s.terminate();
} else if (mode === 'catchup') {
  const [fromId, liveRate] = args.map(Number);
  const ws = await open();
  const pub = await open();
  pub.on('message', () => {});
  const catchupTotal = Number(args[2]);
  let expect = fromId, got = 0, bad = 0, dup = 0, gap = 0, lastAt = 0, live = 0, stopLive = false;
  const t0 = performance.now();
  let caughtUpAt = 0;
  const liveIds = [];
  ws.on('message', (d) => {
    const s = d.toString();
    if (!s.startsWith('evt.sub') && !s.startsWith('evt.update')) return;
    // ids in order: every "id": of this frame
    for (let k = s.indexOf('{"id":'); k >= 0; k = s.indexOf('{"id":', k + 6)) {
      const id = parseInt(s.slice(k + 6, k + 26), 10);
      if (id === expect) expect++;
      else if (id < expect) dup++;
      else { gap++; expect = id + 1; }
      got++;
    }
    lastAt = performance.now();
    if (!caughtUpAt && expect >= fromId + catchupTotal) caughtUpAt = lastAt;
  });
  ws.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["bench.item"]}');
  // live publishes while the catch-up streams
  const liveLoop = (async () => {
    const t1 = performance.now();
    for (let i = 0; !stopLive; i++) {
      const due = t1 + (i * 1000) / liveRate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (stopLive) break;
      pub.send(`evt.pub#${i}\n{"acts":[{"top":"bench.item","key":"live-${i}","cmd":"new","arg":{"i":${i}}}]}`);
      live++;
    }
  })();
  while (!caughtUpAt && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 20));
  stopLive = true;
  await liveLoop;
  // every live publish must arrive too
  const want = fromId + catchupTotal + live;
  const t2 = performance.now();
  while (expect < want && performance.now() - t2 < 10_000) await new Promise((r) => setTimeout(r, 20));
  out({ events: got, catchupMs: caughtUpAt - t0, perSec: catchupTotal / ((caughtUpAt - t0) / 1000), live, dup, gap, complete: expect === want && dup === 0 && gap === 0 });
  ws.terminate(); pub.terminate();
} else {
  process.stderr.write('usage: hub-load.mjs pub|lat|catchup URL ...\n');
  process.exit(2);
}
