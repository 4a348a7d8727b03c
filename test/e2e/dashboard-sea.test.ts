// The dashboard shows gun user souls and whether each field passes the relay's SEA checks (GET /api/graph/sea).
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { openDashboard, TOKEN } from './dashboard-helpers.js';
import { signedValue, testPair } from '../graph/helpers/sea-sign.js';
import WebSocket from 'ws';

/** Put one signed field of `~pub` straight to the relay; resolves with the relay's answer. */
async function rawPut(url: string, soul: string, field: string, value: unknown, state: number): Promise<Record<string, unknown>> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + `/gun?token=${TOKEN}`);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const id = `sea${Math.random().toString(36).slice(2, 10)}`;
  ws.send(JSON.stringify({ '#': id, put: { [soul]: { _: { '#': soul, '>': { [field]: state } }, [field]: value } } }));
  const ack = await new Promise<Record<string, unknown>>((resolve) => ws.on('message', (d) => {
    const v = JSON.parse(d.toString());
    for (const m of Array.isArray(v) ? v : [v]) if (m['@'] === id) resolve(m);
  }));
  ws.close();
  return ack;
}

describe('dashboard: SEA status of user souls', () => {
  let ctx: Awaited<ReturnType<typeof openDashboard>>;
  before(async () => { ctx = await openDashboard(); });
  after(async () => { await ctx?.close(); });

  it('GET /api/graph/sea answers per field; the field table shows verified fields', async () => {
    const { server, page, errors } = ctx;
    const alice = await testPair();
    const soul = `~${alice.pub}`, state = Date.now();
    const name = await signedValue(alice, { soul, field: 'name', value: 'alice', state });
    assert.equal((await rawPut(server.url, soul, 'name', name, state)).ok, true);
    const r = await fetch(`${server.url}/api/graph/sea?soul=${encodeURIComponent(soul)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    const body = await r.json() as { fields: Record<string, { verified: boolean; signer?: string; kind: string }> };
    assert.equal(body.fields.name?.verified, true);
    assert.equal(body.fields.name?.signer, alice.pub);
    const bad = await fetch(`${server.url}/api/graph/sea`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(bad.status, 400);

    await page.goto(`${server.url}/#/graph`);
    await page.getByTestId('soul-prefix').fill('~');
    await page.getByTestId('soul-item').filter({ hasText: soul.slice(0, 20) }).first().click();
    await page.getByTestId('sea-name').getByTestId('sea-ok').waitFor();
    assert.match(await page.getByTestId('sea-name').innerText(), /verified/);
    assert.deepEqual(errors, []);
  });
});
