/**
 * The process logger: pino, one JSON object per line on stdout. Levels take Envoy's names too
 * (`warning`, `critical`, `off`), so `--log-level` reads the same as Envoy's `-l`.
 */
import { pino, type DestinationStream, type Level } from 'pino';
import type { Logger } from '../api/logger.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'critical', 'off'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

const TO_PINO: Record<LogLevelName, Level | 'silent'> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  off: 'silent',
};

export function isLogLevel(s: string): s is LogLevelName {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export interface LoggerOptions {
  readonly level: LogLevelName;
  /** Where lines go; stdout when not given (tests pass a stream). */
  readonly destination?: DestinationStream;
  /** Fields on every line. */
  readonly base?: Record<string, unknown>;
}

/** A root logger. Log objects carry `level` as a label ("info") and `time` in epoch ms. */
export function createLogger(options: LoggerOptions): Logger {
  const opts = {
    level: TO_PINO[options.level],
    base: { pid: process.pid, ...options.base },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  // Synchronous writes: lines stay in order and none is lost when the process exits. Logging on the
  // data path happens at debug/trace only, which is off unless asked for.
  return pino(opts, options.destination ?? pino.destination({ dest: 1, sync: true }));
}
