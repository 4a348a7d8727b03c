import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLedger } from '../../src/ledger/memory.js';
import { ledgerConformance } from '../conformance/ledger.js';

ledgerConformance('memory', async (opts) => new MemoryLedger(opts));

describe('memory ledger: copies in and out', () => {
  it('without owned, changing the input or the returned events afterwards changes nothing stored', async () => {
    const l = new MemoryLedger();
    const arg = { name: 'a', tags: ['x'] };
    const r = await l.publish({ acts: [{ top: 't', key: '1', cmd: 'new', arg }] });
    arg.tags.push('changed-input');
    r.evs[0]!.arg!.name = 'changed-output';
    const [e] = await l.eventsAfterId(0);
    assert.deepEqual(e!.arg, { name: 'a', tags: ['x'] });
    assert.deepEqual((await l.get('t', '1'))!.data, { name: 'a', tags: ['x'] });
  });

  it('owned (the hub\'s decoded publishes): same results and stored state, read back as copies', async () => {
    const l = new MemoryLedger(), m = new MemoryLedger();
    for (let i = 0; i < 5; i++) {
      const t = () => ({ acts: [{ top: 't', key: String(i % 3), cmd: i < 3 ? 'new' : 'mod', arg: { n: i, tags: ['a', String(i)] } }] });
      const a = await l.publish(t(), { owned: true }), b = await m.publish(t());
      assert.deepEqual(a.evs.map((e) => ({ ...e, rev: 0 })), b.evs.map((e) => ({ ...e, rev: 0 })));
    }
    const strip = (evs: Array<{ rev: number }>) => evs.map((e) => ({ ...e, rev: 0 }));
    assert.deepEqual(strip(await l.eventsAfterId(0)), strip(await m.eventsAfterId(0)));
    assert.deepEqual((await l.list('t')).map((r) => r.data), (await m.list('t')).map((r) => r.data));
    // what is read back is a copy: changing it changes nothing stored
    const [e] = await l.eventsAfterId(0);
    e!.arg!.n = 99;
    assert.equal((await l.eventsAfterId(0))[0]!.arg!.n, 0);
  });

  it('owned new records keep the rules of applying their arg (a `k-` field deletes, __proto__ stays a field)', async () => {
    const l = new MemoryLedger(), m = new MemoryLedger();
    const args = () => [JSON.parse('{"a":1,"a-":true,"b":2}'), JSON.parse('{"__proto__":{"x":1},"c":3}'), { d: 4, e: { f: [1] } }];
    for (const [i, arg] of args().entries()) await l.publish({ acts: [{ top: 't', key: String(i), cmd: 'new', arg }] }, { owned: true });
    for (const [i, arg] of args().entries()) await m.publish({ acts: [{ top: 't', key: String(i), cmd: 'new', arg }] });
    const data = async (x: MemoryLedger) => (await x.list('t')).map((r) => JSON.stringify(r.data));
    assert.deepEqual(await data(l), await data(m));
    assert.deepEqual(await data(l), ['{"b":2}', '{"__proto__":{"x":1},"c":3}', '{"d":4,"e":{"f":[1]}}']);
    // a later mod applies on a copy: the new event's arg stays as published
    await l.publish({ acts: [{ top: 't', key: '2', cmd: 'mod', arg: { d: 5 } }] }, { owned: true });
    assert.deepEqual((await l.eventsAfterId(0))[2]!.arg, { d: 4, e: { f: [1] } });
    assert.deepEqual((await l.get('t', '2'))!.data, { d: 5, e: { f: [1] } });
  });
});
