import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { download, MiB, peakWhile, refOfChunks, upload } from '../helpers/blob-traffic.js';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { tmpDir } from '../helpers/tmp.js';

/** The bound README states for parallel uploads (section "Memory"): each holds one socket buffer and one part, plus runtime slack. */
const UPLOADS = 10, UPLOAD_MIB = 60, UPLOAD_BOUND_MIB = 200;

describe('bounded memory: uploads are staged on disk while hashed (plexus serve, SQLite)', () => {
  let s: ServeChild;
  const d = tmpDir();
  before(async () => { s = await serveChild(['--data', d.path]); });
  after(async () => { await s.kill(); d.rm(); });

  it(`${UPLOADS} parallel ${UPLOAD_MIB} MiB uploads: RSS grows < ${UPLOAD_BOUND_MIB} MiB, all stored and readable`, async () => {
    const base = s.rssMiB();
    const seeds = Array.from({ length: UPLOADS }, () => randomBytes(MiB));
    const { value, peak } = await peakWhile(s, Promise.all(seeds.map((x) => upload(s.url, x, UPLOAD_MIB))));
    console.log(`parallel uploads: RSS ${base.toFixed(0)} -> peak ${peak.toFixed(0)} MiB`);
    value.forEach((r, i) => { assert.equal(r.status, 201); assert.equal(r.body.ref, refOfChunks(seeds[i]!, UPLOAD_MIB)); });
    assert.ok(peak - base < UPLOAD_BOUND_MIB, `RSS grew by ${(peak - base).toFixed(0)} MiB`);
    const back = await download(`${s.url}/blob/${value[3]!.body.ref}`);
    assert.equal(back.sha, value[3]!.body.ref);
  });

});
