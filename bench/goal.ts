/**
 * One verdict line per goal, the form bench/run.ts collects into `npm run bench`'s summary table:
 *   GOAL <bench> | <goal> | <measured> | met|not met
 */
export function goal(bench: string, what: string, measured: string, met: boolean): void {
  console.log(`GOAL ${bench} | ${what} | ${measured} | ${met ? 'met' : 'not met'}`);
}

/** The 1-minute load average with the machine's cores, for the lines that state figures. */
export async function load(): Promise<string> {
  const os = await import('node:os');
  return `load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores`;
}
