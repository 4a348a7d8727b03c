import { PlexusError } from '../errors.js';

/** Everything `plexus serve` can be told. Flags win over env vars, env vars over defaults. */
export interface ServerConfig {
  /** TCP port (0 = any free port). Env PLEXUS_PORT. Default 8765. */
  port: number;
  /** Interface to bind. Env PLEXUS_HOST. Default 127.0.0.1 (loopback only). */
  host: string;
  /** Directory for the embedded stores (SQLite + files). Env PLEXUS_DATA. Default ./data. */
  dataDir: string;
  /** PostgreSQL URL; when set, stores live there instead of dataDir. Env PLEXUS_POSTGRES. */
  postgres?: string;
  /** Token required for writes (Authorization: Bearer TOKEN). Env PLEXUS_TOKEN. Unset = open. */
  token?: string;
  /** Also require the token for reads. Default false. */
  authReads: boolean;
  /** Log level. Env PLEXUS_LOG_LEVEL. Default info. */
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

export const DEFAULT_PORT = 8765;

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

/** Parse a port number from untrusted text. */
export function parsePort(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new PlexusError('BAD_REQUEST', `invalid port ${JSON.stringify(v)}: want 0-65535`);
  return n;
}

/** Build a validated config from partial input and the environment. */
export function resolveConfig(input: Partial<ServerConfig> = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const logLevel = input.logLevel ?? (env.PLEXUS_LOG_LEVEL as ServerConfig['logLevel'] | undefined) ?? 'info';
  if (!LEVELS.includes(logLevel)) throw new PlexusError('BAD_REQUEST', `invalid log level ${JSON.stringify(logLevel)}: want one of ${LEVELS.join(', ')}`);
  const postgres = input.postgres ?? env.PLEXUS_POSTGRES;
  if (postgres !== undefined && !/^postgres(ql)?:\/\//.test(postgres)) throw new PlexusError('BAD_REQUEST', 'postgres URL must start with postgres:// or postgresql://');
  const token = input.token ?? env.PLEXUS_TOKEN;
  if (token !== undefined && token.length < 8) throw new PlexusError('BAD_REQUEST', 'token must be at least 8 characters');
  const cfg: ServerConfig = {
    port: parsePort(input.port ?? env.PLEXUS_PORT ?? DEFAULT_PORT),
    host: input.host ?? env.PLEXUS_HOST ?? '127.0.0.1',
    dataDir: input.dataDir ?? env.PLEXUS_DATA ?? './data',
    authReads: input.authReads ?? false,
    logLevel,
  };
  if (postgres) cfg.postgres = postgres;
  if (token) cfg.token = token;
  return cfg;
}
