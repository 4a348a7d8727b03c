import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { eventually } from './gun.js';
import { GunSeaPeer } from './gun-sea.js';

type Msg = Record<string, any>;

/** A raw WebSocket peer for frames gun.js cannot produce: collects every message it receives. */
export class RawPeer {
  ws: WebSocket;
  msgs: Msg[] = [];
  #n = 0;
  constructor(url: string) {
    this.ws = new WebSocket(url.replace(/^http/, 'ws'));
    this.ws.on('message', (d) => {
      let v: unknown;
      try { v = JSON.parse(d.toString()); } catch { return; }
      for (const m of Array.isArray(v) ? v : [v]) this.msgs.push(m as Msg);
    });
    this.ws.on('error', () => {});
  }
  open(): Promise<void> { return new Promise((r, j) => { this.ws.once('open', () => r()); this.ws.once('error', j); }); }
  /** Send a put of `soul → {field: value}` (one state for all) and wait for its ack. */
  async put(graph: Record<string, Record<string, unknown>>, state = Date.now()): Promise<Msg> {
    const id = `raw${++this.#n}${Math.random().toString(36).slice(2, 8)}`;
    const put: Record<string, unknown> = {};
    for (const [soul, fields] of Object.entries(graph)) put[soul] = { _: { '#': soul, '>': Object.fromEntries(Object.keys(fields).map((k) => [k, state])) }, ...fields };
    this.ws.send(JSON.stringify({ '#': id, put }));
    return eventually(() => this.msgs.find((m) => m['@'] === id), 10_000, `ack of ${id}`);
  }
  /** Get one field; resolves to its wire value and state, or undefined when not found. */
  async get(soul: string, field: string): Promise<{ value: unknown; state: number } | undefined> {
    const id = `rawg${++this.#n}${Math.random().toString(36).slice(2, 8)}`;
    this.ws.send(JSON.stringify({ '#': id, get: { '#': soul, '.': field } }));
    const r = await eventually(() => this.msgs.find((m) => m['@'] === id), 10_000, `reply to ${id}`);
    const n = r.put?.[soul];
    if (!n || !Object.hasOwn(n, field)) return undefined;
    return { value: n[field], state: n._['>'][field] };
  }
  close(): void { this.ws.terminate(); }
}

/** The gun app scenario of issue 10 (plus sets and deletes) with real gun + SEA clients, each its own process; returns what later steps need. */
export async function userScenario(url: string, peer: () => Promise<GunSeaPeer>): Promise<{ a: GunSeaPeer; bob: GunSeaPeer; reader: GunSeaPeer; alicePub: string; bobPub: string }> {
  const alias = `alice${Math.random().toString(36).slice(2, 8)}`;
  const bobAlias = `bob${Math.random().toString(36).slice(2, 8)}`;
  // device A: create + auth, write the profile
  const a = await peer();
  const created = await a.create(alias, 'correct horse battery');
  assert.equal(created.err, undefined, `create: ${created.err}`);
  const login = await a.auth(alias, 'correct horse battery');
  assert.equal(login.err, undefined, `auth on A: ${login.err}`);
  const alicePub = login.pub!;
  assert.equal(created.pub, alicePub);
  const ack = await a.uput(['profile'], { name: 'Alice', city: 'Oslo' });
  assert.equal(ack.err, undefined, `profile put: ${ack.err}`);
  // device B: a fresh process logs in (reads ~@alias and ~pub from the relay), reads and writes the profile
  const b = await peer();
  const second = await b.auth(alias, 'correct horse battery');
  assert.equal(second.err, undefined, `auth on B: ${second.err}`);
  assert.equal(second.pub, alicePub);
  assert.equal(await b.uonce(['profile', 'name']), 'Alice');
  const bAck = await b.uput(['profile', 'city'], 'Bergen');
  assert.equal(bAck.err, undefined, `profile put from B: ${bAck.err}`);
  // C, not logged in, reads the alias index and the user's graph
  const reader = await peer();
  const aliasNode = await eventually(async () => { const n = await reader.gonce([`~@${alias}`]); return n && Object.hasOwn(n, `~${alicePub}`) ? n : undefined; }, 10_000, 'C reads ~@alias');
  assert.deepEqual(Object.keys(aliasNode), [`~${alicePub}`]);
  assert.equal(await reader.pubonce(alicePub, ['alias']), alias);
  assert.equal(await eventually(async () => ((await reader.pubonce(alicePub, ['profile', 'city'])) === 'Bergen' ? 'Bergen' : undefined), 10_000, 'C sees B\'s write'), 'Bergen');
  assert.equal(await reader.pubonce(alicePub, ['profile', 'name']), 'Alice');
  // sets (gun makes the item souls ~pub/<random>) and deletes (a signed null) in user space
  for (const title of ['buy milk', 'walk dog']) assert.equal((await a.uset(['todos'], { title })).ack.err, undefined);
  const titles = await eventually(async () => { const m = await reader.pubmap(alicePub, ['todos'], 800); const t = Object.values(m).map((v) => v?.title).sort(); return t.length === 2 ? t : undefined; }, 15_000, 'C lists the set');
  assert.deepEqual(titles, ['buy milk', 'walk dog']);
  assert.equal((await b.uput(['profile', 'nick'], 'Al')).err, undefined);
  assert.equal((await b.uput(['profile', 'nick'], null)).err, undefined);
  await eventually(async () => (await reader.pubonce(alicePub, ['profile', 'nick'])) === null, 10_000, 'C sees the delete');
  // bob, certified by alice, writes into alice's inbox
  const bob = await peer();
  assert.equal((await bob.create(bobAlias, 'bob pass phrase')).err, undefined);
  const bobLogin = await bob.auth(bobAlias, 'bob pass phrase');
  assert.equal(bobLogin.err, undefined);
  const bobPub = bobLogin.pub!;
  const cert = await a.certify(bobPub, { '*': 'inbox' }, Date.now() + 10 * 60_000);
  const certAck = await bob.certput(alicePub, ['inbox', bobPub], 'hi alice, from bob', cert);
  assert.equal(certAck.err, undefined, `certified put: ${certAck.err}`);
  assert.equal(await eventually(async () => await reader.pubonce(alicePub, ['inbox', bobPub]), 10_000, 'C reads the inbox'), 'hi alice, from bob');
  return { a, bob, reader, alicePub, bobPub };
}
