import { MemoryLedger } from '../../src/ledger/memory.js';
import { ledgerConformance } from '../conformance/ledger.js';

ledgerConformance('memory', async (opts) => new MemoryLedger(opts));
