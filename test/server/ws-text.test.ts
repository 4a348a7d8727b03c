import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { MemoryBudget, SendQueue, type QueueSocket } from '../../src/server/budget.js';
import { EARLY_WRITE_CHARS, TextFrameWriter } from '../../src/server/ws-text.js';
import { startServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { MemoryLedger } from '../../src/ledger/memory.js';
import { tmpDir } from '../helpers/tmp.js';

/** The unmasked text frames in `b` (throws on anything else or a cut frame). */
function frames(b: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < b.length) {
    assert.equal(b[i], 0x81, `FIN text frame at ${i}`);
    const l7 = b[i + 1]!;
    assert.equal(l7 & 0x80, 0, 'server frames are not masked');
    let len = l7, h = 2;
    if (l7 === 126) { len = b.readUInt16BE(i + 2); h = 4; } else if (l7 === 127) { assert.equal(b.readUInt32BE(i + 2), 0); len = b.readUInt32BE(i + 6); h = 10; }
    // the shortest length form, as RFC 6455 §5.2 asks
    if (h === 4) assert.ok(len >= 126); else if (h === 10) assert.ok(len >= 65536);
    assert.ok(i + h + len <= b.length, 'frame cut');
    out.push(b.subarray(i + h, i + h + len).toString('utf8'));
    i += h + len;
  }
  return out;
}

/** A SendQueue over a socket that records each write. */
function recorder(): { writes: Buffer[]; raw: unknown[]; queue: SendQueue; sock: QueueSocket } {
  const writes: Buffer[] = [], raw: unknown[] = [];
  const sock: QueueSocket = {
    bufferedAmount: 0,
    send(data, _opts, cb) { writes.push(Buffer.from(data as Buffer)); raw.push(data); if (cb) process.nextTick(cb); },
    close() {}, terminate() {},
  };
  return { writes, raw, queue: new SendQueue(new MemoryBudget(), sock, 'test'), sock };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('TextFrameWriter: the frames of one turn in one write', () => {
  it('small frames sent in one turn leave in one write, in order, each intact (multi-byte UTF-8, every header size)', async () => {
    const { writes, queue } = recorder();
    const w = new TextFrameWriter(queue);
    const sent = ['', 'a', 'é€😀', 'x'.repeat(125), 'y'.repeat(126), 'ü'.repeat(1000)];
    for (let i = 0; i < 50; i++) sent.push(`evt.pub#${i}\n{"res":{"rev":"2026-12-02T04:00:00.${i}Z"}}`);
    const done: number[] = [];
    sent.forEach((t, i) => w.send(t, () => done.push(i)));
    assert.equal(writes.length, 0, 'nothing is written before the turn ends');
    await tick();
    assert.equal(writes.length, 1);
    assert.deepEqual(frames(writes[0]!), sent);
    assert.deepEqual(done, sent.map((_, i) => i), 'every callback, in order');
  });

  it('big frames and frames in pieces keep their place between the small ones', async () => {
    const { writes, queue } = recorder();
    const w = new TextFrameWriter(queue);
    const big = 'B'.repeat(20_000), huge = 'H€'.repeat(40_000), parts = ['evt.update\n{"rev":"x","evs":[', '{"id":1}', ',{"id":2}', ']}\n'];
    w.send('one'); w.send(big); w.send('two'); w.send('three'); w.send(parts); w.send(huge); w.send('four');
    await tick();
    assert.deepEqual(writes.flatMap(frames), ['one', big, 'two', 'three', parts.join(''), huge, 'four']);
    assert.equal(writes.length, 6, 'small neighbours share a write; each big frame has its own');
  });

  it('a long turn is written as it goes, every EARLY_WRITE_CHARS characters, still in order (the client need not wait for the whole turn)', async () => {
    const { writes, queue } = recorder();
    const w = new TextFrameWriter(queue);
    const sent = Array.from({ length: 300 }, (_, i) => `evt.pub#${String(i).padStart(3, '0')}\n{"res":{"rev":"2026-12-02T04:00:00.${String(i).padStart(3, '0')}Z","evs":[]}}`);
    const per = Math.ceil(EARLY_WRITE_CHARS / sent[0]!.length);
    for (const t of sent.slice(0, per - 1)) w.send(t);
    assert.equal(writes.length, 0, 'under EARLY_WRITE_CHARS: nothing written yet');
    w.send(sent[per - 1]!);
    assert.equal(writes.length, 1, 'reaching EARLY_WRITE_CHARS writes at once, within the turn');
    for (const t of sent.slice(per)) w.send(t);
    const inTurn = writes.length;
    assert.equal(inTurn, Math.floor(sent.length / per));
    await tick();
    assert.equal(writes.length, inTurn + (sent.length % per ? 1 : 0), 'the rest at the end of the turn');
    for (const b of writes) assert.ok(b.length < EARLY_WRITE_CHARS + 256, `${b.length} bytes in one write`);
    assert.deepEqual(writes.flatMap(frames), sent);
    // a frame of EARLY_WRITE_CHARS or more takes what came before it along, at once
    w.send('before'); w.send('m'.repeat(EARLY_WRITE_CHARS + 10));
    assert.deepEqual(frames(writes.at(-1)!), ['before', 'm'.repeat(EARLY_WRITE_CHARS + 10)]);
  });

  it('a lone text sent to many sockets in a row (a forward to every subscriber), however big, is encoded once', async () => {
    const a = recorder(), b = recorder(), c = recorder();
    const big = 'F€'.repeat(20_000), small = '[{"#":"m1","put":{}}]';
    for (const r of [a, b, c]) new TextFrameWriter(r.queue).send(big);
    await tick();
    assert.deepEqual(frames(a.writes[0]!), [big]);
    assert.ok(a.raw[0] === b.raw[0] && b.raw[0] === c.raw[0], 'the same bytes written to each');
    const sa = new TextFrameWriter(a.queue), sb = new TextFrameWriter(b.queue);
    sa.send(small); sb.send(small);
    await tick();
    assert.deepEqual([a.writes.length, b.writes.length, c.writes.length], [2, 2, 1]);
    assert.deepEqual(frames(b.writes[1]!), [small]);
    assert.equal(a.raw[1], b.raw[1]);
  });

  it('flush writes at once (before a close frame)', () => {
    const { writes, queue } = recorder();
    const w = new TextFrameWriter(queue);
    w.send('last words');
    w.flush();
    assert.deepEqual(writes.flatMap(frames), ['last words']);
  });
});

describe('/evt replies to a pipelining client', () => {
  it('300 publishes sent in one write: replies in order, each frame intact, coalesced into few TCP writes', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ ledger: new MemoryLedger() })] });
    try {
      const ws = new WebSocket(server.url.replace('http', 'ws') + '/evt', { perMessageDeflate: false });
      await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
      let chunks = 0;
      (ws as unknown as { _socket: import('node:net').Socket })._socket.prependListener('data', () => { chunks++; });
      const N = 300;
      const got: string[] = [];
      const all = new Promise<void>((r) => ws.on('message', (m) => { got.push(m.toString()); if (got.length === N) r(); }));
      const sock = (ws as unknown as { _socket: import('node:net').Socket })._socket;
      sock.cork();
      for (let i = 1; i <= N; i++) ws.send(`evt.pub#${i}\n{"acts":[{"top":"t","key":"k${i}","cmd":"new","arg":{"i":${i},"s":"é${'x'.repeat(i)}"}}]}`);
      sock.uncork();
      await all;
      got.forEach((m, k) => {
        const i = k + 1;
        assert.ok(m.startsWith(`evt.pub#${i}\n`), `reply ${i} in its place: ${m.slice(0, 20)}`);
        const res = (JSON.parse(m.slice(m.indexOf('\n') + 1)) as { res: { evs: Array<{ key: string; arg: { i: number; s: string } }> } }).res;
        assert.equal(res.evs[0]!.key, `k${i}`);
        assert.deepEqual(res.evs[0]!.arg, { i, s: 'é' + 'x'.repeat(i) });
      });
      assert.ok(chunks < N / 4, `${N} replies arrived in ${chunks} TCP reads`);
      ws.close();
    } finally { await server.close(); d.rm(); }
  });
});
