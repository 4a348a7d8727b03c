import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { tmpDir } from '../helpers/tmp.js';
import { eventually } from './helpers/gun.js';

function serve(dataDir: string): Promise<{ p: ChildProcess; url: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'test/graph/helpers/serve.ts', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start')), 20_000);
    createInterface({ input: p.stdout! }).on('line', (l) => { if (l.startsWith('{"url"')) { clearTimeout(t); resolve({ p, url: JSON.parse(l).url }); } });
    p.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
}

describe('graph relay: SIGKILL in the middle of a write stream', () => {
  it('after restart on the same data dir, every acked write is there', async () => {
    const d = tmpDir();
    const { p, url } = await serve(d.path);
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/gun');
    await new Promise((r) => ws.once('open', r));
    const sent = new Map<string, { soul: string; field: string; value: string }>();
    const acked: { soul: string; field: string; value: string }[] = [];
    ws.on('message', (data) => {
      const v = JSON.parse(data.toString());
      for (const m of Array.isArray(v) ? v : [v]) if (m['@'] && m.ok && sent.has(m['@'])) acked.push(sent.get(m['@'])!);
    });
    ws.on('error', () => {});
    let i = 0, stop = false;
    const pump = async () => {
      while (!stop && ws.readyState === WebSocket.OPEN) {
        if (i - acked.length > 500) { await new Promise((r) => setTimeout(r, 1)); continue; } // keep ~500 writes in flight
        for (let k = 0; k < 50; k++, i++) {
          const soul = `crash${i % 37}`, field = `f${i}`, value = `v${i}`, id = `c${i}`;
          sent.set(id, { soul, field, value });
          ws.send(JSON.stringify({ '#': id, put: { [soul]: { _: { '#': soul, '>': { [field]: Date.now() } }, [field]: value } } }));
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    const pumping = pump();
    try {
      await eventually(() => acked.length >= 1000, 60_000, '1000 acks');
    } catch (err) {
      stop = true; p.kill('SIGKILL'); ws.terminate(); d.rm();
      throw err;
    }
    p.kill('SIGKILL');
    stop = true;
    await pumping;
    const ackedAtKill = acked.slice();
    ws.terminate();
    await new Promise((r) => p.once('exit', r));
    assert.ok(sent.size > ackedAtKill.length, 'the kill happened with writes in flight');

    const again = await serve(d.path);
    const r = new WebSocket(again.url.replace(/^http/, 'ws') + '/gun');
    await new Promise((res) => r.once('open', res));
    const got = new Map<string, unknown>();
    const answered = new Set<string>();
    r.on('message', (data) => {
      const v = JSON.parse(data.toString());
      for (const m of Array.isArray(v) ? v : [v]) {
        if (!m['@']) continue;
        answered.add(m['@']);
        for (const [soul, node] of Object.entries((m.put ?? {}) as Record<string, Record<string, unknown>>)) for (const [f, val] of Object.entries(node)) if (f !== '_') got.set(`${soul}.${f}`, val);
      }
    });
    for (let s = 0; s < 37; s++) r.send(JSON.stringify({ '#': `read${s}`, get: { '#': `crash${s}` } }));
    await eventually(() => answered.size === 37, 10_000, 'all reads answered');
    await new Promise((res) => setTimeout(res, 100));
    const missing = ackedAtKill.filter((w) => got.get(`${w.soul}.${w.field}`) !== w.value);
    assert.equal(missing.length, 0, `${missing.length} of ${ackedAtKill.length} acked writes lost`);
    r.terminate();
    again.p.kill('SIGKILL');
    await new Promise((res) => again.p.once('exit', res));
    d.rm();
  });
});
