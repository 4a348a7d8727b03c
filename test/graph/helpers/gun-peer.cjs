// A real gun client (gun 0.2020.1241 from npm) driven over stdin/stdout with JSON lines, so each gun
// client of an interop test runs in its own process. Usage: node gun-peer.cjs <peerUrl>
'use strict';
const Gun = require('gun');
const readline = require('node:readline');

const gun = Gun({ peers: [process.argv[2]], radisk: false, localStorage: false, file: false, multicast: false, axe: false });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const strip = (d) => {
  if (d === null || typeof d !== 'object') return d;
  const o = {};
  for (const k of Object.keys(d)) if (k !== '_') o[k] = d[k];
  return o;
};
const at = (path) => path.reduce((ref, k) => ref.get(k), gun);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  const { id, op, path, value } = cmd;
  try {
    if (op === 'put') {
      at(path).put(value, (ack) => out({ id, ack: { ok: ack.ok, err: ack.err } }));
    } else if (op === 'once') {
      let done = false;
      at(path).once((data) => { if (!done) { done = true; out({ id, data: strip(data) }); } }, { wait: cmd.wait ?? 300 });
    } else if (op === 'on') {
      at(path).on((data, key) => out({ event: 'on', sub: id, key, data: strip(data) }));
      out({ id, ok: true });
    } else if (op === 'set') {
      const ref = at(path).set(value, (ack) => out({ id, ack: { ok: ack.ok, err: ack.err }, soul: (ref && ref._ && (ref._.soul || ref._.link)) || null }));
    } else if (op === 'map') {
      const items = {};
      at(path).map().once((data, key) => { items[key] = strip(data); });
      setTimeout(() => out({ id, items }), cmd.wait ?? 1000);
    } else if (op === 'bench-put') {
      // fire n single-field puts at once; report when all are acked (or after 60 s with the count)
      const t0 = Date.now();
      let acked = 0, done = false;
      const finish = () => { if (!done) { done = true; out({ id, acked, ms: Date.now() - t0 }); } };
      const ref = gun.get(cmd.soul);
      for (let i = 0; i < cmd.n; i++) ref.get('f' + i).put(i, () => { if (++acked === cmd.n) finish(); });
      setTimeout(finish, cmd.timeoutMs ?? 60000);
    } else if (op === 'bench-flow') {
      // closed loop for `ms` ms: at most `inflight` unacked puts at a time, then stop issuing and wait for
      // the rest (drain); put i writes node `${prefix}${i}` as {text: `size` chars, n: i, by: prefix}
      // (shape 'field': field `f${i}` of node `${prefix}` as the text).
      // Reports acked, errors, the time from start to drained, and ack latencies (first ack of each put).
      const t0 = Date.now();
      const text = 'x'.repeat(cmd.size ?? 64);
      const lat = [];
      let started = 0, finished = 0, acked = 0, errs = 0, done = false, stop = false;
      const finish = () => {
        if (done) return;
        done = true;
        lat.sort((a, b) => a - b);
        const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
        out({ id, acked, errs, lost: started - finished, ms: Date.now() - t0, p50: q(0.5), p99: q(0.99), max: lat.length ? lat[lat.length - 1] : null });
      };
      const next = () => {
        if (stop && finished === started) return finish();
        while (!done && !stop && started - finished < cmd.inflight) {
          const i = started++, s = process.hrtime.bigint();
          let first = true;
          const ref = cmd.shape === 'field' ? gun.get(cmd.prefix).get('f' + i) : gun.get(cmd.prefix + i);
          ref.put(cmd.shape === 'field' ? text : { text, n: i, by: cmd.prefix }, (ack) => {
            if (!first || done) return;
            first = false;
            finished++;
            if (ack && ack.err) errs++; else { acked++; lat.push(Number(process.hrtime.bigint() - s) / 1e6); }
            next();
          });
        }
      };
      next();
      setTimeout(() => { stop = true; if (finished === started) finish(); }, cmd.ms);
      setTimeout(finish, cmd.ms + (cmd.drainMs ?? 30000));
    } else if (op === 'bench-read-flow') {
      // closed loop for `ms` ms: at most `inflight` `once` reads in flight, each of a node this process has
      // not read before (so gun's client cache never answers: every read goes to the relay). Read i asks
      // for node `${prefix}${pool[(offset + i * 7919) % pool.length]}`; it counts as answered only when
      // the data comes back with that node's `n`. Stops issuing when the pool is used up (`exhausted`).
      // Reports answered, missed (no or wrong data), lost (no callback in drainMs), time, latency (once to callback).
      const t0 = Date.now();
      const pool = cmd.pool, lat = [];
      let started = 0, finished = 0, answered = 0, missed = 0, done = false, stop = false, exhausted = false;
      const finish = () => {
        if (done) return;
        done = true;
        lat.sort((a, b) => a - b);
        const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
        out({ id, answered, missed, lost: started - finished, exhausted, ms: Date.now() - t0, p50: q(0.5), p99: q(0.99) });
      };
      const next = () => {
        if (stop && finished === started) return finish();
        while (!done && !stop && started - finished < cmd.inflight) {
          if (started >= pool.length) { exhausted = true; stop = true; if (finished === started) finish(); return; }
          const n = pool[(cmd.offset + started * 7919) % pool.length];
          started++;
          const s = process.hrtime.bigint();
          let first = true;
          gun.get(cmd.prefix + n).once((data) => {
            if (!first || done) return;
            first = false;
            finished++;
            if (data && data.n === n) { answered++; lat.push(Number(process.hrtime.bigint() - s) / 1e6); } else missed++;
            next();
          }, { wait: cmd.wait ?? 0 });
        }
      };
      next();
      setTimeout(() => { stop = true; if (finished === started) finish(); }, cmd.ms);
      setTimeout(finish, cmd.ms + (cmd.drainMs ?? 30000));
    } else if (op === 'bench-nodes' || op === 'bench-read') {
      // write n distinct small nodes `${prefix}${start + i}` (or read with once n of `${prefix}${start}`..`${prefix}${start + of - 1}`), at most `inflight` at a time
      const t0 = Date.now();
      let started = 0, finished = 0, ok = 0, done = false;
      const acked = op === 'bench-nodes' && cmd.listAcked ? [] : null;
      const finish = () => { if (!done) { done = true; out({ id, ok, ms: Date.now() - t0, ...(acked ? { acked } : {}) }); } };
      const next = () => {
        while (!done && started < cmd.n && started - finished < cmd.inflight) {
          const i = started++;
          let first = true;
          const cb = (x) => {
            if (!first || done) return;
            first = false;
            finished++;
            if (op === 'bench-nodes' ? !x.err : x && x.n !== undefined) { ok++; if (acked) acked.push(cmd.start + i); }
            if (finished === cmd.n) finish(); else next();
          };
          if (op === 'bench-nodes') gun.get(cmd.prefix + (cmd.start + i)).put({ name: 'item ' + (cmd.start + i), n: cmd.start + i, tag: 'bench' }, cb);
          else gun.get(cmd.prefix + (cmd.start + ((i * 7919) % cmd.of))).once(cb, { wait: 0 });
        }
      };
      next();
      setTimeout(finish, cmd.timeoutMs);
    } else if (op === 'exit') {
      out({ id, ok: true });
      setTimeout(() => process.exit(0), 10);
    }
  } catch (err) {
    out({ id, error: String(err && err.stack || err) });
  }
});
out({ ready: true });
