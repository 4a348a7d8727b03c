import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary directory; `rm()` deletes it. */
export function tmpDir(prefix = 'plexus-'): { path: string; rm(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, rm: () => rmSync(path, { recursive: true, force: true }) };
}
