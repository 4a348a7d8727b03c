import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (never downloaded). */
export const CHROMIUM = process.env.PLEXUS_CHROMIUM ?? '/usr/bin/chromium';

/** Where screenshots go (gitignored). */
export const ARTIFACTS = join(process.cwd(), 'test-artifacts');

/** Build the dashboard and browser bundles into `dir` (what `npm run build` ships). */
export function buildWeb(dir: string): void {
  const r = spawnSync(process.execPath, ['scripts/build-web.mjs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build-web failed: ${r.stderr}`);
}

/** Launch headless chromium with the flags that keep it off the network (plus `extraArgs`). */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', ...extraArgs],
  });
}
