/** The server's structured logger: one JSON line per event on stderr (or a sink given by the embedder). */

/** Severity of a log line; `silent` as a threshold turns logging off. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** A threshold: lines below it are dropped. */
export type LogThreshold = LogLevel | 'silent';
/** Where finished log lines go. */
export type LogSink = (line: Record<string, unknown>) => void;
/** Writes one log line. */
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const LEVEL_RANK = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 } as const;

export interface LoggerOptions {
  /** Lines below this level are dropped (default info). */
  level?: LogThreshold;
  /** Where lines go (default: JSON lines on stderr). */
  sink?: LogSink;
}

/** A sink writing each line as one JSON line on stderr. */
export const stderrJsonSink: LogSink = (line) => { process.stderr.write(JSON.stringify(line) + '\n'); };

/** Build a logger: stamps `time` and `level` on each line and drops lines below the threshold. */
export function createLogger(opts: LoggerOptions = {}): Log {
  const threshold = LEVEL_RANK[opts.level ?? 'info'];
  const sink = opts.sink ?? stderrJsonSink;
  return (level, msg, fields) => {
    if (LEVEL_RANK[level] >= threshold) sink({ time: new Date().toISOString(), level, msg, ...fields });
  };
}
