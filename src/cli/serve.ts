import type { Command } from 'commander';
import { startServer } from '../server/http.js';
import { parsePort, DEFAULT_PORT } from '../server/config.js';

/** `plexus serve`: all modules on one port, embedded defaults with zero configuration. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve graph (/gun), ledger hub (/evt), blobs and anchors (/blob, /anchor) on one HTTP port')
    .option('-p, --port <port>', `TCP port (env PLEXUS_PORT; 0 = any free port)`, String(process.env.PLEXUS_PORT ?? DEFAULT_PORT))
    .option('-H, --host <host>', 'interface to bind (env PLEXUS_HOST); use 0.0.0.0 to expose beyond this machine', process.env.PLEXUS_HOST ?? '127.0.0.1')
    .option('-d, --data <dir>', 'directory for the embedded stores, SQLite + files (env PLEXUS_DATA)', process.env.PLEXUS_DATA ?? './data')
    .option('--postgres <url>', 'keep all data in PostgreSQL instead of --data (env PLEXUS_POSTGRES)')
    .option('--token <token>', 'require this bearer token for writes (env PLEXUS_TOKEN)')
    .option('--auth-reads', 'require the token for reads too', false)
    .option('--log-level <level>', 'debug | info | warn | error | silent (env PLEXUS_LOG_LEVEL)')
    .action(async (o: { port: string; host: string; data: string; postgres?: string; token?: string; authReads: boolean; logLevel?: string }) => {
      const server = await startServer({
        port: parsePort(o.port), host: o.host, dataDir: o.data, authReads: o.authReads,
        ...(o.postgres ? { postgres: o.postgres } : {}),
        ...(o.token ? { token: o.token } : {}),
        ...(o.logLevel ? { logLevel: o.logLevel as 'info' } : {}),
      });
      process.stdout.write(`plexus serving on ${server.url} (Ctrl-C to stop)\n`);
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) { process.stderr.write(`plexus: ${sig} again, exiting now\n`); process.exit(130); }
        stopping = true;
        process.stderr.write(`plexus: ${sig}, shutting down\n`);
        server.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
