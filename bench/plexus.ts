// The plexus the benchmarks measure: the build in dist/, which is what `npm start`, `plexus serve` and an
// installed package run, rather than the TypeScript sources loaded through tsx (tsx's transform adds a
// helper call for every closure made, 3-8% of the hub's CPU per publish). `npm run bench` builds dist/
// first (its prebench script); a bench started on its own refuses a dist/ older than src/.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

/** The newest file under `dir` (path and modification time in ms). */
function newest(dir: string): { path: string; ms: number } {
  let best = { path: dir, ms: 0 };
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const ms = statSync(path).mtimeMs;
    if (ms > best.ms) best = { path, ms };
  }
  return best;
}

/** Throws unless dist/ was built after the last change under src/. */
export function checkDist(): void {
  let built: number;
  try { built = statSync(join(root, 'dist', 'index.js')).mtimeMs; } catch { throw new Error('bench: dist/ is missing: run `npm run build` (npm run bench builds it first)'); }
  const src = newest(join(root, 'src'));
  if (src.ms > built) throw new Error(`bench: dist/ is older than ${src.path.slice(root.length + 1)}: run \`npm run build\` (npm run bench builds it first)`);
}

checkDist();

export { refOf, type Ref } from '../dist/blob/ref.js';
export type { BlobStore, PutResult } from '../dist/blob/store.js';
export { FileStore } from '../dist/blob/store/file.js';
export { SqliteStore } from '../dist/blob/store/sqlite.js';
export { HttpStore } from '../dist/blob/store/http.js';
export { RpcStore } from '../dist/blob/bs/rpc-store.js';
export { getStream, putStream } from '../dist/blob/split.js';
export { connect, memoryNetwork, type Peer } from '../dist/bus/index.js';
export { Graph } from '../dist/graph/index.js';
export { SqliteLedger } from '../dist/ledger/sqlite.js';
export { PgLedger } from '../dist/ledger/postgres.js';
export type { StoreLedger } from '../dist/ledger/ledger.js';
export { MemoryLedger } from '../dist/ledger/memory.js';
export { connectHub, type HubClient } from '../dist/ledger/client.js';
export { startServer } from '../dist/server/http.js';
export { createLedgerMount } from '../dist/server/ledger.js';
export { blobMount, type BlobMount } from '../dist/server/blob.js';
export { graphMount } from '../dist/server/graph.js';
