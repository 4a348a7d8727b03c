/**
 * The server's structured logger: one JSON line per event on stderr (or `pretty` lines for a human at a
 * terminal, or any sink an embedder gives). Warnings and errors that repeat are rate-limited per message.
 */

/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** A threshold: lines below it are dropped; `silent` drops every line. */
export type LogThreshold = LogLevel | 'silent';
/** How stderr lines look: one JSON object per line (default), or `pretty` text for humans. */
export type LogFormat = 'json' | 'pretty';
/** Where finished log lines go. */
export type LogSink = (line: Record<string, unknown>) => void;
/** Writes one log line. */
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
/** A logger; `flush()` writes the counts of lines still held back by rate limiting (call it on shutdown). */
export type Logger = Log & { flush(): void };

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;
const LEVEL_RANK = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 } as const;
/** The fields every line has; a caller's field of the same name is kept as `field_<name>` instead. */
const RESERVED = new Set(['time', 'level', 'msg', 'suppressed']);
/** Distinct repeated-message keys remembered at once (expired ones are dropped beyond this). */
const MAX_WINDOWS = 1000;

export interface LoggerOptions {
  /** Lines below this level are dropped (default info). */
  level?: LogThreshold;
  /** Where lines go (default: stderr in `format`). */
  sink?: LogSink;
  /** Format of the default stderr sink (default json). */
  format?: LogFormat;
  /**
   * A warning or error with the same level and message is written at most once per this many ms; the
   * last one held back is written when the window ends, with `suppressed: n` = how many more were held
   * back, so every line stands for 1 + suppressed events (default 1000; 0 turns rate limiting off).
   */
  repeatWindowMs?: number;
}

/** A sink writing each line as one JSON line on stderr. */
export const stderrJsonSink: LogSink = (line) => { process.stderr.write(JSON.stringify(line) + '\n'); };

/** `12:00:00.123 WARN  connection refused ip=127.0.0.1 code=RATE_LIMITED`: for humans. */
export function formatPretty(line: Record<string, unknown>): string {
  const { time, level, msg, ...rest } = line;
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  const kv = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) && v !== '' ? v : JSON.stringify(v)}`);
  return `${t} ${String(level).toUpperCase().padEnd(5)} ${String(msg)}${kv.length ? ` ${kv.join(' ')}` : ''}`;
}

/** A sink writing `formatPretty` lines on stderr. */
export const stderrPrettySink: LogSink = (line) => { process.stderr.write(formatPretty(line) + '\n'); };

/** A field value as JSON can carry it: errors become `{ name, message, code? }`. */
function plain(v: unknown): unknown {
  if (!(v instanceof Error)) return v;
  const code = (v as { code?: unknown }).code;
  return { name: v.name, message: v.message, ...(code !== undefined ? { code } : {}) };
}

/**
 * Build a logger: stamps `time` and `level`, drops lines below the threshold, keeps `msg` the caller's
 * (fields never overwrite it) and rate-limits repeated warnings and errors.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const threshold = LEVEL_RANK[opts.level ?? 'info'];
  const sink = opts.sink ?? (opts.format === 'pretty' ? stderrPrettySink : stderrJsonSink);
  const windowMs = opts.repeatWindowMs ?? 1000;
  const windows = new Map<string, { until: number; suppressed: number; last?: Record<string, unknown>; timer?: ReturnType<typeof setTimeout> }>();

  /** The last held-back line, written late, with the count of the others (`suppressed`, omitted when 0). */
  const heldBack = (last: Record<string, unknown>, n: number) => ({ ...last, ...(n > 1 ? { suppressed: n - 1 } : {}) });
  /** A window's end: write the held-back count (as the last held-back line), open the next window. */
  const release = (key: string) => {
    const w = windows.get(key);
    if (!w) return;
    windows.delete(key);
    if (w.suppressed > 0 && w.last) {
      sink(heldBack(w.last, w.suppressed));
      windows.set(key, { until: Date.now() + windowMs, suppressed: 0 });
    }
  };

  const log: Log = (level, msg, fields) => {
    if (LEVEL_RANK[level] < threshold) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line[RESERVED.has(k) ? `field_${k}` : k] = plain(v);
    if (windowMs <= 0 || LEVEL_RANK[level] < LEVEL_RANK.warn) { sink(line); return; }
    const key = `${level} ${msg}`;
    const now = Date.now();
    const w = windows.get(key);
    if (w && now < w.until) {
      w.suppressed++;
      w.last = line;
      w.timer ??= setTimeout(() => release(key), w.until - now).unref();
      return;
    }
    if (w?.timer) clearTimeout(w.timer);
    if (w && w.suppressed > 0) line.suppressed = w.suppressed;
    if (windows.size >= MAX_WINDOWS) for (const [k, x] of windows) if (x.until <= now && !x.timer) windows.delete(k);
    windows.set(key, { until: now + windowMs, suppressed: 0 });
    sink(line);
  };
  return Object.assign(log, {
    flush() {
      for (const [key, w] of [...windows]) {
        if (w.timer) clearTimeout(w.timer);
        if (w.suppressed > 0 && w.last) sink(heldBack(w.last, w.suppressed));
        windows.delete(key);
      }
    },
  });
}
