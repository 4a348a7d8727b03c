import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Hub } from '../../src/ledger/hub.js';
import { MemoryLedger } from '../../src/ledger/memory.js';
import type { TransInput } from '../../src/ledger/event.js';
import type { PublishResult } from '../../src/ledger/ledger.js';
import { LEDGER_MAX_REQUESTS_IN_FLIGHT, WS_MESSAGES_PER_SECOND } from '../../src/limits.js';
import WebSocket from 'ws';
import { startServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { tmpDir } from '../helpers/tmp.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('hub: requests in flight per connection', () => {
  it(`stops reading a connection past LEDGER_MAX_REQUESTS_IN_FLIGHT (${LEDGER_MAX_REQUESTS_IN_FLIGHT}) unanswered publishes, reads again at half`, async () => {
    const ledger = new MemoryLedger();
    // a slow store: publishes wait until released
    const held: Array<() => void> = [];
    const publish = ledger.publish.bind(ledger);
    ledger.publish = (t: TransInput) => new Promise<PublishResult>((resolve, reject) => { held.push(() => { publish(t).then(resolve, reject); }); });
    ledger.publishNow = () => undefined; // a slow store publishes nothing at once
    const hub = new Hub(ledger);
    await hub.refresh();
    const got: string[] = [];
    const calls: string[] = [];
    const conn = hub.connect({ send: (t) => got.push(t), close: () => calls.push('close'), pause: () => calls.push('pause'), resume: () => calls.push('resume') });
    const pub = (i: number) => conn.receive(`evt.pub#${i}\n{"acts":[{"top":"t","key":"k${i}","cmd":"new"}]}`);
    for (let i = 1; i <= LEDGER_MAX_REQUESTS_IN_FLIGHT; i++) pub(i);
    assert.deepEqual(calls, [], 'at the cap: still reading');
    pub(LEDGER_MAX_REQUESTS_IN_FLIGHT + 1);
    assert.deepEqual(calls, ['pause'], 'one over the cap: paused');
    // answer all but just over half: still paused
    const keep = LEDGER_MAX_REQUESTS_IN_FLIGHT / 2 + 1;
    for (const f of held.splice(0, held.length - keep)) f();
    for (let i = 0; i < 20 && got.length < LEDGER_MAX_REQUESTS_IN_FLIGHT + 1 - keep; i++) await tick();
    assert.equal(got.length, LEDGER_MAX_REQUESTS_IN_FLIGHT + 1 - keep);
    assert.deepEqual(calls, ['pause']);
    held.shift()!();
    for (let i = 0; i < 20 && calls.length < 2; i++) await tick();
    assert.deepEqual(calls, ['pause', 'resume'], 'half answered: reading again');
    for (const f of held.splice(0)) f();
    for (let i = 0; i < 20 && got.length < LEDGER_MAX_REQUESTS_IN_FLIGHT + 1; i++) await tick();
    // every publish answered, in order, none lost
    assert.deepEqual(got.map((f) => Number(/^evt\.pub#(\d+)\n\{"res"/.exec(f)?.[1])), Array.from({ length: LEDGER_MAX_REQUESTS_IN_FLIGHT + 1 }, (_, i) => i + 1));
    await hub.close();
    await ledger.close();
  });

  it('with the default server limits, one pipelining client sends 10,000 publishes in a burst and each is answered (none refused, socket open)', async () => {
    const d = tmpDir();
    const srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ ledger: new MemoryLedger() })] });
    try {
      const ws = new WebSocket(srv.url.replace('http', 'ws') + '/evt');
      await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
      const N = 10_000;
      let ok = 0, other = 0;
      let closed: number | undefined;
      ws.on('close', (c) => { closed = c; });
      const all = new Promise<void>((r) => ws.on('message', (m) => { if (m.toString().includes('{"res"')) ok++; else other++; if (ok + other === N) r(); }));
      for (let i = 0; i < N; i++) ws.send(`evt.pub#${i}\n{"acts":[{"top":"t","key":"k${i}","cmd":"new"}]}`);
      await all;
      assert.equal(ok, N);
      assert.equal(closed, undefined);
      assert.ok(WS_MESSAGES_PER_SECOND > N, 'the burst fits the per-connection bucket');
      ws.close();
    } finally { await srv.close(); d.rm(); }
  });
});
