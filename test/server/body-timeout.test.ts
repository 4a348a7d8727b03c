import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { REQUEST_BODY_TIMEOUT_MS } from '../../src/limits.js';
import { tmpDir } from '../helpers/tmp.js';

describe('a request body that times out', () => {
  for (const [what, path, type] of [['JSON body (PUT /anchor/:name)', '/anchor/x', 'application/json'], ['blob upload (PUT /blob/:ref)', '/blob/' + 'a'.repeat(64), 'application/octet-stream']] as const) {
    it(`${what}: answers 408 TIMEOUT with Connection: close and the server closes the connection`, async () => {
      const d = tmpDir();
      const s = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
      try {
        mock.timers.enable({ apis: ['setTimeout'] });
        const sock = connect(Number(new URL(s.url).port), '127.0.0.1');
        let got = '';
        sock.on('data', (c) => { got += c; });
        const closed = new Promise<void>((r) => sock.once('close', () => r()));
        await new Promise((r) => sock.once('connect', r));
        sock.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: 1000\r\n\r\n0123456789`);
        for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r)); // let the handler read the head and arm its timer
        mock.timers.tick(REQUEST_BODY_TIMEOUT_MS + 1);
        mock.timers.reset();
        const t = globalThis.setTimeout(() => sock.destroy(), 5000);
        await closed;
        globalThis.clearTimeout(t);
        assert.match(got, /^HTTP\/1\.1 408/);
        assert.match(got, /connection: close/i);
        assert.match(got, /"code":"TIMEOUT"/);
      } finally {
        mock.timers.reset();
        await s.close();
        d.rm();
      }
    });
  }
});
