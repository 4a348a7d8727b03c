/** Node-only ledgers (SQLite via better-sqlite3, PostgreSQL via pg), plus everything of plexus/ledger. */
export * from './index.js';
export { SqliteLedger, type SqliteLedgerOptions } from './sqlite.js';
export { PgLedger, type PgLedgerOptions } from './postgres.js';
