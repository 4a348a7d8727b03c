import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer } from '../../src/server/http.js';
import { graphMount } from '../../src/server/graph.js';
import { blobMount } from '../../src/server/blob.js';
import type { MountFactory } from '../../src/server/mount.js';
import { tmpDir } from '../helpers/tmp.js';

/** A stand-in ledger module whose stats the test sets. */
const fakeLedger = (stats: Record<string, number>): MountFactory => async () => ({ name: 'ledger', stats: () => stats, close: async () => {} });

describe('metrics: module counters are Prometheus counters', () => {
  it('growing module figures are *_total counters; sizes stay gauges', async () => {
    const d = tmpDir();
    const ledgerStats = { published: 3, pushes: 7, errors: 0, connections: 2 };
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [graphMount, blobMount, fakeLedger(ledgerStats)], env: {} });
    try {
      const ws = new WebSocket(server.url.replace('http', 'ws') + '/gun');
      await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
      const ack = new Promise((r) => ws.once('message', r));
      ws.send(JSON.stringify({ '#': 'm1', put: { a: { _: { '#': 'a', '>': { x: 1 } }, x: 1 } } }));
      await ack;
      await fetch(`${server.url}/blob`, { method: 'POST', body: 'counted', headers: { 'content-type': 'application/octet-stream' } });
      const m = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(m, /# TYPE plexus_graph_puts_total counter\nplexus_graph_puts_total 1\n/);
      assert.match(m, /# TYPE plexus_graph_messages_total counter\nplexus_graph_messages_total [1-9]/);
      assert.match(m, /# TYPE plexus_ledger_published_total counter\nplexus_ledger_published_total 3\n/);
      assert.match(m, /plexus_ledger_pushes_total 7\n/);
      assert.match(m, /plexus_ledger_errors_total 0\n/);
      assert.match(m, /# TYPE plexus_bus_calls_total counter\nplexus_bus_calls_total 0\n/, 'a module not mounted reads 0');
      assert.match(m, /plexus_store_stat\{module="graph",stat="peers"\} 1/);
      assert.match(m, /plexus_store_stat\{module="ledger",stat="connections"\} 2/);
      assert.match(m, /plexus_store_stat\{module="blob",stat="blobs"\} 1/);
      assert.doesNotMatch(m, /plexus_store_stat\{module="(graph|ledger)",stat="(puts|messages|published|pushes|errors)"\}/);
      ledgerStats.published = 5;
      await new Promise((r) => setTimeout(r, 300));
      assert.match(await (await fetch(`${server.url}/metrics`)).text(), /plexus_ledger_published_total 5\n/);
      ws.close();
    } finally {
      await server.close();
      d.rm();
    }
  });
});
