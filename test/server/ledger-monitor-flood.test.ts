import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { serveChild, type ServeChild } from '../helpers/serve-child.js';
import { RUNTIME_SLACK_MIB, rssPeak } from '../helpers/stalled.js';
import { tmpDir } from '../helpers/tmp.js';
import { SERVER_SUBSCRIPTION_BUDGET_BYTES } from '../../src/limits.js';

const MiB = 1024 * 1024;
const CONNECTIONS = 10, MONITORS = 40;
/** One monitor watching 3,000 keys of 200 characters: a frame of about 620 KB, under LEDGER_MAX_FRAME_BYTES. */
const WATCH = JSON.stringify({ watch: [{ top: 'item', keys: Array.from({ length: 3000 }, (_, i) => `${i}-`.padEnd(200, 'k')) }] });
/** README's bound: the subscription part of the budget plus RUNTIME_SLACK_MIB. */
const BOUND_MIB = SERVER_SUBSCRIPTION_BUDGET_BYTES / MiB + RUNTIME_SLACK_MIB;

async function open(url: string): Promise<{ ws: WebSocket; ask(frame: string, token: string): Promise<string> }> {
  const ws = new WebSocket(url);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const waiting = new Map<string, (f: string) => void>();
  ws.on('message', (d) => { const f = d.toString(); const tok = /^[^#\n]*#([^\n]*)\n/.exec(f)?.[1]; if (tok !== undefined) { waiting.get(tok)?.(f); waiting.delete(tok); } });
  return { ws, ask: (frame, token) => new Promise((r) => { waiting.set(token, r); ws.send(frame); }) };
}

describe('bounded memory: /evt connections creating huge monitors', () => {
  let s: ServeChild;
  const d = tmpDir();
  before(async () => { s = await serveChild(['--data', d.path]); });
  after(async () => { await s.kill(); d.rm(); });

  it(`${CONNECTIONS} x ${MONITORS} monitors of ~620 KB: past the budget they are refused RATE_LIMITED, RSS grows < ${BOUND_MIB} MiB, a normal client is served`, async () => {
    const url = s.url.replace('http', 'ws') + '/evt';
    const normal = await open(url);
    for (let i = 0; i < 10; i++) await normal.ask(`evt.pub#w${i}\n${JSON.stringify({ acts: [{ top: 'n', key: `w${i}`, cmd: 'new' }] })}`, `w${i}`);
    await new Promise((r) => setTimeout(r, 300));
    const base = s.rssMiB();
    const peak = rssPeak(() => s.rssMiB());
    let made = 0, refused = 0, other = '';
    await Promise.all(Array.from({ length: CONNECTIONS }, async (_, c) => {
      const x = await open(url);
      for (let m = 0; m < MONITORS; m++) {
        const f = await x.ask(`evt.mon#m${m}\n${WATCH}`, `m${m}`);
        if (f.includes('"res"')) made++; else if (f.includes('RATE_LIMITED')) refused++; else other = f.slice(0, 200);
      }
    }));
    const t0 = performance.now();
    const r = await normal.ask(`evt.pub#n\n${JSON.stringify({ acts: [{ top: 'n', key: 'after', cmd: 'new' }] })}`, 'n');
    const ms = performance.now() - t0;
    const top = peak.stop();
    const health = (await (await fetch(`${s.url}/healthz`)).json()) as { memory: { subscriptionBytes: number; refusedBy: Record<string, number> } };
    console.log(`ledger monitors: RSS ${base.toFixed(0)} -> peak ${top.toFixed(0)} MiB; ${made} monitors made, ${refused} refused; subscriptions hold ${(health.memory.subscriptionBytes / MiB).toFixed(1)} MiB; normal publish ${ms.toFixed(0)} ms`);
    assert.equal(other, '', 'every answer is a monitor id or RATE_LIMITED');
    assert.ok(refused > 0 && made > 0);
    assert.equal(health.memory.refusedBy['ledger subscriptions'], refused, 'each refusal counted');
    assert.ok(health.memory.subscriptionBytes <= SERVER_SUBSCRIPTION_BUDGET_BYTES);
    assert.ok(top - base < BOUND_MIB, `RSS grew by ${(top - base).toFixed(0)} MiB`);
    assert.match(r, /"evs"/, 'a normal publish is answered');
    assert.ok(ms < 5_000);
  });
});
