// Prints the Markdown table of every limit in src/limits.ts (name, default, meaning), for README.md.
import { readFileSync } from 'node:fs';

const src = readFileSync(new URL('../src/limits.ts', import.meta.url), 'utf8');
const rows = [];
let doc = [];
// a constant right below another one without a comment of its own shares that one's (a MIN/MAX pair)
let last = '';
for (const line of src.split('\n')) {
  const d = /^\s*\/\*\*\s?(.*?)\s*(\*\/)?$/.exec(line) ?? /^\s*\*\s?(.*?)\s*(\*\/)?$/.exec(line);
  const c = /^export const (\w+)\s*(?::[^=]+)?=\s*(.+?);\s*(\/\/.*)?$/.exec(line);
  if (c) {
    const meaning = doc.length ? doc.join(' ').replace(/\|/g, '\\|') : last;
    rows.push(`| \`${c[1]}\` | \`${c[2]}\` | ${meaning} |`);
    last = meaning;
    doc = [];
  } else if (d && !line.includes('*/') || (d && line.trim().startsWith('/**'))) {
    if (d[1] && d[1] !== '/') doc.push(d[1].replace(/\*\/$/, '').trim());
  } else if (!line.trim()) { doc = []; last = ''; }
}
console.log('| limit | default | meaning |\n|---|---|---|\n' + rows.join('\n'));
