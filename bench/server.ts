/**
 * Load and soak of `plexus serve`: N concurrent WebSocket clients on loopback — half real gun clients
 * (npm gun, in child processes) on /gun, half ledger hub clients on /evt (plexus's connectHub) — writing and reading
 * for a fixed time, then every acked write is read back. Prints errors, lost writes, latency
 * percentiles and the server's RSS over time; checks RSS at the end is within 20% of RSS after warm-up.
 *
 *   node --import tsx bench/server.ts            (500 clients, 60 s)
 *   PLEXUS_BENCH_CLIENTS=100 PLEXUS_BENCH_SECONDS=10 node --import tsx bench/server.ts
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { connectHub, type HubClient, Graph } from './plexus.js';
import { goal } from './goal.js';

const CLIENTS = Number(process.env.PLEXUS_BENCH_CLIENTS ?? 500);
const SECONDS = Number(process.env.PLEXUS_BENCH_SECONDS ?? 60);
const WARMUP_S = Math.min(15, Math.max(2, Math.round(SECONDS / 4)));
/** Writes per second per client (each client waits for its ack before the next write). */
const RATE = Number(process.env.PLEXUS_BENCH_RATE ?? 2);
const TOKEN = 'bench-token-123';
/**
 * /gun clients: real gun clients from npm (default; PLEXUS_BENCH_GUN=gun; 50 per child process),
 * plexus's Graph client (PLEXUS_BENCH_GUN=graph) or raw gun wire messages (PLEXUS_BENCH_GUN=wire).
 */
const GUN_KIND = (['graph', 'wire'] as const).find((k) => k === process.env.PLEXUS_BENCH_GUN) ?? 'gun';
const GUN_PER_PROCESS = 50;
const GUN_LABEL = { gun: 'real gun clients (npm gun, 50 per process)', graph: 'plexus Graph clients', wire: 'raw gun wire messages' }[GUN_KIND];
const HARD_LIMIT_MS = (SECONDS + 90) * 1000;

const hard = setTimeout(() => { console.error(`bench: hard time limit of ${HARD_LIMIT_MS / 1000}s reached, aborting`); process.exit(2); }, HARD_LIMIT_MS);
hard.unref();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

/** Start `plexus serve` in its own process (so its RSS is what we measure). */
async function startServer(dataDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const p = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--port', '0', '--data', dataDir, '--log-level', 'warn', '--token', TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (c) => { err += c; if (err.length > 100_000) err = err.slice(-50_000); });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (c) => { out += c; const m = /serving on (\S+)/.exec(out); if (m) resolve(m[1]!); });
    p.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return {
    url,
    stop: () => new Promise((resolve) => { p.once('exit', () => resolve()); p.kill('SIGTERM'); }),
  };
}

async function serverRss(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^plexus_process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
}

// ---- graph clients (gun wire protocol on /gun) --------------------------------------------------------

class GunClient {
  ws!: WebSocket;
  private readonly waiting = new Map<string, (m: Record<string, unknown>) => void>();
  private seq = 0;
  /** field -> value of every acked write. */
  readonly acked = new Map<string, number>();
  constructor(readonly n: number) {}
  open(url: string): Promise<void> {
    this.ws = new WebSocket(`${url.replace('http', 'ws')}/gun?token=${TOKEN}`);
    this.ws.on('message', (data) => {
      let v: unknown;
      try { v = JSON.parse(data.toString()); } catch { return; }
      for (const m of (Array.isArray(v) ? v : [v]) as Record<string, unknown>[]) {
        const at = m?.['@'];
        if (typeof at === 'string') this.waiting.get(at)?.(m);
      }
    });
    return new Promise((resolve, reject) => { this.ws.once('open', () => resolve()); this.ws.once('error', reject); });
  }
  private request(msg: Record<string, unknown>, timeoutMs = 10_000, onFirst?: () => void): Promise<Record<string, unknown>[]> {
    const id = `b${this.n}.${++this.seq}`;
    const replies: Record<string, unknown>[] = [];
    return new Promise((resolve, reject) => {
      let quiet: NodeJS.Timeout | undefined;
      const t = setTimeout(() => { this.waiting.delete(id); reject(new Error(`gun ${msg.put ? 'put' : 'get'} ${id}: no answer in ${timeoutMs} ms`)); }, timeoutMs);
      this.waiting.set(id, (m) => {
        if (!replies.length) onFirst?.();
        replies.push(m);
        // A get may be answered in several chunks; collect briefly after the first.
        if (msg.put) { clearTimeout(t); this.waiting.delete(id); resolve(replies); return; }
        clearTimeout(quiet);
        quiet = setTimeout(() => { clearTimeout(t); this.waiting.delete(id); resolve(replies); }, 30);
      });
      this.ws.send(JSON.stringify({ ...msg, '#': id }));
    });
  }
  get soul() { return `bench/c${this.n}`; }
  async write(k: number): Promise<void> {
    const field = `f${k}`;
    const r = await this.request({ put: { [this.soul]: { _: { '#': this.soul, '>': { [field]: Date.now() } }, [field]: k } } });
    if (r[0]!.err) throw new Error(`gun put refused: ${String(r[0]!.err)}`);
    if (r[0]!.ok !== true && r[0]!.ok !== 1) throw new Error(`gun put not acked: ${JSON.stringify(r[0])}`);
    this.acked.set(field, k);
  }
  /** Time to the first reply of the last read (ms). */
  firstReplyMs = 0;
  async read(soul: string): Promise<Record<string, unknown>> {
    const t = performance.now();
    const rs = await this.request({ get: { '#': soul } }, 10_000, () => { this.firstReplyMs = performance.now() - t; });
    const node: Record<string, unknown> = {};
    for (const r of rs) {
      if (r.err) throw new Error(`gun get refused: ${String(r.err)}`);
      Object.assign(node, ((r.put as Record<string, Record<string, unknown>> | undefined)?.[soul]) ?? {});
    }
    delete node._;
    return node;
  }
}

/** A graph client of plexus (`Graph` from plexus/graph, gun-compatible) on /gun. */
class GraphLibClient {
  g!: Graph;
  readonly acked = new Map<string, number>();
  firstReplyMs = 0;
  constructor(readonly n: number) {}
  async open(url: string): Promise<void> {
    this.g = new Graph({ peers: [`${url}/gun?token=${TOKEN}`], WebSocket: WebSocket as never });
    // Wait until connected: a first remote read answers.
    await this.g.get(`bench/hello`).once({ source: 'remote' });
  }
  get soul() { return `bench/c${this.n}`; }
  async write(k: number): Promise<void> {
    const field = `f${k}`;
    const r = await this.g.get(this.soul).put({ [field]: k });
    if (!r.acks.length) throw new Error('graph put resolved without an ack');
    this.acked.set(field, k);
  }
  async read(soul: string): Promise<Record<string, unknown>> {
    const t = performance.now();
    const d = await this.g.get(soul).once({ source: 'remote' });
    this.firstReplyMs = performance.now() - t;
    return (d ?? {}) as Record<string, unknown>;
  }
  close() { void this.g.close(); }
}

/** Real gun clients, GUN_PER_PROCESS per child process (bench/gun-soak-child.cjs); they run their own loop. */
interface GunSoakResult { acked: Record<string, Record<string, number>>; put: number[]; get: number[]; errors: string[] }
function runGunChildren(url: string, clients: number): Promise<GunSoakResult[]> {
  const runs: Promise<GunSoakResult>[] = [];
  for (let first = 0; first < clients; first += GUN_PER_PROCESS) {
    const count = Math.min(GUN_PER_PROCESS, clients - first);
    const p = spawn(process.execPath, [join(import.meta.dirname, 'gun-soak-child.cjs'), `${url}/gun?token=${TOKEN}`, String(first), String(count), String(SECONDS), String(RATE)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c) => { err = (err + c).slice(-2000); });
    runs.push(new Promise((resolve, reject) => {
      let result: GunSoakResult | undefined;
      createInterface({ input: p.stdout }).on('line', (l) => { if (l.startsWith('{"acked"')) result = JSON.parse(l) as GunSoakResult; });
      p.once('exit', (code) => (result ? resolve(result) : reject(new Error(`gun soak child exited ${code}: ${err}`))));
    }));
  }
  return Promise.all(runs);
}

// ---- hub clients (ledger connectHub on /evt) ----------------------------------------------------------

const TOPICS = 20;

class LedgerClient {
  hub!: HubClient;
  /** key -> value of every acked publish. */
  readonly acked = new Map<string, number>();
  received = 0;
  constructor(readonly n: number) {}
  async open(url: string): Promise<void> {
    this.hub = await connectHub(`${url.replace('http', 'ws')}/evt`, { WebSocket: WebSocket as never, token: TOKEN, reconnect: false });
    // Every hub client also reads: it follows one topic live.
    const sub = this.hub.subscribe([`bench.t${this.n % TOPICS}`]);
    void (async () => { for await (const u of sub) this.received += u.evs?.length ?? 0; })().catch(() => {});
  }
  get top() { return `bench.t${this.n % TOPICS}`; }
  async write(k: number): Promise<void> {
    const key = `c${this.n}.${k}`;
    const r = await this.hub.publish({ acts: [{ top: this.top, key, cmd: 'new', arg: { v: k } }] });
    if (!r.evs?.length) throw new Error('publish returned no events');
    this.acked.set(key, k);
  }
}

// ---- run ----------------------------------------------------------------------------------------------

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'plexus-bench-'));
  const server = await startServer(dataDir);
  const t0 = Date.now();
  console.log(`plexus serve load/soak: ${CLIENTS} WebSocket clients (${Math.ceil(CLIENTS / 2)} on /gun with ${GUN_LABEL}, ${Math.floor(CLIENTS / 2)} on /evt with connectHub), ${RATE} writes/s each, ${SECONDS} s, Node ${process.version}, ${cpus().length} cores`);
  const gunClients = Math.ceil(CLIENTS / 2);
  const gun: (GunClient | GraphLibClient)[] = GUN_KIND === 'gun' ? [] : Array.from({ length: gunClients }, (_, i) => (GUN_KIND === 'wire' ? new GunClient(i) : new GraphLibClient(i)));
  const evt = Array.from({ length: Math.floor(CLIENTS / 2) }, (_, i) => new LedgerClient(i));
  const errors: string[] = [];
  const lat = { gunPut: [] as number[], gunGet: [] as number[], evtPub: [] as number[] };
  try {
    for (let i = 0; i < gun.length; i += 50) await Promise.all(gun.slice(i, i + 50).map((c) => c.open(server.url)));
    for (let i = 0; i < evt.length; i += 50) await Promise.all(evt.slice(i, i + 50).map((c) => c.open(server.url)));
    console.log(`connected ${CLIENTS} clients in ${Date.now() - t0} ms`);

    const rss: { t: number; rss: number }[] = [];
    const start = Date.now();
    const end = start + SECONDS * 1000;
    let warmRss = NaN;
    const sampler = (async () => {
      while (Date.now() < end) {
        const t = Math.round((Date.now() - start) / 1000);
        try { rss.push({ t, rss: await serverRss(server.url) }); } catch (e) { errors.push(`metrics: ${(e as Error).message}`); }
        if (Number.isNaN(warmRss) && t >= WARMUP_S) warmRss = rss[rss.length - 1]!.rss;
        await sleep(5000);
      }
    })();
    const loop = async (write: (k: number) => Promise<void>, bucket: number[], extra?: (k: number) => Promise<void>) => {
      await sleep(Math.random() * 1000 / RATE);
      for (let k = 1; Date.now() < end; k++) {
        const t = performance.now();
        try {
          await write(k);
          bucket.push(performance.now() - t);
          if (extra) await extra(k);
        } catch (e) {
          errors.push((e as Error).message);
        }
        const wait = 1000 / RATE - (performance.now() - t);
        if (wait > 0) await sleep(wait);
      }
    };
    const gunChildren = GUN_KIND === 'gun' ? runGunChildren(server.url, gunClients) : Promise.resolve([]);
    await Promise.all([
      gunChildren,
      ...gun.map((c) => loop((k) => c.write(k), lat.gunPut, async (k) => {
        // Every 5th round a gun client reads another client's node.
        if (k % 5 !== 0) return;
        await c.read(gun[(c.n + 1) % gun.length]!.soul);
        lat.gunGet.push(c.firstReplyMs);
      })),
      ...evt.map((c) => loop((k) => c.write(k), lat.evtPub)),
    ]);
    await sampler;
    const endRss = await serverRss(server.url);
    rss.push({ t: Math.round((Date.now() - start) / 1000), rss: endRss });

    // ---- read everything back ----
    await sleep(500);
    let lostGun = 0, checkedGun = 0;
    const reader = new GunClient(-1);
    await reader.open(server.url);
    for (const c of gun) {
      const node = await reader.read(c.soul);
      for (const [f, v] of c.acked) { checkedGun++; if (node[f] !== v) lostGun++; }
    }
    for (const r of await gunChildren) {
      lat.gunPut.push(...r.put);
      lat.gunGet.push(...r.get);
      errors.push(...r.errors);
      for (const [soul, fields] of Object.entries(r.acked)) {
        const node = await reader.read(soul);
        for (const [f, v] of Object.entries(fields)) { checkedGun++; if (node[f] !== v) lostGun++; }
      }
    }
    let lostEvt = 0, checkedEvt = 0;
    const all = new Map<string, number>();
    const hubReader = await connectHub(`${server.url.replace('http', 'ws')}/evt`, { WebSocket: WebSocket as never, token: TOKEN, reconnect: false });
    const sub = hubReader.subscribe(Array.from({ length: TOPICS }, (_, i) => `bench.t${i}`));
    const want = evt.reduce((n, c) => n + c.acked.size, 0);
    const deadline = Date.now() + 30_000;
    for await (const u of sub) {
      for (const e of u.evs ?? []) all.set(e.key, (e.arg as { v: number }).v);
      if (all.size >= want || Date.now() > deadline) break;
    }
    sub.close();
    hubReader.close();
    for (const c of evt) for (const [k, v] of c.acked) { checkedEvt++; if (all.get(k) !== v) lostEvt++; }
    const received = evt.reduce((n, c) => n + c.received, 0);

    // ---- report ----
    const total = lat.gunPut.length + lat.evtPub.length;
    console.log('\n| metric | value |\n|---|---|');
    console.log(`| clients | ${CLIENTS} (${gunClients} /gun: ${GUN_LABEL}; ${evt.length} /evt: connectHub) |`);
    console.log(`| duration | ${SECONDS} s (warm-up ${WARMUP_S} s) |`);
    console.log(`| acked writes | ${total} (${(total / SECONDS).toFixed(0)}/s): gun ${lat.gunPut.length}, ledger ${lat.evtPub.length} |`);
    console.log(`| gun reads | ${lat.gunGet.length} |`);
    console.log(`| ledger events pushed to live subscribers | ${received} |`);
    console.log(`| errors | **${errors.length}** |`);
    console.log(`| lost acked writes | **${lostGun + lostEvt}** (checked ${checkedGun} gun fields, ${checkedEvt} ledger events) |`);
    for (const [name, xs] of Object.entries(lat)) console.log(`| ${name} latency p50 / p99 / max | ${pct(xs, 50).toFixed(1)} / **${pct(xs, 99).toFixed(1)}** / ${Math.max(...xs).toFixed(1)} ms |`);
    console.log(`| server RSS after warm-up → end | ${mib(warmRss)} → ${mib(endRss)} (**${(((endRss - warmRss) / warmRss) * 100).toFixed(1)}%**) |`);
    console.log(`\nserver RSS over time: ${rss.map((r) => `${r.t}s ${mib(r.rss)}`).join(', ')}`);
    if (errors.length) console.log(`first errors: ${[...new Set(errors)].slice(0, 5).join(' | ')}`);
    const ok = errors.length === 0 && lostGun + lostEvt === 0 && Math.abs(endRss - warmRss) / warmRss <= 0.2;
    console.log(`\nverdict: ${ok ? 'PASS' : 'FAIL'} (zero errors, zero lost acked writes, end RSS within 20% of warm-up RSS)`);
    goal('server', `soak of ${CLIENTS} clients x ${SECONDS} s: zero errors`, `${errors.length} errors`, errors.length === 0);
    goal('server', `soak of ${CLIENTS} clients x ${SECONDS} s: zero lost acked writes`, `${lostGun + lostEvt} lost of ${checkedGun + checkedEvt}`, lostGun + lostEvt === 0);
    goal('server', `soak of ${CLIENTS} clients x ${SECONDS} s: end RSS within 20% of warm-up RSS`, `${(((endRss - warmRss) / warmRss) * 100).toFixed(1)}%`, Math.abs(endRss - warmRss) / warmRss <= 0.2);
    process.exitCode = ok ? 0 : 1;
  } finally {
    for (const c of gun) if (c instanceof GunClient) c.ws?.terminate(); else c.close();
    for (const c of evt) c.hub?.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
