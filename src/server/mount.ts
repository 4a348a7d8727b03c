import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerConfig } from './config.js';
import type { MemoryBudget } from './budget.js';

/** What the server gives each module when it mounts it. */
export interface MountContext {
  config: ServerConfig;
  /** Throws UNAUTHORIZED/FORBIDDEN unless the request may write (no-op when no token is configured). */
  checkWrite(req: IncomingMessage): void;
  /** Throws UNAUTHORIZED unless the request may read (no-op unless read auth is on). */
  checkRead(req: IncomingMessage): void;
  /**
   * True when `req` may do `scope` ('write' implies 'read'); usable at WebSocket upgrade time (the
   * token comes from `Authorization: Bearer` or `?token=`). Always set by `startServer`; optional only
   * so hand-built contexts in tests keep compiling.
   */
  authorize?(req: IncomingMessage, scope: 'read' | 'write'): boolean;
  /** The server-wide memory budget (set by `startServer`): reserve before holding per-connection state. */
  budget?: MemoryBudget;
  /** Structured log line (never pass secrets). */
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A module mounted on the one HTTP port. `prefix` routes HTTP requests (`/blob`, `/anchor`, `/gun`, ...);
 * `upgrade` takes WebSocket upgrades for the paths it owns.
 */
export interface Mount {
  name: string;
  /** Path prefixes whose HTTP requests go to `handle` (e.g. ['/blob', '/anchor']). */
  prefixes?: string[];
  /** Answer an HTTP request under one of `prefixes`. Errors thrown become JSON error replies. */
  handle?(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  /** Take a WebSocket upgrade; return false if the path is not this mount's. */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): boolean;
  /** Figures for /healthz (counts, sizes). */
  stats?(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Stop accepting work, finish what is in flight, release resources. */
  close(): Promise<void>;
}

/** Builds a mount for a running server. */
export type MountFactory = (ctx: MountContext) => Promise<Mount>;
