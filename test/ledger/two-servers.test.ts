import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { createLedgerMount } from '../../src/server/ledger.js';
import { connectHub, type HubClient, type WebSocketCtor } from '../../src/ledger/client.js';
import type { Event } from '../../src/ledger/event.js';
import { PgLedger } from '../../src/ledger/postgres.js';
import { ZERO_TIME } from '../../src/ledger/time.js';
import { freshPgSchema } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';

const opts = { WebSocket: WebSocket as unknown as WebSocketCtor };

async function collect(c: HubClient, tops: string[], n: number, ms = 15_000): Promise<Event[]> {
  const out: Event[] = [];
  const sub = c.subscribe(tops);
  const deadline = setTimeout(() => sub.close(), ms);
  for await (const u of sub) { out.push(...(u.evs ?? [])); if (out.length >= n) break; }
  clearTimeout(deadline);
  sub.close();
  return out;
}

describe('two plexus serve on one PostgreSQL ledger', () => {
  let a: PlexusServer, b: PlexusServer, pg: Awaited<ReturnType<typeof freshPgSchema>>;
  const d = tmpDir();
  before(async () => {
    pg = await freshPgSchema('ltwo');
    [a, b] = await Promise.all([1, 2].map(() => startServer({ port: 0, dataDir: d.path, postgres: pg.url, logLevel: 'silent', mounts: [createLedgerMount({ batchMs: 20 })] })));
  });
  after(async () => { await a.close(); await b.close(); await pg.drop(); d.rm(); });

  it('concurrent publishers on both: no duplicate or out-of-order revision; each server pushes the other\'s events', async () => {
    const ua = a.url.replace('http', 'ws') + '/evt', ub = b.url.replace('http', 'ws') + '/evt';
    const [sa, sb] = await Promise.all([connectHub(ua, opts), connectHub(ub, opts)]);
    const PER = 25, PUBS = 4;
    const gotA = collect(sa, ['t'], PER * PUBS);
    const gotB = collect(sb, ['t'], PER * PUBS);
    await new Promise((r) => setTimeout(r, 100));
    const pubs = await Promise.all(Array.from({ length: PUBS }, (_, i) => connectHub(i % 2 ? ub : ua, opts)));
    const results = await Promise.all(pubs.map((p, i) => (async () => {
      const revs: number[] = [];
      for (let j = 0; j < PER; j++) revs.push((await p.publish({ acts: [{ top: 't', key: `${i}-${j}`, cmd: 'new', arg: { i, j } }] })).rev);
      return revs;
    })()));
    const all = results.flat();
    assert.equal(new Set(all).size, PER * PUBS, 'every publish got its own revision');
    const l = new PgLedger(pg.url);
    const evs: Event[] = [];
    for await (const e of l.events(ZERO_TIME)) evs.push(e);
    await l.close();
    assert.equal(evs.length, PER * PUBS);
    for (let i = 1; i < evs.length; i++) assert.ok(evs[i]!.rev > evs[i - 1]!.rev, `revision order broken at id ${evs[i]!.id}`);
    for (const got of [await gotA, await gotB]) {
      assert.equal(got.length, PER * PUBS, 'every event pushed once');
      assert.deepEqual(got.map((e) => e.id), evs.map((e) => e.id), 'in id order, no duplicates');
    }
    for (const c of [sa, sb, ...pubs]) c.close();
  });
});
