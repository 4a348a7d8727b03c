import pg from 'pg';
import type { Command } from 'commander';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { maskSecrets, PlexusError } from '../errors.js';
import { MAX_BLOB_BYTES } from '../limits.js';
import { parseAnchorName, parseTime } from '../blob/anchor.js';
import { openStore, describeStore } from '../blob/open.js';
import { parseRef } from '../blob/ref.js';
import type { Store } from '../blob/store.js';
import { sync } from '../blob/sync.js';
import { Progress, fmtBytes } from './progress.js';

const DEFAULT_STORE = process.env.PLEXUS_STORE ?? process.env.PLEXUS_URL ?? 'http://127.0.0.1:8765';

interface StoreOpts { store: string; token?: string }

function storeOption(cmd: Command): Command {
  return cmd
    .option('-s, --store <spec>', 'a plexus server URL, grpc://HOST:PORT (a bs rpc server), a directory, a .db file or a postgres:// URL (env PLEXUS_STORE)', DEFAULT_STORE)
    .option('--token <token>', 'bearer token for a server that requires one (env PLEXUS_TOKEN)');
}

/**
 * A command that only reads must not create a store: a local `--store` (a directory or a SQLite file)
 * that does not exist, or a directory that is not a file store, is NOT_FOUND instead of a new empty store.
 * Server and PostgreSQL URLs are checked by the store itself.
 */
async function mustExist(spec: string): Promise<void> {
  const hint = '(commands that only read never create one; check --store / PLEXUS_STORE)';
  if (/^postgres(ql)?:\/\//.test(spec)) {
    // a database without plexus's blob table (or the one from before the prefix) holds no store
    const c = new pg.Client({ connectionString: spec });
    try {
      await c.connect();
      const r = await c.query<{ found: boolean }>("SELECT to_regclass('plexus_blobs') IS NOT NULL OR to_regclass('blobs') IS NOT NULL AS found");
      if (!r.rows[0]?.found) throw new PlexusError('NOT_FOUND', `no plexus blob store in ${maskSecrets(spec)} ${hint}`);
    } finally {
      await c.end().catch(() => {});
    }
    return;
  }
  if (/^https?:\/\//.test(spec) || spec === 'memory:') return;
  const st = statSync(spec, { throwIfNoEntry: false });
  if (!st) throw new PlexusError('NOT_FOUND', `no store at ${spec} ${hint}`);
  // A file store (plexus's or bs's, the same layout) has blobs/; anchormapref only once it has anchors.
  if (st.isDirectory() && !existsSync(join(spec, 'blobs'))) {
    throw new PlexusError('NOT_FOUND', `${spec} is a directory but not a plexus file store (no blobs/ in it) ${hint}`);
  }
}

async function withStore<T>(o: StoreOpts, fn: (s: Store) => Promise<T>, mode: 'read' | 'write' = 'write'): Promise<T> {
  const token = o.token ?? process.env.PLEXUS_TOKEN;
  if (mode === 'read' && !/^grpc:\/\//.test(o.store)) await mustExist(o.store);
  const s = /^grpc:\/\//.test(o.store)
    ? new (await import('../blob/bs/rpc-store.js')).RpcStore(o.store, token ? { token } : {})
    : await openStore(o.store, token ? { token } : {});
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** "30d", "12h", "15m", "90s", "500ms" -> ms. */
export function parseDuration(d: string): number {
  const m = /^(\d{1,12})(ms|s|m|h|d|w)$/.exec(d);
  if (!m) throw new PlexusError('BAD_REQUEST', `invalid duration ${JSON.stringify(d)}: want e.g. 90s, 15m, 12h, 30d`);
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

async function readAll(path: string): Promise<Buffer> {
  const size = path === '-' ? undefined : statSync(path).size;
  if (size !== undefined && size > MAX_BLOB_BYTES) throw new PlexusError('TOO_LARGE', `${path} is ${fmtBytes(size)}, over the single-blob limit of ${fmtBytes(MAX_BLOB_BYTES)}; use --split`);
  const bar = new Progress(`reading ${path === '-' ? 'stdin' : path}`, size);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of path === '-' ? process.stdin : createReadStream(path)) {
    n += (c as Buffer).length;
    if (n > MAX_BLOB_BYTES) throw new PlexusError('TOO_LARGE', `input is over the single-blob limit of ${fmtBytes(MAX_BLOB_BYTES)}; use --split`);
    chunks.push(c as Buffer);
    bar.add((c as Buffer).length);
  }
  bar.end();
  return Buffer.concat(chunks, n);
}

/** `plexus blob …`, `plexus anchor …`, `plexus sync …` */
export function registerBlob(program: Command): void {
  const blob = program.command('blob').description('content-addressed blobs (sha256 refs)');
  storeOption(blob.command('put <file>').description('store FILE (or - for stdin) and print its ref'))
    .option('--split', 'store as a tree of content-defined chunks (for big files; prints the root ref)')
    .option('--format <format>', "tree format with --split: plexus (default) or bs (bs's split format, read by Go bs programs)")
    .action(async (file: string, o: StoreOpts & { split?: boolean; format?: string }) => withStore(o, async (s) => {
      if (o.format !== undefined && (!o.split || (o.format !== 'plexus' && o.format !== 'bs'))) {
        throw new PlexusError('BAD_REQUEST', `--format wants --split and one of plexus, bs (got ${JSON.stringify(o.format)})`);
      }
      if (o.split) {
        const { putStream } = await import('../blob/split.js');
        const size = file === '-' ? undefined : statSync(file).size;
        const bar = new Progress(`storing ${file === '-' ? 'stdin' : file}`, size);
        const format = o.format === 'bs' ? 'bs' : 'plexus';
        const r = await putStream(s, file === '-' ? process.stdin : createReadStream(file), { onProgress: (b: number) => bar.set(b), format });
        bar.end(`${r.chunks} chunks, ${r.addedChunks} new`);
        process.stdout.write(r.ref + '\n');
        return;
      }
      const data = await readAll(file);
      const r = await s.put(data);
      process.stdout.write(r.ref + '\n');
    }));
  storeOption(blob.command('get <ref>').description('write the blob REF to stdout (or --output FILE)'))
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .option('--split', 'REF is the root of a tree stored with put --split')
    .option('--decode', 'REF is a typed protobuf blob (bs PutProto): print it as JSON, decoded with its stored type')
    .action(async (ref: string, o: StoreOpts & { output?: string; split?: boolean; decode?: boolean }) => withStore(o, async (s) => {
      const r = parseRef(ref);
      const out = o.output ? createWriteStream(o.output) : process.stdout;
      const write = (b: Uint8Array) => new Promise<void>((res, rej) => out.write(b, (e) => (e ? rej(e) : res())));
      if (o.decode) {
        const { getProto } = await import('../blob/bs/proto-types.js');
        const d = await getProto(s, r);
        await write(new TextEncoder().encode(JSON.stringify({ type: d.type, descriptor: d.descriptor, value: d.value }, null, 2) + '\n'));
      } else if (o.split) {
        const { getStream } = await import('../blob/split.js');
        const bar = new Progress(`fetching ${ref.slice(0, 12)}…`);
        for await (const c of getStream(s, r)) { await write(c); bar.add(c.length); }
        bar.end();
      } else {
        await write(await s.get(r));
      }
      if (o.output) await new Promise<void>((res) => (out as ReturnType<typeof createWriteStream>).end(res));
    }, 'read'));
  storeOption(blob.command('ls').description('list stored refs in order'))
    .option('--after <ref>', 'start after this ref')
    .action(async (o: StoreOpts & { after?: string }) => withStore(o, async (s) => {
      for await (const r of s.refs(o.after ? { after: parseRef(o.after) } : {})) process.stdout.write(r + '\n');
    }, 'read'));

  const anchor = program.command('anchor').description('named, timestamped refs with history');
  storeOption(anchor.command('set <name> <ref>').description('anchor NAME to REF (at --at, default now)'))
    .option('--at <time>', 'ISO 8601 time or ms since the epoch')
    .action(async (name: string, ref: string, o: StoreOpts & { at?: string }) => withStore(o, async (s) => {
      await s.putAnchor(parseAnchorName(name), parseRef(ref), o.at === undefined ? Date.now() : parseTime(o.at));
    }));
  storeOption(anchor.command('get <name>').description('print the ref NAME points to (at --at, default now)'))
    .option('--at <time>', 'ISO 8601 time or ms since the epoch')
    .action(async (name: string, o: StoreOpts & { at?: string }) => withStore(o, async (s) => {
      const e = await s.getAnchor(parseAnchorName(name), o.at === undefined ? Date.now() : parseTime(o.at));
      process.stdout.write(e.ref + '\n');
    }, 'read'));
  storeOption(anchor.command('log <name>').description('print the history of NAME, oldest first: TIME REF'))
    .action(async (name: string, o: StoreOpts) => withStore(o, async (s) => {
      for (const e of await s.history(parseAnchorName(name))) process.stdout.write(`${new Date(e.at).toISOString()} ${e.ref}\n`);
    }, 'read'));
  storeOption(anchor.command('expire').description('drop anchor entries older than --older-than, keeping at least --keep per name'))
    .requiredOption('--older-than <duration>', 'age (90s, 15m, 12h, 30d) or an ISO 8601 time')
    .option('--keep <n>', 'entries to keep per name whatever their age', '1')
    .action(async (o: StoreOpts & { olderThan: string; keep: string }) => withStore(o, async (s) => {
      const oldest = /^\d+(ms|s|m|h|d|w)$/.test(o.olderThan) ? Date.now() - parseDuration(o.olderThan) : parseTime(o.olderThan);
      if (!/^\d{1,9}$/.test(o.keep)) throw new PlexusError('BAD_REQUEST', '--keep must be a non-negative integer');
      const r = await s.expire(oldest, Number(o.keep));
      process.stdout.write(`dropped ${r.dropped} entries from ${r.names} names\n`);
    }));

  program
    .command('sync <stores...>')
    .description('make every STORE hold every blob and anchor of the others (store = server URL, directory, .db file or postgres URL)')
    .option('--token <token>', 'bearer token for servers that require one (env PLEXUS_TOKEN)')
    .action(async (specs: string[], o: { token?: string }) => {
      if (specs.length < 2) throw new PlexusError('BAD_REQUEST', 'sync needs at least two stores');
      const stores: Store[] = [];
      try {
        const token = o.token ?? process.env.PLEXUS_TOKEN;
        for (const spec of specs) stores.push(await openStore(spec, token ? { token } : {}));
        const bar = new Progress('syncing');
        const r = await sync(stores, { onProgress: (p) => bar.set(p.bytes, `${p.phase}: ${p.seen} seen, ${p.copied} copied`) });
        bar.end();
        process.stdout.write(`synced ${specs.map(describeStore).join(', ')}: ${r.blobsCopied} blobs (${fmtBytes(r.bytesCopied)}) and ${r.anchorsUpdated} anchor histories copied\n`);
      } finally {
        await Promise.allSettled(stores.map((s) => s.close()));
      }
    });
}
