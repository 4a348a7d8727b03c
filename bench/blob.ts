/**
 * Blob benchmark (one run, well under 2 minutes): `node --import tsx bench/blob.ts`.
 *
 * 1. put/get of individual 1 MiB blobs (256 MiB in all) through FileStore and SqliteStore, against the
 *    plain baseline `sha256 + fs.writeFile` (put) and `fs.readFile + sha256 verify` (get). Goal >= 0.8x.
 *    `sync` before each timed phase; contenders interleaved over BENCH_ROUNDS (3) rounds, median ratio.
 * 2. putStream / getStream throughput (discarding store, FileStore, SqliteStore), plexus's tree format and
 *    bs's split format (`format: 'bs'`, hashsplit chunking) on the same data.
 * 3. Dedup: putStream of a 100 MiB file, then of the same file edited in the middle (goal < 1% re-stored).
 * 4. put/get of 1 MiB blobs through bs's gRPC service vs the HTTP API vs the direct store (bench/blob-rpc.ts).
 * 0. (run first, on a small heap) 1 GiB putStream through a discarding store, with peak RSS growth.
 *
 * Env: BENCH_MIB (default 256) sets the size of parts 1 and 2; BENCH_BIG_MIB (default 1024) of part 0;
 * BENCH_PARTS (default 0,1,2,3,4) which parts run.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { execSync } from 'node:child_process';
import { createReadStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refOf, type Ref, type BlobStore, type PutResult, FileStore, SqliteStore, getStream, putStream } from './plexus.js';
import { benchTransports } from './blob-rpc.js';
import { goal } from './goal.js';

const MiB = 1 << 20;
const TOTAL_MIB = Number(process.env.BENCH_MIB ?? 256);
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Which parts to run (BENCH_PARTS=2,3 runs parts 2 and 3; default all). */
const PARTS = new Set((process.env.BENCH_PARTS ?? '0,1,2,3,4').split(','));
const part = (n: string) => PARTS.has(n);
const started = performance.now();

/** Deterministic pseudo-random bytes (AES-CTR keystream), in pieces. */
function* pseudo(total: number, seed: number, piece = MiB): Generator<Buffer> {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(piece);
  for (let left = total; left > 0; left -= piece) yield c.update(zeros.subarray(0, Math.min(piece, left)));
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

const mbps = (bytes: number, s: number) => bytes / MiB / s;
const f1 = (x: number) => x.toFixed(1);
const rows: string[] = [];
function row(...cells: (string | number)[]): void {
  rows.push(`| ${cells.join(' | ')} |`);
  console.log(cells.join('\t'));
}

/** Throws the bytes away; only hashes them (the cost any store pays). */
class DiscardStore implements BlobStore {
  async get(ref: Ref): Promise<Uint8Array> {
    throw new Error(`DiscardStore has no ${ref}`);
  }
  async put(b: Uint8Array): Promise<PutResult> {
    return { ref: refOf(b), added: true };
  }
  async has(): Promise<boolean> {
    return false;
  }
  async *refs(): AsyncIterable<Ref> {}
  async close(): Promise<void> {}
}

const root = await fs.mkdtemp(join(tmpdir(), 'plexus-bench-blob-'));
try {
  const total = TOTAL_MIB * MiB;
  if (part('0')) {
    // ---- 0. 1 GiB putStream, discarding store, peak RSS (first: before the other parts grow the heap) ----------------------------------------------
    console.log(`# 0. ${BIG_MIB} MiB putStream through a discarding store`);
    const big = BIG_MIB * MiB;
    global.gc?.();
    const mem0 = process.memoryUsage();
    let peakRss = mem0.rss, peakHeap = mem0.heapUsed;
    const sample = () => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    };
    const timer = setInterval(sample, 50);
    let r4: Awaited<ReturnType<typeof putStream>> | undefined;
    const s4 = await timed(async () => (r4 = await putStream(new DiscardStore(), pseudo(big, 4, 256 * 1024), { onProgress: sample })));
    clearInterval(timer);
    rows.push(`### 0. ${BIG_MIB} MiB putStream through a discarding store`, '', '| MB/s | chunks | nodes | RSS before | peak RSS | RSS growth | heapUsed growth |', '|---|---|---|---|---|---|---|');
    row(f1(mbps(big, s4)), r4!.chunks, r4!.nodes, `${f1(mem0.rss / MiB)} MiB`, `${f1(peakRss / MiB)} MiB`, `**${f1((peakRss - mem0.rss) / MiB)} MiB**`, `${f1((peakHeap - mem0.heapUsed) / MiB)} MiB`);
    goal('blob', `putStream of ${BIG_MIB} MiB: flat memory (RSS growth < 64 MiB)`, `${f1((peakRss - mem0.rss) / MiB)} MiB`, peakRss - mem0.rss < 64 * MiB);
  }

  if (part('1')) {
    // ---- 1. individual 1 MiB blobs ------------------------------------------------------------------
    // Each contender writes the same blobs into a fresh directory. `sync` runs before every timed phase so
    // no phase pays for another's writeback; contenders are interleaved over ROUNDS rounds (order rotated
    // each round) and each ratio is the median of the per-round ratios against that round's baseline.
    const blobs = [...pseudo(TOTAL_MIB * MiB, 1)];
    console.log(`# 1. ${TOTAL_MIB} x 1 MiB blobs, sequential awaits, ${ROUNDS} interleaved rounds`);
    rows.push('', `### 1. ${TOTAL_MIB} individual 1 MiB blobs (sequential), MB/s, median of ${ROUNDS} interleaved rounds`, '', '| contender | put MB/s | baseline put | put ratio | get MB/s | baseline get | get ratio |', '|---|---|---|---|---|---|---|');

    /** The plain baseline: sha256 + fs.writeFile / fs.readFile + sha256 verify, one file per blob. */
    const plain = (dir: string, fsync: boolean): BlobStore & { refs(): AsyncIterable<Ref> } => ({
      async put(b: Uint8Array) {
        const ref = createHash('sha256').update(b).digest('hex') as Ref;
        if (!fsync) await fs.writeFile(join(dir, ref), b);
        else {
          const fh = await fs.open(join(dir, ref), 'w');
          await fh.writeFile(b);
          await fh.sync();
          await fh.close();
        }
        return { ref, added: true };
      },
      async get(ref: Ref) {
        const d = await fs.readFile(join(dir, ref));
        if (createHash('sha256').update(d).digest('hex') !== ref) throw new Error('baseline verify failed');
        return d;
      },
      async has() { return false; },
      async *refs() {},
      async close() {},
    });
    const contenders: [string, (dir: string) => BlobStore][] = [
      ['baseline', (d) => plain(d, false)],
      ['FileStore', (d) => new FileStore(d)],
      ['SqliteStore', (d) => new SqliteStore(join(d, 'blob.db'))],
      ['baseline with fsync per file', (d) => plain(d, true)],
      ['FileStore with fsync: true', (d) => new FileStore(d, { fsync: true })],
      ["SqliteStore with synchronous: 'full'", (d) => new SqliteStore(join(d, 'blob.db'), { synchronous: 'full' })],
    ];
    const res = new Map<string, { put: number[]; get: number[] }>(contenders.map(([n]) => [n, { put: [], get: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < contenders.length; k++) {
        const [name, make] = contenders[(k + round) % contenders.length]!;
        const dir = join(root, 'p1');
        await fs.mkdir(dir);
        const store = make(dir);
        const refs: Ref[] = [];
        execSync('sync');
        const put = await timed(async () => {
          for (const b of blobs) refs.push((await store.put(b)).ref);
        });
        execSync('sync');
        const get = await timed(async () => {
          for (const r of refs) await store.get(r);
        });
        await store.close();
        await fs.rm(dir, { recursive: true });
        res.get(name)!.put.push(put);
        res.get(name)!.get.push(get);
        console.log(`  round ${round + 1} ${name}: put ${f1(mbps(total, put))} MB/s, get ${f1(mbps(total, get))} MB/s`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    const base = res.get('baseline')!;
    for (const [name] of contenders) {
      if (name === 'baseline') continue;
      const r = res.get(name)!;
      const putRatio = median(r.put.map((t, i) => base.put[i]! / t)), getRatio = median(r.get.map((t, i) => base.get[i]! / t));
      const spread = (ts: number[]) => `${f1(mbps(total, Math.max(...ts)))}-${f1(mbps(total, Math.min(...ts)))}`;
      row(name, `${f1(mbps(total, median(r.put)))} (${spread(r.put)})`, f1(mbps(total, median(base.put))), `**${putRatio.toFixed(2)}x**`,
        `${f1(mbps(total, median(r.get)))}`, f1(mbps(total, median(base.get))), `${getRatio.toFixed(2)}x`);
      if (name === 'FileStore' || name === 'SqliteStore') goal('blob', `${name} put of 1 MiB blobs >= 0.8x of sha256 + fs.writeFile`, `${putRatio.toFixed(2)}x`, putRatio >= 0.8);
    }
    blobs.length = 0;
  }

  if (part('2')) {
    // ---- 2. putStream / getStream -------------------------------------------------------------------
    console.log(`# 2. putStream / getStream of ${TOTAL_MIB} MiB (64 KiB input pieces)`);
    rows.push('', `### 2. putStream / getStream of ${TOTAL_MIB} MiB of random data, MB/s`, '', '| store | format | putStream MB/s | chunks | nodes | getStream MB/s |', '|---|---|---|---|---|---|');
    const streamStores: [string, () => BlobStore][] = [
      ['discarding (chunking + sha256 only)', () => new DiscardStore()],
      ['FileStore', () => new FileStore(join(root, 'sfile'))],
      ['SqliteStore', () => new SqliteStore(join(root, 'ssqlite', 'blob.db'))],
    ];
    for (const [name, make] of streamStores) for (const format of ['plexus', 'bs'] as const) {
      const store = make();
      let res: Awaited<ReturnType<typeof putStream>> | undefined;
      const put = await timed(async () => (res = await putStream(store, pseudo(total, format === 'bs' ? 3 : 2, 64 * 1024), { format })));
      let get = NaN;
      if (!(store instanceof DiscardStore)) {
        let n = 0;
        get = await timed(async () => {
          for await (const b of getStream(store, res!.ref)) n += b.length;
        });
        if (n !== total) throw new Error(`getStream returned ${n} bytes`);
      }
      await store.close();
      row(name, format, f1(mbps(total, put)), res!.chunks, res!.nodes, Number.isNaN(get) ? '-' : f1(mbps(total, get)));
    }
    await fs.rm(join(root, 'sfile'), { recursive: true });
    await fs.rm(join(root, 'ssqlite'), { recursive: true });
  }

  if (part('3')) {
    // ---- 3. dedup after an edit in the middle --------------------------------------------------------
    console.log('# 3. dedup: 100 MiB file, edited in the middle');
    rows.push('', '### 3. Dedup: putStream of a 100 MiB file, then of the file edited in the middle (SqliteStore)', '', '| edit | re-stored bytes | % of file | new chunks | new nodes |', '|---|---|---|---|---|');
    const size = 100 * MiB;
    const orig = Buffer.concat([...pseudo(size, 3)]);
    const file = join(root, 'big.bin');
    await fs.writeFile(file, orig);
    const dstore = new SqliteStore(join(root, 'dedup', 'blob.db'));
    await putStream(dstore, createReadStream(file));
    const mid = size / 2 + 12345;
    const edits: [string, Buffer][] = [
      ['overwrite 1 KiB', Buffer.concat([orig.subarray(0, mid), Buffer.alloc(1024, 7), orig.subarray(mid + 1024)])],
      ['insert 10 bytes', Buffer.concat([orig.subarray(0, mid), Buffer.from('0123456789'), orig.subarray(mid)])],
      ['delete 64 KiB', Buffer.concat([orig.subarray(0, mid), orig.subarray(mid + 65536)])],
    ];
    for (const [name, edited] of edits) {
      await fs.writeFile(file, edited);
      const r = await putStream(dstore, createReadStream(file));
      row(name, r.addedBytes, `**${((100 * r.addedBytes) / size).toFixed(3)}%**`, r.addedChunks, r.addedNodes);
      goal('blob', `dedup: ${name} in the middle of 100 MiB re-stores < 1%`, `${((100 * r.addedBytes) / size).toFixed(3)}%`, r.addedBytes < size / 100);
    }
    await dstore.close();
    await fs.rm(file);
    await fs.rm(join(root, 'dedup'), { recursive: true });
  }

  if (part('4')) {
    // ---- 4. the same blobs through bs's gRPC service, the HTTP API and the direct store --------------
    rows.push(...await benchTransports());
  }
} finally {
  await fs.rm(root, { recursive: true, force: true });
}

const header = [
  '# Blob benchmark results',
  '',
  `Run: ${new Date().toISOString()}, \`node --import tsx bench/blob.ts\`, Node ${process.version}, 2 cores (shared with other jobs), ${Math.round(((performance.now() - started) / 1000) * 10) / 10} s in all.`,
  '',
];
console.log('\n' + [...header, ...rows].join('\n'));
if (process.env.BENCH_WRITE) await fs.writeFile(process.env.BENCH_WRITE, [...header, ...rows, ''].join('\n'));
