import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

it('README lists every limit of src/limits.ts with its default (regenerate with scripts/limits-table.mjs)', () => {
  const table = execFileSync(process.execPath, ['scripts/limits-table.mjs'], { encoding: 'utf8' }).trim();
  const readme = readFileSync('README.md', 'utf8');
  const block = readme.slice(readme.indexOf('<!-- limits:start -->') + '<!-- limits:start -->'.length, readme.indexOf('<!-- limits:end -->')).trim();
  assert.equal(block, table);
});

it('README shows the two commands', () => {
  const readme = readFileSync('README.md', 'utf8');
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm install && npm test/);
});

it('README lists every error code of src/errors.ts with its HTTP status (regenerate with scripts/errors-table.mjs)', async () => {
  const table = execFileSync(process.execPath, ['scripts/errors-table.mjs'], { encoding: 'utf8' }).trim();
  const readme = readFileSync('README.md', 'utf8');
  const block = readme.slice(readme.indexOf('<!-- errors:start -->') + '<!-- errors:start -->'.length, readme.indexOf('<!-- errors:end -->')).trim();
  assert.equal(block, table);
  const { ERROR_CODES } = await import('../src/errors.js');
  for (const [code, status] of Object.entries(ERROR_CODES)) assert.match(block, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), code);
});
