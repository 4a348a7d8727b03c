import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A real `plexus serve` child process. */
export interface ServeChild {
  url: string;
  child: ChildProcess;
  /** Its resident set size now, in MiB (from /proc). */
  rssMiB(): number;
  /** SIGKILL it and wait for it to be gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful) and wait. */
  stop(): Promise<void>;
}

/**
 * Start `node bin/plexus.js serve --port 0 --log-level error ...args` and wait for its "serving on" line;
 * rejects with its stderr when it exits first (e.g. it refused to start).
 */
export function serveChild(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000, uid?: number): Promise<ServeChild> {
  const child = spawn(process.execPath, ['bin/plexus.js', 'serve', '--port', '0', '--log-level', 'error', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, ...(uid === undefined ? {} : { uid, gid: uid }) });
  let out = '', err = '';
  child.stderr!.on('data', (c) => { err += c; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`plexus serve did not start in ${timeoutMs} ms: ${err}`)); }, timeoutMs);
    let started = false;
    child.once('exit', (code) => { if (started) return; clearTimeout(t); reject(Object.assign(new Error(`plexus serve exited with ${code}: ${err}`), { code, stderr: err, stdout: out })); });
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      if (started) return;
      started = true;
      clearTimeout(t);
      resolve({
        url: m[1]!,
        child,
        rssMiB: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
        kill: async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); await exited; },
        stop: async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); await exited; },
      });
    });
  });
}

/** Run `plexus serve ...args` expecting it to exit (refuse to start): its exit code and output. */
export function serveExit(args: string[], timeoutMs = 30_000, uid?: number): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return serveChild(args, {}, timeoutMs, uid).then(
    async (s) => { await s.kill(); throw new Error('plexus serve started but was expected to refuse'); },
    (e: { code?: number | null; stderr?: string; stdout?: string }) => ({ code: e.code ?? null, stderr: e.stderr ?? '', stdout: e.stdout ?? '' }),
  );
}
