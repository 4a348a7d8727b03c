import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { download, MiB, refOfChunks, upload } from '../helpers/blob-traffic.js';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { tmpDir } from '../helpers/tmp.js';

/**
 * The bounds README states for these attacks (section "Memory"): each stalled download holds at most
 * about two parts (BLOB_PART_BYTES, 1 MiB) plus socket buffers, each upload one socket buffer and one
 * part; the allowance below adds the runtime's own slack (GC, allocator).
 */
const STALLED_READERS = 30, STALLED_BOUND_MIB = 160;

describe('bounded memory: blob GET streams with backpressure, PUT checks the hash (plexus serve, SQLite)', () => {
  let s: ServeChild;
  const d = tmpDir();
  const seed = randomBytes(MiB);
  let big = '';
  before(async () => { s = await serveChild(['--data', d.path]); });
  after(async () => { await s.kill(); d.rm(); });

  it(`a 64 MiB blob uploads and reads back byte-identical`, async () => {
    const r = await upload(s.url, seed, 64);
    assert.equal(r.status, 201);
    big = refOfChunks(seed, 64);
    assert.equal(r.body.ref, big);
    const got = await download(`${s.url}/blob/${big}`);
    assert.deepEqual(got, { status: 200, sha: big, bytes: 64 * MiB });
  });

  it(`${STALLED_READERS} sockets GET the 64 MiB blob and never read: RSS grows < ${STALLED_BOUND_MIB} MiB and other clients are served`, async () => {
    const base = s.rssMiB();
    const { port } = new URL(s.url);
    const sockets: Socket[] = [];
    for (let i = 0; i < STALLED_READERS; i++) {
      const sock = connect(Number(port), '127.0.0.1');
      sock.on('error', () => {});
      sock.write(`GET /blob/${big} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      sock.pause();
      sockets.push(sock);
    }
    try {
      let peak = base;
      const t0 = Date.now();
      while (Date.now() - t0 < 3000) { peak = Math.max(peak, s.rssMiB()); await new Promise((r) => setTimeout(r, 50)); }
      // meanwhile: a small blob round trip and the whole big blob for a normal reader
      const small = await upload(s.url, randomBytes(MiB), 1);
      assert.equal(small.status, 201);
      const normal = await download(`${s.url}/blob/${big}`);
      assert.equal(normal.sha, big);
      peak = Math.max(peak, s.rssMiB());
      console.log(`stalled readers: RSS ${base.toFixed(0)} -> peak ${peak.toFixed(0)} MiB`);
      assert.ok(peak - base < STALLED_BOUND_MIB, `RSS grew by ${(peak - base).toFixed(0)} MiB`);
    } finally { for (const x of sockets) x.destroy(); }
  });

  it('a streamed GET of a blob stored corrupt ends short of its content-length (an error), never a clean 200', async () => {
    const db = new Database(join(d.path, 'blob.db'));
    try {
      db.prepare('UPDATE blob_parts SET data = ? WHERE ref = ? AND seq = 5').run(Buffer.alloc(MiB, 1), Buffer.from(big, 'hex'));
    } finally { db.close(); }
    const outcome = await new Promise<string>((resolve) => {
      request(`${s.url}/blob/${big}`, { agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => { n += c.length; });
        res.on('end', () => resolve(`clean end after ${n} bytes`));
        res.on('error', (e) => resolve(`error after ${n} bytes: ${e.message}`));
        res.on('aborted', () => resolve(`aborted after ${n} bytes`));
      }).on('error', (e) => resolve(`request error ${e.message}`)).end();
    });
    assert.match(outcome, /^(error|aborted)/, outcome);
    assert.ok(!outcome.includes(`${64 * MiB} bytes`), outcome);
  });

  it('PUT /blob/:ref with bytes of another ref is HASH_MISMATCH and stores nothing', async () => {
    const wrong = 'ab'.repeat(32);
    const r = await upload(s.url, seed, 2, `/blob/${wrong}`);
    assert.equal(r.status, 400);
    assert.equal(r.body.error?.code, 'HASH_MISMATCH');
    assert.equal((await download(`${s.url}/blob/${wrong}`)).status, 404);
  });
});
