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
