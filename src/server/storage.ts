import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PlexusError } from '../errors.js';

/** The files the embedded (SQLite) stores keep in the data directory. */
export const DATA_FILES = ['blob.db', 'ledger.db', 'graph.db'];

function codeOf(err: unknown): string {
  return String((err as { code?: unknown })?.code ?? (err as Error)?.message ?? err);
}

/**
 * Check at start, before any store opens, that the embedded (SQLite) stores can use `dataDir` (nothing
 * to check when PostgreSQL is used): it must be a directory, made when missing (a path naming a file is
 * a BAD_REQUEST that says so, instead of an EEXIST from mkdir), and it and every database file in it
 * must be writable: the server refuses to start, naming the path, instead of starting "healthy" and
 * failing every write later. (Opens each file for writing and creates and removes a probe file;
 * permissions alone would not do, as root ignores them while a read-only mount does not.)
 */
export function checkDataDir(config: { dataDir: string; postgres?: string }): void {
  if (config.postgres) return;
  const abs = resolve(config.dataDir);
  // The path itself, or the first of its parents that exists, must be a directory.
  for (let p = abs; ; p = dirname(p)) {
    let st: ReturnType<typeof statSync>;
    try { st = statSync(p, { throwIfNoEntry: false }); } catch { st = undefined; } // ENOTDIR: a parent is a file
    if (st && !st.isDirectory()) {
      const what = p === abs ? 'is a file' : `is under ${p}, which is a file`;
      throw new PlexusError('BAD_REQUEST', `data directory ${config.dataDir} (--data / PLEXUS_DATA) ${what}, not a directory: name a directory (it is created when missing)`);
    }
    if (st || dirname(p) === p) break;
  }
  const refuse = (path: string, err: unknown) => {
    throw new PlexusError('READ_ONLY', `cannot write ${path} (${codeOf(err)}): plexus needs a writable data directory; fix its permissions or mount, or pass --data DIR`, { cause: err, detail: { path } });
  };
  try { mkdirSync(abs, { recursive: true }); } catch (err) { refuse(abs, err); }
  const probe = join(abs, `.plexus-write-check-${process.pid}`);
  try {
    closeSync(openSync(probe, 'w')); // creating a file needs no free blocks: a full disk still starts (writes answer STORAGE_FULL)
    rmSync(probe, { force: true });
  } catch (err) {
    refuse(abs, err);
  }
  for (const f of DATA_FILES) {
    for (const path of [join(abs, f), join(abs, f + '-wal'), join(abs, f + '-shm')]) {
      if (!existsSync(path)) continue;
      try { closeSync(openSync(path, 'r+')); } catch (err) { refuse(path, err); }
    }
  }
}
