import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { MemoryLedger } from '../../src/ledger/memory.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { StoreLedger } from '../../src/ledger/ledger.js';
import { tmpDir } from '../helpers/tmp.js';

async function ledgerStats(url: string): Promise<{ rev: unknown }> {
  const r = await fetch(`${url}/healthz`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { stats: { ledger: { rev: unknown } } }).stats.ledger;
}

describe('/healthz ledger stats', () => {
  for (const [name, make] of [['memory', () => new MemoryLedger()], ['sqlite', (dir: string) => new SqliteLedger(join(dir, 'l.db'))]] as const) {
    it(`${name}: rev is null on an empty ledger (not Go's zero time), then the latest revision`, async () => {
      const d = tmpDir();
      const ledger: StoreLedger = make(d.path);
      const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createLedgerMount({ ledger })] });
      try {
        assert.equal((await ledgerStats(server.url)).rev, null);
        const { rev } = await ledger.publish({ acts: [{ top: 'todo', key: '1', cmd: 'new', arg: { t: 'x' } }] });
        assert.equal((await ledgerStats(server.url)).rev, rev);
      } finally { await server.close(); d.rm(); }
    });
  }
});
