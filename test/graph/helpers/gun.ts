import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '../../helpers/tmp.js';

const here = fileURLToPath(new URL('.', import.meta.url));

type Json = unknown;

/** A real gun client in a child process (see gun-peer.cjs). */
export class GunPeer {
  #p: ChildProcess;
  #next = 1;
  #wait = new Map<number, (v: Record<string, Json>) => void>();
  #subs = new Map<number, (ev: { key: string; data: Json }) => void>();
  #ready: Promise<void>;
  #dir = tmpDir('gunpeer-');
  stderr = '';

  constructor(url: string) {
    this.#p = spawn(process.execPath, [here + 'gun-peer.cjs', url], { cwd: this.#dir.path, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_PATH: process.cwd() + '/node_modules' } });
    this.#p.stderr!.on('data', (d) => { this.stderr += d; });
    let ready!: () => void;
    this.#ready = new Promise((r) => (ready = r));
    createInterface({ input: this.#p.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      let m: Record<string, Json>;
      try { m = JSON.parse(line); } catch { return; }
      if (m.ready) return ready();
      if (m.event === 'on') return this.#subs.get(m.sub as number)?.({ key: m.key as string, data: m.data });
      const w = this.#wait.get(m.id as number);
      if (w) { this.#wait.delete(m.id as number); w(m); }
    });
  }

  ready(): Promise<void> { return this.#ready; }

  #call(cmd: Record<string, Json>, timeoutMs = 15_000): Promise<Record<string, Json>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.#wait.delete(id); reject(new Error(`gun peer: ${JSON.stringify(cmd).slice(0, 200)} timed out; stderr: ${this.stderr.slice(-500)}`)); }, timeoutMs);
      this.#wait.set(id, (v) => { clearTimeout(t); if (v.error) reject(new Error(String(v.error))); else resolve(v); });
      this.#p.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }

  async put(path: string[], value: Json): Promise<{ ok?: Json; err?: string }> {
    return (await this.#call({ op: 'put', path, value })).ack as { ok?: Json; err?: string };
  }
  async once(path: string[], wait = 300): Promise<Json> {
    return (await this.#call({ op: 'once', path, wait })).data;
  }
  async set(path: string[], value: Json): Promise<{ ack: { ok?: Json; err?: string }; soul: string }> {
    const r = await this.#call({ op: 'set', path, value });
    return { ack: r.ack as { ok?: Json }, soul: r.soul as string };
  }
  async map(path: string[], wait = 1000): Promise<Record<string, Json>> {
    return (await this.#call({ op: 'map', path, wait })).items as Record<string, Json>;
  }
  async on(path: string[], cb: (ev: { key: string; data: Json }) => void): Promise<void> {
    const id = this.#next;
    this.#subs.set(id, cb);
    await this.#call({ op: 'on', path });
  }
  /** Fire n acked puts at once (bench); returns how many were acked and the time. */
  async benchPut(soul: string, n: number, timeoutMs = 60_000): Promise<{ acked: number; ms: number }> {
    const r = await this.#call({ op: 'bench-put', soul, n, timeoutMs }, timeoutMs + 5000);
    return { acked: r.acked as number, ms: r.ms as number };
  }
  /**
   * Closed-loop acked puts for `ms` ms with at most `inflight` unacked (bench), then drain: each put writes
   * a new node `${prefix}${i}` = {text (size chars), n, by} (shape 'field': field `f${i}` of node `${prefix}` = text). Latencies (ms) are from put to first ack.
   */
  async benchFlow(o: { prefix: string; ms: number; inflight: number; size?: number; shape?: 'node' | 'field'; drainMs?: number }): Promise<{ acked: number; errs: number; lost: number; ms: number; p50: number | null; p99: number | null; max: number | null }> {
    const r = await this.#call({ op: 'bench-flow', ...o }, o.ms + (o.drainMs ?? 30_000) + 10_000);
    return { acked: r.acked as number, errs: r.errs as number, lost: r.lost as number, ms: r.ms as number, p50: r.p50 as number | null, p99: r.p99 as number | null, max: r.max as number | null };
  }
  /**
   * Write n distinct small nodes `${prefix}${start + i}` = {name, n: start + i, tag} (or read with once n of the `of` nodes from `start`), `inflight` at a time (bench).
   * With listAcked, `acked` lists the node numbers whose put was acked without error.
   */
  async benchNodes(op: 'bench-nodes' | 'bench-read', o: { prefix: string; n: number; start?: number; of?: number; inflight?: number; timeoutMs: number; listAcked?: boolean }): Promise<{ ok: number; ms: number; acked?: number[] }> {
    const r = await this.#call({ op, start: 0, of: o.n, inflight: 500, ...o }, o.timeoutMs + 10_000);
    return { ok: r.ok as number, ms: r.ms as number, ...(r.acked ? { acked: r.acked as number[] } : {}) };
  }
  /**
   * Closed-loop `once` reads for `ms` ms with at most `inflight` in flight (bench), then drain: read i is of node
   * `${prefix}${pool[(offset + i * 7919) % pool.length]}`, each node at most once per process (a fresh gun client
   * has nothing cached, so every read goes to the relay). A read is answered only when it returns that node's
   * data (its `n`); `exhausted` when the pool ran out before `ms`. Latencies (ms) are from `once` to its callback.
   */
  async benchReadFlow(o: { prefix: string; pool: number[]; offset: number; ms: number; inflight: number; wait?: number; drainMs?: number }): Promise<{ answered: number; missed: number; lost: number; exhausted: boolean; ms: number; p50: number | null; p99: number | null }> {
    const r = await this.#call({ op: 'bench-read-flow', ...o }, o.ms + (o.drainMs ?? 30_000) + 10_000);
    return { answered: r.answered as number, missed: r.missed as number, lost: r.lost as number, exhausted: r.exhausted as boolean, ms: r.ms as number, p50: r.p50 as number | null, p99: r.p99 as number | null };
  }
  /** The child's process id (bench: memory). */
  get pid(): number | undefined { return this.#p.pid; }
  async close(): Promise<void> {
    if (this.#p.exitCode === null && this.#p.signalCode === null) {
      const exited = new Promise((r) => this.#p.once('exit', r));
      this.#p.kill('SIGKILL');
      await exited;
    }
    this.#dir.rm();
  }
}

/** A real gun relay (AXE + radisk defaults) in a child process; `restart` kills it (SIGKILL) and starts it again on the same port and data. */
export async function startGunRelay(peers: string[] = []): Promise<{ url: string; readonly pid: number; restart(): Promise<void>; close(): Promise<void> }> {
  const dir = tmpDir('gunrelay-');
  const start = async (port: number) => {
    const p = spawn(process.execPath, [here + 'gun-relay.cjs', dir.path + '/radata', peers.length ? peers.join(',') : '-', String(port)], { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'] });
    const got = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('gun relay did not start')), 15_000);
      createInterface({ input: p.stdout! }).on('line', (l) => { if (l.startsWith('{"port"')) { clearTimeout(t); resolve(JSON.parse(l).port); } });
      p.once('exit', (c) => reject(new Error(`gun relay exited ${c}`)));
    });
    return { p, port: got };
  };
  const kill = async (p: ChildProcess) => { if (p.exitCode === null && p.signalCode === null) { const e = new Promise((r) => p.once('exit', r)); p.kill('SIGKILL'); await e; } };
  let cur = await start(0);
  const port = cur.port;
  return {
    url: `http://127.0.0.1:${port}/gun`,
    get pid() { return cur.p.pid!; },
    async restart() { await kill(cur.p); cur = await start(port); },
    async close() { await kill(cur.p); dir.rm(); },
  };
}

/** Poll until `fn` returns a truthy value (or throw after timeoutMs). */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) { last = err; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
