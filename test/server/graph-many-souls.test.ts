// A gun client that browses many nodes keeps a subscription per node it read (`once` subscribes for the
// life of the connection): 15,000 distinct souls (with 50-character names) read on one connection must all be answered with their
// data, none refused by the memory budget.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer } from '../../src/server/http.js';
import { createGraphMount } from '../../src/server/graph.js';
import { tmpDir } from '../helpers/tmp.js';

const SOULS = 15_000, PER_FRAME = 500;
const soul = (i: number) => `app/users/${i.toString(36)}/profile-${'p'.repeat(24)}`;

/** A raw /gun connection that sends frames of messages and waits for one answer to each. */
async function connection(url: string) {
  const ws = new WebSocket(url);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  let waiting = 0, wake: (() => void) | undefined;
  const found = new Set<string>(), errors: string[] = [];
  ws.on('message', (data) => {
    const v = JSON.parse(data.toString()) as Record<string, unknown> | Record<string, unknown>[];
    for (const m of Array.isArray(v) ? v : [v]) {
      if (typeof m['@'] !== 'string') continue;
      if (m.err) errors.push(String(m.code ?? m.err));
      if (m.put) for (const s of Object.keys(m.put as object)) found.add(s);
      if (--waiting === 0) wake?.();
    }
  });
  return {
    found, errors,
    async send(frame: Record<string, unknown>[]): Promise<void> {
      waiting = frame.length;
      const done = new Promise<void>((r) => { wake = r; });
      ws.send(JSON.stringify(frame));
      await done;
    },
    close: () => ws.close(),
  };
}

describe('graph: one connection reading many nodes', () => {
  it(`${SOULS.toLocaleString('en-US')} distinct souls read on one connection are all answered with data`, async () => {
    const d = tmpDir();
    const srv = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [createGraphMount()] });
    try {
      const url = srv.url.replace('http', 'ws') + '/gun';
      const writer = await connection(url);
      for (let i = 0; i < SOULS; i += PER_FRAME) {
        await writer.send(Array.from({ length: PER_FRAME }, (_, j) => ({ '#': `p${i + j}`, put: { [soul(i + j)]: { _: { '#': soul(i + j), '>': { n: 1 } }, n: i + j } } })));
      }
      assert.deepEqual(writer.errors, [], 'every put acked');
      writer.close();
      const reader = await connection(url);
      for (let i = 0; i < SOULS; i += PER_FRAME) await reader.send(Array.from({ length: PER_FRAME }, (_, j) => ({ '#': `g${i + j}`, get: { '#': soul(i + j) } })));
      assert.deepEqual(reader.errors, [], 'no get refused');
      assert.equal(reader.found.size, SOULS, 'every node came back with its data');
      reader.close();
    } finally { await srv.close(); d.rm(); }
  });
});
