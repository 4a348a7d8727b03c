import { join } from 'node:path';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { ledgerConformance } from '../conformance/ledger.js';
import { tmpDir } from '../helpers/tmp.js';

const d = tmpDir('plexus-ledger-');
let n = 0;
ledgerConformance('sqlite', async (opts) => new SqliteLedger(join(d.path, `l${n++}.db`), opts), async () => d.rm());
