/**
 * The souls changed last in a SQLite graph store, read on a thread of its own with its own read-only
 * connection. The query has no index to use (one on state would cost every put), so it scans every field
 * once: ~0.4 s per million fields. A relay reads it when it starts; on the event loop that would hold up
 * everything else for seconds on a large store.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Fields of the most recent states looked at for each soul asked for (a soul with many fields takes several). */
export const RECENT_FIELDS_PER_SOUL = 16;

export const RECENT_SOULS_SQL = 'SELECT soul FROM (SELECT soul, state FROM graph_fields ORDER BY state DESC LIMIT ?) GROUP BY soul ORDER BY max(state) DESC LIMIT ?';

/** Plain CommonJS (eval), so it needs none of the parent's loader flags. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let out;
try {
  const db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  out = { souls: db.prepare(workerData.sql).pluck().all(workerData.limit * workerData.perSoul, workerData.limit) };
  db.close();
} catch (err) { out = { error: String((err && err.message) || err) }; }
parentPort.postMessage(out);
`;

/** The `limit` souls whose fields have the highest states, highest first, read off the event loop. */
export function recentSoulsOffThread(path: string, limit: number): Promise<string[]> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { driver, path, sql: RECENT_SOULS_SQL, limit, perSoul: RECENT_FIELDS_PER_SOUL } });
    w.unref(); // a process that is done does not wait for it
    w.once('message', (m: { souls?: string[]; error?: string }) => (m.souls ? resolve(m.souls) : reject(new Error(`recent souls: ${m.error}`))));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`recent souls: worker exited (${code})`))); // after a message: no effect
  });
}
