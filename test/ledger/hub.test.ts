import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import fc from 'fast-check';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { MemoryLedger } from '../../src/ledger/memory.js';
import { Hub } from '../../src/ledger/hub.js';
import { parseFrame, formatFrame } from '../../src/ledger/frame.js';
import { connectHub, type WebSocketCtor } from '../../src/ledger/client.js';
import { parseTime, ZERO_TIME } from '../../src/ledger/time.js';
import type { Update } from '../../src/ledger/event.js';
import { isPlexusError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

/** A raw WebSocket that queues the frames it receives. */
async function raw(url: string): Promise<{ ws: WebSocket; next(ms?: number): Promise<string>; none(ms: number): Promise<void>; send(s: string): void }> {
  const ws = new WebSocket(url);
  const q: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  ws.on('message', (d) => { const s = d.toString(); const w = waiters.shift(); if (w) w(s); else q.push(s); });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  return {
    ws,
    send: (s) => ws.send(s),
    next: (ms = 3000) => q.length ? Promise.resolve(q.shift()!) : new Promise((r, j) => { const t = setTimeout(() => j(new Error('no frame')), ms); waiters.push((s) => { clearTimeout(t); r(s); }); }),
    none: async (ms) => { await new Promise((r) => setTimeout(r, ms)); assert.deepEqual(q, []); },
  };
}

describe('hub frames (evt.md §14.3)', () => {
  let srv: PlexusServer, url: string;
  let clock = parseTime('2024-02-10T17:02:50.123Z');
  const d = tmpDir();
  before(async () => {
    const ledger = new MemoryLedger({ clock: () => clock });
    await ledger.publish({ acts: [{ top: 'prod.cat', key: '1', cmd: 'new', arg: { name: 'a' } }] });
    srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ ledger, batchMs: 100 })] });
    url = srv.url.replace('http', 'ws') + '/evt';
  });
  after(async () => { await srv.close(); d.rm(); });

  it('sub, mon, pub reply, batched push with notes, errors, unmon, unsub', async () => {
    const A = await raw(url), B = await raw(url);
    A.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["prod.cat"]}');
    assert.equal(await A.next(), 'evt.sub#1\n{"res":{"rev":"2024-02-10T17:02:50.123Z","evs":[{"id":1,"rev":"2024-02-10T17:02:50.123Z","top":"prod.cat","key":"1","cmd":"new","arg":{"name":"a"}}]}}');
    A.send('evt.mon#2\n{"rev":"2024-02-10T17:02:50.123Z","watch":[{"top":"prod.cat","keys":["2","new"]}]}');
    assert.equal(await A.next(), 'evt.mon#2\n{"res":1}');
    clock = parseTime('2024-02-10T17:02:51.456789Z');
    B.send('evt.pub#7\n{"acts":[{"top":"prod.cat","key":"2","cmd":"new","arg":{"name":"b"}}]}');
    assert.equal(await B.next(), 'evt.pub#7\n{"res":{"rev":"2024-02-10T17:02:51.456Z","evs":[{"id":2,"rev":"2024-02-10T17:02:51.456Z","top":"prod.cat","key":"2","cmd":"new","arg":{"name":"b"}}]}}');
    const t0 = Date.now();
    assert.equal(await A.next(), 'evt.update\n{"rev":"2024-02-10T17:02:51.456Z","evs":[{"id":2,"rev":"2024-02-10T17:02:51.456Z","top":"prod.cat","key":"2","cmd":"new","arg":{"name":"b"}}],"note":[{"mon":1,"watch":[{"top":"prod.cat","keys":["2","2"]}]}]}\n');
    assert.ok(Date.now() - t0 >= 50, 'push waits for the batching window');
    B.send('evt.pub#8\n{"acts":[]}');
    assert.equal(await B.next(), 'evt.pub#8\n{"err":"no actions","code":"INVALID_TRANS"}');
    A.send('evt.sub#3\n{"rev":"0001-01-01T00:00:00Z","tops":["prod.cat"]}');
    assert.equal(await A.next(), 'evt.sub#3\n{"err":"no new subscriptions","code":"BAD_REQUEST"}');
    B.send('evt.pub#9\n{"base":"2030-01-01T00:00:00Z","acts":[{"top":"prod.cat","key":"2","cmd":"del"}]}');
    assert.equal(await B.next(), 'evt.pub#9\n{"err":"sanity check publish future base revision","code":"INVALID_TRANS"}');
    A.send('evt.unmon#4\n{"mon":1}');
    assert.equal(await A.next(), 'evt.unmon#4\n{"res":true}');
    A.send('evt.unsub#5\n{"tops":["prod.cat"]}');
    assert.equal(await A.next(), 'evt.unsub#5\n{"res":true}');
    B.send('evt.stat#10');
    assert.match(await B.next(), /^evt\.stat#10\n\{"res":\{"rev":"2024-02-10T17:02:51.456Z","mig":"","on":"[^"]+","off":"0001-01-01T00:00:00Z"\}\}$/);
    await B.none(150);
    // a Go satellite's hello: no token, trailing newline, no tid
    const S = await raw(url);
    clock = parseTime('2024-02-10T17:05:01Z');
    S.send('evt.sat\n{"rev":"2024-02-10T17:02:50.123Z","trans":[{"id":3,"base":"2024-02-10T17:02:50.123Z","rev":"2024-02-10T17:05:00.001Z","created":"2024-02-10T17:05:00.001234Z","arrived":"2024-02-10T17:05:00.001198Z","usr":"carol","acts":[{"top":"prod.cat","key":"9","cmd":"new","arg":{"name":"z"}}]}],"tops":["prod.cat","prod.prod"]}\n');
    assert.equal(await S.next(), 'evt.sat\n{"res":{"rev":"2024-02-10T17:05:01Z","evs":[{"id":2,"rev":"2024-02-10T17:02:51.456Z","top":"prod.cat","key":"2","cmd":"new","arg":{"name":"b"}},{"id":3,"rev":"2024-02-10T17:05:01Z","top":"prod.cat","key":"9","cmd":"new","arg":{"name":"z"}}],"sat":[{"tid":"","rev":"2024-02-10T17:05:01Z"}]}}');
    S.ws.close();
    A.ws.close(); B.ws.close();
  });
});

describe('hub client and bad input', () => {
  let srv: PlexusServer, url: string;
  const d = tmpDir();
  const ledger = new MemoryLedger({ topics: ['todo', 'user'] });
  before(async () => {
    srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ ledger, batchMs: 20 })] });
    url = srv.url.replace('http', 'ws') + '/evt';
  });
  after(async () => { await srv.close(); d.rm(); });
  const opts = { WebSocket: WebSocket as unknown as WebSocketCtor };

  it('publish, subscribe (async iterator), monitor, status', async () => {
    const a = await connectHub(url, opts), b = await connectHub(url, opts);
    const r1 = await a.publish({ acts: [{ top: 'todo', key: '1', cmd: 'new', arg: { title: 'x' } }] });
    const sub = b.subscribe(['todo']);
    const it = sub[Symbol.asyncIterator]();
    const first = await it.next() as IteratorYieldResult<Update>;
    assert.deepEqual(first.value!.evs!.map((e) => e.key), ['1']);
    const mon = await b.monitor([{ top: 'user', keys: ['new'] }]);
    const r2 = await a.publish({ base: r1.rev, acts: [{ top: 'todo', key: '1', cmd: 'mod', arg: { done: true } }, { top: 'user', key: 'u1', cmd: 'new', arg: {} }] });
    const second = await it.next() as IteratorYieldResult<Update>;
    assert.deepEqual(second.value!.evs!.map((e) => [e.id, e.key, e.rev]), [[2, '1', r2.rev]], 'only subscribed topics');
    const n = await mon.next();
    assert.deepEqual(n.value, { mon: mon.id, watch: [{ top: 'user', keys: ['u1'] }] });
    assert.equal(sub.rev, r2.rev);
    const st = await a.status();
    assert.equal(st.rev, r2.rev);
    assert.equal(st.off, ZERO_TIME);
    await assert.rejects(() => a.publish({ base: r1.rev, acts: [{ top: 'todo', key: '1', cmd: 'mod', arg: { done: false } }] }), (e: unknown) => isPlexusError(e, 'CONFLICT'));
    sub.close(); mon.close();
    a.close(); b.close();
  });

  it('a long catch-up arrives in order: the reply, then pushes of at most 1,000 events', async () => {
    for (let t = 0; t < 25; t++) await ledger.publish({ acts: Array.from({ length: 100 }, (_, i) => ({ top: 'user', key: `bulk-${t}-${i}`, cmd: 'new', arg: { t, i } })) });
    const c = await connectHub(url, opts);
    const ids: number[] = [];
    let updates = 0;
    for await (const u of c.subscribe(['user'])) {
      updates++;
      assert.ok((u.evs ?? []).length <= 1000);
      ids.push(...(u.evs ?? []).filter((e) => e.key.startsWith('bulk-')).map((e) => e.id));
      if (ids.length >= 2500) break;
    }
    assert.ok(updates >= 3);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    assert.equal(new Set(ids).size, 2500);
    c.close();
  });

  it('answers bad input with a typed err and writes nothing', async () => {
    const c = await raw(url);
    const rev0 = await ledger.rev();
    const cases: Array<[string, RegExp]> = [
      ['evt.pub#1\n{"acts":', /"code":"BAD_REQUEST"/],
      ['evt.pub#2', /unexpected end of JSON input/],
      ['evt.nope#3\n{}', /unknown subject evt\.nope.*NOT_FOUND/],
      ['other#4\n{}', /unknown subject other/],
      ['evt.pub#5\n{"acts":"x"}', /acts: want an array.*INVALID_TRANS/],
      ['evt.pub#6\n{"acts":[{"top":"todo","key":1,"cmd":"new"}]}', /key: want a string/],
      ['evt.pub#7\n{"acts":[{"top":"nope","key":"1","cmd":"new"}]}', /no model found for topic nope.*NOT_FOUND/],
      ['evt.sub#8\n{"tops":["nope"]}', /no model found.*NOT_FOUND/],
      [`evt.pub#9\n{"acts":[${Array.from({ length: 1001 }, (_, i) => `{"top":"todo","key":"k${i}","cmd":"new"}`).join(',')}]}`, /TOO_LARGE/],
      ['evt.pub#10\n{"acts":[{"top":"todo","key":"1","cmd":"new","arg":{"big":"' + 'x'.repeat(600_000) + '"}}]}', /TOO_LARGE/],
      ['evt.pub#11\n{"base":"2999-01-01T00:00:00Z","acts":[{"top":"todo","key":"z","cmd":"new"}]}', /future base/],
      ['evt.pub#12\n{"base":"yesterday","acts":[{"top":"todo","key":"z","cmd":"new"}]}', /INVALID_TIME/],
      ['evt.mon#13\n{"watch":5}', /watch: want an array/],
      ['evt.unmon#14\n{"mon":"x"}', /mon: want an integer/],
      ['evt.pub#15\n[1,2]', /want a JSON object/],
      ['evt.pub#16\n{"acts":[{"top":"todo","key":"m","cmd":"mod","arg":{}}]}', /no value found.*NOT_FOUND/],
    ];
    for (const [frame, want] of cases) {
      c.send(frame);
      const tok = /#(\d+)/.exec(frame)![1]!;
      const got = await c.next();
      assert.ok(got.startsWith(`${frame.slice(0, frame.indexOf('#'))}#${tok}\n{"err":`), got.slice(0, 200));
      assert.match(got, want);
    }
    assert.equal(await ledger.rev(), rev0, 'nothing written');
    // replayed transaction id: applied once
    c.send('evt.pub#20\n{"tid":"abc","acts":[{"top":"todo","key":"once","cmd":"new"}]}');
    assert.match(await c.next(), /^evt\.pub#20\n\{"res":/);
    c.send('evt.pub#21\n{"tid":"abc","acts":[{"top":"todo","key":"once","cmd":"new"}]}');
    assert.match(await c.next(), /^evt\.pub#21\n\{"err":"transaction abc was already published","code":"DUPLICATE"\}$/);
    // a private subject closes the connection
    const closed = new Promise((r) => c.ws.once('close', r));
    c.send('_signoff\n');
    await closed;
  });

  it('fuzz: parseFrame throws only PlexusErrors and round-trips what formatFrame writes', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    try {
      fc.assert(fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (text) => {
        try { parseFrame(text); } catch (e) { assert.ok(isPlexusError(e), String(e)); }
      }), { seed, numRuns: 500 });
      fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z.]{0,20}$/), fc.stringMatching(/^[0-9a-f]{0,10}$/), fc.json(), fc.boolean(), (subj, tok, body, push) => {
        const f = parseFrame(formatFrame(subj, tok, body, push));
        assert.equal(f.subject, subj);
        assert.equal(f.token, tok);
        assert.equal(f.body, body === '' ? undefined : body);
      }), { seed, numRuns: 300 });
    } catch (err) { console.error(`frame fuzz failed, seed ${seed}`); throw err; }
  });

  it('fuzz: every frame gets one reply (or a close), never an exception or a half write', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    const fuzzLedger = new MemoryLedger({ topics: ['t'] });
    const hub = new Hub(fuzzLedger, { batchMs: 0 });
    const subjects = fc.constantFrom('evt.pub', 'evt.sub', 'evt.unsub', 'evt.mon', 'evt.unmon', 'evt.stat', 'evt.sat', 'evt.x', '', '_x', 'a#b');
    const json = fc.oneof(fc.json(), fc.record({ acts: fc.array(fc.record({ top: fc.constantFrom('t', 'u', 1), key: fc.oneof(fc.string(), fc.integer()), cmd: fc.constantFrom('new', 'mod', 'del', 'x'), arg: fc.oneof(fc.object(), fc.constant(null)) }, { requiredKeys: [] }), { maxLength: 4 }), base: fc.oneof(fc.constant('0001-01-01T00:00:00Z'), fc.string()), tid: fc.string() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)), fc.record({ rev: fc.string(), tops: fc.anything(), watch: fc.anything(), mon: fc.anything(), trans: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)));
    const frame = fc.tuple(subjects, fc.option(fc.nat(), { nil: undefined }), fc.option(json, { nil: undefined }), fc.string({ maxLength: 8 })).map(([s, t, b, junk]) => `${s}${t === undefined ? '' : '#' + t}${b === undefined ? junk : '\n' + b}`);
    return fc.assert(fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 8 }), async (frames) => {
      const out: string[] = [];
      let closes = 0;
      const conn = hub.connect({ send: (t) => out.push(t), close: () => { closes++; } });
      for (const f of frames) conn.receive(f);
      await hub.refresh();
      conn.closed();
      assert.ok(out.length + closes >= 1);
      for (const o of out) assert.match(o, /^(evt\.update\n|[^\n]*\n\{"(res|err)":)/);
      // ledger invariant: every event has a whole transaction with an audit row
      const evs = await fuzzLedger.eventsAfterId(0, 100000);
      for (const e of evs) assert.ok(await fuzzLedger.audit(e.rev));
    }), { seed, numRuns: 200 }).catch((err: unknown) => { console.error(`hub fuzz failed, seed ${seed}`); throw err; }).finally(() => hub.close());
  });
});
