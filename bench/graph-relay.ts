// The plexus relay of bench/graph.ts and bench/graph-idle.ts: a server with only the graph mount (the build in
// dist/, see bench/plexus.ts), SQLite store in <dataDir>; prints {"url": ...} once listening.
// Usage: node --import tsx bench/graph-relay.ts <dataDir>
// PLEXUS_SERVE_ELD=1: on SIGUSR2 print {"eld": {p50, p99, max, mean, gcs, gcMs, gcMaxMs}} (the event loop's delay
// in ms since the last SIGUSR2, perf_hooks.monitorEventLoopDelay at 1 ms resolution, and the GC pauses of the main
// thread in that time) and start over.
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { graphMount, startServer } from './plexus.js';

const s = await startServer({ port: 0, dataDir: process.argv[2]!, logLevel: 'silent', mounts: [graphMount] });
if (process.env.PLEXUS_SERVE_ELD === '1') {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const gc = { n: 0, ms: 0, max: 0 };
  new PerformanceObserver((list) => { for (const e of list.getEntries()) { gc.n++; gc.ms += e.duration; gc.max = Math.max(gc.max, e.duration); } }).observe({ entryTypes: ['gc'] });
  process.on('SIGUSR2', () => {
    process.stdout.write(JSON.stringify({ eld: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean), gcs: gc.n, gcMs: r2(gc.ms), gcMaxMs: r2(gc.max) } }) + '\n');
    h.reset();
    Object.assign(gc, { n: 0, ms: 0, max: 0 });
  });
}
process.stdout.write(JSON.stringify({ url: s.url }) + '\n');
