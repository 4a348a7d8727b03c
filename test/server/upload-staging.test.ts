import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { startServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { tmpDir } from '../helpers/tmp.js';

describe('blob uploads staged on disk', () => {
  it('a server removes uploads left by dead processes at start, and an aborted upload leaves no file', async () => {
    const d = tmpDir();
    mkdirSync(join(d.path, 'tmp'), { recursive: true });
    writeFileSync(join(d.path, 'tmp', 'upload-999999999-00ff'), 'partial');
    const s = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
    try {
      assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
      // an upload that announces 1 MiB, sends 10 bytes and disconnects
      await new Promise<void>((resolve) => {
        const req = request(`${s.url}/blob`, { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': 1 << 20 } });
        req.on('error', () => resolve());
        req.write(Buffer.alloc(10));
        setTimeout(() => { req.destroy(); resolve(); }, 200);
      });
      for (let i = 0; i < 50 && readdirSync(join(d.path, 'tmp')).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
    } finally { await s.close(); d.rm(); }
  });
});
