/**
 * Access loggers (Envoy's AccessLog::Instance) for `envoy.access_loggers.file`, `.stdout` and
 * `.stderr`. Logging never blocks the event loop and never holds unbounded memory: lines are
 * formatted at once (the StreamInfo may be reused), batched, and handed to the target stream in one
 * write per loop turn. When the target cannot keep up and the bytes waiting (ours plus the
 * stream's own queue) would pass the limit, lines are dropped and counted.
 */
import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import type { Counter, Gauge, Scope } from '../api/stats.js';
import type { StreamInfo } from '../api/stream-info.js';
import type { Formatter } from './format.js';

/** Writes one entry per finished request or connection. */
export interface AccessLog {
  log(info: StreamInfo): void;
  /** Resolves once every entry logged so far has been written out (shutdown, tests). */
  flush(): Promise<void>;
}

/** The writable side a sink writes into (a fs.WriteStream, process.stdout, or a test double). */
export interface LogTarget {
  write(chunk: string, cb: (err?: Error | null) => void): boolean;
  /** Bytes the target has accepted but not yet written out. */
  readonly writableLength: number;
}

/** Envoy's `access_logs.file.*` counters (shared by every file, stdout and stderr log). */
export interface AccessLogFileStats {
  readonly write_buffered: Counter;
  readonly write_completed: Counter;
  readonly write_failed: Counter;
  readonly write_dropped: Counter;
  readonly write_total_buffered: Gauge;
}

export function accessLogFileStats(scope: Scope): AccessLogFileStats {
  const s = scope.createScope('access_logs.file');
  return {
    write_buffered: s.counter('write_buffered'),
    write_completed: s.counter('write_completed'),
    write_failed: s.counter('write_failed'),
    write_dropped: s.counter('write_dropped'),
    write_total_buffered: s.gauge('write_total_buffered'),
  };
}

/** Default bound on bytes waiting to be written for one sink. */
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** Flush before the turn ends once this much is batched (Envoy's 64 KiB flush threshold). */
const FLUSH_THRESHOLD_BYTES = 64 * 1024;

/**
 * A batching writer over a LogTarget. Lines collect in an array and go out joined in one write,
 * from setImmediate (after the current loop turn's I/O) or at once past 64 KiB.
 */
export class BufferedLogSink {
  private lines: string[] = [];
  private pendingBytes = 0;
  private inFlight = 0;
  private scheduled = false;
  private waiters: Array<() => void> = [];
  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.writeBatch();
  };

  constructor(
    private readonly target: LogTarget,
    private readonly stats: AccessLogFileStats,
    private readonly maxPendingBytes = DEFAULT_MAX_PENDING_BYTES,
  ) {}

  /** Queues one line (which should end with its newline); drops it when over the bound. */
  write(line: string): void {
    if (line.length === 0) return;
    if (this.pendingBytes + this.target.writableLength + line.length > this.maxPendingBytes) {
      this.stats.write_dropped.inc();
      return;
    }
    this.lines.push(line);
    this.pendingBytes += line.length;
    this.stats.write_buffered.inc();
    this.stats.write_total_buffered.inc(line.length);
    if (this.pendingBytes >= FLUSH_THRESHOLD_BYTES) {
      this.writeBatch();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /** Resolves once everything queued so far has been written (or has failed). */
  flush(): Promise<void> {
    this.writeBatch();
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private writeBatch(): void {
    if (this.lines.length === 0) return;
    const chunk = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    const bytes = this.pendingBytes;
    this.lines = [];
    this.pendingBytes = 0;
    this.inFlight++;
    this.target.write(chunk, (err) => {
      this.inFlight--;
      this.stats.write_total_buffered.dec(bytes);
      if (err) this.stats.write_failed.inc();
      else this.stats.write_completed.inc();
      if (this.inFlight === 0 && this.lines.length === 0) {
        const w = this.waiters;
        this.waiters = [];
        for (const resolve of w) resolve();
      }
    });
  }
}

/** An access log that formats each entry and writes it to a sink. */
export class FormattedAccessLog implements AccessLog {
  constructor(
    private readonly formatter: Formatter,
    private readonly sink: BufferedLogSink,
  ) {}

  log(info: StreamInfo): void {
    this.sink.write(this.formatter.format(info));
  }

  flush(): Promise<void> {
    return this.sink.flush();
  }
}

/**
 * A file opened for appending. The file is opened synchronously (once, when the config is
 * loaded) so a bad path fails the config instead of the first request; writes are asynchronous.
 */
export class FileLogTarget implements LogTarget {
  private stream: WriteStream;

  constructor(
    readonly path: string,
    private readonly onError: (err: Error) => void,
  ) {
    this.stream = FileLogTarget.open(path, onError);
  }

  private static open(path: string, onError: (err: Error) => void): WriteStream {
    const fd = openSync(path, 'a');
    const stream = createWriteStream('', { fd, autoClose: true });
    stream.on('error', onError);
    return stream;
  }

  get writableLength(): number {
    return this.stream.writableLength;
  }

  write(chunk: string, cb: (err?: Error | null) => void): boolean {
    return this.stream.write(chunk, cb);
  }

  /** Reopens the path (after log rotation); the old stream finishes its queued writes first. */
  reopen(): void {
    const old = this.stream;
    this.stream = FileLogTarget.open(this.path, this.onError);
    old.end();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}
