import { statSync } from 'node:fs';
import { maskSecrets, PlexusError } from '../errors.js';
import type { Store } from './store.js';
import { MemoryStore } from './store/memory.js';
import { FileStore } from './store/file.js';
import { SqliteStore } from './store/sqlite.js';
import { PgStore } from './store/postgres.js';
import { HttpStore } from './store/http.js';
import { ANCHOR_MAP_ROOT_NAME } from './bs/root-name.js';

/**
 * Open a store from a spec: `http(s)://…` (a plexus server), `postgres://…`, a `.db`/`.sqlite` file
 * (or any existing regular file: SQLite), `memory:`, or else a directory (file store, created if needed).
 * A SQLite file or PostgreSQL database written by bs (github.com/bobg/bs: its `anchor_map_ref` table)
 * opens as BsSqliteStore / BsPgStore, in bs's own layout, so bs keeps reading what plexus writes.
 */
export async function openStore(spec: string, opts: { token?: string } = {}): Promise<Store> {
  if (/^https?:\/\//.test(spec)) return new HttpStore(spec, opts);
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { BsPgStore, pgHoldsBsTables } = await import('./store/bs-postgres.js');
    if (await pgHoldsBsTables(spec)) return BsPgStore.open(spec);
    return adoptAnchorMap(await PgStore.open(spec));
  }
  if (spec === 'memory:') return new MemoryStore();
  if (spec.length === 0) throw new PlexusError('BAD_REQUEST', 'empty store spec');
  const st = statSync(spec, { throwIfNoEntry: false });
  if (/\.(db|sqlite3?)$/.test(spec) || st?.isFile()) {
    const { isBsSqlite, BsSqliteStore } = await import('./store/bs-sqlite.js');
    if (isBsSqlite(spec)) return new BsSqliteStore(spec);
    return adoptAnchorMap(new SqliteStore(spec));
  }
  // A directory: plexus's FileStore has bs's store/file layout, so it serves directories bs wrote too.
  return adoptAnchorMap(new FileStore(spec));
}

/**
 * A store that `plexus serve` has used keeps its anchors in bs's anchor map (see BsStore): open it the same
 * way, so the CLI and the server read and write the same anchors. A store without a map is left as it is.
 */
async function adoptAnchorMap(s: Store): Promise<Store> {
  try {
    if ((await s.readAnchors(ANCHOR_MAP_ROOT_NAME)).history.length === 0) return s;
    const { BsStore } = await import('./bs/bs-store.js');
    return await BsStore.open(s);
  } catch (err) {
    await s.close();
    throw err;
  }
}

/** A short description of a store spec that never shows passwords. */
export function describeStore(spec: string): string {
  return maskSecrets(spec);
}
