import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '../../helpers/tmp.js';

const here = fileURLToPath(new URL('.', import.meta.url));

type Json = any;
type Ack = { ok?: Json; err?: string };
/** A SEA key pair as gun makes it. */
export type SeaPair = { pub: string; priv: string; epub: string; epriv: string };

/** A real gun + SEA client in a child process (see gun-sea-peer.cjs): one "device". */
export class GunSeaPeer {
  #p: ChildProcess;
  #next = 1;
  #wait = new Map<number, (v: Record<string, Json>) => void>();
  #ready: Promise<void>;
  #dir = tmpDir('gunsea-');
  stderr = '';

  constructor(url: string) {
    this.#p = spawn(process.execPath, [here + 'gun-sea-peer.cjs', url], { cwd: this.#dir.path, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_PATH: process.cwd() + '/node_modules' } });
    this.#p.stderr!.on('data', (d) => { this.stderr += d; });
    let ready!: () => void;
    this.#ready = new Promise((r) => (ready = r));
    createInterface({ input: this.#p.stdout! }).on('line', (line) => {
      if (!line.startsWith('\u0001')) return;
      const m = JSON.parse(line.slice(1)) as Record<string, Json>;
      if (m.ready) return ready();
      const w = this.#wait.get(m.id);
      if (w) { this.#wait.delete(m.id); w(m); }
    });
  }

  ready(): Promise<void> { return this.#ready; }

  call(op: string, args: Record<string, Json> = {}, timeoutMs = 20_000): Promise<Record<string, Json>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.#wait.delete(id); reject(new Error(`gun SEA peer: ${op} timed out; stderr: ${this.stderr.slice(-500)}`)); }, timeoutMs);
      this.#wait.set(id, (v) => { clearTimeout(t); if (v.error) reject(new Error(String(v.error))); else resolve(v); });
      this.#p.stdin!.write(JSON.stringify({ ...args, op, id }) + '\n');
    });
  }

  async create(alias: string, pass: string): Promise<Ack & { pub?: string }> { return (await this.call('create', { alias, pass })).ack; }
  async auth(alias: string, pass: string): Promise<{ err?: string; pub?: string }> { const r = await this.call('auth', { alias, pass }); return { err: r.err, pub: r.pub }; }
  async pair(): Promise<SeaPair> { return (await this.call('pair')).pair; }
  async me(): Promise<{ pub?: string; pair?: SeaPair }> { return this.call('me'); }
  async uput(path: string[], value: Json): Promise<Ack> { return (await this.call('uput', { path, value })).ack; }
  async uset(path: string[], value: Json): Promise<{ ack: Ack; soul: string | null }> { const r = await this.call('uset', { path, value }); return { ack: r.ack, soul: r.soul }; }
  async pubmap(pub: string, path: string[], wait?: number): Promise<Record<string, Json>> { return (await this.call('pubmap', { pub, path, wait })).items; }
  async uonce(path: string[], wait?: number): Promise<Json> { return (await this.call('uonce', { path, wait })).data; }
  async gonce(path: string[], wait?: number): Promise<Json> { return (await this.call('gonce', { path, wait })).data; }
  async pubonce(pub: string, path: string[], wait?: number): Promise<Json> { return (await this.call('pubonce', { pub, path, wait })).data; }
  async certify(to: string, policy: Json, expiry?: number): Promise<string> { return (await this.call('certify', { to, policy, expiry })).cert; }
  async certifyWith(pair: SeaPair, to: string, policy: Json, expiry?: number): Promise<string> { return (await this.call('certifywith', { pair, to, policy, expiry })).cert; }
  async certput(owner: string, path: string[], value: Json, cert: string): Promise<Ack> { return (await this.call('certput', { owner, path, value, cert })).ack; }
  /** The wire value gun's client would send for field `key` of `soul` at `state`, signed by `pair` (optionally naming a signer `*` and a cert `+`). */
  async signField(o: { pair: SeaPair; soul: string; key: string; value: Json; state: number; signer?: string; cert?: string }): Promise<string> { return (await this.call('signfield', o)).value; }
  /** SEA.work(data, SHA-256): gun's content hash (base64). */
  async work(data: string): Promise<string> { return (await this.call('work', { data })).hash; }

  async close(): Promise<void> {
    if (this.#p.exitCode === null && this.#p.signalCode === null) {
      const exited = new Promise((r) => this.#p.once('exit', r));
      this.#p.kill('SIGKILL');
      await exited;
    }
    this.#dir.rm();
  }
}
