import { statSync } from 'node:fs';
import { maskSecrets, PlexusError } from '../errors.js';
import type { Store } from './store.js';
import { MemoryStore } from './store/memory.js';
import { FileStore } from './store/file.js';
import { SqliteStore } from './store/sqlite.js';
import { PgStore } from './store/postgres.js';
import { HttpStore } from './store/http.js';

/**
 * Open a store from a spec: `http(s)://…` (a plexus server), `postgres://…`, a `.db`/`.sqlite` file
 * (or any existing regular file: SQLite), `memory:`, or else a directory (file store, created if needed).
 */
export async function openStore(spec: string, opts: { token?: string } = {}): Promise<Store> {
  if (/^https?:\/\//.test(spec)) return new HttpStore(spec, opts);
  if (/^postgres(ql)?:\/\//.test(spec)) return PgStore.open(spec);
  if (spec === 'memory:') return new MemoryStore();
  if (spec.length === 0) throw new PlexusError('BAD_REQUEST', 'empty store spec');
  const st = statSync(spec, { throwIfNoEntry: false });
  if (/\.(db|sqlite3?)$/.test(spec) || st?.isFile()) return new SqliteStore(spec);
  return new FileStore(spec);
}

/** A short description of a store spec that never shows passwords. */
export function describeStore(spec: string): string {
  return maskSecrets(spec);
}
