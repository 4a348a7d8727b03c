import { PgLedger } from '../../src/ledger/postgres.js';
import { ledgerConformance } from '../conformance/ledger.js';
import { freshPgSchema } from '../helpers/pg.js';

const schemas: Array<Awaited<ReturnType<typeof freshPgSchema>>> = [];
ledgerConformance('postgres', async (opts) => {
  const s = await freshPgSchema('ledger');
  schemas.push(s);
  return new PgLedger(s.url, opts);
}, async () => { for (const s of schemas) await s.drop(); });
