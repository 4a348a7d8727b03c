// Tests leave nothing on the shared broker: the durable cmd.<ns> queues a test network declares are
// deleted when it closes (rinq keeps them; a test run must not pile them up).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { amqpTestNetwork, rabbitmqctl } from './amqp-helpers.js';

describe('bus tests on RabbitMQ: cleanup', () => {
  it('a test network deletes the durable cmd.<ns> queues it declared, with their messages', async () => {
    const net = await amqpTestNetwork('cleanup-check');
    const ns = net.ns('cleanup'), unserved = net.ns('cleanup.nobody');
    const p = await net.peer({ logger: () => {} });
    await p.listen(ns, (_r, res) => res.done(1));
    const s = p.session();
    assert.equal(await s.call(ns, 'x'), 1);
    await s.execute(unserved, 'x'); // a persistent message left in a queue nobody consumes
    const names = () => new Set(rabbitmqctl('list_queues', 'name') ?? []);
    const before = names();
    assert.ok(before.has(`cmd.${ns}`) && before.has(`cmd.${unserved}`), 'declared');
    await net.close();
    const after = names();
    assert.equal(after.has(`cmd.${ns}`), false);
    assert.equal(after.has(`cmd.${unserved}`), false);
  });
});
