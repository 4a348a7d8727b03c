// Prints the Markdown table of every limit in src/limits.ts (name, default, meaning), for README.md.
import { readFileSync } from 'node:fs';

const src = readFileSync(new URL('../src/limits.ts', import.meta.url), 'utf8');
const rows = [];
let doc = [];
for (const line of src.split('\n')) {
  const d = /^\s*\/\*\*\s?(.*?)\s*(\*\/)?$/.exec(line) ?? /^\s*\*\s?(.*?)\s*(\*\/)?$/.exec(line);
  const c = /^export const (\w+)\s*(?::[^=]+)?=\s*(.+?);\s*(\/\/.*)?$/.exec(line);
  if (c) {
    rows.push(`| \`${c[1]}\` | \`${c[2]}\` | ${doc.join(' ').replace(/\|/g, '\\|')} |`);
    doc = [];
  } else if (d && !line.includes('*/') || (d && line.trim().startsWith('/**'))) {
    if (d[1] && d[1] !== '/') doc.push(d[1].replace(/\*\/$/, '').trim());
  } else if (!line.trim()) doc = [];
}
console.log('| limit | default | meaning |\n|---|---|---|\n' + rows.join('\n'));
