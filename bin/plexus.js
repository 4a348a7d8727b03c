#!/usr/bin/env node
// The plexus CLI. Runs the compiled code in dist/; in a source checkout that has not been built yet,
// runs the TypeScript sources through tsx (a devDependency) instead.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
