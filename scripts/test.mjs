// Runs every test file (test/**/*.test.ts) with node's test runner, TypeScript loaded by tsx.
// Usage: node scripts/test.mjs [substring ...]  — only files whose path contains a substring.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}
const filters = process.argv.slice(2);
const files = walk('test').sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) { console.error('no test files matched'); process.exit(1); }
const concurrency = process.env.PLEXUS_TEST_CONCURRENCY ?? '3';
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
