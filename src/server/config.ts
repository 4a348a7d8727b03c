import { existsSync, readFileSync } from 'node:fs';
import { PlexusError } from '../errors.js';
import { parseAllowedHost, parseAllowedOrigin } from './origin.js';
import {
  HTTP_REQUESTS_PER_SECOND, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP, WS_BYTES_PER_SECOND, WS_MAX_FRAME_BYTES, WS_MESSAGES_PER_SECOND,
} from '../limits.js';

/**
 * Everything `plexus serve` can be told. Precedence: flags (or `startServer` options) win over env vars,
 * env vars over `plexus.config.json`, that over defaults. `CONFIG_SCHEMA` documents and validates each key.
 */
export interface ServerConfig {
  /** TCP port (0 = any free port). Env PLEXUS_PORT. Default 8765. */
  port: number;
  /** Port of the gRPC service (bs's rpc.Store). Env PLEXUS_GRPC_PORT. Default port + 1 (8766); 0 when port is 0. */
  grpcPort?: number;
  /** Interface to bind. Env PLEXUS_HOST. Default 127.0.0.1 (loopback only). */
  host: string;
  /** Directory for the embedded stores (SQLite + files). Env PLEXUS_DATA. Default ./data. */
  dataDir: string;
  /** PostgreSQL URL; when set, stores live there instead of dataDir. Env PLEXUS_POSTGRES. */
  postgres?: string;
  /** AMQP URL of RabbitMQ; when set, the server's bus peer joins that network instead of an in-process one. Env PLEXUS_AMQP. */
  amqp?: string;
  /** Token with read and write scope (Authorization: Bearer TOKEN or ?token=). Env PLEXUS_TOKEN. Unset = open. */
  token?: string;
  /** JSON file of tokens with scopes: [{ "name", "token" | "sha256", "scopes": ["read","write"] }]. Env PLEXUS_TOKENS_FILE. */
  tokensFile?: string;
  /** Also require a token (read scope) for reads. Env PLEXUS_AUTH_READS. Default false. */
  authReads: boolean;
  /** Log level. Env PLEXUS_LOG_LEVEL. Default info. */
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Log line format on stderr: `json` (one object per line) or `pretty` (for humans). Env PLEXUS_LOG_FORMAT. Default json. */
  logFormat?: 'json' | 'pretty';
  /** Open connections in total (default MAX_CONNECTIONS). */
  maxConnections?: number;
  /** Open connections per client IP (default MAX_CONNECTIONS_PER_IP). */
  maxConnectionsPerIp?: number;
  /** HTTP requests per second per connection (default HTTP_REQUESTS_PER_SECOND). */
  httpRequestsPerSecond?: number;
  /** Largest WebSocket frame on any path (default WS_MAX_FRAME_BYTES). */
  wsMaxFrameBytes?: number;
  /** WebSocket messages per second per connection (default WS_MESSAGES_PER_SECOND). */
  wsMessagesPerSecond?: number;
  /** WebSocket bytes per second per connection (default WS_BYTES_PER_SECOND). */
  wsBytesPerSecond?: number;
  /** Directory of the built dashboard and browser bundles (default: dist/ of the package). */
  webDir?: string;
  /** Other graph relays (plexus or gun) to dial and sync with, ws(s):// or http(s):// URLs. Env PLEXUS_PEERS (comma-separated). */
  peers?: string[];
  /** More origins that may call the server (CORS, WebSockets); `*` = any. Env PLEXUS_ALLOW_ORIGIN (comma separated). */
  allowOrigin?: string[];
  /** More Host names accepted while bound to loopback (DNS-rebinding defence); `*` = any. Env PLEXUS_ALLOW_HOST. */
  allowHost?: string[];
  /** Ledger hub: evt's fixed push window in ms (e.g. 200). Env PLEXUS_EVT_BATCH_MS. Unset: adaptive pushes. */
  evtBatchMs?: number;
}

/** A config with every limit filled in (what `resolveConfig` returns). */
export type ResolvedServerConfig = ServerConfig & Required<Pick<ServerConfig,
  'maxConnections' | 'maxConnectionsPerIp' | 'httpRequestsPerSecond' | 'wsMaxFrameBytes' | 'wsMessagesPerSecond' | 'wsBytesPerSecond'>>;

export const DEFAULT_PORT = 8765;
/** Name of the optional config file `plexus serve` reads from the working directory. */
export const CONFIG_FILE_NAME = 'plexus.config.json';

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

type Kind = 'port' | 'string' | 'path' | 'postgres-url' | 'amqp-url' | 'token' | 'boolean' | 'level' | 'log-format' | 'count' | 'peer-urls' | 'origins' | 'hosts';

/** One documented, validated setting. */
export interface ConfigKey {
  key: keyof ServerConfig;
  kind: Kind;
  flag: string;
  short?: string;
  env: string;
  default?: string | number | boolean;
  secret?: boolean;
  help: string;
}

/** The one schema of plexus serve's configuration: flags, env vars and plexus.config.json keys. */
export const CONFIG_SCHEMA: readonly ConfigKey[] = [
  { key: 'port', kind: 'port', flag: '--port', short: '-p', env: 'PLEXUS_PORT', default: DEFAULT_PORT, help: 'TCP port (0 = any free port)' },
  { key: 'host', kind: 'string', flag: '--host', short: '-H', env: 'PLEXUS_HOST', default: '127.0.0.1', help: 'interface to bind; 0.0.0.0 exposes the server beyond this machine' },
  { key: 'grpcPort', kind: 'port', flag: '--grpc-port', env: 'PLEXUS_GRPC_PORT', help: 'port of the gRPC service for Go bs programs (bs rpc.Store; default: --port + 1, i.e. 8766, or any free port when --port is 0)' },
  { key: 'dataDir', kind: 'path', flag: '--data', short: '-d', env: 'PLEXUS_DATA', default: './data', help: 'directory for the embedded stores (SQLite + files)' },
  { key: 'postgres', kind: 'postgres-url', flag: '--postgres', env: 'PLEXUS_POSTGRES', help: 'keep all data in PostgreSQL (postgres://...) instead of --data' },
  { key: 'amqp', kind: 'amqp-url', flag: '--amqp', env: 'PLEXUS_AMQP', help: 'RabbitMQ URL (amqp://...) for the bus; default: in-process bus' },
  { key: 'token', kind: 'token', flag: '--token', env: 'PLEXUS_TOKEN', secret: true, help: 'bearer token (read + write scope) required for every write' },
  { key: 'tokensFile', kind: 'path', flag: '--tokens-file', env: 'PLEXUS_TOKENS_FILE', help: 'JSON file of tokens with scopes [{"name","token"|"sha256","scopes":["read","write"]}]' },
  { key: 'authReads', kind: 'boolean', flag: '--auth-reads', env: 'PLEXUS_AUTH_READS', default: false, help: 'require a token with read scope for reads too' },
  { key: 'logLevel', kind: 'level', flag: '--log-level', env: 'PLEXUS_LOG_LEVEL', default: 'info', help: 'JSON log lines on stderr: debug | info | warn | error | silent' },
  { key: 'logFormat', kind: 'log-format', flag: '--log-format', env: 'PLEXUS_LOG_FORMAT', default: 'json', help: 'stderr log lines: json (one object per line) | pretty (for humans)' },
  { key: 'maxConnections', kind: 'count', flag: '--max-connections', env: 'PLEXUS_MAX_CONNECTIONS', default: MAX_CONNECTIONS, help: 'open connections in total' },
  { key: 'maxConnectionsPerIp', kind: 'count', flag: '--max-connections-per-ip', env: 'PLEXUS_MAX_CONNECTIONS_PER_IP', default: MAX_CONNECTIONS_PER_IP, help: 'open connections per client IP' },
  { key: 'httpRequestsPerSecond', kind: 'count', flag: '--http-requests-per-second', env: 'PLEXUS_HTTP_REQUESTS_PER_SECOND', default: HTTP_REQUESTS_PER_SECOND, help: 'HTTP requests per second per connection' },
  { key: 'wsMaxFrameBytes', kind: 'count', flag: '--ws-max-frame-bytes', env: 'PLEXUS_WS_MAX_FRAME_BYTES', default: WS_MAX_FRAME_BYTES, help: 'largest WebSocket frame on any path (modules may set lower ones)' },
  { key: 'wsMessagesPerSecond', kind: 'count', flag: '--ws-messages-per-second', env: 'PLEXUS_WS_MESSAGES_PER_SECOND', default: WS_MESSAGES_PER_SECOND, help: 'WebSocket messages per second per connection' },
  { key: 'wsBytesPerSecond', kind: 'count', flag: '--ws-bytes-per-second', env: 'PLEXUS_WS_BYTES_PER_SECOND', default: WS_BYTES_PER_SECOND, help: 'WebSocket bytes per second per connection' },
  { key: 'peers', kind: 'peer-urls', flag: '--peer', env: 'PLEXUS_PEERS', help: 'graph relay (plexus or gun) to dial and sync with, e.g. ws://host:8765/gun; repeatable (env: comma-separated)' },
  { key: 'evtBatchMs', kind: 'count', flag: '--evt-batch-ms', env: 'PLEXUS_EVT_BATCH_MS', help: 'ledger hub: push in fixed windows of this many ms as evt\'s hub (200); default: adaptive (at once to an idle subscriber, coalesced while a push is in flight)' },
  { key: 'webDir', kind: 'path', flag: '--web-dir', env: 'PLEXUS_WEB_DIR', help: 'directory of the built dashboard (default: the package\'s dist/)' },
  { key: 'allowOrigin', kind: 'origins', flag: '--allow-origin', env: 'PLEXUS_ALLOW_ORIGIN', help: 'also let web pages from this origin (https://app.example.com) write and read, with CORS; repeatable, env comma separated; "*" = any origin (loopback origins are always allowed)' },
  { key: 'allowHost', kind: 'hosts', flag: '--allow-host', env: 'PLEXUS_ALLOW_HOST', help: 'also accept this Host name while bound to loopback (a name behind a proxy; *.domain for a suffix); repeatable, env comma separated; "*" = any' },
];

/** Parse a port number from untrusted text. */
export function parsePort(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new PlexusError('BAD_REQUEST', `invalid port ${JSON.stringify(v)}: want 0-65535`);
  return n;
}

function bad(where: string, k: ConfigKey, want: string, v: unknown): never {
  const shown = k.secret ? '(hidden)' : JSON.stringify(v);
  throw new PlexusError('BAD_REQUEST', `invalid ${k.key} ${shown} from ${where}: want ${want}`);
}

/** Validate one value of `k` coming from `where` (a flag, an env var or the config file). */
function parseValue(k: ConfigKey, v: unknown, where: string): unknown {
  switch (k.kind) {
    case 'port':
      try { return parsePort(v); } catch { return bad(where, k, 'a port 0-65535', v); }
    case 'count': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n) || n < 1) bad(where, k, 'a positive integer', v);
      return n;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0' || v === '') return false;
      return bad(where, k, 'true or false', v);
    case 'level':
      if (!LEVELS.includes(v as ServerConfig['logLevel'])) bad(where, k, `one of ${LEVELS.join(', ')}`, v);
      return v;
    case 'log-format':
      if (v !== 'json' && v !== 'pretty') bad(where, k, 'json or pretty', v);
      return v;
    case 'postgres-url':
      if (typeof v !== 'string' || !/^postgres(ql)?:\/\//.test(v)) bad(where, k, 'a URL starting with postgres:// or postgresql://', v);
      return v;
    case 'amqp-url':
      if (typeof v !== 'string' || !/^amqps?:\/\//.test(v)) bad(where, k, 'a URL starting with amqp:// or amqps://', v);
      return v;
    case 'token':
      if (typeof v !== 'string' || v.length < 8 || /\s/.test(v)) {
        throw new PlexusError('BAD_REQUEST', `token from ${where} must be at least 8 characters without spaces`);
      }
      return v;
    case 'peer-urls': {
      const list = typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v;
      if (!Array.isArray(list) || list.some((u) => typeof u !== 'string' || !/^(wss?|https?):\/\/[^\s]+$/.test(u))) bad(where, k, 'ws://, wss://, http:// or https:// URLs', v);
      return list;
    }
    case 'origins':
    case 'hosts': {
      const list = typeof v === 'string' ? v.split(',') : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v as string[] : bad(where, k, 'a string or an array of strings', v);
      const parse = k.kind === 'origins' ? parseAllowedOrigin : parseAllowedHost;
      try {
        return [...new Set(list.map((x) => x.trim()).filter((x) => x !== '').flatMap((x) => x.split(',')).map((x) => parse(x)))];
      } catch (err) {
        throw new PlexusError('BAD_REQUEST', `invalid ${k.key} from ${where}: ${(err as Error).message}`);
      }
    }
    case 'string':
    case 'path':
      if (typeof v !== 'string' || v === '') bad(where, k, 'a non-empty string', v);
      return v;
  }
}

/** Read and check a `plexus.config.json`: an object whose keys are CONFIG_SCHEMA keys. */
export function loadConfigFile(path: string): Partial<ServerConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `cannot read config file ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PlexusError('BAD_REQUEST', `config file ${path} must hold a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === '$schema' || key === '//') continue;
    const k = CONFIG_SCHEMA.find((s) => s.key === key);
    if (!k) throw new PlexusError('BAD_REQUEST', `unknown key ${JSON.stringify(key)} in config file ${path} (known: ${CONFIG_SCHEMA.map((s) => s.key).join(', ')})`);
    out[key] = parseValue(k, v, `config file ${path}`);
  }
  return out as Partial<ServerConfig>;
}

/** The config file to read: the one named, else ./plexus.config.json when it exists, else none. */
export function findConfigFile(named?: string, cwd = process.cwd()): string | undefined {
  if (named) return named;
  const p = `${cwd}/${CONFIG_FILE_NAME}`;
  return existsSync(p) ? p : undefined;
}

/**
 * Build a validated config: `input` (flags, options) wins over `env`, env over `file` (parsed
 * plexus.config.json), file over defaults. Throws BAD_REQUEST naming the key and its source.
 */
export function resolveConfig(input: Partial<ServerConfig> = {}, env: NodeJS.ProcessEnv = process.env, file: Partial<ServerConfig> = {}): ResolvedServerConfig {
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_SCHEMA) {
    const given = (input as Record<string, unknown>)[k.key];
    const fromEnv = env[k.env];
    const fromFile = (file as Record<string, unknown>)[k.key];
    let v: unknown;
    if (given !== undefined) v = parseValue(k, given, k.flag);
    else if (fromEnv !== undefined && fromEnv !== '') v = parseValue(k, fromEnv, `env ${k.env}`);
    else if (fromFile !== undefined) v = parseValue(k, fromFile, 'config file');
    else v = k.default;
    if (v !== undefined) out[k.key] = v;
  }
  return out as unknown as ResolvedServerConfig;
}

