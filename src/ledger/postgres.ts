import pg from 'pg';
import { PlexusError } from '../errors.js';
import { sigKey, type Arg, type Event, type Rec, type Sig, type TransInput } from './event.js';
import { StoreLedger, type AuditRow, type LedgerOptions, type LedgerStore, type LocalRow, type StoreReader, type WriteBatch } from './ledger.js';
import { ZERO_TIME, type Rev } from './time.js';
import { renameLegacyTablesInTx, type LegacyTable } from '../pg-tables.js';

/** The tables before they were prefixed: renamed on open (see pg-tables.ts), then migrated as below. */
const LEGACY_TABLES: readonly LegacyTable[] = [
  { from: 'evt_event', to: 'plexus_evt_event', columns: { id: 'bigint', rev: 'bigint', top: 'text', key: 'text', cmd: 'text', arg: 'jsonb' },
    optional: { created: 'double precision', arrived: 'double precision', usr: 'text', extra: 'jsonb', tid: 'text' } },
  { from: 'evt_audit', to: 'plexus_evt_audit', columns: { rev: 'bigint', created: 'double precision', arrived: 'double precision', usr: 'text', extra: 'jsonb', tid: 'text' } },
  { from: 'evt_record', to: 'plexus_evt_record', columns: { top: 'text', key: 'text', rev: 'bigint', data: 'jsonb' } },
  { from: 'evt_local', to: 'plexus_evt_local', columns: { id: 'bigint', trans: 'jsonb', undo: 'jsonb' } },
  { from: 'evt_meta', to: 'plexus_evt_meta', columns: { name: 'text', value: 'bigint' } },
];
/** The publish function of the unprefixed schema (it used the old table names). */
const LEGACY_FUNCTION = 'evt_publish(jsonb, bigint, double precision, double precision, double precision, text, jsonb, text, bigint[], text, bigint)';

// The audit fields of a published transaction live on its first event row (created is NOT NULL exactly
// there): one table and two index entries less to write per publish than a separate audit table. A
// schema from before (plexus_evt_audit) is migrated once: columns added, rows moved, plexus_evt_audit dropped.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS plexus_evt_event (id bigserial PRIMARY KEY, rev bigint NOT NULL, top text NOT NULL, key text NOT NULL, cmd text NOT NULL, arg jsonb,
  created double precision, arrived double precision, usr text, extra jsonb, tid text);
ALTER TABLE plexus_evt_event ADD COLUMN IF NOT EXISTS created double precision, ADD COLUMN IF NOT EXISTS arrived double precision,
  ADD COLUMN IF NOT EXISTS usr text, ADD COLUMN IF NOT EXISTS extra jsonb, ADD COLUMN IF NOT EXISTS tid text;
CREATE INDEX IF NOT EXISTS plexus_evt_event_rev ON plexus_evt_event (rev);
CREATE INDEX IF NOT EXISTS plexus_evt_event_top_key ON plexus_evt_event (top, key, rev);
CREATE UNIQUE INDEX IF NOT EXISTS plexus_evt_event_tid ON plexus_evt_event (tid) WHERE tid IS NOT NULL;
DO $mig$ BEGIN
  IF to_regclass('plexus_evt_audit') IS NOT NULL THEN
    UPDATE plexus_evt_event e SET created = a.created, arrived = a.arrived, usr = a.usr, extra = a.extra, tid = a.tid
      FROM plexus_evt_audit a, (SELECT min(id) AS id, rev FROM plexus_evt_event GROUP BY rev) f WHERE f.rev = a.rev AND e.id = f.id;
    DELETE FROM plexus_evt_audit a WHERE EXISTS (SELECT 1 FROM plexus_evt_event e WHERE e.rev = a.rev AND e.created IS NOT NULL);
    IF NOT EXISTS (SELECT 1 FROM plexus_evt_audit) THEN DROP TABLE plexus_evt_audit; END IF;
  END IF;
END $mig$;
CREATE TABLE IF NOT EXISTS plexus_evt_record (top text NOT NULL, key text NOT NULL, rev bigint NOT NULL, data jsonb NOT NULL, PRIMARY KEY (top, key));
CREATE TABLE IF NOT EXISTS plexus_evt_local (id bigserial PRIMARY KEY, trans jsonb NOT NULL, undo jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS plexus_evt_meta (name text PRIMARY KEY, value bigint NOT NULL);
CREATE OR REPLACE FUNCTION plexus_evt_publish(p_acts jsonb, p_base bigint, p_t double precision, p_created double precision,
    p_arrived double precision, p_usr text, p_extra jsonb, p_tid text, p_ignore bigint[], p_channel text, p_zero bigint)
  RETURNS TABLE (rev bigint, ids bigint[]) LANGUAGE plpgsql AS $fn$
DECLARE
  v_last bigint; v_rev bigint; v_act jsonb; v_top text; v_key text; v_cmd text; v_data jsonb;
  v_ids bigint[]; v_had bigint; k text; v jsonb;
BEGIN
  -- the same rules as StoreLedger.publish (src/ledger/ledger.ts), in one round trip
  PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.evt_write'));
  IF p_tid IS NOT NULL THEN
    SELECT e.rev INTO v_had FROM plexus_evt_event e WHERE e.tid = p_tid;
    IF FOUND THEN RAISE EXCEPTION USING ERRCODE = 'EVT04', MESSAGE = 'transaction ' || p_tid || ' was already published', DETAIL = v_had::text; END IF;
  END IF;
  SELECT max(e.rev) INTO v_last FROM plexus_evt_event e;
  v_last := coalesce(v_last, p_zero);
  IF p_base > v_last THEN RAISE EXCEPTION USING ERRCODE = 'EVT03', MESSAGE = 'sanity check publish future base revision'; END IF;
  v_rev := greatest(floor(p_t)::bigint, v_last + 1);
  IF p_base <> p_zero AND p_base < v_last THEN
    FOR v_act IN SELECT x FROM jsonb_array_elements(p_acts) AS t(x) LOOP
      IF EXISTS (SELECT 1 FROM plexus_evt_event e WHERE e.top = v_act->>'top' AND e.key = v_act->>'key' AND e.rev > p_base AND NOT (e.rev = ANY(p_ignore))) THEN
        RAISE EXCEPTION USING ERRCODE = 'EVT01', MESSAGE = (v_act->>'top') || ' ' || (v_act->>'key') || ' changed after base revision';
      END IF;
    END LOOP;
  END IF;
  FOR v_act IN SELECT x FROM jsonb_array_elements(p_acts) AS t(x) LOOP
    v_top := v_act->>'top'; v_key := v_act->>'key'; v_cmd := v_act->>'cmd';
    SELECT r.data INTO v_data FROM plexus_evt_record r WHERE r.top = v_top AND r.key = v_key;
    IF v_cmd = 'new' THEN
      IF FOUND THEN RAISE EXCEPTION USING ERRCODE = 'EVT01', MESSAGE = 'new action for existing {' || v_top || ' ' || v_key || '}'; END IF;
      v_data := '{}';
    ELSIF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'EVT02', MESSAGE = 'apply ' || v_cmd || ' ' || v_top || ', ' || v_key || ': no value found';
    END IF;
    IF v_cmd = 'del' THEN
      DELETE FROM plexus_evt_record r WHERE r.top = v_top AND r.key = v_key;
    ELSE
      FOR k, v IN SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(v_act->'arg') = 'object' THEN v_act->'arg' ELSE '{}'::jsonb END) LOOP
        IF length(k) > 1 AND right(k, 1) = '-' THEN v_data := v_data - left(k, -1); ELSE v_data := v_data || jsonb_build_object(k, v); END IF;
      END LOOP;
      INSERT INTO plexus_evt_record AS r (top, key, rev, data) VALUES (v_top, v_key, v_rev, v_data)
        ON CONFLICT (top, key) DO UPDATE SET rev = excluded.rev, data = excluded.data;
    END IF;
  END LOOP;
  -- events last, so a failed action burns no ids; ids follow action order; the first carries the audit fields
  WITH ins AS (INSERT INTO plexus_evt_event (rev, top, key, cmd, arg, created, arrived, usr, extra, tid)
      SELECT v_rev, x->>'top', x->>'key', x->>'cmd', x->'arg', CASE WHEN n = 1 THEN coalesce(p_created, p_t) END,
        CASE WHEN n = 1 THEN coalesce(p_arrived, p_t) END, CASE WHEN n = 1 THEN p_usr END, CASE WHEN n = 1 THEN p_extra END, CASE WHEN n = 1 THEN p_tid END
      FROM jsonb_array_elements(p_acts) WITH ORDINALITY AS t(x, n) ORDER BY n RETURNING id)
    SELECT array_agg(ins.id ORDER BY ins.id) INTO v_ids FROM ins;
  PERFORM pg_notify(p_channel, '');
  RETURN QUERY SELECT v_rev, v_ids;
END $fn$;
CREATE OR REPLACE FUNCTION plexus_evt_publish_group(p_trans jsonb, p_channel text, p_zero bigint)
  RETURNS TABLE (n bigint, rev bigint, ids bigint[], state text, msg text, detail text) LANGUAGE plpgsql AS $fn$
DECLARE
  v_x jsonb; v_n bigint;
BEGIN
  -- group commit: many publishes in one round trip and one commit, each in its own subtransaction (the
  -- exception block), so each is atomic and checked against the ones before it; one that fails leaves
  -- no trace and the others go on
  PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.evt_write'));
  FOR v_x, v_n IN SELECT x, o FROM jsonb_array_elements(p_trans) WITH ORDINALITY AS t(x, o) LOOP
    BEGIN
      SELECT p.rev, p.ids INTO rev, ids FROM plexus_evt_publish(v_x->'acts', (v_x->>'base')::bigint, (v_x->>'t')::double precision,
        (v_x->>'created')::double precision, (v_x->>'arrived')::double precision, v_x->>'usr', v_x->'extra', v_x->>'tid',
        ARRAY(SELECT jsonb_array_elements_text(v_x->'ignore'))::bigint[], p_channel, p_zero) p;
      n := v_n; state := NULL; msg := NULL; detail := NULL;
    EXCEPTION WHEN OTHERS THEN
      n := v_n; rev := NULL; ids := NULL;
      GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    END;
    RETURN NEXT;
  END LOOP;
END $fn$;
`;

const PG_ERRORS: Record<string, 'CONFLICT' | 'NOT_FOUND' | 'INVALID_TRANS' | 'DUPLICATE'> = { EVT01: 'CONFLICT', EVT02: 'NOT_FOUND', EVT03: 'INVALID_TRANS', EVT04: 'DUPLICATE' };

type Q = (text: string, values?: unknown[], name?: string) => Promise<pg.QueryResult>;

interface EventRow { id: string; rev: string; top: string; key: string; cmd: string; arg: Arg | null }

function toEvent(r: EventRow): Event {
  const e: Event = { id: Number(r.id), rev: Number(r.rev), top: r.top, key: r.key, cmd: r.cmd };
  if (r.arg !== null) e.arg = r.arg;
  return e;
}

/** Audit rows of a schema from before that could not be moved onto events (see SCHEMA) are read from plexus_evt_audit too. */
const LEGACY_TID = ' UNION ALL SELECT rev FROM plexus_evt_audit WHERE tid = $1';

function reader(q: Q, legacy: boolean): StoreReader {
  return {
    maxRev: async () => { const r = await q('SELECT max(rev) AS r FROM plexus_evt_event'); return r.rows[0].r === null ? ZERO_TIME : Number(r.rows[0].r); },
    auditByTid: async (tid) => { const r = await q(`SELECT rev FROM plexus_evt_event WHERE tid = $1${legacy ? LEGACY_TID : ''}`, [tid]); return r.rows.length ? Number(r.rows[0].rev) : undefined; },
    changedSince: async (sig, base, ignore) => {
      const r = await q('SELECT 1 FROM plexus_evt_event WHERE top = $1 AND key = $2 AND rev > $3 AND NOT (rev = ANY($4::bigint[])) LIMIT 1', [sig.top, sig.key, base, ignore]);
      return r.rows.length > 0;
    },
    getRec: async (top, key) => {
      const r = await q('SELECT rev, data FROM plexus_evt_record WHERE top = $1 AND key = $2', [top, key]);
      return r.rows.length ? { top, key, rev: Number(r.rows[0].rev), data: r.rows[0].data as Arg } : undefined;
    },
    getRecs: async (sigs) => {
      const r = await q('SELECT top, key, rev, data FROM plexus_evt_record WHERE (top, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))', [sigs.map((x) => x.top), sigs.map((x) => x.key)]);
      return r.rows.map((x) => ({ top: x.top, key: x.key, rev: Number(x.rev), data: x.data as Arg }));
    },
    hasEvent: async (id) => (await q('SELECT 1 FROM plexus_evt_event WHERE id = $1', [id])).rows.length > 0,
    locals: async () => (await q('SELECT id, trans, undo FROM plexus_evt_local ORDER BY id')).rows.map((l) => ({ id: Number(l.id), trans: { ...l.trans, id: Number(l.id) }, undo: l.undo }) as LocalRow),
    hubRev: async () => {
      const r = await q("SELECT greatest((SELECT max(rev) FROM plexus_evt_event), (SELECT value FROM plexus_evt_meta WHERE name = 'hubRev')) AS r");
      return r.rows[0].r === null ? ZERO_TIME : Number(r.rows[0].r);
    },
  };
}

/**
 * PostgreSQL storage: tables plexus_evt_* in the connection's search_path schema. Writers serialize on a
 * transaction-scoped advisory lock and re-read the latest revision under it, so several processes
 * append without duplicate or out-of-order revisions; every append NOTIFYs the other processes.
 */
class PgStore implements LedgerStore {
  private readonly pool: pg.Pool;
  private ready: Promise<void>;
  private channel = '';
  /** plexus_evt_audit survived the migration (rows without events): read it too. */
  private legacy = false;
  private listener?: pg.Client;
  private readonly listeners = new Set<() => void>();
  private closed = false;

  constructor(url: string, private readonly onError: (err: unknown) => void) {
    this.pool = new pg.Pool({ connectionString: url, max: 4 });
    this.pool.on('error', (err) => onError(err));
    this.ready = this.init();
    this.ready.catch(() => undefined);
  }

  private async init(): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock(hashtext(current_schema() || \'.evt_schema\'))');
      try {
        if ((await renameLegacyTablesInTx(c, LEGACY_TABLES)).includes('evt_event')) await c.query(`DROP FUNCTION IF EXISTS ${LEGACY_FUNCTION}`);
        await c.query(SCHEMA);
      } finally { await c.query('SELECT pg_advisory_unlock(hashtext(current_schema() || \'.evt_schema\'))'); }
      const s = await c.query("SELECT current_schema() AS s, to_regclass('plexus_evt_audit') IS NOT NULL AS legacy");
      this.legacy = s.rows[0].legacy === true;
      this.channel = `plexus_evt_${String(s.rows[0].s)}`.slice(0, 63);
    } finally { c.release(); }
  }

  private q: Q = async (text, values) => { await this.ready; return this.pool.query(text, values); };

  reader(): StoreReader { return reader(this.q, this.legacy); }

  async tx<T>(fn: (r: StoreReader, write: (b: WriteBatch) => Promise<Event[]>) => Promise<T>, hint?: { sigs: readonly Sig[] }): Promise<T> {
    await this.ready;
    if (this.closed) throw new PlexusError('CLOSED', 'ledger closed');
    const c = await this.pool.connect();
    const q: Q = (t, v, name) => (name ? c.query({ name, text: t, values: v ?? [] }) : c.query(t, v));
    try {
      // one round trip: begin, take the writers' lock, read the latest revision under it
      // (and the records the transaction touches, as escaped literals: a simple query takes no parameters)
      const sigs = hint?.sigs.length ? hint.sigs : undefined;
      const pre = sigs ? `; SELECT top, key, rev, data FROM plexus_evt_record WHERE (top, key) IN (${sigs.map((x) => `(${c.escapeLiteral(x.top)}, ${c.escapeLiteral(x.key)})`).join(', ')})` : '';
      const res = (await c.query(`BEGIN; SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.evt_write')); SELECT max(rev) AS r FROM plexus_evt_event${pre}`)) as unknown as pg.QueryResult[];
      const max = res[2]!.rows[0].r;
      const r = reader(q, this.legacy);
      r.maxRev = async () => (max === null ? ZERO_TIME : Number(max));
      if (sigs) {
        const recs = res[3]!.rows.map((x) => ({ top: x.top as string, key: x.key as string, rev: Number(x.rev), data: (typeof x.data === 'string' ? JSON.parse(x.data) : x.data) as Arg }));
        const have = new Set(sigs.map(sigKey));
        const fetch = r.getRecs!;
        r.getRecs = async (want) => (want.every((w) => have.has(sigKey(w))) ? recs.filter((x) => want.some((w) => w.top === x.top && w.key === x.key)) : fetch(want));
      }
      const out = await fn(r, async (b) => this.write(q, b));
      await q('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /** The whole publish in one round trip (the plexus_evt_publish function; autocommit = one DB transaction). */
  async publish(t: TransInput, now: number, ignoreRevs: readonly number[]): Promise<Event[] & { rev?: number }> {
    await this.ready;
    if (this.closed) throw new PlexusError('CLOSED', 'ledger closed');
    let r: pg.QueryResult;
    try {
      r = await this.pool.query({
        name: 'plexus_evt_publish_fn',
        text: 'SELECT rev, ids FROM plexus_evt_publish($1::jsonb, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::bigint[], $10, $11)',
        values: [JSON.stringify(t.acts), t.base ?? ZERO_TIME, now, t.created ?? null, t.arrived ?? null, t.usr || null,
          t.extra === undefined ? null : JSON.stringify(t.extra), t.tid ?? null, ignoreRevs, this.channel, ZERO_TIME],
      });
    } catch (err) {
      this.pgError(err, t);
    }
    return this.eventsOf(t, Number(r.rows[0].rev), r.rows[0].ids as Array<string | number>);
  }

  /**
   * Group commit: several publishes in one round trip and one commit (plexus_evt_publish_group), each
   * atomic and checked on its own; one outcome per publish, in order (an error as publish would throw it).
   */
  async publishGroup(items: ReadonlyArray<{ t: TransInput; now: number; ignoreRevs: readonly number[] }>): Promise<Array<{ ok: true; v: Event[] & { rev?: number } } | { ok: false; e: unknown }>> {
    await this.ready;
    if (this.closed) throw new PlexusError('CLOSED', 'ledger closed');
    const trans = items.map(({ t, now, ignoreRevs }) => {
      const o: Record<string, unknown> = { acts: t.acts, base: t.base ?? ZERO_TIME, t: now, ignore: ignoreRevs };
      if (t.created !== undefined) o.created = t.created;
      if (t.arrived !== undefined) o.arrived = t.arrived;
      if (t.usr) o.usr = t.usr;
      if (t.extra !== undefined) o.extra = t.extra;
      if (t.tid !== undefined) o.tid = t.tid;
      return o;
    });
    const r = await this.pool.query({
      name: 'plexus_evt_publish_group_fn',
      text: 'SELECT n, rev, ids, state, msg, detail FROM plexus_evt_publish_group($1::jsonb, $2, $3) ORDER BY n',
      values: [JSON.stringify(trans), this.channel, ZERO_TIME],
    });
    if (r.rows.length !== items.length) throw new PlexusError('INTERNAL', `group publish answered ${r.rows.length} of ${items.length}`);
    return items.map(({ t }, i) => {
      const row = r.rows[i] as { rev: string | null; ids: Array<string | number> | null; state: string | null; msg: string | null; detail: string | null };
      if (row.state !== null) {
        const err = Object.assign(new Error(row.msg ?? 'publish failed'), { code: row.state, detail: row.detail ?? undefined });
        try { this.pgError(err, t); } catch (e) { return { ok: false as const, e }; }
      }
      return { ok: true as const, v: this.eventsOf(t, Number(row.rev), row.ids!) };
    });
  }

  /** Throw a publish's PostgreSQL error as the typed error it stands for (or as it is). */
  private pgError(err: unknown, t: TransInput): never {
    const code = PG_ERRORS[(err as { code?: string }).code ?? ''];
    if (!code) throw err;
    const msg = (err as Error).message;
    if (code === 'DUPLICATE') throw new PlexusError(code, msg, { detail: { tid: t.tid, rev: Number((err as { detail?: string }).detail) } });
    throw new PlexusError(code, msg);
  }

  /** A published transaction's events (ids from the database, in action order). */
  private eventsOf(t: TransInput, rev: number, ids: Array<string | number>): Event[] & { rev?: number } {
    const evs = t.acts.map((a, i) => {
      const e: Event = { id: Number(ids[i]), rev, top: a.top, key: a.key, cmd: a.cmd };
      if (a.arg !== undefined) e.arg = a.arg;
      return e;
    }) as Event[] & { rev?: number };
    evs.rev = rev;
    return evs;
  }

  /** A publish (new events, audit row, records) as one statement, with the NOTIFY. */
  private async writePublish(q: Q, b: WriteBatch): Promise<Event[]> {
    const evs = b.events!;
    const a = b.audit!;
    const put: Rec[] = [], del: Array<{ top: string; key: string }> = [];
    for (const v of (b.recs ?? new Map()).values()) { if ('gone' in v) del.push(v); else put.push(v); }
    const r = await q(`WITH e AS (
        INSERT INTO plexus_evt_event (rev, top, key, cmd, arg, created, arrived, usr, extra, tid)
        SELECT rev, top, key, cmd, arg, CASE WHEN n = 1 THEN $7::float8 END, CASE WHEN n = 1 THEN $8::float8 END, CASE WHEN n = 1 THEN $9::text END,
          CASE WHEN n = 1 THEN $10::jsonb END, CASE WHEN n = 1 AND $6::bigint = rev THEN $11::text END
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS t(rev, top, key, cmd, arg, n) ORDER BY n
        RETURNING id),
      p AS (INSERT INTO plexus_evt_record (top, key, rev, data) SELECT * FROM unnest($12::text[], $13::text[], $14::bigint[], $15::jsonb[])
        ON CONFLICT (top, key) DO UPDATE SET rev = excluded.rev, data = excluded.data),
      d AS (DELETE FROM plexus_evt_record WHERE (top, key) IN (SELECT * FROM unnest($16::text[], $17::text[])))
      SELECT id, pg_notify($18, '') FROM e ORDER BY id`,
    [evs.map((e) => e.rev), evs.map((e) => e.top), evs.map((e) => e.key), evs.map((e) => e.cmd), evs.map((e) => (e.arg === undefined ? null : JSON.stringify(e.arg))),
      a.rev, a.created, a.arrived, a.usr ?? null, a.extra === undefined ? null : JSON.stringify(a.extra), a.tid ?? null,
      put.map((x) => x.top), put.map((x) => x.key), put.map((x) => x.rev), put.map((x) => JSON.stringify(x.data)),
      del.map((x) => x.top), del.map((x) => x.key), this.channel], 'plexus_evt_publish');
    return evs.map((e, i) => {
      const ev: Event = { id: Number(r.rows[i].id), rev: e.rev, top: e.top, key: e.key, cmd: e.cmd };
      if (e.arg !== undefined) ev.arg = e.arg;
      return ev;
    });
  }

  private async write(q: Q, b: WriteBatch): Promise<Event[]> {
    if (b.audit && b.events?.length && b.events.every((e) => e.id === undefined) && !b.addLocal && !b.dropLocals?.length && !b.updateLocals?.length) {
      return this.writePublish(q, b);
    }
    if (b.audit) throw new PlexusError('INTERNAL', 'an audit row is written with its new events (writePublish)');
    await q('SELECT pg_notify($1, \'\')', [this.channel]);
    const out: Event[] = [];
    const evs = b.events ?? [];
    if (evs.length) {
      const hubIds = evs.every((e) => e.id !== undefined);
      const r = await q(
        hubIds
          ? 'INSERT INTO plexus_evt_event (id, rev, top, key, cmd, arg) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) RETURNING id'
          : 'INSERT INTO plexus_evt_event (rev, top, key, cmd, arg) SELECT rev, top, key, cmd, arg FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS t(rev, top, key, cmd, arg, n) ORDER BY n RETURNING id',
        [...(hubIds ? [evs.map((e) => e.id)] : []), evs.map((e) => e.rev), evs.map((e) => e.top), evs.map((e) => e.key), evs.map((e) => e.cmd), evs.map((e) => (e.arg === undefined ? null : JSON.stringify(e.arg)))],
      );
      evs.forEach((e, i) => {
        const ev: Event = { id: Number(r.rows[i].id), rev: e.rev, top: e.top, key: e.key, cmd: e.cmd };
        if (e.arg !== undefined) ev.arg = e.arg;
        out.push(ev);
      });
      if (!hubIds) out.sort((x, y) => x.id - y.id);
    }
    const put: Rec[] = [], del: Array<{ top: string; key: string }> = [];
    for (const v of (b.recs ?? new Map()).values()) { if ('gone' in v) del.push(v); else put.push(v); }
    if (put.length) {
      await q('INSERT INTO plexus_evt_record (top, key, rev, data) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[]) ON CONFLICT (top, key) DO UPDATE SET rev = excluded.rev, data = excluded.data',
        [put.map((r) => r.top), put.map((r) => r.key), put.map((r) => r.rev), put.map((r) => JSON.stringify(r.data))]);
    }
    if (del.length) await q('DELETE FROM plexus_evt_record WHERE (top, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))', [del.map((d) => d.top), del.map((d) => d.key)]);
    if (b.dropLocals?.length) await q('DELETE FROM plexus_evt_local WHERE id = ANY($1::bigint[])', [b.dropLocals]);
    for (const l of b.updateLocals ?? []) await q('UPDATE plexus_evt_local SET undo = $1 WHERE id = $2', [JSON.stringify(l.undo), l.id]);
    if (b.addLocal) {
      const r = await q('INSERT INTO plexus_evt_local (trans, undo) VALUES ($1, $2) RETURNING id', [JSON.stringify(b.addLocal.trans), JSON.stringify(b.addLocal.undo)]);
      b.addLocal.trans.id = Number(r.rows[0].id);
    }
    if (b.hubRev !== undefined && !b.audit) {
      await q("INSERT INTO plexus_evt_meta (name, value) VALUES ('hubRev', $1) ON CONFLICT (name) DO UPDATE SET value = greatest(plexus_evt_meta.value, excluded.value)", [b.hubRev]);
    }
    return out;
  }

  async eventsPage(since: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    return this.scan('rev > $2', since, tops, afterId, limit);
  }

  async eventsUpTo(rev: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    return this.scan('rev <= $2', rev, tops, afterId, limit);
  }

  private async scan(cond: string, rev: Rev, tops: readonly string[], afterId: number, limit: number): Promise<Event[]> {
    const r = await this.q(`SELECT id, rev, top, key, cmd, arg FROM plexus_evt_event WHERE id > $1 AND ${cond}${tops.length ? ' AND top = ANY($4::text[])' : ' AND $4::text[] IS NULL'} ORDER BY id LIMIT $3`,
      [afterId, rev, limit, tops.length ? tops : null]);
    return (r.rows as EventRow[]).map(toEvent);
  }

  async lastEventId(): Promise<number> { return Number((await this.q('SELECT coalesce(max(id), 0) AS m FROM plexus_evt_event')).rows[0].m); }

  async listRecs(top: string): Promise<Rec[]> {
    const r = await this.q('SELECT top, key, rev, data FROM plexus_evt_record WHERE top = $1 ORDER BY key COLLATE "C"', [top]);
    return r.rows.map((x) => ({ top: x.top, key: x.key, rev: Number(x.rev), data: x.data as Arg }));
  }

  async audit(rev: Rev): Promise<AuditRow | undefined> {
    const r = await this.q(`SELECT rev, created, arrived, usr, extra, tid FROM plexus_evt_event WHERE rev = $1 AND created IS NOT NULL${
      this.legacy ? ' UNION ALL SELECT rev, created, arrived, usr, extra, tid FROM plexus_evt_audit WHERE rev = $1' : ''} LIMIT 1`, [rev]);
    if (!r.rows.length) return undefined;
    const x = r.rows[0];
    const a: AuditRow = { rev: Number(x.rev), created: x.created, arrived: x.arrived };
    if (x.usr) a.usr = x.usr;
    if (x.extra !== null) a.extra = x.extra;
    if (x.tid !== null) a.tid = x.tid;
    return a;
  }

  onAppend(fn: () => void): () => void {
    this.listeners.add(fn);
    if (!this.listener) void this.listen();
    return () => { this.listeners.delete(fn); };
  }

  private async listen(): Promise<void> {
    await this.ready;
    if (this.closed || this.listener) return;
    const c = new pg.Client({ connectionString: (this.pool as unknown as { options: { connectionString: string } }).options.connectionString });
    this.listener = c;
    let lost = false;
    const relisten = (err?: unknown) => {
      if (lost) return;
      lost = true;
      if (err) this.onError(err);
      if (this.listener === c) this.listener = undefined;
      c.end().catch(() => undefined);
      // reconnect, then let every listener catch up on what it may have missed
      if (!this.closed) setTimeout(() => { void this.listen().then(() => { for (const f of this.listeners) f(); }); }, 1000).unref?.();
    };
    c.on('error', (err) => relisten(err));
    c.on('end', () => relisten());
    c.on('notification', () => { for (const f of this.listeners) f(); });
    try {
      await c.connect();
      await c.query(`LISTEN "${this.channel}"`);
    } catch (err) { relisten(err); }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ready.catch(() => undefined);
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => undefined);
    await this.pool.end();
  }
}

export interface PgLedgerOptions extends LedgerOptions {
  /** Called with errors of the LISTEN connection and idle pool clients. */
  onError?: (err: unknown) => void;
}

/** The ledger on PostgreSQL (tables plexus_evt_* in the URL's search_path schema). */
export class PgLedger extends StoreLedger {
  constructor(url: string, opts: PgLedgerOptions = {}) {
    super(new PgStore(url, opts.onError ?? (() => undefined)), opts);
  }
}
