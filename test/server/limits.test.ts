import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import type { MountFactory } from '../../src/server/mount.js';
import { tmpDir } from '../helpers/tmp.js';

/** A test-only WebSocket mount on /echo that echoes every message (stands in for /gun and /evt). */
const echoMount: MountFactory = async () => {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  return {
    name: 'echo',
    upgrade(req, socket, head, url) {
      if (url.pathname !== '/echo') return false;
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
      return true;
    },
    stats: () => ({ sockets: wss.clients.size, nested: { depth: 2 } }),
    async close() { for (const c of wss.clients) c.terminate(); await new Promise<void>((r) => wss.close(() => r())); },
  };
};

/** A mount that accepts the upgrade only after an async check (ws attaches late). */
const lateMount: MountFactory = async () => {
  const wss = new WebSocketServer({ noServer: true });
  return {
    name: 'late',
    upgrade(req, socket, head, url) {
      if (url.pathname !== '/late') return false;
      setTimeout(() => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d) => ws.send(d))), 30);
      return true;
    },
    async close() { for (const c of wss.clients) c.terminate(); await new Promise<void>((r) => wss.close(() => r())); },
  };
};

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));

function get(url: string, agent?: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(url, { agent }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('limits: WebSocket frames and message rates per connection', () => {
  let server: PlexusServer;
  const d = tmpDir();
  before(async () => {
    server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount, echoMount, lateMount], wsMaxFrameBytes: 1000, wsMessagesPerSecond: 20, env: {} });
  });
  after(async () => { await server.close(); d.rm(); });
  const wsUrl = (p: string) => server.url.replace('http', 'ws') + p;

  it('messages within the limits flow; a frame over wsMaxFrameBytes closes with 1009 and a clear reason', async () => {
    const ws = await open(wsUrl('/echo'));
    const echoed = new Promise<string>((r) => ws.once('message', (m) => r(m.toString())));
    ws.send('hello');
    assert.equal(await echoed, 'hello');
    const c = closed(ws);
    ws.send('x'.repeat(1001));
    const { code, reason } = await c;
    assert.equal(code, 1009);
    assert.match(reason, /TOO_LARGE: frame of 1001 bytes is over the limit of 1000/);
  });

  it('more messages per second than wsMessagesPerSecond closes with 1008 RATE_LIMITED', async () => {
    const ws = await open(wsUrl('/echo'));
    const c = closed(ws);
    for (let i = 0; i < 60; i++) ws.send(`m${i}`);
    const { code, reason } = await c;
    assert.equal(code, 1008);
    assert.match(reason, /RATE_LIMITED: more than 20 messages per second/);
  });

  it('meters sockets of mounts that accept the upgrade late (head bytes included)', async () => {
    const ws = await open(wsUrl('/late'));
    const got = new Promise<string>((r) => ws.once('message', (m) => r(m.toString())));
    ws.send('late hello');
    assert.equal(await got, 'late hello');
    const m = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(m, /plexus_websocket_connections\{path="other"\} 1/);
    ws.close();
    await closed(ws);
  });

  it('an unknown WebSocket path is answered 404 with a JSON error', async () => {
    const ws = new WebSocket(wsUrl('/nowhere'));
    const status = await new Promise<number>((r) => ws.once('unexpected-response', (_req, res) => r(res.statusCode!)));
    assert.equal(status, 404);
    ws.on('error', () => {});
    ws.on('error', () => {});
    ws.terminate();
  });

  it('limit closes are counted in /metrics', async () => {
    const m = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(m, /plexus_websocket_limit_closes_total\{path="other",limit="frame"\} 1/);
    assert.match(m, /plexus_websocket_limit_closes_total\{path="other",limit="messages"\} 1/);
  });
});

describe('limits: connections and HTTP requests', () => {
  it('connections over maxConnectionsPerIp get 429 RATE_LIMITED (HTTP and WebSocket); freed slots are reusable', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount, echoMount], maxConnectionsPerIp: 2, env: {} });
    try {
      const a = await open(server.url.replace('http', 'ws') + '/echo');
      const b = await open(server.url.replace('http', 'ws') + '/echo');
      const r = await get(`${server.url}/healthz`);
      assert.equal(r.status, 429);
      assert.equal(JSON.parse(r.body).error.code, 'RATE_LIMITED');
      assert.match(JSON.parse(r.body).error.message, /too many connections from .* \(limit 2\)/);
      const ws = new WebSocket(server.url.replace('http', 'ws') + '/echo');
      assert.equal(await new Promise<number>((res) => ws.once('unexpected-response', (_q, s) => res(s.statusCode!))), 429);
      ws.on('error', () => {});
      ws.on('error', () => {});
    ws.terminate();
      a.close();
      await closed(a);
      await new Promise((res) => setTimeout(res, 50));
      assert.equal((await get(`${server.url}/healthz`)).status, 200);
      b.close();
      await closed(b);
      await new Promise((res) => setTimeout(res, 50));
      const m = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(m, /plexus_connections_rejected_total\{reason="per_ip"\} 2/);
    } finally {
      await server.close();
      d.rm();
    }
  });

  it('more than httpRequestsPerSecond on one connection get 429 RATE_LIMITED', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], httpRequestsPerSecond: 5, env: {} });
    try {
      // 10 pipelined requests in one write on one connection: far faster than 5 per second.
      const sock = connect(server.port, '127.0.0.1');
      let text = '';
      sock.on('data', (c) => { text += c; });
      const done = new Promise((r) => sock.on('close', r));
      sock.write('GET /blob HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(9) + 'GET /blob HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      await done;
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      assert.equal(statuses.length, 10, text);
      assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
      assert.ok(statuses.slice(5).every((s) => s === 429 || s === 200) && statuses.slice(5).includes(429), String(statuses));
      assert.match(text, /RATE_LIMITED.*more than 5 requests per second on this connection/);
    } finally {
      await server.close();
      d.rm();
    }
  });
});

describe('metrics: /metrics in Prometheus text format', () => {
  it('counts HTTP requests by route and status, WebSockets per path, and exports module stats', async () => {
    const d = tmpDir();
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount, echoMount], env: {} });
    try {
      await fetch(`${server.url}/blob`, { method: 'POST', body: 'metrics', headers: { 'content-type': 'application/octet-stream' } });
      await fetch(`${server.url}/blob/${'0'.repeat(64)}`);
      const ws = await open(server.url.replace('http', 'ws') + '/echo');
      const got = new Promise((r) => ws.once('message', r));
      ws.send('one');
      await got;
      const res = await fetch(`${server.url}/metrics`);
      assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      const m = await res.text();
      assert.match(m, /plexus_http_requests_total\{method="POST",route="\/blob",status="201"\} 1/);
      assert.match(m, /plexus_http_requests_total\{method="GET",route="\/blob",status="404"\} 1/);
      assert.match(m, /plexus_websocket_connections\{path="other"\} 1/);
      assert.match(m, /plexus_websocket_messages_received_total\{path="other"\} 1/);
      assert.match(m, /plexus_store_stat\{module="echo",stat="sockets"\} 1/);
      assert.match(m, /plexus_store_stat\{module="echo",stat="nested_depth"\} 2/);
      assert.match(m, /plexus_store_stat\{module="blob",stat="\w+"\} \d+/);
      assert.match(m, /plexus_process_resident_memory_bytes \d+/);
      assert.match(m, /plexus_uptime_seconds [\d.]+/);
      const h = await (await fetch(`${server.url}/healthz`)).json() as { websockets: Record<string, number>; totals: Record<string, number>; rates: Record<string, number> };
      assert.equal(h.websockets.other, 1);
      assert.equal(h.totals.wsMessagesIn, 1);
      assert.equal(typeof h.rates.httpRequests, 'number');
      ws.close();
      await closed(ws);
    } finally {
      await server.close();
      d.rm();
    }
  });
});

describe('healthz', () => {
  it('answers 503 with the failing module named when a module\'s stats fail (e.g. its database is down)', async () => {
    const d = tmpDir();
    const broken: MountFactory = async () => ({ name: 'broken', stats: () => Promise.reject(new Error('database unreachable')), close: async () => {} });
    const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount, broken], env: {} });
    try {
      const r = await fetch(`${server.url}/healthz`);
      assert.equal(r.status, 503);
      const body = await r.json() as { ok: boolean; stats: Record<string, { error?: string }> };
      assert.equal(body.ok, false);
      assert.equal(body.stats.broken?.error, 'database unreachable');
      assert.ok(body.stats.blob);
    } finally {
      await server.close();
      d.rm();
    }
  });
});
