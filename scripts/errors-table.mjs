// Prints the Markdown table of every error code in src/errors.ts (code, HTTP status, module, meaning),
// for README.md (between <!-- errors:start --> and <!-- errors:end -->; test/readme.test.ts checks it).
import { readFileSync } from 'node:fs';

const src = readFileSync(new URL('../src/errors.ts', import.meta.url), 'utf8');
const block = src.slice(src.indexOf('export const ERROR_CODES = {'), src.indexOf('} as const;'));
const rows = [];
let section = '';
for (const line of block.split('\n').slice(1)) {
  const s = /^\s*\/\/\s*(\w+)\s*$/.exec(line);
  if (s) { section = s[1]; continue; }
  const c = /^\s*([A-Z_]+):\s*(\d+),\s*(?:\/\/\s*(.*))?$/.exec(line);
  if (c) rows.push(`| \`${c[1]}\` | ${c[2]} | ${section} | ${(c[3] ?? '').replace(/\|/g, '\\|')} |`);
}
console.log('| code | HTTP status | module | meaning |\n|---|---|---|---|\n' + rows.join('\n'));
