import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Hub } from '../../src/ledger/hub.js';
import { MemoryLedger } from '../../src/ledger/memory.js';
import { isPlexusError } from '../../src/errors.js';

const tick = () => new Promise((r) => setImmediate(r));
const ids = (frames: string[]) => frames.flatMap((f) => [...f.matchAll(/\{"id":(\d+)/g)].map((m) => Number(m[1])));

describe('StoreLedger.publishNow (stores whose commits cost nothing)', () => {
  it('publishes synchronously when nothing else is under way, and not while a publish is queued', async () => {
    const l = new MemoryLedger();
    const r = l.publishNow({ acts: [{ top: 't', key: '1', cmd: 'new', arg: { a: 1 } }] });
    assert.ok(r);
    assert.deepEqual(r.evs.map((e) => [e.id, e.key]), [[1, '1']]);
    assert.deepEqual((await l.get('t', '1'))?.data, { a: 1 });
    const queued = l.publish({ acts: [{ top: 't', key: '2', cmd: 'new' }] });
    assert.equal(l.publishNow({ acts: [{ top: 't', key: '3', cmd: 'new' }] }), undefined, 'a queued publish goes first');
    assert.equal((await queued).evs[0]!.id, 2);
    assert.equal(await l.get('t', '3'), undefined, 'nothing was written');
    assert.throws(() => l.publishNow({ acts: [{ top: 't', key: '1', cmd: 'new' }] }), (e: unknown) => isPlexusError(e) && e.code === 'CONFLICT');
    assert.throws(() => l.publishNow({ acts: [] }), (e: unknown) => isPlexusError(e) && e.code === 'INVALID_TRANS');
    await l.close();
  });
});

describe('hub: publishes answered at once (memory ledger)', () => {
  it('events another writer appended before a publish reach subscribers first, each once, in id order', async () => {
    const ledger = new MemoryLedger();
    const hub = new Hub(ledger);
    await hub.refresh();
    const sFrames: string[] = [], pFrames: string[] = [];
    const s = hub.connect({ send: (t) => sFrames.push(t), close: () => {} });
    const p = hub.connect({ send: (t) => pFrames.push(t), close: () => {} });
    s.receive('evt.sub#1\n{"tops":["t"]}');
    for (let i = 0; i < 20 && !sFrames.length; i++) await tick();
    assert.match(sFrames.shift()!, /^evt\.sub#1\n\{"res"/);
    // appended behind the hub's back (an embedding app), then a publish through it
    await ledger.publish({ acts: [{ top: 't', key: 'other', cmd: 'new' }] });
    p.receive('evt.pub#1\n{"acts":[{"top":"t","key":"a","cmd":"new"}]}');
    p.receive('evt.pub#2\n{"acts":[{"top":"t","key":"b","cmd":"new"}]}');
    p.receive('evt.pub#3\n{"acts":[{"top":"t","key":"a","cmd":"new"}]}');
    for (let i = 0; i < 20 && pFrames.length < 3; i++) await tick();
    assert.deepEqual(pFrames.map((f) => f.slice(0, f.indexOf('{'))), ['evt.pub#1\n', 'evt.pub#2\n', 'evt.pub#3\n']);
    assert.deepEqual(ids(pFrames.slice(0, 2)), [2, 3]);
    assert.match(pFrames[2]!, /"code":"CONFLICT"/);
    for (let i = 0; i < 20 && ids(sFrames).length < 3; i++) await tick();
    assert.deepEqual(ids(sFrames), [1, 2, 3], 'the other writer\'s event, then the two publishes');
    await hub.close();
    await ledger.close();
  });
});
