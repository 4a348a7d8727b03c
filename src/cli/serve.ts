import { Command, Option } from 'commander';
import { startServer } from '../server/http.js';
import { CONFIG_SCHEMA, CONFIG_FILE_NAME, findConfigFile, loadConfigFile, resolveConfig, type ServerConfig } from '../server/config.js';
import { authFromConfig } from '../server/auth.js';
import { maskSecrets, toPlexusError } from '../errors.js';
import { stderrJsonSink, stderrPrettySink } from '../server/log.js';
import type { BlobMount } from '../server/blob.js';

/** `plexus serve`: all modules on one port, embedded defaults with zero configuration. */
export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('serve graph (/gun), ledger hub (/evt), blobs and anchors (/blob, /anchor), the dashboard (/) and /metrics on one HTTP port')
    .addOption(new Option('-c, --config <file>', `read settings from this JSON file (default: ./${CONFIG_FILE_NAME} when present)`).env('PLEXUS_CONFIG'))
    .addOption(new Option('--check-config', 'validate the settings, print the resulting config as JSON (secrets hidden) and exit'));
  for (const k of CONFIG_SCHEMA) {
    const list = k.kind === 'origins' || k.kind === 'hosts' || k.kind === 'peer-urls';
    const flags = `${k.short ? `${k.short}, ` : ''}${k.flag}${k.kind === 'boolean' ? '' : ` <${k.kind === 'count' ? 'n' : k.kind === 'port' ? 'port' : k.kind.endsWith('url') || k.kind === 'peer-urls' ? 'url' : k.kind === 'level' ? 'level' : k.kind === 'log-format' ? 'format' : k.kind === 'token' ? 'token' : k.kind === 'path' ? 'path' : k.kind === 'origins' ? 'origin' : 'host'}>`}`;
    const dflt = k.default === undefined || k.secret ? '' : ` (default: ${JSON.stringify(k.default)})`;
    // No commander defaults and no .env(): precedence (flag > env > file > default) is resolveConfig's job.
    const opt = new Option(flags, `${k.help}; env ${k.env}, config key "${k.key}"${dflt}`);
    if (list) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]); // repeatable
    cmd.addOption(opt);
  }
  cmd.addHelpText('after', `
Precedence: flags, then env vars, then ${CONFIG_FILE_NAME}, then defaults. Tokens are sent as
"Authorization: Bearer TOKEN" or "?token=TOKEN"; a token from --token has read and write scope.
Web pages may call the server only from its own origin, from loopback origins (http://localhost:*,
http://127.0.0.1:*, http://[::1]:*) and from --allow-origin; while bound to loopback, only loopback
Host names, the bound address and --allow-host are answered (DNS-rebinding defence).`);
  cmd.action(async (o: Record<string, unknown>) => {
    const given: Record<string, unknown> = {};
    for (const k of CONFIG_SCHEMA) {
      const name = k.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      if (o[name] !== undefined) given[k.key] = o[name];
    }
    const file = findConfigFile(o.config as string | undefined);
    if (o.checkConfig) {
      const cfg: Record<string, unknown> = { ...resolveConfig(given as Partial<ServerConfig>, process.env, file ? loadConfigFile(file) : {}) };
      for (const k of CONFIG_SCHEMA) {
        if (k.secret && cfg[k.key] !== undefined) cfg[k.key] = '(set)';
        else if (typeof cfg[k.key] === 'string') cfg[k.key] = maskSecrets(cfg[k.key] as string); // URL passwords
      }
      if (cfg.tokensFile) authFromConfig(cfg as unknown as ServerConfig); // validates the tokens file too
      process.stdout.write(JSON.stringify({ configFile: file ?? null, ...cfg }, null, 2) + '\n');
      return;
    }
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({ ...(given as Partial<ServerConfig>), ...(file ? { configFile: file } : {}) });
    } catch (err) {
      // every stderr line of the server is a log line (JSON, or pretty), the reason it could not start too
      const e = toPlexusError(err);
      const pretty = (given.logFormat ?? process.env.PLEXUS_LOG_FORMAT) === 'pretty';
      (pretty ? stderrPrettySink : stderrJsonSink)({ time: new Date().toISOString(), level: 'error', msg: `plexus: ${e.code}: ${maskSecrets(e.message)}`, code: e.code });
      process.exitCode = 1;
      return;
    }
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) { server.log('warn', 'exiting now', { signal }); server.log.flush(); process.exit(130); }
      stopping = true;
      server.log('info', 'shutting down', { signal });
      server.close().then(() => process.exit(0), (err: unknown) => { server.log('error', 'shutdown failed', { error: err }); server.log.flush(); process.exit(1); });
    };
    // Whatever else reaches stderr from here on is a log line too: crashes and Node's process warnings.
    process.on('uncaughtException', (err) => { server.log('error', 'uncaught exception, exiting', { error: err, stack: err.stack }); server.log.flush(); process.exit(1); });
    process.removeAllListeners('warning');
    process.on('warning', (w) => server.log('warn', 'node warning', { name: w.name, error: w.message }));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // Only now: whoever waits for this line may signal at once, and the handlers must be there.
    process.stdout.write(`plexus serving on ${server.url} (Ctrl-C to stop)\n`);
    const grpc = server.mounts.find((m): m is BlobMount => m.name === 'blob' && 'grpcAddress' in m);
    if (grpc) process.stdout.write(`bs gRPC store (rpc.Store) on ${grpc.grpcAddress}\n`);
  });
}
