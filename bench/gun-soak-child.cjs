// One process hosting several real gun clients (npm gun 0.2020.1241) for bench/server.ts's soak
// (PLEXUS_BENCH_GUN=gun). Usage: node gun-soak-child.cjs <peerUrl> <firstClient> <count> <seconds> <rate>
// Each client puts one field of its own node `bench/g<n>` every 1/rate s and waits for the ack; every
// 5th round it reads the next client's node with once(). At the end it prints one JSON line:
// { acked: { soul: { field: value } }, put: [ms...], get: [ms...], errors: [...] }.
'use strict';
const Gun = require('gun');

const [url, first, count, seconds, rate] = [process.argv[2], ...process.argv.slice(3, 7).map(Number)];
const ACK_TIMEOUT_MS = 10_000;
const end = Date.now() + seconds * 1000;
const acked = {}, put = [], get = [], errors = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function putField(gun, soul, field, value) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`gun put ${soul}.${field}: no ack in ${ACK_TIMEOUT_MS} ms`)), ACK_TIMEOUT_MS);
    gun.get(soul).put({ [field]: value }, (ack) => {
      clearTimeout(t);
      if (ack.err) reject(new Error(`gun put refused: ${ack.err}`)); else resolve();
    });
  });
}

function once(gun, soul) {
  return new Promise((resolve) => gun.get(soul).once((d) => resolve(d)));
}

async function client(n) {
  const gun = Gun({ peers: [url], radisk: false, localStorage: false, file: false, multicast: false, axe: false });
  const soul = `bench/g${n}`, next = `bench/g${n + 1 < first + count ? n + 1 : first}`;
  acked[soul] = {};
  await sleep(Math.random() * 1000 / rate);
  for (let k = 1; Date.now() < end; k++) {
    const t = performance.now();
    try {
      await putField(gun, soul, `f${k}`, k);
      put.push(performance.now() - t);
      acked[soul][`f${k}`] = k;
      if (k % 5 === 0) {
        const g0 = performance.now();
        await once(gun, next);
        get.push(performance.now() - g0);
      }
    } catch (e) {
      errors.push(e.message);
    }
    const wait = 1000 / rate - (performance.now() - t);
    if (wait > 0) await sleep(wait);
  }
}

Promise.all(Array.from({ length: count }, (_, i) => client(first + i))).then(() => {
  process.stdout.write(JSON.stringify({ acked, put, get, errors }) + '\n', () => process.exit(0));
});
