import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { lexMatch, needsSea, seaClass, SeaVerifier, soulPub, type SeaVerifierOptions } from '../../src/graph/sea.js';
import { NodeSeaCrypto } from '../../src/graph/sea-node.js';
import { sha256 } from '../../src/graph/sha256.js';
import { GraphRelay } from '../../src/graph/relay.js';
import { MemoryGraphStore } from '../../src/graph/store/memory.js';
import type { FieldWrite } from '../../src/graph/value.js';
import { signedValue, testCert, testPair, type TestPair } from './helpers/sea-sign.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/gun-sea-put.json', import.meta.url), 'utf8')) as { writes: FieldWrite[] };

const seeded = async (name: string, run: (seed: number) => Promise<void>) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1e9);
  try { await run(seed); } catch (err) { console.error(`${name} failed, seed=${seed}`); throw err; }
};

describe('graph SEA: soul classes', () => {
  it('names the key of a soul as gun does (SEA.opt.pub)', () => {
    assert.equal(soulPub('~ab_c-1.xy-z'), 'ab_c-1.xy-z');
    assert.equal(soulPub('~ab.xy/profile'), 'ab.xy');
    assert.equal(soulPub('~ab.xy.z'), 'ab.xy');
    assert.equal(soulPub('app~ab.xy'), 'ab.xy');
    assert.equal(soulPub('~@alice'), '.alice', 'as gun: alias souls are classified before (seaClass), and such a key never verifies');
    assert.equal(soulPub('~nokey'), undefined);
    assert.equal(soulPub('plain'), undefined);
  });

  it('classifies souls in gun\'s order', () => {
    assert.equal(seaClass('~@'), 'alias-index');
    assert.equal(seaClass('~@alice'), 'alias');
    assert.equal(seaClass('~a.b'), 'user');
    assert.equal(seaClass('~a.b/posts#'), 'user');
    assert.equal(seaClass('~nokey'), 'no-key');
    assert.equal(seaClass('posts#'), 'hash');
    assert.equal(seaClass('a~b'), 'open');
    assert.equal(seaClass('plain'), 'open');
    assert.equal(needsSea([{ soul: 'plain', field: 'a', value: 1, state: 1 }]), false);
    assert.equal(needsSea([{ soul: 'plain', field: 'a', value: 1, state: 1 }, { soul: 'x#', field: 'a', value: 1, state: 1 }]), true);
  });
});

const backends: [string, SeaVerifierOptions][] = [['WebCrypto', {}], ['node:crypto', { crypto: new NodeSeaCrypto() }]];
for (const [backend, opts] of backends) describe(`graph SEA: verification (${backend})`, () => {
  const v = new SeaVerifier(opts);
  const check = (w: FieldWrite) => v.checkField(w);

  it('accepts the writes of a real gun SEA client (captured: user.create, auth, profile put)', async () => {
    assert.equal(fixture.writes.length, 7);
    assert.equal(await v.checkPut(fixture.writes), undefined);
    // and any change of soul, field, state or value breaks them
    const signed = fixture.writes.filter((w) => typeof w.value === 'string' && w.value.startsWith('{'));
    for (const w of signed) {
      assert.match((await check({ ...w, state: w.state + 1 }))!, /does not verify/);
      assert.match((await check({ ...w, field: w.field + 'x' }))!, /does not verify/);
      assert.match((await check({ ...w, soul: w.soul + '/x' }))!, /does not verify/);
      const raw = JSON.parse(w.value as string);
      assert.match((await check({ ...w, value: JSON.stringify({ ...raw, ':': 'changed' }) }))!, /does not verify/);
    }
  });

  it('alias index and alias nodes: values are links equal to their key', async () => {
    assert.equal(await check({ soul: '~@', field: 'alice', value: { '#': '~@alice' }, state: 1 }), undefined);
    assert.ok(await check({ soul: '~@', field: 'alice', value: { '#': '~@bob' }, state: 1 }));
    assert.ok(await check({ soul: '~@', field: 'alice', value: null, state: 1 }));
    assert.equal(await check({ soul: '~@alice', field: '~a.b', value: { '#': '~a.b' }, state: 1 }), undefined);
    assert.ok(await check({ soul: '~@alice', field: '~a.b', value: { '#': '~c.d' }, state: 1 }));
    assert.ok(await check({ soul: '~@alice', field: '~a.b', value: '~a.b', state: 1 }));
  });

  it('content-addressed souls: the field after its last # is the SHA-256 of the value, base64 or hex', async () => {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('hello')));
    const b64 = btoa(String.fromCharCode(...digest));
    const hex = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
    assert.equal(await check({ soul: 'posts#', field: b64, value: 'hello', state: 1 }), undefined);
    assert.equal(await check({ soul: 'posts#', field: `greeting#${b64}`, value: 'hello', state: 1 }), undefined);
    assert.equal(await check({ soul: 'posts#', field: hex, value: 'hello', state: 1 }), undefined);
    assert.equal(await check({ soul: 'posts#', field: hex.toUpperCase(), value: 'hello', state: 1 }), undefined);
    assert.match((await check({ soul: 'posts#', field: b64, value: 'hello!', state: 1 }))!, /SHA-256/);
    assert.ok(await check({ soul: 'posts#', field: 'nothash', value: 'hello', state: 1 }));
    // non-string values hash as their JSON text
    const one = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('1')))));
    assert.equal(await check({ soul: 'n#', field: one, value: 1, state: 1 }), undefined);
  });

  it('user space: signed by the soul\'s key; the account pub unsigned and equal to the key; everything else refused', async () => {
    const alice = await testPair(), mallory = await testPair();
    const soul = `~${alice.pub}`, w = { soul: `${soul}/profile`, field: 'name', value: 'Alice', state: 5 };
    assert.equal(await check({ ...w, value: await signedValue(alice, w) }), undefined);
    assert.equal(await check({ ...w, value: await signedValue(alice, w, { signer: alice.pub }) }), undefined, 'naming the owner itself as * is fine');
    assert.equal(await check({ ...w, value: await signedValue(alice, { ...w, value: null }) }), undefined, 'deletes are signed too');
    assert.equal(await check({ ...w, value: await signedValue(alice, { ...w, value: { '#': 'x' } }) }), undefined);
    assert.match((await check(w))!, /SEA-signed/);
    assert.match((await check({ ...w, value: null }))!, /SEA-signed/);
    assert.match((await check({ ...w, value: 'SEA{"m":"x","s":"y"}' }))!, /SEA-signed/);
    assert.match((await check({ ...w, value: await signedValue(mallory, w) }))!, /soul's public key/);
    assert.match((await check({ ...w, value: await signedValue(mallory, w, { signer: mallory.pub }) }))!, /without a certificate/);
    assert.match((await check({ ...w, value: JSON.stringify({ ':': 'Alice', '~': 'AAAA' }) }))!, /does not verify/);
    assert.match((await check({ ...w, value: JSON.stringify({ ':': 'Alice', '~': 'not base64!' }) }))!, /does not verify/);
    assert.equal(await check({ soul, field: 'pub', value: alice.pub, state: 1 }), undefined);
    assert.match((await check({ soul, field: 'pub', value: mallory.pub, state: 1 }))!, /account pub/);
    assert.match((await check({ soul: '~bad.key', field: 'a', value: await signedValue(alice, { soul: '~bad.key', field: 'a', value: 1, state: 1 }), state: 1 }))!, /does not verify/);
  });

  it('certificates: the owner lets a writer write a path until it expires', async () => {
    let now = 1000;
    const vv = new SeaVerifier({ ...opts, now: () => now });
    const alice = await testPair(), bob = await testPair(), carol = await testPair(), mallory = await testPair();
    const inbox = `~${alice.pub}/inbox`;
    const put = async (cert: unknown, o: { signer?: TestPair; field?: string; soul?: string; state?: number } = {}) => {
      const w = { soul: o.soul ?? inbox, field: o.field ?? bob.pub, value: 'hi', state: o.state ?? 10 };
      return vv.checkField({ ...w, value: await signedValue(o.signer ?? bob, w, { signer: bob.pub, cert }) });
    };
    const ok = await testCert(alice, bob.pub, { '*': 'inbox' }, { e: 2000 });
    assert.equal(await put(ok), undefined);
    assert.equal(await put('SEA' + JSON.stringify(ok)), undefined, 'a certificate as a SEA string');
    assert.equal(await put(ok, { soul: `~${alice.pub}`, field: 'inbox' }), undefined, 'the link from the account to the path');
    assert.equal(await put(await testCert(alice, '*', 'inbox/' + bob.pub)), undefined, 'an exact path, anyone');
    assert.equal(await put(await testCert(alice, [carol.pub, bob.pub], { '#': { '*': 'inb' }, '.': { '*': bob.pub.slice(0, 5) } })), undefined, 'a list of writers, soul and key lex');
    assert.equal(await put(await testCert(alice, bob.pub, [{ '*': 'outbox' }, { '*': 'inbox', '+': '*' }])), undefined, 'a list of policies, the key names the writer');
    assert.match((await put(await testCert(alice, bob.pub, { '*': 'inbox', '+': '*' }), { field: 'other' }))!, /writer's key/);
    assert.match((await put(ok, { state: 2001 }))!, /expired/);
    now = 2001;
    assert.match((await put(ok))!, /expired/, 'expired by the relay clock even with an old state');
    now = 1000;
    assert.match((await put(await testCert(alice, bob.pub, { '*': 'inbox' }, { e: Number.NaN })))!, /expiry/);
    assert.match((await put(await testCert(mallory, bob.pub, { '*': 'inbox' })))!, /not signed by the owner/);
    assert.match((await put(await testCert(alice, carol.pub, { '*': 'inbox' })))!, /name this writer/);
    assert.match((await put(await testCert(alice, bob.pub, { '*': 'outbox' })))!, /cover this path/);
    assert.match((await put(await testCert(alice, bob.pub, { '*': '' })))!, /cover this path/, 'an empty prefix matches nothing, as in gun');
    assert.match((await put(await testCert(alice, bob.pub, { '*': 'inbox' }, { wb: 'blocked' })))!, /write block/);
    assert.match((await put(ok, { signer: mallory }))!, /signer/);
    const tampered = { ...ok, m: { ...ok.m, c: '*' } };
    assert.match((await put(tampered))!, /not signed by the owner/);
    assert.match((await put({ m: ok.m }))!, /malformed/);
  });

  it('a put is refused whole: one bad field refuses all, with FORBIDDEN and the field named', async () => {
    const alice = await testPair();
    const good = { soul: `~${alice.pub}`, field: 'a', value: '', state: 1 };
    good.value = await signedValue(alice, { ...good, value: 1 });
    const err = await v.checkPut([good, { soul: `~${alice.pub}`, field: 'b', value: 2, state: 1 }]);
    assert.equal(err?.code, 'FORBIDDEN');
    assert.equal(err?.detail?.field, 'b');
    assert.equal(await v.checkPut([good]), undefined);
  });

  it('keeps at most maxKeys imported keys (LRU)', async () => {
    const vv = new SeaVerifier({ ...opts, maxKeys: 2, maxVerified: 0 });
    const pairs = await Promise.all([testPair(), testPair(), testPair()]);
    const ws = await Promise.all(pairs.map(async (p) => { const w = { soul: `~${p.pub}`, field: 'f', value: 1 as unknown, state: 1 }; return { ...w, value: await signedValue(p, w) } as FieldWrite; }));
    for (const w of [ws[0]!, ws[1]!, ws[0]!, ws[2]!, ws[0]!]) assert.equal(await vv.checkField(w), undefined);
    assert.deepEqual({ imports: vv.stats.keyImports, hits: vv.stats.keyCacheHits }, { imports: 3, hits: 2 });
    assert.equal(await vv.checkField(ws[1]!), undefined); // evicted: imported again
    assert.equal(vv.stats.keyImports, 4);
  });

  it('does not verify again a signature it verified (LRU of maxVerified); a bad one is never remembered', async () => {
    const vv = new SeaVerifier({ ...opts, maxVerified: 2 });
    const alice = await testPair();
    const ws = await Promise.all([0, 1, 2].map(async (i) => { const w = { soul: `~${alice.pub}`, field: `f${i}`, value: i as unknown, state: 1 }; return { ...w, value: await signedValue(alice, w) } as FieldWrite; }));
    assert.equal(await vv.checkField(ws[0]!), undefined);
    assert.equal(await vv.checkField(ws[0]!), undefined);
    assert.equal(vv.stats.sigCacheHits, 1);
    assert.match((await vv.checkField({ ...ws[0]!, state: 2 }))!, /does not verify/, 'the same signature on another state');
    assert.match((await vv.checkField({ ...ws[0]!, field: 'f1' }))!, /does not verify/, 'the same signature on another field');
    assert.match((await vv.checkField({ ...ws[0]!, soul: `~${alice.pub}/x` }))!, /does not verify/, 'the same signature on another soul');
    const raw = JSON.parse(ws[1]!.value as string);
    const bad = { ...ws[1]!, value: JSON.stringify({ ...raw, '~': raw['~'].replace(/^./, (c: string) => (c === 'A' ? 'B' : 'A')) }) };
    assert.match((await vv.checkField(bad))!, /does not verify/);
    assert.match((await vv.checkField(bad))!, /does not verify/);
    assert.equal(vv.stats.sigCacheHits, 1);
    for (const w of [ws[1]!, ws[2]!]) assert.equal(await vv.checkField(w), undefined); // ws[0] evicted
    assert.equal(await vv.checkField(ws[0]!), undefined);
    assert.equal(vv.stats.sigCacheHits, 1);
  });

  it('property: a signed field verifies, and any change of soul, field, state or value is refused (100 runs)', async () => {
    const pairs = await Promise.all([testPair(), testPair()]);
    const json = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.record({ '#': fc.string({ minLength: 1, maxLength: 10 }) }));
    await seeded('SEA sign/verify property', (seed) => fc.assert(fc.asyncProperty(
      fc.string({ maxLength: 12 }).map((p) => p.replace(/[~#]/g, '')), fc.string({ minLength: 1, maxLength: 12 }).filter((f) => f !== '_'), json,
      fc.double({ min: 0, max: 2e12, noNaN: true }), fc.integer({ min: 0, max: 3 }),
      async (path, field, value, state, change) => {
        const soul = path ? `~${pairs[0]!.pub}/${path}` : `~${pairs[0]!.pub}`;
        if (soul === `~${pairs[0]!.pub}` && field === 'pub') return;
        const w = { soul, field, value: '', state };
        w.value = await signedValue(pairs[0]!, { soul, field, value, state });
        assert.equal(await v.checkField(w), undefined);
        const bad = [{ ...w, soul: soul + 'x' }, { ...w, field: field + 'x' }, { ...w, state: state + 1 }, { ...w, value: await signedValue(pairs[1]!, { soul, field, value, state }) }][change]!;
        assert.ok(await v.checkField(bad));
      }), { numRuns: 100, seed }));
  });

  it('property: lexMatch agrees with gun\'s String.match (3000 runs)', async () => {
    createRequire(import.meta.url)('gun/gun.js');
    const gunMatch = (String as unknown as { match: (t: unknown, o: unknown) => boolean }).match;
    const s = fc.constantFrom('', 'a', 'ab', 'abc', 'b', 'inbox', 'inbox/x', 'z');
    const lex = fc.oneof(s, fc.constant(undefined), fc.record({ '=': s, '*': s, '>': s, '<': s }, { requiredKeys: [] }));
    await seeded('lexMatch property', async (seed) => fc.assert(fc.property(s, lex, (t, o) => { assert.equal(lexMatch(t, o), gunMatch(t, o), JSON.stringify([t, o])); }), { numRuns: 3000, seed }));
  });
});

describe('graph SEA: sha256', () => {
  it('property: equals crypto.subtle.digest for any text and length around block edges (300 runs)', async () => {
    const hex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString('hex');
    assert.equal(hex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    await seeded('sha256 property', (seed) => fc.assert(fc.asyncProperty(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.integer({ min: 0, max: 300 }).map((n) => 'x'.repeat(n))), async (t) => {
      const bytes = new TextEncoder().encode(t);
      assert.equal(hex(sha256(bytes)), hex(await crypto.subtle.digest('SHA-256', bytes)));
    }), { numRuns: 300, seed }));
    const big = new Uint8Array(100_000).map((_, i) => i * 7);
    assert.equal(hex(sha256(big)), hex(await crypto.subtle.digest('SHA-256', big)));
  });
});

describe('graph SEA: on the relay', () => {
  it('a refused put gets a FORBIDDEN err ack and stores nothing; an accepted one is stored and acked', async () => {
    const store = new MemoryGraphStore();
    const relay = new GraphRelay({ store, heartbeatMs: 0 });
    const got: Record<string, any>[] = [];
    const peer = relay.connect({ send: (t) => { const v = JSON.parse(t); for (const m of Array.isArray(v) ? v : [v]) got.push(m); }, close: () => {} });
    const alice = await testPair();
    const soul = `~${alice.pub}`, state = Date.now();
    const value = await signedValue(alice, { soul, field: 'name', value: 'Alice', state });
    const reply = async (id: string) => { for (let i = 0; i < 200; i++) { const r = got.find((m) => m['@'] === id); if (r) return r; await new Promise((res) => setTimeout(res, 5)); } throw new Error(`no reply to ${id}`); };
    peer.receive(JSON.stringify([
      { '#': 'bad', put: { [soul]: { _: { '#': soul, '>': { name: state, other: state } }, name: value, other: 'unsigned' } } },
      { '#': 'plain', put: { plain: { _: { '#': 'plain', '>': { a: state } }, a: 1 } } },
      { '#': 'good', put: { [soul]: { _: { '#': soul, '>': { name: state } }, name: value } } },
    ]));
    assert.equal((await reply('bad')).code, 'FORBIDDEN');
    assert.equal((await reply('plain')).ok, true);
    assert.equal((await reply('good')).ok, true);
    assert.equal((await store.getField(soul, 'name'))?.value, value);
    assert.equal(await store.getField(soul, 'other'), undefined);
    assert.ok(relay.sea.stats.refused >= 1);
    assert.deepEqual([relay.stats.seaRefused, relay.stats.seaVerified], [1, 1]);
    // the per-field status a dashboard shows
    peer.receive(JSON.stringify({ '#': 'plain2', put: { [`u${alice.pub}`]: { _: { '#': `u${alice.pub}`, '>': { a: state } }, a: 1 } } }));
    await reply('plain2');
    assert.deepEqual(Object.fromEntries(await relay.seaFields(soul)), { name: { kind: 'user', verified: true, signer: alice.pub } });
    assert.deepEqual(Object.fromEntries(await relay.seaFields(`u${alice.pub}`)), { a: { kind: 'open', verified: false } });
    assert.deepEqual(await relay.seaFields('nothing'), new Map());
    const stale = await relay.sea.inspect({ soul, field: 'name', value, state: state + 1 });
    assert.equal(stale.verified, false);
    assert.match(stale.reason!, /does not verify/);
    // the same signed field again (a resend, an echo, an answer to a get): acked, its signature not verified again
    const hits = relay.sea.stats.sigCacheHits;
    peer.receive(JSON.stringify({ '#': 'again', put: { [soul]: { _: { '#': soul, '>': { name: state } }, name: value } } }));
    assert.equal((await reply('again')).ok, true);
    assert.equal(relay.sea.stats.sigCacheHits, hits + 1);
    await relay.close();
  });
});
