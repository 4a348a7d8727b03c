// A fixed single-threaded workload whose time says how fast this machine's cores are right now, so runs on
// different machines (or one machine under other jobs' load) can be compared: JSON round trips, SHA-256 of
// 1 KiB, string and integer work, about what a relay or hub does per message. Prints {"cpuRefMs": N}, the
// best of three runs (lower is faster). bench/run.ts runs it before and after the benches.
import { createHash } from 'node:crypto';

function once() {
  const t0 = performance.now();
  let b = Buffer.alloc(1024, 1);
  for (let i = 0; i < 100_000; i++) b = Buffer.concat([createHash('sha256').update(b).digest(), b.subarray(32)]);
  let s = 0;
  for (let i = 0; i < 20_000_000; i++) s = (s + (i % 7) * 31) | 0;
  let n = 0;
  for (let i = 0; i < 150_000; i++) n += JSON.parse(JSON.stringify({ id: i, text: `item ${i}`, tags: ['a', 'b'], at: { x: i * 1.5 } })).id;
  if (s === 42 && n === 42) console.log(''); // keep the work observable
  return performance.now() - t0;
}

const best = Math.min(once(), once(), once());
process.stdout.write(JSON.stringify({ cpuRefMs: Math.round(best) }) + '\n');
