import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { busMount } from '../../src/server/bus.js';
import { connect, type Peer } from '../../src/bus/index.js';
import { tmpDir } from '../helpers/tmp.js';

const AMQP = process.env.PLEXUS_TEST_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('bus on RabbitMQ: two plexus serve with --amqp and an outside peer share one network', () => {
  const ns = `plexus-test-${randomBytes(4).toString('hex')}`;
  const d = tmpDir();
  let a: PlexusServer, b: PlexusServer, outside: Peer;
  before(async () => {
    outside = await connect({ url: AMQP, logger: () => {} });
    await outside.listen(ns, (req, res) => res.done({ served: 'outside', got: req.payload }));
    a = await startServer({ port: 0, dataDir: `${d.path}/a`, logLevel: 'silent', mounts: [busMount], amqp: AMQP, env: {} });
    b = await startServer({ port: 0, dataDir: `${d.path}/b`, logLevel: 'silent', mounts: [busMount], amqp: AMQP, env: {} });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await outside?.stop();
    // the durable cmd.<ns> queue this test's namespace declared (rinq keeps it; a test must not)
    const conn = await amqp.connect(AMQP);
    try { await (await conn.createChannel()).deleteQueue(`cmd.${ns}`); } finally { await conn.close(); }
    d.rm();
  });

  it('each server reports the amqp transport and calls reach peers on other processes', async () => {
    for (const s of [a, b]) {
      const info = await (await fetch(`${s.url}/api/bus`)).json() as { transport: string; peer: string };
      assert.equal(info.transport, 'amqp');
      const r = await (await fetch(`${s.url}/api/bus/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: ns, command: 'hi', payload: { from: info.peer } }) })).json() as { ok: boolean; result: { served: string; got: { from: string } } };
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.deepEqual(r.result, { served: 'outside', got: { from: info.peer } });
    }
    // The outside peer can call the servers' own namespace too.
    const s = outside.session();
    assert.equal(await s.call('plexus.server', 'ping', null, { timeoutMs: 5000 }), 'pong');
    s.destroy();
  });
});
