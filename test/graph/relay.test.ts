import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createGraphMount, graphMount } from '../../src/server/graph.js';
import { GRAPH_MAX_REPLY_FRAME_BYTES } from '../../src/limits.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually } from './helpers/gun.js';

type Msg = Record<string, any>;

/** A raw WebSocket probe: collects every message (array frames flattened) and raw frames. */
class Probe {
  ws: WebSocket;
  msgs: Msg[] = [];
  frames: string[] = [];
  closed = false;
  constructor(url: string) {
    this.ws = new WebSocket(url.replace(/^http/, 'ws'));
    this.ws.on('message', (d) => {
      const t = d.toString();
      this.frames.push(t);
      const v = JSON.parse(t);
      for (const m of Array.isArray(v) ? v : [v]) this.msgs.push(m);
    });
    this.ws.on('close', () => { this.closed = true; });
    this.ws.on('error', () => {});
  }
  open() { return new Promise<void>((r, j) => { this.ws.once('open', () => r()); this.ws.once('error', j); }); }
  send(v: unknown) { this.ws.send(typeof v === 'string' ? v : JSON.stringify(v)); }
  reply(id: string, timeoutMs = 5000) { return eventually(() => this.msgs.find((m) => m['@'] === id), timeoutMs, `reply to ${id}`); }
  replies(id: string) { return this.msgs.filter((m) => m['@'] === id); }
  close() { this.ws.terminate(); }
}

const node = (soul: string, fields: Record<string, unknown>, state: number) => ({ _: { '#': soul, '>': Object.fromEntries(Object.keys(fields).map((k) => [k, state])) }, ...fields });

describe('graph relay over raw WebSocket', () => {
  let server: PlexusServer;
  const dir = tmpDir();
  const probes: Probe[] = [];
  const probe = async () => { const p = new Probe(`${server.url}/gun`); probes.push(p); await p.open(); return p; };

  before(async () => { server = await startServer({ port: 0, dataDir: dir.path, logLevel: 'silent', mounts: [createGraphMount({ heartbeatMs: 100 })] }); });
  after(async () => { for (const p of probes) p.close(); await server.close(); dir.rm(); });

  it('greets with dam "?" and a pid, answers a dam "?", sends the [] heartbeat', async () => {
    const p = await probe();
    const hi = await eventually(() => p.msgs.find((m) => m.dam === '?'));
    assert.equal(typeof hi.pid, 'string');
    p.send({ '#': 'q1', dam: '?', pid: 'probe1' });
    const r = await p.reply('q1');
    assert.equal(r.dam, '?');
    await eventually(() => p.frames.includes('[]'), 2000, 'heartbeat');
  });

  it('acks puts once durable (also when nothing changed, Q21), answers gets with data or not-found', async () => {
    const p = await probe();
    const t = Date.now();
    p.send({ '#': 'p1', put: { r1: node('r1', { a: 1, b: 'x' }, t) } });
    assert.equal((await p.reply('p1')).ok, true);
    p.send({ '#': 'p2', put: { r1: node('r1', { a: 1 }, t) } });
    assert.equal((await p.reply('p2')).ok, true);
    p.send({ '#': 'g1', get: { '#': 'r1' } });
    assert.deepEqual((await p.reply('g1')).put, { r1: node('r1', { a: 1, b: 'x' }, t) });
    p.send({ '#': 'g2', get: { '#': 'r1', '.': 'b' } });
    assert.deepEqual((await p.reply('g2')).put, { r1: node('r1', { b: 'x' }, t) });
    p.send([{ '#': 'g3', get: { '#': 'nope' } }, { '#': 'g4', get: { '#': 'r1', '.': 'zz' } }]);
    const [n1, n2] = [await p.reply('g3'), await p.reply('g4')];
    assert.deepEqual(Object.keys(n1).sort(), ['#', '@']);
    assert.deepEqual(Object.keys(n2).sort(), ['#', '@']);
    assert.ok(!p.msgs.some((m) => 'FOO' in m));
  });

  it('acks carry the put id exactly, also ids with quotes, backslashes and unicode (acks are built as text)', async () => {
    const p = await probe();
    const ids = ['a"b\\c', 'ü\u2028é', '</script>', '12345'];
    p.send(ids.map((id, i) => ({ '#': id, put: { [`q${i}`]: node(`q${i}`, { a: i }, Date.now()) } })));
    for (const id of ids) {
      const r = await p.reply(id);
      assert.equal(r.ok, true);
      assert.equal(typeof r['#'], 'string');
      assert.notEqual(r['#'], id);
    }
  });

  it('answers (built as text from the stored JSON) carry awkward souls, fields, values and states exactly', async () => {
    const p = await probe();
    const soul = 'aw"k\\ü😀\u2028</script>';
    const t = Date.now() - 1000 + 0.017;
    const fields = { plain: 'x "q" \\ \u2028 😀', __proto__x: 1e21, 'q"uote\n': null, rel: { '#': 'other' }, no: false, neg: -0.5 };
    const sent = node(soul, fields, t);
    // a `__proto__` field too: JSON.parse makes it an own key, as the reply's JSON.parse does
    const put = JSON.parse(JSON.stringify({ [soul]: sent }).replace('"__proto__x"', '"__proto__"').replace('"__proto__x"', '"__proto__"'));
    p.send(JSON.stringify({ '#': 'aw1', put }));
    assert.equal((await p.reply('aw1')).ok, true);
    const r = await probe();
    r.send([{ '#': 'aw2', get: { '#': soul } }, { '#': 'aw3', get: { '#': soul, '.': 'q"uote\n' } }, { '#': 'aw4', get: { '#': soul, '.': '__proto__' } }]);
    assert.deepEqual((await r.reply('aw2')).put, put);
    assert.deepEqual((await r.reply('aw3')).put, { [soul]: { _: { '#': soul, '>': { 'q"uote\n': t } }, 'q"uote\n': null } });
    assert.deepEqual((await r.reply('aw4')).put, JSON.parse(`{${JSON.stringify(soul)}:{"_":{"#":${JSON.stringify(soul)},">":{"__proto__":${t}}},"__proto__":1e21}}`));
  });

  it('a batch that writes new and existing nodes resolves each field against what is stored', async () => {
    const p = await probe();
    const t = Date.now() - 1000;
    p.send({ '#': 'ne1', put: { ne: node('ne', { a: 'old' }, t) } });
    await p.reply('ne1');
    // one frame: an older write to the stored field (loses), a new field of the stored node, a brand-new node
    p.send([
      { '#': 'ne2', put: { ne: node('ne', { a: 'older' }, t - 10) } },
      { '#': 'ne3', put: { ne: node('ne', { b: 'new' }, t) } },
      { '#': 'ne4', put: { ne5: node('ne5', { a: 1, b: 2 }, t) } },
    ]);
    for (const id of ['ne2', 'ne3', 'ne4']) assert.equal((await p.reply(id)).ok, true);
    p.send({ '#': 'neg', get: { '#': 'ne' } });
    assert.deepEqual((await p.reply('neg')).put, { ne: { _: { '#': 'ne', '>': { a: t, b: t } }, a: 'old', b: 'new' } });
    p.send({ '#': 'neg5', get: { '#': 'ne5' } });
    assert.deepEqual((await p.reply('neg5')).put, { ne5: node('ne5', { a: 1, b: 2 }, t) });
  });

  it('dedups by message id', async () => {
    const p = await probe();
    const m = { '#': 'dup1', put: { d1: node('d1', { a: 1 }, Date.now()) } };
    p.send(m); p.send(m); p.send([m, m]);
    await p.reply('dup1');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.replies('dup1').length, 1);
  });

  it('forwards accepted changes to subscribers (get or earlier put) with the current value', async () => {
    const [a, b, c] = [await probe(), await probe(), await probe()];
    b.send({ '#': 'sub', get: { '#': 'f1' } });
    await b.reply('sub');
    const t = Date.now();
    c.send({ '#': 'cw', put: { f1: node('f1', { x: 'c' }, t - 10) } }); // c becomes a subscriber of f1.x (Q1)
    await c.reply('cw');
    a.send({ '#': 'aw', put: { f1: node('f1', { x: 'a' }, t) } });
    await a.reply('aw');
    const fwd = (p: Probe) => eventually(() => p.msgs.find((m) => !m['@'] && m.put?.f1?.x === 'a'));
    assert.equal((await fwd(b)).put.f1._['>'].x, t);
    await fwd(c);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!a.msgs.some((m) => !m['@'] && m.put?.f1), 'the writer is not echoed');
  });

  it('a field written by two peers forwards to the one left after the other disconnects, and to a third after both left', async () => {
    const [a, b, w] = [await probe(), await probe(), await probe()];
    const t = Date.now();
    a.send({ '#': 'sa', put: { sh1: node('sh1', { x: 'a' }, t - 30) } }); // a holds sh1.x alone
    await a.reply('sa');
    b.send({ '#': 'sb', put: { sh1: node('sh1', { x: 'b' }, t - 20) } }); // now a and b hold it
    await b.reply('sb');
    await eventually(() => a.msgs.find((m) => !m['@'] && m.put?.sh1?.x === 'b'), 5000, 'a hears b');
    a.close();
    await new Promise((r) => setTimeout(r, 100));
    w.send({ '#': 'sw', put: { sh1: node('sh1', { x: 'w' }, t - 10) } });
    await w.reply('sw');
    await eventually(() => b.msgs.find((m) => !m['@'] && m.put?.sh1?.x === 'w'), 5000, 'b hears w after a left');
    b.close(); w.close();
    await new Promise((r) => setTimeout(r, 100));
    const [c, d] = [await probe(), await probe()];
    c.send({ '#': 'sc', get: { '#': 'sh1', '.': 'x' } });
    assert.equal((await c.reply('sc')).put.sh1.x, 'w');
    d.send({ '#': 'sd', put: { sh1: node('sh1', { x: 'd' }, t) } });
    await d.reply('sd');
    await eventually(() => c.msgs.find((m) => !m['@'] && m.put?.sh1?.x === 'd'), 5000, 'c hears d');
  });

  it('deletes stay deleted: a stale re-send is ignored and the sender is told the current value', async () => {
    const [a, b] = [await probe(), await probe()];
    const t = Date.now();
    a.send({ '#': 'del1', put: { z1: node('z1', { x: 'alive' }, t - 1000) } });
    await a.reply('del1');
    a.send({ '#': 'del2', put: { z1: node('z1', { x: null }, t) } });
    await a.reply('del2');
    b.send({ '#': 'del3', put: { z1: node('z1', { x: 'alive' }, t - 1000) } });
    assert.equal((await b.reply('del3')).ok, true);
    const corr = await eventually(() => b.msgs.find((m) => !m['@'] && m.put?.z1));
    assert.equal(corr.put.z1.x, null);
    b.send({ '#': 'del4', get: { '#': 'z1', '.': 'x' } });
    assert.equal((await b.reply('del4')).put.z1.x, null);
  });

  it('future states are deferred: acked, not visible early, applied and forwarded when due', async () => {
    const [a, b] = [await probe(), await probe()];
    b.send({ '#': 'fsub', get: { '#': 'fut' } });
    await b.reply('fsub');
    const t = Date.now() + 400;
    a.send({ '#': 'fput', put: { fut: node('fut', { x: 'later' }, t) } });
    assert.equal((await a.reply('fput')).ok, true);
    a.send({ '#': 'fget', get: { '#': 'fut', '.': 'x' } });
    assert.equal((await a.reply('fget')).put, undefined);
    const f = await eventually(() => b.msgs.find((m) => !m['@'] && m.put?.fut?.x === 'later'), 3000, 'deferred forward');
    assert.ok(Date.now() >= t - 5);
    assert.equal(f.put.fut._['>'].x, t);
  });

  it('bad input gets an err and never crashes the relay', async () => {
    const p = await probe();
    const now = Date.now();
    p.send('{"#":"bad1", nope');
    await eventually(() => p.msgs.find((m) => m.dam === '!' && /parse/.test(m.err)));
    p.send('not json at all'); // ignored, as gun
    const cases: [string, unknown][] = [
      ['b1', { r: { a: 1 } }],
      ['b2', { r: node('r', { a: [1, 2] }, now) }],
      ['b3', { r: { _: { '#': 'r', '>': { a: 'zzz' } }, a: 1 } }],
      ['b4', { r: node('r', { a: 1 }, -5) }],
      ['b5', { r: node('r', { a: 1 }, now + 10 * 86400e3) }],
      ['b6', { ['s'.repeat(5000)]: node('s'.repeat(5000), { a: 1 }, now) }],
      ['b7', { r: node('r', { ['f'.repeat(5000)]: 1 }, now) }],
      ['b8', { '~pub': node('~pub', { a: 1 }, now) }],
      ['b9', 'x'],
    ];
    for (const [id, put] of cases) p.send({ '#': id, put });
    for (const [id] of cases) assert.equal(typeof (await p.reply(id)).err, 'string', id);
    p.send({ '#': 'b10', put: { r: node('r', { ok: 1, bad: { deep: { deeper: 1 } } }, now) } });
    await p.reply('b10');
    p.send({ '#': 'b11', get: { '#': 'r' } });
    assert.equal((await p.reply('b11')).put, undefined, 'nothing of an invalid put was applied (Q7)');
    p.send('['.repeat(50_000) + ']'.repeat(50_000));
    await eventually(() => p.msgs.filter((m) => m.dam === '!').length >= 1);
    p.send({ '#': 'alive', get: { '#': 'r1' } });
    await p.reply('alive');
    // a frame over the limit closes that connection only
    const big = await probe();
    big.send(JSON.stringify({ '#': 'huge', put: { h: node('h', { a: 'x'.repeat(5 * 1024 * 1024) }, now) } }));
    await eventually(() => big.closed, 5000, 'oversized frame closes the socket');
    const after = await probe();
    after.send({ '#': 'still', get: { '#': 'r1' } });
    await after.reply('still');
  });

  it('floods of gets are answered or refused with RATE_LIMITED, never a crash', async () => {
    const p = await probe();
    const ids: string[] = [];
    for (let f = 0; f < 10; f++) {
      const frame = Array.from({ length: 1000 }, (_, i) => { const id = `fl${f}_${i}`; ids.push(id); return { '#': id, get: { '#': `soul${i % 50}` } }; });
      p.send(frame);
    }
    await eventually(() => ids.every((id) => p.msgs.some((m) => m['@'] === id)), 20_000, 'every get answered');
    const refused = p.msgs.filter((m) => m.code === 'RATE_LIMITED').length;
    assert.ok(refused < ids.length);
  });

  it('a big node is split into replies of at most 32 KB (Q20) that merge to the whole node', async () => {
    const p = await probe();
    const t = Date.now();
    const fields = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`field${i}`, `value-${i}-${'x'.repeat(20)}`]));
    p.send({ '#': 'bigput', put: { big: node('big', fields, t) } });
    await p.reply('bigput');
    const q = await probe();
    q.send({ '#': 'bigget', get: { '#': 'big' } });
    await eventually(() => q.replies('bigget').reduce((n, m) => n + Object.keys(m.put.big).length - 1, 0) === 2000, 5000, 'all fields');
    assert.ok(q.replies('bigget').length > 1);
    assert.ok(q.frames.every((f) => f.length <= GRAPH_MAX_REPLY_FRAME_BYTES), `max frame ${Math.max(...q.frames.map((f) => f.length))}`);
  });

  it('lexical field gets (prefix, range, reverse, byte budget) return every match, not just one (Q6)', async () => {
    const p = await probe();
    const t = Date.now();
    p.send({ '#': 'lx', put: { lex1: node('lex1', { apple: 'A', apricot: 'B', banana: 'C' }, t) } });
    await p.reply('lx');
    p.send({ '#': 'l1', get: { '#': 'lex1', '.': { '*': 'ap' } } });
    assert.deepEqual(Object.keys((await p.reply('l1')).put.lex1).sort(), ['_', 'apple', 'apricot']);
    p.send({ '#': 'l2', get: { '#': 'lex1', '.': { '>': 'apricot', '<': 'b~' } } });
    assert.deepEqual(Object.keys((await p.reply('l2')).put.lex1).sort(), ['_', 'apricot', 'banana']);
  });

  it('everything acked survives a restart on the same data dir', async () => {
    const d = tmpDir();
    let s = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [graphMount] });
    let p = new Probe(`${s.url}/gun`); await p.open();
    p.send({ '#': 'dur', put: { dur: node('dur', { a: 1 }, Date.now()) } });
    await p.reply('dur');
    p.close(); await s.close();
    s = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [graphMount] });
    p = new Probe(`${s.url}/gun`); await p.open();
    p.send({ '#': 'dur2', get: { '#': 'dur' } });
    assert.equal((await p.reply('dur2')).put.dur.a, 1);
    p.close(); await s.close(); d.rm();
  });
});
