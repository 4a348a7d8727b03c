#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isPlexusError, maskSecrets } from '../errors.js';
import { registerServe } from './serve.js';
import { registerBus } from './bus.js';
import { registerBlob } from './blob.js';
import { registerLedger } from './ledger.js';

/** The installed package's version (package.json sits two levels up from both src/cli/ and dist/cli/). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The `plexus` command. Each module registers its subcommands here (one line each). */
export function buildCli(): Command {
  const program = new Command('plexus')
    .description('plexus: shared state for real-time apps (graph, bus, ledger, blob) on one server')
    .version(VERSION, '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride();
  registerServe(program);
  registerBus(program);
  registerBlob(program);
  registerLedger(program);
  return program;
}

/** Run the CLI; errors print `plexus: CODE: message` and exit non-zero. */
export async function main(argv = process.argv): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) { process.exitCode = err.exitCode; return; }
    if (isPlexusError(err)) process.stderr.write(`plexus: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`plexus: ${maskSecrets(err instanceof Error ? err.message : String(err))}\n`);
    process.exitCode = 1;
  }
}

await main();
