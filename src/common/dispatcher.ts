import { performance } from 'node:perf_hooks';
import type { DeferredDeletable, Dispatcher, Timer } from '../api/dispatcher.js';

const RESOLVED = Promise.resolve();

/**
 * performance.now() read at most once per callback (Envoy's approximate monotonic time, which it
 * updates once per loop iteration): a request reads the clock half a dozen times (stream info,
 * idle timer re-arms, router timings) and each read is a call into C++. The cached value is
 * dropped by a microtask, i.e. as soon as the current I/O or timer callback returns.
 */
let cachedNow = -1;
const forgetNow = (): void => {
  cachedNow = -1;
};
function approximateNow(): number {
  if (cachedNow < 0) {
    cachedNow = performance.now();
    void RESOLVED.then(forgetNow);
  }
  return cachedNow;
}

/** An error thrown by a deferred deletion surfaces as an uncaught exception, not a rejection. */
function rethrow(e: unknown): never {
  throw e;
}

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
 * The timers of one dispatcher that share a delay, in expiry order (with one delay, arming order
 * is expiry order), driven by a single Node Timeout armed for the earliest of them.
 */
class TimerList {
  head: TimerImpl | undefined = undefined;
  tail: TimerImpl | undefined = undefined;
  /** The Node timer, armed while the list may hold a pending timer; undefined once it fired. */
  handle: NodeJS.Timeout | undefined = undefined;
  /** Its due timers are being run (the run re-arms the Node timer when it is done). */
  running = false;
  readonly run = (): void => this.queues.runList(this);

  constructor(
    private readonly queues: TimerQueues,
    readonly delay: number,
  ) {}

  append(t: TimerImpl): void {
    t.list = this;
    t.prev = this.tail;
    t.next = undefined;
    if (this.tail !== undefined) this.tail.next = t;
    else this.head = t;
    this.tail = t;
  }

  unlink(t: TimerImpl): void {
    if (t.prev !== undefined) t.prev.next = t.next;
    else this.head = t.next;
    if (t.next !== undefined) t.next.prev = t.prev;
    else this.tail = t.prev;
    t.list = undefined;
    t.prev = undefined;
    t.next = undefined;
  }
}

/**
 * Every timer of a dispatcher, in one list per delay (Node's own timers are organised the same
 * way). Arming, re-arming and disarming are a few pointer moves and a clock read: no Node Timeout
 * per timer (a setTimeout + unref + clearTimeout costs ~0.2-0.5 µs and a Timeout object, and the
 * proxy arms several per request: stream idle, route timeout, connection and pool idle timers).
 */
class TimerQueues {
  private readonly lists = new Map<number, TimerList>();

  constructor(private readonly unref: boolean) {}

  arm(t: TimerImpl, delay: number): void {
    let list = t.list;
    if (list !== undefined) list.unlink(t);
    if (list === undefined || list.delay !== delay) {
      list = this.lists.get(delay);
      if (list === undefined) {
        list = new TimerList(this, delay);
        this.lists.set(delay, list);
      }
    }
    const now = approximateNow();
    t.expiry = now + delay;
    list.append(t);
    // Armed for the earliest timer of the list (the head), which may be due before this one.
    if (list.handle === undefined && !list.running) this.schedule(list, list.head!.expiry - now);
  }

  disarm(t: TimerImpl): void {
    const list = t.list;
    if (list === undefined) return;
    list.unlink(t);
    // A ref'd Node timer keeps the process alive: it must not outlive the last timer it serves.
    // An unref'd one is left to fire and find the list empty (cheaper for a timer that is
    // disarmed and re-armed all the time, like a connection's idle timer).
    if (list.head === undefined && !this.unref) this.drop(list);
  }

  /** The list's Node timer fired: runs the timers that are due, in order, then re-arms. */
  runList(list: TimerList): void {
    list.handle = undefined;
    list.running = true;
    const now = performance.now();
    try {
      for (let t = list.head; t !== undefined && t.expiry <= now; t = list.head) {
        list.unlink(t);
        t.cb();
      }
    } finally {
      // Also after a callback threw: the timers still pending must fire.
      list.running = false;
      const head = list.head;
      if (head === undefined) this.drop(list);
      else this.schedule(list, head.expiry - performance.now());
    }
  }

  /** Arms the list's Node timer `ms` from now (Node's timers have whole-millisecond delays). */
  private schedule(list: TimerList, ms: number): void {
    const delay = Math.ceil(ms);
    const h = setTimeout(list.run, delay > 1 ? delay : 1);
    if (this.unref) h.unref();
    list.handle = h;
  }

  private drop(list: TimerList): void {
    if (list.handle !== undefined) clearTimeout(list.handle);
    list.handle = undefined;
    if (this.lists.get(list.delay) === list) this.lists.delete(list.delay);
  }
}

/** A one-shot timer of a dispatcher (see TimerQueues). */
export class TimerImpl implements Timer {
  /** The list holding this timer while it is armed. */
  list: TimerList | undefined = undefined;
  prev: TimerImpl | undefined = undefined;
  next: TimerImpl | undefined = undefined;
  /** performance.now() at which it is due. */
  expiry = 0;

  constructor(
    readonly cb: () => void,
    private readonly queues: TimerQueues,
  ) {}

  enableTimer(ms: number): void {
    // Node runs setTimeout(0) after 1 ms; so does this.
    this.queues.arm(this, ms > TIMEOUT_MAX_MS ? TIMEOUT_MAX_MS : ms >= 1 ? ms : 1);
  }

  disableTimer(): void {
    this.queues.disarm(this);
  }

  enabled(): boolean {
    return this.list !== undefined;
  }
}

/**
 * Envoy's Event::Dispatcher on Node's loop (one per worker):
 * - timers live in one list per delay, each list driven by one setTimeout handle, unref'd unless
 *   configured otherwise;
 * - deferredDelete batches objects and destroys them in one microtask (a promise reaction), i.e.
 *   right after the current I/O or timer callback returns and before the loop goes on (Envoy
 *   clears its list at the same point); deletions scheduled while clearing run in the same pass;
 * - post() queues callbacks and runs them in order from one setImmediate;
 * - approximateMonotonicTime() is performance.now() read once per callback (see approximateNow).
 */
export class NodeDispatcher implements Dispatcher {
  readonly name: string;
  private readonly unrefTimers: boolean;
  private readonly timers: TimerQueues;
  private toDelete: DeferredDeletable[] = [];
  private deleteScheduled = false;
  private posted: Array<() => void> = [];
  private spare: Array<() => void> = [];
  private postScheduled = false;
  private readonly runDeferred = (): void => {
    this.deleteScheduled = false;
    try {
      this.clearDeferredDeleteList();
    } catch (e) {
      process.nextTick(rethrow, e);
    }
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
    this.timers = new TimerQueues(this.unrefTimers);
  }

  createTimer(cb: () => void): Timer {
    return new TimerImpl(cb, this.timers);
  }

  deferredDelete(d: DeferredDeletable): void {
    this.toDelete.push(d);
    if (!this.deleteScheduled) {
      this.deleteScheduled = true;
      // Node's queueMicrotask wraps each callback in an AsyncResource (~0.7 KB, a few hundred ns);
      // a reaction on a settled promise is the same microtask without the wrapper.
      void RESOLVED.then(this.runDeferred);
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
    return approximateNow();
  }

  systemTime(): number {
    return Date.now();
  }
}
