import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import fc from 'fast-check';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { textProblem, checkText } from '../../src/text.js';
import { MAX_NESTING_DEPTH } from '../../src/limits.js';
import { encodePayload, decodePayload } from '../../src/bus/payload.js';
import { Encoder } from 'cbor-x';
import { isPlexusError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

/** A raw WebSocket that queues the frames it receives. */
async function raw(url: string): Promise<{ ws: WebSocket; next(ms?: number): Promise<string>; send(s: string): void }> {
  const ws = new WebSocket(url);
  const q: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  ws.on('message', (d) => { const s = d.toString(); const w = waiters.shift(); if (w) w(s); else q.push(s); });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  return {
    ws,
    send: (s) => ws.send(s),
    next: (ms = 5000) => q.length ? Promise.resolve(q.shift()!) : new Promise((r, j) => { const t = setTimeout(() => j(new Error('no frame')), ms); waiters.push((s) => { clearTimeout(t); r(s); }); }),
  };
}

const nested = (depth: number, leaf: unknown = 1): unknown => { let v: unknown = leaf; for (let i = 0; i < depth; i++) v = { a: v }; return v; };
const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('text validator: well-formed Unicode and one nesting limit', () => {
  it('finds lone surrogates in strings and keys at any depth, accepts well-formed text', () => {
    assert.equal(textProblem('a😀é'), undefined);
    assert.match(textProblem('\ud800')!, /well-formed/);
    assert.match(textProblem({ a: ['x', { b: '\udc00' }] })!, /well-formed/);
    assert.match(textProblem({ ['k\ud800']: 1 })!, /key is not well-formed/);
    assert.match(textProblem(new Map([['\ud800', 1]]))!, /key/);
    assert.equal(textProblem(new Uint8Array([0xff, 0xfe])), undefined);
    assert.equal(textProblem(null), undefined);
    assert.match(textProblem({ a: 'x\u0000' })!, /U\+0000/, 'PostgreSQL cannot store U+0000');
    assert.equal(textProblem(12), undefined);
  });

  it('counts nesting levels without recursion ({} is one level); 1e6 levels do not overflow the stack', () => {
    assert.equal(textProblem(nested(MAX_NESTING_DEPTH)), undefined);
    assert.match(textProblem(nested(MAX_NESTING_DEPTH + 1))!, /nested deeper than 64/);
    assert.match(textProblem(JSON.parse(nestedArrays(1_000_000)))!, /nested deeper/);
    assert.throws(() => checkText(nested(100), 'arg'), (e) => isPlexusError(e, 'BAD_REQUEST') && /^arg: /.test(e.message));
  });

  it('agrees with String.prototype.isWellFormed over arbitrary UTF-16 (property)', () => {
    const seed = Date.now() % 2 ** 31;
    console.log(`text validator property seed ${seed}`);
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (s) => (textProblem({ [s]: [s] }) === undefined) === (s.isWellFormed() && !s.includes('\0'))), { seed, numRuns: 300 });
  });

  it('bus payloads: a lone surrogate or too deep a value is BAD_REQUEST both ways (CBOR would change it)', () => {
    assert.throws(() => encodePayload({ k: '\ud800' }), (e) => isPlexusError(e, 'BAD_REQUEST'));
    assert.throws(() => encodePayload(nested(MAX_NESTING_DEPTH + 1)), (e) => isPlexusError(e, 'BAD_REQUEST') && /nested deeper/.test(e.message));
    const deep = new Encoder({ useRecords: false }).encode(nested(MAX_NESTING_DEPTH + 1));
    assert.throws(() => decodePayload(deep), (e) => isPlexusError(e, 'BAD_REQUEST'));
    assert.deepEqual(decodePayload(encodePayload(nested(10, 'é😀'))), nested(10, 'é😀'));
  });
});

describe('text validator at the server boundaries (/evt, /gun, /api/bus/call)', () => {
  let srv: PlexusServer;
  const d = tmpDir();
  before(async () => { srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', env: {} }); });
  after(async () => { await srv.close(); d.rm(); });
  const ws = (p: string) => srv.url.replace('http', 'ws') + p;

  it('/evt: evt.pub with key "\\ud800" is BAD_REQUEST and nothing is stored; a well-formed key reads back identical', async () => {
    const A = await raw(ws('/evt'));
    A.send('evt.pub#1\n{"acts":[{"top":"t","key":"\\ud800","cmd":"new","arg":{"v":1}}]}');
    assert.match(await A.next(), /^evt\.pub#1\n\{"err":".*well-formed.*","code":"BAD_REQUEST"\}$/);
    A.send('evt.pub#2\n{"acts":[{"top":"t","key":"ok","cmd":"new","arg":{"v":"\\udc00x"}}]}');
    assert.match(await A.next(), /"code":"BAD_REQUEST"/);
    A.send('evt.pub#3\n{"acts":[{"top":"t\\ud800","key":"ok","cmd":"new"}]}');
    assert.match(await A.next(), /"code":"BAD_REQUEST"/);
    A.send('evt.pub#4\n{"acts":[{"top":"t","key":"😀\\u00e9","cmd":"new","arg":{"v":"\\ud83d\\ude00"}}]}');
    assert.match(await A.next(), /"res"/);
    A.send('evt.sub#5\n{"rev":"0001-01-01T00:00:00Z","tops":["t"]}');
    const sub = JSON.parse((await A.next()).split('\n')[1]!) as { res: { evs: Array<{ key: string; arg: { v: string } }> } };
    assert.deepEqual(sub.res.evs.map((e) => [e.key, e.arg.v]), [['😀é', '😀']]);
    A.ws.close();
  });

  it('/evt: a deeply nested arg is BAD_REQUEST naming the limit (was INTERNAL "Maximum call stack size exceeded")', async () => {
    const A = await raw(ws('/evt'));
    A.send(`evt.pub#1\n{"acts":[{"top":"t","key":"deep","cmd":"new","arg":{"a":${nestedArrays(20_000)}}}]}`);
    const r = await A.next();
    assert.match(r, /"code":"BAD_REQUEST"/);
    assert.match(r, /nested deeper than 64/);
    A.ws.close();
  });

  it('/gun: a field, soul or value with a lone surrogate is answered with an err and not stored; deep nesting too', async () => {
    const G0 = await raw(ws('/gun'));
    const G = { ...G0, next: async () => { for (;;) { const f = await G0.next(); if (!f.includes('"dam"')) return f; } } };
    const put = (id: string, soul: string, field: string, value: unknown) => JSON.stringify({ '#': id, put: { [soul]: { _: { '#': soul, '>': { [field]: 1 } }, [field]: value } } });
    G.send(put('p1', 's1', '\udc00', 'v'));
    assert.match(await G.next(), /"@":"p1".*"err":".*well-formed/);
    G.send(put('p2', 's\ud800', 'f', 'v'));
    assert.match(await G.next(), /"@":"p2".*"err"/);
    G.send(put('p3', 's1', 'f', 'v\udfff'));
    assert.match(await G.next(), /"@":"p3".*"err"/);
    G.send(`{"#":"p4","ok":${nestedArrays(100_000)}}`);
    assert.match(await G.next(), /"@":"p4".*"err":".*nested deeper/);
    G.send(JSON.stringify({ '#': 'g1', get: { '#': 's1' } }));
    const got = JSON.parse(await G.next()) as { put?: unknown };
    assert.equal(got.put ?? null, null, 'nothing stored under s1');
    G.ws.close();
  });

  it('/api/bus/call: a deep payload and a lone surrogate are BAD_REQUEST (the same limit as /evt and /gun)', async () => {
    const call = async (body: string) => {
      const r = await fetch(srv.url + '/api/bus/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { status: r.status, body: await r.json() as { error?: { code: string; message: string } } };
    };
    const deep = await call(`{"namespace":"plexus.server","command":"ping","payload":${nestedArrays(20_000)}}`);
    assert.equal(deep.status, 400);
    assert.equal(deep.body.error?.code, 'BAD_REQUEST');
    assert.match(deep.body.error!.message, /nested deeper than 64/);
    const lone = await call('{"namespace":"plexus.server","command":"ping","payload":{"k":"\\ud800"}}');
    assert.equal(lone.status, 400);
    assert.equal(lone.body.error?.code, 'BAD_REQUEST');
  });
});
