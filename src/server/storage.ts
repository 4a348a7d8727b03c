import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PlexusError } from '../errors.js';

/** The files the embedded (SQLite) stores keep in the data directory. */
export const DATA_FILES = ['blob.db', 'ledger.db', 'graph.db'];

function codeOf(err: unknown): string {
  return String((err as { code?: unknown })?.code ?? (err as Error)?.message ?? err);
}

/**
 * Check at start that the data directory and every database file in it can be written: the server
 * refuses to start, naming the path, instead of starting "healthy" and failing every write later.
 * (Opens each file for writing and creates and removes a probe file; permissions alone would not do, as
 * root ignores them while a read-only mount does not.)
 */
export function checkDataDir(dir: string): void {
  const abs = resolve(dir);
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
