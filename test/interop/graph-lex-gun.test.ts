// Lexical field reads and soul queries: a real gun 0.2020.1241 relay and plexus (memory, SQLite and
// PostgreSQL stores) get the same data and the same gets over raw WebSocket, and must answer the same.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import WebSocket from 'ws';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createGraphMount } from '../../src/server/graph.js';
import { MemoryGraphStore } from '../../src/graph/store/memory.js';
import { SqliteGraphStore } from '../../src/graph/store/sqlite.js';
import { PgGraphStore } from '../../src/graph/store/postgres.js';
import type { GraphStore } from '../../src/graph/store.js';
import { tmpDir } from '../helpers/tmp.js';
import { freshPgSchema } from '../helpers/pg.js';
import { eventually, startGunRelay } from '../graph/helpers/gun.js';

type Msg = Record<string, any>;

class Probe {
  ws: WebSocket;
  msgs: Msg[] = [];
  #n = 0;
  constructor(url: string) {
    this.ws = new WebSocket(url.replace(/^http/, 'ws'));
    this.ws.on('message', (d) => { const v = JSON.parse(d.toString()); for (const m of Array.isArray(v) ? v : [v]) this.msgs.push(m); });
    this.ws.on('error', () => {});
  }
  open() { return new Promise<void>((r, j) => { this.ws.once('open', () => r()); this.ws.once('error', j); }); }
  send(m: Msg): string { const id = `q${++this.#n}x${Math.random().toString(36).slice(2, 8)}`; this.ws.send(JSON.stringify({ '#': id, ...m })); return id; }
  /** Every reply to a get, merged into soul → field → value (after the first reply, a short wait for chunks). */
  async ask(get: Msg): Promise<Record<string, Record<string, unknown>>> {
    const id = this.send({ get });
    await eventually(() => this.msgs.some((m) => m['@'] === id), 10_000, `reply to ${JSON.stringify(get)}`);
    await new Promise((r) => setTimeout(r, 30));
    const out: Record<string, Record<string, unknown>> = {};
    for (const m of this.msgs.filter((x) => x['@'] === id)) {
      if (m.err) throw new Error(`${JSON.stringify(get)}: ${m.err}`);
      for (const [soul, node] of Object.entries((m.put ?? {}) as Record<string, Msg>)) {
        const o = (out[soul] ??= {});
        for (const [k, v] of Object.entries(node)) if (k !== '_') o[k] = v;
      }
    }
    return out;
  }
  close() { this.ws.terminate(); }
}

const T = 1_700_000_000_000;
const wire = (soul: string, fields: Record<string, unknown>) => ({ _: { '#': soul, '>': Object.fromEntries(Object.keys(fields).map((k) => [k, T])) }, ...fields });

/** The data both relays get: one node with many fields, and souls under a few prefixes. */
function dataset(): Record<string, Record<string, unknown>> {
  const s1: Record<string, unknown> = {};
  for (const k of ['aa', 'ab1', 'ab2', 'ab10', 'abc', 'abx', 'abz', 'ac', 'b', 'chat-2024-01', 'chat-2024-02', 'chat-2024-03']) s1[k] = 'v-' + k;
  Object.assign(s1, { abn: 12, abl: { '#': 'chat/1' }, abe: '', abt: true, abd: null, abq: 'a much longer value that costs more of the budget' });
  const g: Record<string, Record<string, unknown>> = { s1 };
  for (const s of ['chat/1', 'chat/2', 'chat/10', 'chat/3', 'chab', 'chat/', 'c', 'other', 'users/alice', 'users/bob', 'users/carol']) {
    g[s] = { name: s, n: s.length, ...(s.startsWith('users/') ? { bio: 'x'.repeat(s.length * 3) } : {}) };
  }
  return g;
}

/** Hand-picked gets, each one a case the issue or gun's code names. */
const CASES: Msg[] = [
  { '#': 's1', '.': { '*': 'ab' }, '-': 1, '%': 5 }, // the "latest N" pattern: abz on gun
  { '#': 's1', '.': { '*': 'ab', '-': 1 }, '%': 12 },
  { '#': 's1', '.': { '*': 'ab' }, '%': 5 },
  { '#': 's1', '.': { '*': 'ab' }, '%': 30 },
  { '#': 's1', '.': { '*': 'ab' }, '%': 1000 },
  { '#': 's1', '.': { '*': 'chat-' }, '-': 1, '%': 24 },
  { '#': 's1', '.': { '>': 'ab1', '<': 'abx' }, '%': 1000 },
  { '#': 's1', '.': { '>': 'ab1', '<': 'abx' }, '-': 1, '%': 20 },
  { '#': 's1', '.': { '*': 'ab', '>': 'c', '<': 'q' }, '%': 1000 },
  { '#': 's1', '.': { '*': 'zz' }, '%': 100 },
  { '#': { '*': 'chat/' }, '%': 20 },
  { '#': { '*': 'chat/' }, '%': 1000 },
  { '#': { '*': 'ch' }, '%': 5, '-': 1 },
  { '#': { '*': 'users/' }, '%': 40 },
  { '#': { '*': 'users/', '-': 1 }, '%': 40 },
  { '#': { '*': 'nothing/' }, '%': 100 },
  { '#': { '>': 'chat/1', '<': 'chat/3' }, '%': 1000 },
  { '#': { '>': 'u', '<': 'users/b' }, '%': 1000 },
  { '#': { '*': 'chat/', '>': '1', '<': '2' }, '%': 1000 },
];

/** gun names the souls of a range-only soul query "undefined" + soul (a bug plexus does not copy). */
function normalise(get: Msg, answer: Record<string, Record<string, unknown>>) {
  const rangeOnly = typeof get['#'] === 'object' && get['#']['*'] === undefined;
  return Object.fromEntries(Object.entries(answer).map(([s, n]) => [rangeOnly ? s.replace(/^undefined/, '') : s, n]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
}

describe('lexical reads and soul queries answer like gun\'s relay', () => {
  const data = dataset();
  let gun: Awaited<ReturnType<typeof startGunRelay>>;
  let gunProbe: Probe;
  const plexus: { name: string; server: PlexusServer; probe: Probe }[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];

  const load = async (p: Probe) => {
    const ids = Object.entries(data).map(([soul, fields]) => p.send({ put: { [soul]: wire(soul, fields) } }));
    await eventually(() => ids.every((id) => p.msgs.some((m) => m['@'] === id && m.ok !== undefined)), 15_000, 'puts acked');
  };

  before(async () => {
    gun = await startGunRelay();
    gunProbe = new Probe(gun.url);
    await gunProbe.open();
    await load(gunProbe);
    const dir = tmpDir();
    const pgs = await freshPgSchema('lex');
    cleanups.push(() => dir.rm(), () => pgs.drop());
    const stores: [string, GraphStore][] = [['memory', new MemoryGraphStore()], ['sqlite', new SqliteGraphStore(dir.path + '/g.db')], ['postgres', new PgGraphStore(pgs.url)]];
    for (const [name, store] of stores) {
      const server = await startServer({ port: 0, dataDir: dir.path + '/' + name, logLevel: 'silent', mounts: [createGraphMount({ store })] });
      const probe = new Probe(`${server.url}/gun`);
      await probe.open();
      await load(probe);
      plexus.unshift({ name, server, probe });
    }
  });
  after(async () => {
    gunProbe?.close();
    for (const p of plexus) { p.probe.close(); await p.server.close(); }
    await gun?.close();
    for (const c of cleanups.reverse()) await c();
  });

  it('hand-picked cases: reverse with "-", "%" budgets, ranges, soul prefixes and ranges', async () => {
    for (const get of CASES) {
      const [gunAnswer, ...ours] = await Promise.all([gunProbe, ...plexus.map((p) => p.probe)].map((p) => p.ask(get)));
      const want = normalise(get, gunAnswer!);
      ours.forEach((a, i) => assert.deepEqual(normalise(get, a), want, `${plexus[i]!.name}: ${JSON.stringify(get)}`));
    }
    // the example, spelled out
    assert.deepEqual(Object.keys((await plexus[0]!.probe.ask(CASES[0]!)).s1!), ['abz']);
  });

  it('random lexical gets (property, 100 runs, against the same gun relay)', async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    const fields = Object.keys(data.s1!);
    // prefixes of real keys, and bounds cut from what follows them, so most gets match something
    const lexOver = (keys: string[]) => {
      const prefixes = [...new Set(keys.flatMap((k) => Array.from({ length: Math.min(k.length, 7) }, (_, i) => k.slice(0, i))))].sort();
      return fc.constantFrom(...prefixes, 'zz').chain((pre) => {
        const rests = keys.filter((k) => k.startsWith(pre)).map((k) => k.slice(pre.length));
        const cuts = [...new Set(rests.flatMap((r) => Array.from({ length: Math.min(r.length, 4) + 1 }, (_, i) => r.slice(0, i))))].sort();
        const bound = cuts.length ? fc.constantFrom(...cuts, '~') : fc.constant('~');
        return fc.record({ '>': bound, '<': bound }, { requiredKeys: [] }).map((b) => (pre ? { '*': pre, ...b } : b));
      });
    };
    const souls = Object.keys(data).map((s) => s + '\x1b');
    const lex = lexOver(fields);
    const get = fc.oneof(
      fc.record({ '.': lex, '-': fc.constantFrom(0, 1), '%': fc.integer({ min: 1, max: 120 }) }).map((g) => ({ '#': 's1', ...g })),
      fc.record({ '#': lexOver(souls).filter((l) => Object.keys(l).length > 0), '-': fc.constantFrom(0, 1), '%': fc.integer({ min: 1, max: 200 }) }),
    ).filter((g) => {
      const l = (g['#'] === 's1' ? (g as Msg)['.'] : g['#']) as Msg;
      // gun's radix answers only the field named exactly like the prefix when one exists (documented difference)
      return !(g['#'] === 's1' && l['*'] !== undefined && fields.includes(l['*']));
    });
    let answered = 0;
    await fc.assert(fc.asyncProperty(get, async (g) => {
      const [gunAnswer, ...ours] = await Promise.all([gunProbe, ...plexus.map((p) => p.probe)].map((p) => p.ask(g)));
      const want = normalise(g, gunAnswer!);
      if (Object.keys(want).length) answered++;
      ours.forEach((a, i) => assert.deepEqual(normalise(g, a), want, `${plexus[i]!.name}: ${JSON.stringify(g)}`));
    }), { numRuns: 100, seed });
    assert.ok(answered >= 20, `only ${answered} of 100 random gets matched anything (seed ${seed})`);
  });

  it('without "%" plexus returns every match (gun: only the first, Q6); soul queries without "%" list every matching soul', async () => {
    for (const p of plexus) {
      assert.deepEqual(Object.keys((await p.probe.ask({ '#': 's1', '.': { '*': 'chat-' } })).s1!).sort(), ['chat-2024-01', 'chat-2024-02', 'chat-2024-03']);
      assert.deepEqual(Object.keys(await p.probe.ask({ '#': { '*': 'users/' } })).sort(), ['users/alice', 'users/bob', 'users/carol']);
      assert.deepEqual(Object.keys(await p.probe.ask({ '#': { '*': 'users/' }, '-': 1, '%': 1 })), ['users/carol']);
      // a % gun ignores (0, or above its 100,000 pack size) means no budget
      for (const pct of [0, 100_001]) assert.equal(Object.keys((await p.probe.ask({ '#': 's1', '.': { '*': 'chat-' }, '%': pct })).s1!).length, 3, `${p.name} %${pct}`);
      assert.equal(Object.keys((await p.probe.ask({ '#': 's1', '.': { '*': 'chat-' }, '%': 100_000 })).s1!).length, 3);
      // an empty prefix lists every soul
      assert.ok(Object.keys(await p.probe.ask({ '#': { '*': '' } })).length >= 12);
    }
    assert.deepEqual(Object.keys((await gunProbe.ask({ '#': 's1', '.': { '*': 'chat-' } })).s1!), ['chat-2024-01']);
  });
});
