import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GraphRelay } from '../../src/graph/relay.js';
import { MemoryGraphStore } from '../../src/graph/store/memory.js';
import { SqliteGraphStore } from '../../src/graph/store/sqlite.js';
import type { ConflictResolution } from '../../src/graph/ham.js';
import type { FieldWrite } from '../../src/graph/value.js';
import { tmpDir } from '../helpers/tmp.js';

type Msg = Record<string, any>;

/** A memory store whose puts take `ms` (a slow disk), so the relay's order of work shows. */
class SlowPutStore extends MemoryGraphStore {
  constructor(readonly ms: number) { super(); }
  override async put(writes: readonly FieldWrite[], machineState: number): Promise<ConflictResolution[]> {
    await new Promise((r) => setTimeout(r, this.ms));
    return super.put(writes, machineState);
  }
}

const node = (soul: string, fields: Record<string, unknown>, state: number) => ({ _: { '#': soul, '>': Object.fromEntries(Object.keys(fields).map((k) => [k, state])) }, ...fields });

/** Every message a connection was sent, in the order the relay sent them (frames flattened), with the frame's number. */
function connection(log: { to: string; frame: number; m: Msg }[], to: string) {
  return {
    send: (t: string) => { const v = JSON.parse(t); for (const m of Array.isArray(v) ? v : [v]) log.push({ to, frame: log.length, m }); },
    close: () => {},
  };
}

async function until<T>(f: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) { const v = f(); if (v !== undefined) return v; await new Promise((r) => setTimeout(r, 5)); }
  throw new Error(`timed out waiting for ${what}`);
}

describe('graph relay: reads before writes within a tick', () => {
  it('a get is answered before the puts that arrived with it are applied; a get of a soul one of them writes sees the write', async () => {
    const store = new SlowPutStore(150);
    const t = Date.now();
    await store.put([{ soul: 'old', field: 'a', value: 1, state: t }], t); // 150 ms, before the relay exists
    const relay = new GraphRelay({ store, heartbeatMs: 0 });
    const log: { to: string; frame: number; m: Msg }[] = [];
    const writer = relay.connect(connection(log, 'writer'));
    const reader = relay.connect(connection(log, 'reader'));
    // the same tick: a put of `new`, a get of `old`, a get of `new`
    writer.receive(JSON.stringify({ '#': 'p1', put: { new: node('new', { b: 2 }, t + 1) } }));
    reader.receive(JSON.stringify({ '#': 'g-old', get: { '#': 'old' } }));
    reader.receive(JSON.stringify({ '#': 'g-new', get: { '#': 'new' } }));
    const sent0 = Date.now();
    const old = await until(() => log.find((x) => x.m['@'] === 'g-old'), 'the answer to g-old');
    const oldMs = Date.now() - sent0;
    const ack = await until(() => log.find((x) => x.m['@'] === 'p1'), 'the ack of p1');
    const fresh = await until(() => log.find((x) => x.m['@'] === 'g-new'), 'the answer to g-new');
    assert.equal(old.m.put.old.a, 1);
    assert.ok(old.frame < ack.frame, 'the read of another soul left before the put was stored and acked');
    assert.ok(oldMs < 100, `the read of another soul did not wait for the put (${oldMs} ms)`);
    assert.equal(ack.m.ok, true);
    assert.equal(fresh.m.put.new.b, 2, 'a get of a soul written in the same tick sees the write');
    await relay.close();
    await store.close();
  });

  it('with a worker-committing SQLite store, gets of the same tick keep seeing puts of their soul at once', async () => {
    const dir = tmpDir();
    const store = new SqliteGraphStore(`${dir.path}/graph.db`);
    const relay = new GraphRelay({ store, heartbeatMs: 0 });
    const log: { to: string; frame: number; m: Msg }[] = [];
    const writer = relay.connect(connection(log, 'writer'));
    const reader = relay.connect(connection(log, 'reader'));
    const t = Date.now();
    for (let i = 0; i < 20; i++) {
      writer.receive(JSON.stringify({ '#': `p${i}`, put: { [`s${i}`]: node(`s${i}`, { n: i }, t) } }));
      reader.receive(JSON.stringify({ '#': `g${i}`, get: { '#': `s${i}` } }));
      reader.receive(JSON.stringify({ '#': `x${i}`, get: { '#': `nothing${i}` } }));
    }
    for (let i = 0; i < 20; i++) {
      const g = await until(() => log.find((x) => x.m['@'] === `g${i}`), `g${i}`);
      assert.equal(g.m.put[`s${i}`].n, i);
      const x = await until(() => log.find((x) => x.m['@'] === `x${i}`), `x${i}`);
      assert.equal(x.m.put, undefined, 'not found');
      assert.equal((await until(() => log.find((x) => x.m['@'] === `p${i}`), `p${i}`)).m.ok, true);
    }
    await relay.close();
    await store.close();
    dir.rm();
  });
});
