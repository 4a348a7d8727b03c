// A real gun + SEA client (gun 0.2020.1241 from npm) driven over stdin/stdout with JSON lines, so each
// "device" of a SEA interop test is its own process. Usage: node gun-sea-peer.cjs <peerUrl>
'use strict';
const Gun = require('gun');
require('gun/sea');
const SEA = Gun.SEA;
const readline = require('node:readline');

// SEA logs chatter (certify banner, verify failures) on stdout; keep stdout for the protocol
const out = (o) => process.stdout.write('\u0001' + JSON.stringify(o) + '\n');
console.log = (...a) => process.stderr.write(a.map(String).join(' ') + '\n');

const gun = Gun({ peers: [process.argv[2]], radisk: false, localStorage: false, file: false, multicast: false, axe: false });
const user = gun.user();
const strip = (d) => {
  if (d === null || typeof d !== 'object') return d;
  const o = {};
  for (const k of Object.keys(d)) if (k !== '_') o[k] = d[k];
  return o;
};
const at = (ref, path) => path.reduce((r, k) => r.get(k), ref);
const once = (ref, wait, cb) => { let done = false; ref.once((data) => { if (!done) { done = true; cb(strip(data)); } }, { wait: wait ?? 500 }); };

const ops = {
  // account
  create: (c, reply) => user.create(c.alias, c.pass, (ack) => reply({ ack: { ok: ack.ok, err: ack.err, pub: ack.pub } })),
  auth: (c, reply) => user.auth(c.alias, c.pass, (ack) => reply({ err: ack.err, pub: (user.is || {}).pub })),
  pair: async (c, reply) => reply({ pair: await SEA.pair() }),
  me: (c, reply) => reply({ pub: (user.is || {}).pub, pair: user._.sea }),
  // the logged-in user's graph
  uput: (c, reply) => at(user, c.path).put(c.value, (ack) => reply({ ack: { ok: ack.ok, err: ack.err } })),
  uset: (c, reply) => { const ref = at(user, c.path).set(c.value, (ack) => reply({ ack: { ok: ack.ok, err: ack.err }, soul: (ref && ref._ && (ref._.soul || ref._.link)) || null })); },
  umap: (c, reply) => { const items = {}; at(user, c.path).map().once((d, k) => { items[k] = strip(d); }); setTimeout(() => reply({ items }), c.wait ?? 1000); },
  pubmap: (c, reply) => { const items = {}; at(gun.user(c.pub), c.path).map().once((d, k) => { items[k] = strip(d); }); setTimeout(() => reply({ items }), c.wait ?? 1000); },
  uonce: (c, reply) => once(at(user, c.path), c.wait, (data) => reply({ data })),
  // anyone's graph, read without logging in
  gonce: (c, reply) => once(at(gun, c.path), c.wait, (data) => reply({ data })),
  pubonce: (c, reply) => once(at(gun.user(c.pub), c.path), c.wait, (data) => reply({ data })),
  // certificates: the logged-in user certifies `to` for `policy`; a writer puts into `owner`'s graph with one
  certify: async (c, reply) => reply({ cert: await SEA.certify(c.to, c.policy, user._.sea, null, c.expiry ? { expiry: c.expiry } : {}) }),
  certput: (c, reply) => at(gun.user(c.owner), c.path).put(c.value, (ack) => reply({ ack: { ok: ack.ok, err: ack.err } }), { opt: { cert: c.cert } }),
  // raw SEA for forged frames: sign gun's text {"#","." ,":",">"} with `pair` (as gun's client does), or any data
  signfield: async (c, reply) => {
    const sig = await SEA.sign({ '#': c.soul, '.': c.key, ':': c.value, '>': c.state }, c.pair, null, { raw: 1 });
    const v = { ':': c.value, '~': sig.s };
    if (c.signer) v['*'] = c.signer;
    if (c.cert) v['+'] = await SEA.opt.parse(c.cert);
    reply({ value: JSON.stringify(v) });
  },
  certifywith: async (c, reply) => reply({ cert: await SEA.certify(c.to, c.policy, c.pair, null, c.expiry ? { expiry: c.expiry } : {}) }),
  work: async (c, reply) => reply({ hash: await SEA.work(c.data, null, null, { name: 'SHA-256' }) }),
};

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  const reply = (o) => out({ id: cmd.id, ...o });
  try {
    const op = ops[cmd.op];
    if (!op) return reply({ error: `unknown op ${cmd.op}` });
    Promise.resolve(op(cmd, reply)).catch((err) => reply({ error: String(err && err.stack || err) }));
  } catch (err) {
    reply({ error: String(err && err.stack || err) });
  }
});
out({ ready: true });
