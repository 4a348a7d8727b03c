import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { isPlexusError } from '../../src/errors.js';
import { refOf, ZERO_REF, type Ref } from '../../src/blob/ref.js';
import type { Store } from '../../src/blob/store.js';
import { openStore } from '../../src/blob/open.js';
import { FileStore } from '../../src/blob/store/file.js';
import { SqliteStore } from '../../src/blob/store/sqlite.js';
import { PgStore } from '../../src/blob/store/postgres.js';
import { BsSqliteStore, BS_SQLITE_SCHEMA } from '../../src/blob/store/bs-sqlite.js';
import { BsPgStore } from '../../src/blob/store/bs-postgres.js';
import { AnchorMapStore, anchorPair, buildMap } from '../../src/blob/bs/anchor-map.js';
import { BsStore } from '../../src/blob/bs/bs-store.js';
import { getProto } from '../../src/blob/bs/proto-types.js';
import { getStream, putStream } from '../../src/blob/split.js';
import { MemoryStore } from '../../src/blob/store/memory.js';
import { BLOB_PART_BYTES } from '../../src/limits.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { startServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { HttpStore } from '../../src/blob/store/http.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

const te = new TextEncoder();
const FIXTURES = new URL('../fixtures/bs/', import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).pathname;

interface ManifestStore {
  kind: 'file' | 'sqlite3' | 'pg';
  path: string;
  anchorMapRoot: Ref;
  refs: Ref[];
  blobs?: Record<string, string>;
  histories: Record<string, { ref: Ref; atNs: string }[]>;
  typedBlob: { ref: Ref; type: string; seconds: string; nanos: string };
  splitFile: { anchor: string; root: Ref; sha256: string; size: string };
}
const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { stores: ManifestStore[] };

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  return Buffer.concat((await collect(it)).map((c) => Buffer.from(c)));
}

const schemas: { drop(): Promise<void> }[] = [];
after(async () => { await Promise.all(schemas.map((s) => s.drop())); });

/** A scratch schema with bs's pg dump loaded into it (the dump names no schema: it lands in search_path). */
async function loadPgDump(): Promise<{ url: string; schema: string }> {
  const s = await freshPgSchema('bsdump');
  schemas.push(s);
  const c = new pg.Client({ connectionString: s.url });
  await c.connect();
  try {
    await c.query(readFileSync(fixture('bs-pg.sql'), 'utf8'));
  } finally {
    await c.end();
  }
  return s;
}

async function tablesOf(url: string, schema: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ t: string }>('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema])).rows.map((r) => r.t);
  } finally {
    await c.end();
  }
}

/** A copy of one of bs's on-disk stores, opened through openStore the way the CLI opens a --store. */
async function openFixture(st: ManifestStore): Promise<{ store: Store; spec: string; cleanup(): void; extra?: { url: string; schema: string } }> {
  if (st.kind === 'pg') {
    const s = await loadPgDump();
    return { store: await openStore(s.url), spec: s.url, cleanup: () => {}, extra: s };
  }
  const d = tmpDir();
  const spec = join(d.path, st.kind === 'file' ? 'store' : 'bs.db');
  cpSync(fixture(st.path), spec, { recursive: true });
  return { store: await openStore(spec), spec, cleanup: () => d.rm() };
}

describe("stores written by the real bs v0.4.5 (test/fixtures/bs: store/file, store/sqlite3, store/pg)", () => {
  for (const st of manifest.stores) {
    it(`${st.kind}: every blob, anchor (to the nanosecond), the typed blob and the split file read back`, async () => {
      const { store, cleanup } = await openFixture(st);
      try {
        assert.ok(store instanceof AnchorMapStore, 'served through bs\'s anchor map');
        assert.equal(store.constructor, { file: FileStore, sqlite3: BsSqliteStore, pg: BsPgStore }[st.kind]);
        assert.equal(await store.anchorMapRef(), st.anchorMapRoot);
        assert.deepEqual(await collect(store.refs()), st.refs);
        for (const ref of st.refs) {
          const bytes = await store.get(ref);
          assert.equal(refOf(bytes), ref);
          if (st.blobs?.[ref] !== undefined) assert.equal(Buffer.from(bytes).toString('hex'), st.blobs[ref]);
        }
        const got: Record<string, { ref: Ref; atNs: string }[]> = {};
        for await (const a of store.eachAnchorNs()) (got[a.name] ??= []).push({ ref: a.ref, atNs: a.atNs.toString() });
        assert.deepEqual(got, st.histories);
        if (st.kind !== 'file') assert.equal((await (store as BsSqliteStore | BsPgStore).stats()).anchors, Object.keys(st.histories).length);
        for (const [name, h] of Object.entries(st.histories)) {
          const last = h[h.length - 1]!;
          assert.equal((await store.getAnchor(name)).ref, last.ref);
          assert.deepEqual((await store.history(name)).map((e) => e.at), h.map((e) => Number(BigInt(e.atNs) / 1_000_000n)));
        }
        const typed = await getProto(store, st.typedBlob.ref);
        assert.equal(typed.type, st.typedBlob.type.split('.').at(-1)); // a DescriptorProto names the message, not its package
        assert.deepEqual(typed.value, { seconds: st.typedBlob.seconds, nanos: Number(st.typedBlob.nanos) });
        const split = await readAll(getStream(store, (await store.getAnchor(st.splitFile.anchor)).ref));
        assert.equal(split.length, Number(st.splitFile.size));
        assert.equal(createHash('sha256').update(split).digest('hex'), st.splitFile.sha256);
      } finally {
        await store.close();
        cleanup();
      }
    });

    it(`${st.kind}: what plexus writes stays in bs's layout (blobs whole, anchors in bs's map, nothing of plexus's own)`, async () => {
      const { store, spec, cleanup, extra } = await openFixture(st);
      try {
        const big = new Uint8Array(BLOB_PART_BYTES + 12345).map((_, i) => (i * 7) & 255);
        const { ref: bigRef } = await store.put(big);
        const { ref: small } = await store.put(te.encode('written by plexus'));
        await store.putAnchor('docs/readme', small, Date.parse('2030-01-01T00:00:00Z'));
        await store.putAnchor('plexus/new', bigRef, Date.parse('2030-01-01T00:00:00Z'));
        const file = await putStream(store, te.encode('a split file '.repeat(20_000)), { format: 'bs' });
        await store.putAnchor('plexus/file', file.ref, Date.parse('2030-01-01T00:00:00Z'));
        const root = await (store as AnchorMapStore).anchorMapRef();
        assert.notEqual(root, st.anchorMapRoot);
        await store.close();

        // bs's anchor map now holds every old entry unchanged (nanoseconds too) plus the new ones
        const expectNames = [...Object.keys(st.histories), 'plexus/new', 'plexus/file'].sort();
        const again = await openStore(spec);
        try {
          const names = (await collect(again.anchorNames())).sort();
          assert.deepEqual(names, expectNames);
          const readme: { ref: Ref; atNs: string }[] = [];
          for await (const a of (again as AnchorMapStore).eachAnchorNs()) if (a.name === 'docs/readme') readme.push({ ref: a.ref, atNs: a.atNs.toString() });
          assert.deepEqual(readme.slice(0, -1), st.histories['docs/readme']);
          assert.deepEqual(readme.at(-1), { ref: small, atNs: (BigInt(Date.parse('2030-01-01T00:00:00Z')) * 1_000_000n).toString() });
          assert.ok(Buffer.from(await again.get(bigRef)).equals(Buffer.from(big)));
        } finally {
          await again.close();
        }

        // and in bs's own places, where bs's Get/AnchorMapRef read them
        if (st.kind === 'file') {
          assert.deepEqual(readFileSync(join(spec, 'anchormapref')).toString('hex'), root);
          assert.equal(statSync(join(spec, 'blobs', bigRef.slice(0, 2), bigRef.slice(0, 4), bigRef)).size, big.length);
          assert.equal(existsSync(join(spec, 'anchors')), false);
          assert.equal(existsSync(join(spec, 'anchormapref.lock')), false);
        } else if (st.kind === 'sqlite3') {
          const db = new Database(spec, { readonly: true });
          try {
            assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all(), [{ name: 'anchor_map_ref' }, { name: 'blobs' }]);
            assert.equal((db.prepare('SELECT ref FROM anchor_map_ref').get() as { ref: Buffer }).ref.toString('hex'), root);
            assert.equal((db.prepare('SELECT length(data) AS n FROM blobs WHERE ref = ?').get(Buffer.from(bigRef, 'hex')) as { n: number }).n, big.length);
          } finally {
            db.close();
          }
        } else {
          assert.deepEqual(await tablesOf(extra!.url, extra!.schema), ['anchor_map_ref', 'blobs']);
          const c = new pg.Client({ connectionString: extra!.url });
          await c.connect();
          try {
            assert.equal((await c.query<{ ref: Buffer }>('SELECT ref FROM anchor_map_ref')).rows[0]!.ref.toString('hex'), root);
            assert.equal((await c.query<{ n: number }>('SELECT length(data) AS n FROM blobs WHERE ref = $1', [Buffer.from(bigRef, 'hex')])).rows[0]!.n, big.length);
          } finally {
            await c.end();
          }
        }
      } finally {
        await store.close().catch(() => {});
        cleanup();
      }
    });
  }

  it("plexus's own SqliteStore and PgStore refuse bs's tables instead of adding theirs (PgStore would have renamed bs's blobs)", async () => {
    const d = tmpDir();
    try {
      const file = join(d.path, 'bs.db');
      cpSync(fixture('bs-sqlite3.db'), file);
      assert.throws(() => new SqliteStore(file), (e: unknown) => isPlexusError(e, 'BAD_REQUEST') && /bs's store\/sqlite3/.test((e as Error).message));
    } finally {
      d.rm();
    }
    const s = await loadPgDump();
    await assert.rejects(PgStore.open(s.url), (e: unknown) => isPlexusError(e, 'BAD_REQUEST'));
    assert.deepEqual(await tablesOf(s.url, s.schema), ['anchor_map_ref', 'blobs']);
  });

  it('BsStore over a store that keeps its own anchor map uses that map (no second pointer)', async () => {
    const st = manifest.stores.find((x) => x.kind === 'sqlite3')!;
    const d = tmpDir();
    try {
      const file = join(d.path, 'bs.db');
      cpSync(fixture(st.path), file);
      const bs = await BsStore.open(new BsSqliteStore(file));
      assert.equal(await bs.anchorMapRef(), st.anchorMapRoot);
      await bs.putAnchor('via/bsstore', ZERO_REF.replace(/^0/, '1') as Ref, 1000);
      const root = await bs.anchorMapRef();
      await bs.close();
      const direct = new BsSqliteStore(file);
      assert.equal(await direct.anchorMapRef(), root);
      assert.equal((await direct.getAnchor('via/bsstore', 1000)).at, 1000);
      await direct.close();
    } finally {
      d.rm();
    }
  });
});

describe('FileStore: migration of a directory written by the previous plexus (test/blob/fixtures/file-store-v1)', () => {
  const v1 = new URL('./fixtures/file-store-v1/', import.meta.url).pathname;

  it('writes the anchors into a bs anchor map (the root bs would build for them) and anchormapref', async () => {
    const d = tmpDir();
    try {
      cpSync(join(v1, 'plain'), d.path, { recursive: true });
      const s = new FileStore(d.path);
      const alpha = refOf(te.encode('alpha')), beta = refOf(te.encode('beta'));
      assert.deepEqual(await s.history('docs/readme'), [{ at: 1_000_000, ref: alpha }, { at: 2_000_000, ref: beta }]);
      assert.deepEqual(await s.history('site/main'), [{ at: 1_500_000, ref: beta }]);
      assert.deepEqual(await s.history('日本語'), [{ at: 3_000_000, ref: alpha }]);
      const expected = await buildMap(new MemoryStore(), [
        anchorPair('docs/readme', [{ at: 1_000_000, ref: alpha }, { at: 2_000_000, ref: beta }]),
        anchorPair('site/main', [{ at: 1_500_000, ref: beta }]),
        anchorPair('日本語', [{ at: 3_000_000, ref: alpha }]),
      ]);
      assert.equal(await s.anchorMapRef(), expected);
      assert.equal(readFileSync(join(d.path, 'anchormapref')).toString('hex'), expected);
      await s.putAnchor('site/main', alpha, 4_000_000);
      await s.close();
      const again = new FileStore(d.path);
      assert.equal((await again.getAnchor('site/main', 4_000_000)).ref, alpha);
      assert.equal((await collect(again.anchorNames())).length, 3);
      await again.close();
    } finally {
      d.rm();
    }
  });

  it('a directory a BsStore wrapped keeps its anchor map: the root pointer becomes anchormapref', async () => {
    const d = tmpDir();
    try {
      cpSync(join(v1, 'wrapped'), d.path, { recursive: true });
      const s = await openStore(d.path);
      assert.equal((await s.getAnchor('wrapped/one')).ref, refOf(te.encode('gamma')));
      assert.deepEqual(await collect(s.anchorNames()), ['wrapped/one']);
      await s.close();
    } finally {
      d.rm();
    }
  });

  it('several stores migrating one directory at once agree on the root', async () => {
    const d = tmpDir();
    try {
      cpSync(join(v1, 'plain'), d.path, { recursive: true });
      const stores = Array.from({ length: 4 }, () => new FileStore(d.path));
      const roots = await Promise.all(stores.map((s) => s.anchorMapRef()));
      assert.equal(new Set(roots).size, 1);
      await Promise.all(stores.map((s, i) => s.putAnchor(`n${i}`, refOf(te.encode(String(i))), 10)));
      const names = (await collect(new FileStore(d.path).anchorNames())).sort();
      assert.deepEqual(names, ['docs/readme', 'n0', 'n1', 'n2', 'n3', 'site/main', '日本語']);
    } finally {
      d.rm();
    }
  });
});

blobStoreConformance('bs sqlite3 layout (BsSqliteStore)', async () => {
  const d = tmpDir();
  const file = join(d.path, 'bs.db');
  // the schema exactly as bs's store/sqlite3 creates it, before plexus opens the file
  const db = new Database(file);
  db.exec(BS_SQLITE_SCHEMA);
  db.close();
  const store = await openStore(file);
  assert.ok(store instanceof BsSqliteStore);
  return { store, cleanup: async () => { await store.close(); d.rm(); }, open: async () => new BsSqliteStore(file) };
});

blobStoreConformance('bs pg layout (BsPgStore)', async () => {
  const s = await freshPgSchema('bspg');
  schemas.push(s);
  const stores: Store[] = [];
  const first = await BsPgStore.open(s.url, { max: 4 });
  stores.push(first);
  const store = await openStore(s.url);
  assert.ok(store instanceof BsPgStore);
  stores.push(store);
  return {
    store,
    cleanup: async () => { for (const st of stores) await st.close().catch(() => {}); },
    open: async () => { const st = await BsPgStore.open(s.url, { max: 4 }); stores.push(st); return st; },
  };
});

describe("FileStore and bs's lock file (anchormapref.lock, github.com/bobg/flock)", () => {
  it('waits while a bs writer holds the lock, and removes a lock older than a minute as bs does', async () => {
    const d = tmpDir();
    try {
      const s = new FileStore(d.path);
      const ref = refOf(te.encode('x'));
      await s.putAnchor('first', ref, 1000);
      const lock = join(d.path, 'anchormapref.lock');
      writeFileSync(lock, '');
      let done = false;
      const put = s.putAnchor('second', ref, 2000).then(() => { done = true; });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(done, false, 'no write while the lock is held');
      unlinkSync(lock);
      await put;
      assert.equal((await s.getAnchor('second', 2000)).ref, ref);

      writeFileSync(lock, '');
      const old = new Date(Date.now() - 61_000);
      utimesSync(lock, old, old);
      await s.putAnchor('third', ref, 3000);
      assert.equal(existsSync(lock), false);
      assert.deepEqual((await collect(s.anchorNames())).sort(), ['first', 'second', 'third']);
    } finally {
      d.rm();
    }
  });
});

describe("plexus serve on bs's own SQLite file and PostgreSQL tables", () => {
  for (const kind of ['sqlite3', 'pg'] as const) {
    it(`${kind}: serves bs's anchors and blobs over HTTP and writes new anchors into bs's map`, async () => {
      const st = manifest.stores.find((x) => x.kind === kind)!;
      const d = tmpDir();
      let extra: { url: string; schema: string } | undefined;
      try {
        if (kind === 'sqlite3') cpSync(fixture(st.path), join(d.path, 'blob.db'));
        else extra = await loadPgDump();
        const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {}, ...(extra ? { postgres: extra.url } : {}) });
        const http = new HttpStore(server.url);
        try {
          const want = st.histories['site/main']!.at(-1)!.ref;
          assert.equal((await http.getAnchor('site/main')).ref, want);
          assert.equal(Buffer.from(await http.get(want)).toString(), 'hello');
          const { ref } = await http.put(te.encode('through plexus serve'));
          await http.putAnchor('served/by-plexus', ref, 5000);
        } finally {
          await http.close();
          await server.close();
        }
        const direct = kind === 'sqlite3' ? new BsSqliteStore(join(d.path, 'blob.db')) : await BsPgStore.open(extra!.url);
        try {
          assert.equal((await direct.getAnchor('served/by-plexus', 5000)).ref, refOf(te.encode('through plexus serve')));
          assert.equal((await collect(direct.anchorNames())).length, Object.keys(st.histories).length + 1);
        } finally {
          await direct.close();
        }
        if (kind === 'sqlite3') {
          const db = new Database(join(d.path, 'blob.db'), { readonly: true });
          try {
            assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all(), [{ name: 'anchor_map_ref' }, { name: 'blobs' }]);
          } finally {
            db.close();
          }
        } else {
          assert.deepEqual((await tablesOf(extra!.url, extra!.schema)).filter((t) => !/^(graph|ledger|plexus_(graph|ledger|evt))/.test(t)), ['anchor_map_ref', 'blobs']);
        }
      } finally {
        d.rm();
      }
    });
  }
});
