import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { tmpDir } from './helpers/tmp.js';

/**
 * The docs cannot drift: every relative link of README.md and docs/*.md resolves inside the repository
 * (files, and #anchors to headings), nothing points outside it, and every ```ts snippet type-checks
 * (strict) against the package's own exports, as a user's file importing `plexus/...` would.
 */
const root = process.cwd();
const docs = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
const read = (f: string) => readFileSync(join(root, f), 'utf8');
/** The text outside fenced code blocks (links inside code are not links). */
const prose = (md: string) => md.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');

/** GitHub's heading anchors: lowercased, punctuation dropped, spaces to dashes. */
function anchors(md: string): Set<string> {
  const out = new Set<string>();
  for (const m of md.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return out;
}

function snippets(md: string): { code: string; line: number }[] {
  const out: { code: string; line: number }[] = [];
  for (const m of md.matchAll(/^```ts\n([\s\S]*?)^```/gm)) out.push({ code: m[1]!, line: md.slice(0, m.index).split('\n').length + 1 });
  return out;
}

describe('docs', () => {
  it('every relative link in README.md and docs/*.md resolves inside the repository', () => {
    const broken: string[] = [];
    for (const f of docs) {
      for (const m of prose(read(f)).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? join(root, f) : resolve(root, dirname(f), decodeURIComponent(path));
        if (relative(root, file).startsWith('..')) { broken.push(`${f}: ${target} points outside the repository`); continue; }
        if (!existsSync(file)) { broken.push(`${f}: ${target} does not exist`); continue; }
        if (anchor && file.endsWith('.md') && statSync(file).isFile() && !anchors(readFileSync(file, 'utf8')).has(anchor)) broken.push(`${f}: ${target}: no heading #${anchor}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('no doc refers to files outside the repository (../shared, absolute paths of this machine)', () => {
    const bad: string[] = [];
    for (const f of docs) {
      read(f).split('\n').forEach((l, i) => { if (/\.\.\/shared\/|\/work\/|protocols\/\w+\.md|\b(evt|anchor|gun|rinq)\.md\b/.test(l)) bad.push(`${f}:${i + 1}: ${l.trim()}`); });
    }
    assert.deepEqual(bad, []);
  });

  it('every ```ts snippet type-checks with tsc --strict against the package\'s exports', () => {
    const d = tmpDir('plexus-docs-');
    try {
      // `plexus/...` resolves as in an installed package (package.json exports), but to the sources,
      // so the check never depends on a stale dist/.
      const pkg = JSON.parse(read('package.json')) as { exports: Record<string, { types: string }> };
      const paths: Record<string, string[]> = {};
      for (const [sub, e] of Object.entries(pkg.exports)) {
        paths[sub === '.' ? 'plexus' : `plexus/${sub.slice(2)}`] = [join(root, e.types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts'))];
      }
      const files: string[] = [];
      for (const f of docs) {
        snippets(read(f)).forEach((s, i) => {
          const name = `${f.replace(/[/.]/g, '_')}_${i + 1}.ts`;
          // Each snippet is a module of its own (top-level await allowed), as a user's file would be.
          writeFileSync(join(d.path, name), `// ${f}:${s.line}\n${s.code}\nexport {};\n`);
          files.push(name);
        });
      }
      assert.ok(files.length >= 8, `found ${files.length} snippets`);
      writeFileSync(join(d.path, 'package.json'), JSON.stringify({ name: 'docs-snippets', type: 'module', private: true }));
      writeFileSync(join(d.path, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2024', 'DOM'], strict: true, noEmit: true,
          skipLibCheck: true, types: ['node'], paths, noUnusedLocals: false,
        },
        files,
      }, null, 2));
      mkdirSync(join(d.path, 'node_modules'));
      for (const m of readdirSync(join(root, 'node_modules'))) if (m !== '.bin') symlinkSync(join(root, 'node_modules', m), join(d.path, 'node_modules', m));
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const r = spawnSync(process.execPath, [tsc, '-p', d.path], { cwd: d.path, encoding: 'utf8', timeout: 120_000 });
      // Name the doc and its line for each error, not the temporary file.
      const out = (r.stdout + r.stderr).replace(/(\w+_md)_(\d+)\.ts\((\d+),(\d+)\)/g, (_m, file: string, n: string, l: string) => {
        const f = docs.find((x) => x.replace(/[/.]/g, '_') === file)!;
        const s = snippets(read(f))[Number(n) - 1]!;
        return `${f}:${s.line + Number(l) - 2}`;
      });
      assert.equal(r.status, 0, out);
    } finally {
      d.rm();
    }
  });
});
