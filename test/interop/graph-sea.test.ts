import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually } from '../graph/helpers/gun.js';
import { GunSeaPeer } from '../graph/helpers/gun-sea.js';
import { RawPeer, userScenario } from '../graph/helpers/sea-scenario.js';

// Real gun 0.2020.1241 + SEA clients, each in its own process, with accounts on the plexus relay; the
// forgeries gun.js will not produce are sent as raw WebSocket frames (signatures made by real SEA).
describe('interop: gun SEA users through the plexus relay', () => {
  let server: PlexusServer;
  let url: string;
  const dir = tmpDir();
  const peers: GunSeaPeer[] = [];
  const raws: RawPeer[] = [];
  const peer = async () => { const p = new GunSeaPeer(url); peers.push(p); await p.ready(); return p; };
  const raw = async () => { const p = new RawPeer(url); raws.push(p); await p.open(); return p; };
  let s: Awaited<ReturnType<typeof userScenario>>;

  before(async () => {
    server = await startServer({ port: 0, dataDir: dir.path, logLevel: 'silent', mounts: [graphMount] });
    url = `${server.url}/gun`;
  });
  after(async () => {
    for (const r of raws) r.close();
    await Promise.all(peers.map((p) => p.close()));
    await server.close();
    dir.rm();
  });

  it('create + auth on A, login and profile edits from a second process B, reads by C (not logged in), certified writes by bob', async () => {
    s = await userScenario(url, peer);
  });

  it('refuses every forgery with a FORBIDDEN err and stores nothing of it', async () => {
    assert.ok(s, 'needs the scenario above');
    const { a, bob, reader, alicePub, bobPub } = s;
    const r = await raw();
    const mallory = await a.pair();
    const alice = (await a.me()).pair!;
    const bobPair = (await bob.me()).pair!;
    const profile = `~${alicePub}/profile`, inbox = `~${alicePub}/inbox`;
    const refused = async (what: string, why: RegExp, graph: Record<string, Record<string, unknown>>, state?: number) => {
      const ack = await r.put(graph, state);
      assert.equal(ack.code, 'FORBIDDEN', `${what}: ${JSON.stringify(ack)}`);
      assert.equal(typeof ack.err, 'string');
      assert.equal(ack.ok, undefined);
      assert.match(ack.err, why, what);
    };
    const t = Date.now();
    const sign = (o: { pair: typeof alice; soul: string; key: string; value: unknown; signer?: string; cert?: string; state?: number }) => a.signField({ ...o, state: o.state ?? t });

    await refused('unsigned value', /must be SEA-signed/, { [profile]: { name: 'Mallory' } }, t);
    await refused('signed by another key', /against the soul's public key/, { [profile]: { name: await sign({ pair: mallory, soul: profile, key: 'name', value: 'Mallory' }) } }, t);
    // gun's hole: the forger names itself with '*' and has no certificate; gun's relay stores it
    await refused('another key naming itself with * and no certificate', /without a certificate/, { [profile]: { name: await sign({ pair: mallory, soul: profile, key: 'name', value: 'Mallory', signer: mallory.pub }) } }, t);
    await refused('a changed account pub', /account pub/, { [`~${alicePub}`]: { pub: mallory.pub } }, t);
    await refused('a signed changed account pub', /account pub/, { [`~${alicePub}`]: { pub: await sign({ pair: alice, soul: `~${alicePub}`, key: 'pub', value: mallory.pub }) } }, t);

    // a real signature replayed onto another field, another soul, another state
    const real = await r.get(profile, 'name');
    assert.ok(real && typeof real.value === 'string');
    await refused('replayed onto another field', /against the soul's public key/, { [profile]: { motto: real.value } }, real.state);
    await refused('replayed onto another soul', /against the soul's public key/, { [`~${alicePub}/other`]: { name: real.value } }, real.state);
    await refused('replayed with a newer state', /against the soul's public key/, { [profile]: { name: real.value } }, real.state + 1);

    // certificates: expired, signed by someone else, naming someone else, covering another path
    const forBob = (cert: string, value = 'forged') => sign({ pair: bobPair, soul: inbox, key: bobPub, value, signer: bobPub, cert });
    const expired = await a.certify(bobPub, { '*': 'inbox' }, Date.now() - 1000);
    await refused('an expired certificate', /certificate expired/, { [inbox]: { [bobPub]: await forBob(expired) } }, t);
    const foreign = await a.certifyWith(mallory, bobPub, { '*': 'inbox' });
    await refused('a certificate from someone other than the owner', /not signed by the owner/, { [inbox]: { [bobPub]: await forBob(foreign) } }, t);
    const carol = await a.pair();
    const forCarol = await a.certify(carol.pub, { '*': 'inbox' });
    await refused('a certificate for another writer', /does not name this writer/, { [inbox]: { [bobPub]: await forBob(forCarol) } }, t);
    const outbox = await a.certify(bobPub, { '*': 'outbox' });
    await refused('a certificate for another path', /does not cover this path/, { [inbox]: { [bobPub]: await forBob(outbox) } }, t);
    const valid = await a.certify(bobPub, { '*': 'inbox' }, Date.now() + 60_000);
    await refused('a valid certificate but a signature by another key', /against the signer/, { [inbox]: { [bobPub]: await sign({ pair: mallory, soul: inbox, key: bobPub, value: 'x', signer: bobPub, cert: valid }) } }, t);

    // aliases: an alias node maps ~pub to the link ~pub; the alias index maps alias to ~@alias
    await refused('an alias pointing elsewhere', /alias node/, { '~@alice': { [`~${mallory.pub}`]: { '#': `~${alicePub}` } } }, t);
    await refused('an unlinked alias', /alias node/, { '~@alice': { [`~${mallory.pub}`]: 'yes' } }, t);
    await refused('an alias index pointing elsewhere', /alias index/, { '~@': { alice: { '#': '~@mallory' } } }, t);
    await refused('a ~ soul naming no key', /must name a public key/, { '~nokey': { a: 1 } }, t);

    // content-addressed souls: the field after its last # is the hash of the value
    const hash = await a.work('hello, content');
    assert.equal((await r.put({ 'posts#': { [hash]: 'hello, content' } }, t)).ok, true);
    assert.equal((await r.put({ 'posts#': { [`note#${hash}`]: 'hello, content' } }, t)).ok, true);
    await refused('a wrong content hash', /SHA-256 of the value/, { 'posts#': { [hash]: 'something else' } }, t);

    // the whole put is refused when one field is: the valid field beside the forgery is not stored
    const mood = await sign({ pair: alice, soul: profile, key: 'mood', value: 'happy' });
    await refused('a valid field beside a forged one', /must be SEA-signed/, { [profile]: { mood, name: 'Mallory' } }, t);
    assert.equal(await r.get(profile, 'mood'), undefined);
    // and the same valid field alone is accepted, so the raw path itself is sound
    assert.equal((await r.put({ [profile]: { mood } }, t)).ok, true);
    assert.equal((await r.put({ [inbox]: { [bobPub]: await forBob(valid, 'raw but certified') } }, t)).ok, true);

    // nothing forged reached the store or a reader
    assert.equal(await r.get(profile, 'motto'), undefined);
    assert.equal(await r.get(`~${alicePub}/other`, 'name'), undefined);
    assert.equal((await r.get(`~${alicePub}`, 'pub'))?.value, alicePub);
    assert.equal(await r.get('~@alice', `~${mallory.pub}`), undefined);
    assert.equal(await r.get('~nokey', 'a'), undefined);
    assert.deepEqual(await r.get(profile, 'name'), real);
    assert.equal(await reader.pubonce(alicePub, ['profile', 'name']), 'Alice');
    assert.equal(await eventually(async () => ((await reader.pubonce(alicePub, ['inbox', bobPub])) === 'raw but certified' ? 'ok' : undefined), 10_000, 'the reader sees the certified raw write'), 'ok');
  });
});
