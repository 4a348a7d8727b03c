// A response that cannot be published never acks its request: the request is left for redelivery
// (rejected with requeue) and answered when it comes again. A transport whose publish fails for the
// first responses (thrown, or rejected later) stands in for a broker connection that just dropped.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlexusError } from '../../src/errors.js';
import { Peer } from '../../src/bus/index.js';
import { MemoryNetwork } from '../../src/bus/transport/memory.js';
import type { Transport, WireMessage } from '../../src/bus/transport/transport.js';

function flaky(inner: Transport, fail: (m: WireMessage) => 'throw' | 'reject' | undefined): Transport {
  return new Proxy(inner, {
    get(t, k) {
      if (k === 'publish') {
        return (m: WireMessage) => {
          const how = fail(m);
          if (how === 'throw') throw new PlexusError('UNAVAILABLE', 'broker connection is down (test)');
          if (how === 'reject') return Promise.reject(new PlexusError('UNAVAILABLE', 'channel closed (test)'));
          return t.publish(m);
        };
      }
      const v = (t as unknown as Record<PropertyKey, unknown>)[k];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

describe('bus: a response that cannot be published leaves its request for redelivery', () => {
  for (const how of ['throw', 'reject'] as const) {
    it(`publish ${how === 'throw' ? 'throws' : 'rejects'}: the request comes again and is answered once`, async () => {
      const net = new MemoryNetwork();
      let failures = 2;
      const logs: string[] = [];
      const server = new Peer(flaky(net.transport(), (m) => (m.exchange === 'cmd.rsp' && failures-- > 0 ? how : undefined)), { logger: (_l, msg) => logs.push(msg) });
      const client = new Peer(net.transport(), { logger: () => {} });
      try {
        let runs = 0;
        await server.listen('svc', (req, res) => { runs++; res.done({ echo: req.payload }); });
        assert.deepEqual(await client.session().call('svc', 'x', 7, { timeoutMs: 2000 }), { echo: 7 });
        assert.equal(runs, 3, 'handled until its response could be published');
        assert.equal(logs.filter((l) => l.includes('left for redelivery')).length, 2, logs.join('\n'));
      } finally {
        await client.stop();
        await server.stop();
      }
    });
  }
});
