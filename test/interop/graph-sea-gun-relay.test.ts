import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startGunRelay } from '../graph/helpers/gun.js';
import { GunSeaPeer } from '../graph/helpers/gun-sea.js';
import { RawPeer, userScenario } from '../graph/helpers/sea-scenario.js';

// Control: the same gun + SEA scenario against gun's own relay (require('gun'), SEA on), so the plexus
// test checks behaviour gun apps really get; and the hole plexus closes (gun.md §8.4) is shown here.
describe('interop control: gun SEA users through gun\'s own relay', () => {
  let relay: Awaited<ReturnType<typeof startGunRelay>>;
  const peers: GunSeaPeer[] = [];
  const raws: RawPeer[] = [];
  const peer = async () => { const p = new GunSeaPeer(relay.url); peers.push(p); await p.ready(); return p; };
  let s: Awaited<ReturnType<typeof userScenario>>;

  before(async () => { relay = await startGunRelay(); });
  after(async () => {
    for (const r of raws) r.close();
    await Promise.all(peers.map((p) => p.close()));
    await relay.close();
  });

  it('the scenario passes on gun\'s relay too', async () => {
    s = await userScenario(relay.url, peer);
  });

  it('gun\'s relay refuses an unsigned value but accepts and serves a value signed by another key naming itself with *', async () => {
    assert.ok(s, 'needs the scenario above');
    const { a, alicePub } = s;
    const r = new RawPeer(relay.url);
    raws.push(r);
    await r.open();
    const profile = `~${alicePub}/profile`;
    const t = Date.now();
    const unsigned = await r.put({ [profile]: { name: 'Mallory' } }, t);
    assert.equal(typeof unsigned.err, 'string');
    const mallory = await a.pair();
    const forged = await a.signField({ pair: mallory, soul: profile, key: 'name', value: 'Mallory', state: t, signer: mallory.pub });
    const ack = await r.put({ [profile]: { name: forged } }, t);
    assert.equal(ack.err, undefined, 'gun accepts it');
    const fresh = await peer();
    assert.equal(await eventually(async () => ((await fresh.pubonce(alicePub, ['profile', 'name'])) === 'Mallory' ? 'Mallory' : undefined), 10_000, 'a fresh reader gets the forgery'), 'Mallory');
  });
});
