import { performance } from 'node:perf_hooks';
import type { DeferredDeletable, Dispatcher, Timer } from '../api/dispatcher.js';

/** Node clamps longer delays to 1 ms (with a warning); we clamp to the longest real one. */
const TIMEOUT_MAX_MS = 2 ** 31 - 1;

export interface DispatcherOptions {
  /** For logs and debugging. */
  readonly name?: string;
  /**
   * Timers do not keep the process alive by default (unref): sockets and listeners do, and a
   * pending idle or delayed-close timer must not hold up shutdown. Set false to ref them.
   */
  readonly unrefTimers?: boolean;
}

/**
 * A one-shot timer over setTimeout. Re-arming with the same delay reuses the Node Timeout via
 * refresh() (no allocation, works after it fired); a new delay or an arm after disableTimer()
 * creates a new one.
 */
export class TimerImpl implements Timer {
  private handle: NodeJS.Timeout | undefined;
  private delay = -1;
  private armed = false;
  private readonly fire = (): void => {
    this.armed = false;
    this.cb();
  };

  constructor(
    private readonly cb: () => void,
    private readonly unref: boolean,
  ) {}

  enableTimer(ms: number): void {
    const delay = ms > TIMEOUT_MAX_MS ? TIMEOUT_MAX_MS : ms > 0 ? ms : 0;
    this.armed = true;
    if (this.handle !== undefined && delay === this.delay) {
      this.handle.refresh();
      return;
    }
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.delay = delay;
    this.handle = setTimeout(this.fire, delay);
    if (this.unref) this.handle.unref();
  }

  disableTimer(): void {
    if (this.handle === undefined) return;
    clearTimeout(this.handle);
    this.handle = undefined;
    this.armed = false;
  }

  enabled(): boolean {
    return this.armed;
  }
}

/**
 * Envoy's Event::Dispatcher on Node's loop (one per worker):
 * - timers are setTimeout handles, unref'd unless configured otherwise;
 * - deferredDelete batches objects and destroys them in one microtask, i.e. right after the
 *   current I/O or timer callback returns and before the loop goes on (Envoy clears its list at
 *   the same point); deletions scheduled while clearing run in the same pass;
 * - post() queues callbacks and runs them in order from one setImmediate;
 * - approximateMonotonicTime() is performance.now(): at ~50 ns a call it is cheaper than any
 *   per-turn cache, which would need a microtask per turn to invalidate.
 */
export class NodeDispatcher implements Dispatcher {
  readonly name: string;
  private readonly unrefTimers: boolean;
  private toDelete: DeferredDeletable[] = [];
  private deleteScheduled = false;
  private posted: Array<() => void> = [];
  private spare: Array<() => void> = [];
  private postScheduled = false;
  private readonly runDeferred = (): void => {
    this.deleteScheduled = false;
    this.clearDeferredDeleteList();
  };
  private readonly runPosted = (): void => {
    this.postScheduled = false;
    const list = this.posted;
    this.posted = this.spare;
    let firstError: unknown;
    let failed = false;
    for (let i = 0; i < list.length; i++) {
      try {
        list[i]!();
      } catch (e) {
        if (!failed) firstError = e;
        failed = true;
      }
    }
    list.length = 0;
    this.spare = list;
    if (failed) throw firstError;
  };

  constructor(options: DispatcherOptions = {}) {
    this.name = options.name ?? 'main';
    this.unrefTimers = options.unrefTimers ?? true;
  }

  createTimer(cb: () => void): Timer {
    return new TimerImpl(cb, this.unrefTimers);
  }

  deferredDelete(d: DeferredDeletable): void {
    this.toDelete.push(d);
    if (!this.deleteScheduled) {
      this.deleteScheduled = true;
      queueMicrotask(this.runDeferred);
    }
  }

  /**
   * Destroys everything pending now, including what those destructions defer in turn. Every
   * object is destroyed even if one throws; the first error is rethrown at the end.
   */
  clearDeferredDeleteList(): void {
    let firstError: unknown;
    let failed = false;
    while (this.toDelete.length > 0) {
      const list = this.toDelete;
      this.toDelete = [];
      for (let i = 0; i < list.length; i++) {
        try {
          list[i]!.onDeferredDelete();
        } catch (e) {
          if (!failed) firstError = e;
          failed = true;
        }
      }
    }
    if (failed) throw firstError;
  }

  /** Objects waiting for deferred deletion. */
  pendingDeferredDeletes(): number {
    return this.toDelete.length;
  }

  /** Runs `cb` on a later turn; callbacks posted while running wait for the next batch. */
  post(cb: () => void): void {
    this.posted.push(cb);
    if (!this.postScheduled) {
      this.postScheduled = true;
      setImmediate(this.runPosted);
    }
  }

  approximateMonotonicTime(): number {
    return performance.now();
  }

  systemTime(): number {
    return Date.now();
  }
}
