import { spawn } from 'node:child_process';

/**
 * Run an ES module `script` (TypeScript, through tsx) in a child process with `args`; resolves with its
 * exit code (or 'still running after N s' once it was killed for taking too long) and its stdout.
 */
export async function runScript(script: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | string; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  const code = await new Promise<number | string>((resolve) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); resolve(`still running after ${timeoutMs / 1000} s`); }, timeoutMs);
    child.on('exit', (c) => { clearTimeout(t); resolve(c ?? -1); });
  });
  return { code, out };
}
