// `npm run bench`: every benchmark in bench/, one after another, each printing plexus vs its baseline.
// `npm run bench -- blob ledger` runs only those. Figures are recorded in bench/RESULTS.md.
import { spawnSync } from 'node:child_process';

const all = ['blob', 'graph', 'bus', 'ledger', 'server'];
const pick = process.argv.slice(2).filter((a) => all.includes(a));
let failed = 0;
for (const name of pick.length ? pick : all) {
  console.log(`\n===== bench/${name}.ts =====`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${name}.ts`], { stdio: 'inherit' });
  if (r.status !== 0) { failed++; console.error(`bench/${name}.ts exited with ${r.status}`); }
}
process.exit(failed ? 1 : 0);
