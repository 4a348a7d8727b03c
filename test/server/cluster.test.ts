import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { defaultMounts } from '../../src/server/mounts.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

const AMQP = process.env.PLEXUS_TEST_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672';
const TOKEN = 'cluster-token-1';

/** Open a WebSocket and collect its text frames; `until` waits for one matching. */
async function socket(url: string) {
  const ws = new WebSocket(url);
  const frames: string[] = [];
  ws.on('message', (m) => frames.push(m.toString()));
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return {
    ws, frames,
    async until(pred: (f: string) => boolean, ms = 5000): Promise<string> {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const f = frames.find(pred);
        if (f) return f;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no matching frame in ${ms} ms: ${JSON.stringify(frames).slice(0, 500)}`);
    },
  };
}

describe('several nodes: two plexus serve on one PostgreSQL + RabbitMQ (the documented cluster deployment)', () => {
  let a: PlexusServer, b: PlexusServer, pg: Awaited<ReturnType<typeof freshPgSchema>>;
  const d = tmpDir();
  before(async () => {
    pg = await freshPgSchema('cluster');
    const opts = { port: 0, dataDir: d.path, postgres: pg.url, amqp: AMQP, token: TOKEN, logLevel: 'silent' as const, mounts: defaultMounts, env: {} };
    a = await startServer(opts);
    b = await startServer(opts);
  });
  after(async () => { await a?.close(); await b?.close(); await pg?.drop(); d.rm(); });
  const has = (name: string) => a.mounts.some((m) => m.name === name);
  const ws = (s: PlexusServer, path: string) => `${s.url.replace('http', 'ws')}${path}?token=${TOKEN}`;

  it('a blob put on node A is served by node B', async () => {
    const r = await (await fetch(`${a.url}/blob`, { method: 'POST', body: 'clustered', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' } })).json() as { ref: string };
    assert.equal(await (await fetch(`${b.url}/blob/${r.ref}`)).text(), 'clustered');
  });

  it('graph: a client on node B sees a put made on node A live', async () => {
    assert.ok(has('graph'), 'graph module is mounted');
    const onB = await socket(ws(b, '/gun'));
    onB.ws.send(JSON.stringify({ '#': 'cl-g1', get: { '#': 'cluster/doc' } }));
    await onB.until((f) => f.includes('"cl-g1"'));
    const onA = await socket(ws(a, '/gun'));
    onA.ws.send(JSON.stringify({ '#': 'cl-p1', put: { 'cluster/doc': { _: { '#': 'cluster/doc', '>': { title: Date.now() } }, title: 'from A' } } }));
    await onA.until((f) => f.includes('"cl-p1"') && f.includes('"ok"'));
    await onB.until((f) => f.includes('"from A"'));
    onA.ws.close();
    onB.ws.close();
  });

  it('ledger: a subscriber on node B gets an event published on node A', async () => {
    assert.ok(has('ledger'), 'ledger module is mounted');
    const onB = await socket(ws(b, '/evt'));
    onB.ws.send('evt.sub#1\n{"rev":"0001-01-01T00:00:00Z","tops":["cluster.top"]}');
    await onB.until((f) => f.startsWith('evt.sub#1\n'));
    const onA = await socket(ws(a, '/evt'));
    onA.ws.send('evt.pub#1\n{"acts":[{"top":"cluster.top","key":"1","cmd":"new","arg":{"from":"A"}}]}');
    assert.match(await onA.until((f) => f.startsWith('evt.pub#1\n')), /"res"/);
    await onB.until((f) => f.startsWith('evt.update') && f.includes('"from":"A"'), 8000);
    onA.ws.close();
    onB.ws.close();
  });

  it('bus: both nodes are peers on the same RabbitMQ network', async () => {
    const [pa, pb] = await Promise.all([a, b].map(async (s) => (await (await fetch(`${s.url}/api/bus`)).json() as { peer: string; transport: string })));
    assert.equal(pa!.transport, 'amqp');
    assert.notEqual(pa!.peer, pb!.peer);
  });
});
