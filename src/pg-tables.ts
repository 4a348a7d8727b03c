/**
 * PostgreSQL table names: every plexus table is prefixed `plexus_` (so an app's own `blobs` or `anchors`
 * table in the same schema is never touched), and tables a plexus from before the prefix created are
 * renamed on open. A table counts as plexus's only when its columns are exactly the ones plexus made
 * (names and types), so an app table with a plexus-like name is left alone.
 */

/** Something that runs SQL: a `pg` client or pool. */
export interface SqlRunner {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** A table plexus used to create under an unprefixed name. */
export interface LegacyTable {
  /** The old name, e.g. `blobs`. */
  from: string;
  /** The new name, e.g. `plexus_blobs`. */
  to: string;
  /** Columns the old table has: name -> type as `format_type` prints it (`bytea`, `double precision`). */
  columns: Readonly<Record<string, string>>;
  /** Columns later versions added, which an old table may or may not have. */
  optional?: Readonly<Record<string, string>>;
}

/** The prefix of every plexus table, index, sequence and function in PostgreSQL. */
export const PG_PREFIX = 'plexus_';

/** True when `table` in the current schema has exactly plexus's columns. */
async function isPlexusTable(db: SqlRunner, t: LegacyTable): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
      WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`, [t.from]);
  if (rows.length === 0) return false;
  const have = new Map(rows.map((r) => [String(r.name), String(r.type)]));
  for (const [name, type] of Object.entries(t.columns)) if (have.get(name) !== type) return false;
  for (const [name, type] of have) if (t.columns[name] !== type && t.optional?.[name] !== type) return false;
  return true;
}

/**
 * Rename the old unprefixed plexus tables of the current schema (with their indexes and sequences) to
 * their prefixed names. Only a table whose new name is free and whose columns are plexus's is renamed.
 * Run it in a transaction or under the caller's schema lock; returns the old names it renamed.
 */
export async function renameLegacyTables(db: SqlRunner, tables: readonly LegacyTable[]): Promise<string[]> {
  const renamed: string[] = [];
  for (const t of tables) {
    const { rows } = await db.query('SELECT to_regclass(quote_ident(current_schema()) || \'.\' || quote_ident($1)) IS NOT NULL AS taken', [t.to]);
    if (rows[0]!.taken === true || !(await isPlexusTable(db, t))) continue;
    // Indexes (the primary key's too) and owned sequences keep their names across a table rename; they
    // would clash with an app's own table of the old name, so they get the prefix as well.
    const deps = await db.query(
      `SELECT c.relname AS name, c.relkind AS kind FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relname NOT LIKE '${PG_PREFIX}%' AND (
          c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass)
          OR c.oid IN (SELECT objid FROM pg_depend WHERE refobjid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass AND classid = 'pg_class'::regclass AND deptype IN ('a', 'i') AND objid IN (SELECT oid FROM pg_class WHERE relkind = 'S')))`,
      [t.from]);
    await db.query(`ALTER TABLE ${ident(t.from)} RENAME TO ${ident(t.to)}`);
    for (const d of deps.rows) {
      const name = String(d.name);
      await db.query(`ALTER ${d.kind === 'S' ? 'SEQUENCE' : 'INDEX'} ${ident(name)} RENAME TO ${ident(PG_PREFIX + name)}`);
    }
    renamed.push(t.from);
  }
  return renamed;
}

/** `renameLegacyTables` in a transaction of its own (for callers holding a session-level lock). */
export async function renameLegacyTablesInTx(db: SqlRunner, tables: readonly LegacyTable[]): Promise<string[]> {
  await db.query('BEGIN');
  try {
    const renamed = await renameLegacyTables(db, tables);
    await db.query('COMMIT');
    return renamed;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** A quoted SQL identifier. */
function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
