import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BudgetStats } from './budget.js';
import type { Mount } from './mount.js';

/** Route label for an HTTP path: its first segment (bounded cardinality). */
export function routeOf(pathname: string): string {
  const m = /^\/[^/]*/.exec(pathname);
  const first = m ? m[0] : '/';
  return ['/', '/blob', '/anchor', '/healthz', '/metrics', '/api', '/dashboard', '/browser', '/gun', '/evt'].includes(first) ? first : 'other';
}

/** Per-second rates over a sliding window, sampled from monotonically growing totals. */
class RateWindow {
  private readonly samples: { t: number; totals: Record<string, number> }[] = [];
  constructor(private readonly windowMs: number) {}
  sample(totals: Record<string, number>, now = Date.now()): void {
    this.samples.push({ t: now, totals: { ...totals } });
    while (this.samples.length > 2 && now - this.samples[1]!.t >= this.windowMs) this.samples.shift();
  }
  rates(totals: Record<string, number>, now = Date.now()): Record<string, number> {
    const first = this.samples[0];
    const out: Record<string, number> = {};
    const dt = first ? (now - first.t) / 1000 : 0;
    for (const [k, v] of Object.entries(totals)) out[k] = dt > 0.2 ? Math.round(((v - (first!.totals[k] ?? 0)) / dt) * 10) / 10 : 0;
    return out;
  }
}

/** Keep only numeric leaves of a stats object, flattened to `a_b` names. */
export function numericStats(o: Record<string, unknown>, prefix = '', out: Record<string, number> = {}, depth = 0): Record<string, number> {
  for (const [k, v] of Object.entries(o)) {
    const name = (prefix ? `${prefix}_${k}` : k).replace(/[^a-zA-Z0-9_]/g, '_');
    if (typeof v === 'number' && Number.isFinite(v)) out[name] = v;
    else if (typeof v === 'object' && v !== null && !Array.isArray(v) && depth < 2) numericStats(v as Record<string, unknown>, name, out, depth + 1);
  }
  return out;
}

/**
 * The figures in the modules' `Mount.stats()` that only ever grow: exported as Prometheus counters
 * `plexus_<module>_<stat>_total` (module -> stat -> help). Every other numeric figure (sizes, open
 * connections) is a gauge, `plexus_store_stat{module, stat}`.
 */
export const MODULE_COUNTERS = {
  graph: {
    messages: 'Messages the graph relay received',
    puts: 'Put messages the graph relay handled',
    gets: 'Get messages the graph relay handled',
    acks: 'Acks the graph relay sent',
    forwards: 'Messages the graph relay forwarded to other peers',
    errors: 'Messages the graph relay answered with an error',
    dropped: 'Messages the graph relay dropped (frame or queue limits)',
    duplicates: 'Duplicate messages the graph relay ignored',
    deferred: 'Writes from the future the graph relay deferred',
  },
  ledger: {
    published: 'Transactions published through the ledger hub',
    pushes: 'Update pushes the ledger hub sent to subscribers',
    errors: 'Ledger hub requests answered with an error',
  },
  bus: {
    calls: 'Calls made through the server\'s bus peer (dashboard /api/bus/call)',
    failures: 'Those calls that failed',
  },
} as const satisfies Record<string, Record<string, string>>;

/** The server's Prometheus metrics (own registry per server, so several servers can share a process). */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({ name: 'plexus_http_requests_total', help: 'HTTP requests answered, by method, route and status', labelNames: ['method', 'route', 'status'] as const, registers: [this.registry] });
  readonly httpDuration = new Histogram({ name: 'plexus_http_request_duration_seconds', help: 'Time to answer HTTP requests, by route', labelNames: ['route'] as const, buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly connections = new Gauge({ name: 'plexus_connections', help: 'Open TCP connections (HTTP and WebSocket)', registers: [this.registry] });
  readonly connectionsRejected = new Counter({ name: 'plexus_connections_rejected_total', help: 'Connections refused by a limit, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly wsConnections = new Gauge({ name: 'plexus_websocket_connections', help: 'Open WebSocket connections, by path', labelNames: ['path'] as const, registers: [this.registry] });
  readonly wsAccepted = new Counter({ name: 'plexus_websocket_connections_total', help: 'WebSocket upgrades handed to a module, by path', labelNames: ['path'] as const, registers: [this.registry] });
  readonly wsMessagesIn = new Counter({ name: 'plexus_websocket_messages_received_total', help: 'WebSocket data messages received from clients, by path', labelNames: ['path'] as const, registers: [this.registry] });
  readonly wsBytesIn = new Counter({ name: 'plexus_websocket_received_bytes_total', help: 'Bytes received on WebSocket connections, by path', labelNames: ['path'] as const, registers: [this.registry] });
  readonly wsBytesOut = new Counter({ name: 'plexus_websocket_sent_bytes_total', help: 'Bytes sent on closed WebSocket connections, by path', labelNames: ['path'] as const, registers: [this.registry] });
  readonly wsClosedByLimit = new Counter({ name: 'plexus_websocket_limit_closes_total', help: 'WebSocket connections closed for exceeding a limit, by path and limit', labelNames: ['path', 'limit'] as const, registers: [this.registry] });
  readonly authDenied = new Counter({ name: 'plexus_auth_denied_total', help: 'Requests refused for a missing / invalid token or scope, by scope', labelNames: ['scope'] as const, registers: [this.registry] });

  /** Totals the dashboard turns into rates (and /healthz reports). */
  readonly totals: Record<string, number> = { httpRequests: 0, wsMessagesIn: 0, wsBytesIn: 0 };
  readonly wsOpenByPath = new Map<string, number>();
  private readonly window = new RateWindow(10_000);
  private readonly timer: NodeJS.Timeout;

  constructor(mounts: () => readonly Mount[], private readonly started = Date.now(), memory?: () => BudgetStats) {
    collectDefaultMetrics({ register: this.registry, prefix: 'plexus_' });
    if (memory) {
      new Gauge({ name: 'plexus_memory_budget_used_bytes', help: 'Bytes reserved in the server memory budget (subscriptions, request bodies, queued WebSocket replies)', registers: [this.registry], collect(this: Gauge) { this.set(memory().usedBytes); } });
      new Gauge({ name: 'plexus_memory_budget_queued_bytes', help: 'Bytes waiting in WebSocket send buffers, charged to the memory budget', registers: [this.registry], collect(this: Gauge) { this.set(memory().queuedBytes); } });
      new Counter({
        name: 'plexus_memory_budget_refused_total', help: 'Work refused by the memory budget, by what was asked for', labelNames: ['what'] as const, registers: [this.registry],
        collect(this: Counter<'what'>) { this.reset(); for (const [what, n] of Object.entries(memory().refusedBy)) this.inc({ what }, n); },
      });
      new Counter({ name: 'plexus_memory_budget_evicted_total', help: 'WebSockets closed because their send queue was the largest when the memory budget ran out', registers: [this.registry], collect(this: Counter) { this.reset(); const n = memory().evicted; if (n > 0) this.inc(n); } });
    }
    // One stats() call per module per scrape, shared by every metric below.
    let snapshot: { at: number; value: Promise<Map<string, Record<string, number>>> } | undefined;
    const moduleStats = () => {
      if (!snapshot || Date.now() - snapshot.at > 250) {
        snapshot = {
          at: Date.now(),
          value: (async () => {
            const out = new Map<string, Record<string, number>>();
            for (const m of mounts()) {
              if (!m.stats) continue;
              try { out.set(m.name, numericStats(await m.stats())); } catch { /* a failing stats() must not break /metrics */ }
            }
            return out;
          })(),
        };
      }
      return snapshot.value;
    };
    for (const [module, stats] of Object.entries(MODULE_COUNTERS)) {
      for (const [stat, help] of Object.entries(stats)) {
        new Counter({
          name: `plexus_${module}_${stat}_total`, help, registers: [this.registry],
          async collect(this: Counter) {
            const v = (await moduleStats()).get(module)?.[stat];
            this.reset();
            if (v !== undefined && v > 0) this.inc(v);
          },
        });
      }
    }
    new Gauge({
      name: 'plexus_store_stat', help: 'Figures a module reports in Mount.stats that are not counters (store sizes, open peers), by module and stat',
      labelNames: ['module', 'stat'] as const, registers: [this.registry],
      async collect(this: Gauge<'module' | 'stat'>) {
        this.reset();
        for (const [module, figures] of await moduleStats()) {
          const counters = (MODULE_COUNTERS as Record<string, Record<string, string> | undefined>)[module] ?? {};
          for (const [stat, v] of Object.entries(figures)) if (!(stat in counters)) this.set({ module, stat }, v);
        }
      },
    });
    new Gauge({ name: 'plexus_uptime_seconds', help: 'Seconds since the server started', registers: [this.registry], collect(this: Gauge) { this.set((Date.now() - started) / 1000); } });
    this.window.sample(this.totals);
    this.timer = setInterval(() => this.window.sample(this.totals), 1000);
    this.timer.unref();
  }

  /** Record one answered HTTP request. */
  request(method: string, route: string, status: number, seconds: number): void {
    this.totals.httpRequests!++;
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ route }, seconds);
  }

  wsOpened(path: string): void {
    this.wsAccepted.inc({ path });
    this.wsConnections.inc({ path });
    this.wsOpenByPath.set(path, (this.wsOpenByPath.get(path) ?? 0) + 1);
  }

  wsClosed(path: string, bytesSent: number): void {
    this.wsConnections.dec({ path });
    this.wsBytesOut.inc({ path }, bytesSent);
    const n = (this.wsOpenByPath.get(path) ?? 1) - 1;
    if (n > 0) this.wsOpenByPath.set(path, n); else this.wsOpenByPath.delete(path);
  }

  wsMessage(path: string): void {
    this.totals.wsMessagesIn!++;
    this.wsMessagesIn.inc({ path });
  }

  wsBytes(path: string, bytes: number): void {
    this.totals.wsBytesIn! += bytes;
    this.wsBytesIn.inc({ path }, bytes);
  }

  /** Per-second rates over the last ~10 s. */
  rates(): Record<string, number> { return this.window.rates(this.totals); }

  uptimeMs(): number { return Date.now() - this.started; }

  close(): void { clearInterval(this.timer); }
}
