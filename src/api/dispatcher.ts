/** A one-shot timer owned by a dispatcher. */
export interface Timer {
  /** (Re)arms the timer; a pending expiry is replaced. */
  enableTimer(ms: number): void;
  disableTimer(): void;
  enabled(): boolean;
}

/** Something whose destruction must wait until the current event-loop callback returns. */
export interface DeferredDeletable {
  onDeferredDelete(): void;
}

/**
 * The event loop of one worker (Envoy's Event::Dispatcher over libuv). Everything that owns a
 * timer or defers a deletion goes through it, so tests can observe and the clock can be read cheaply.
 */
export interface Dispatcher {
  createTimer(cb: () => void): Timer;
  /** Runs `d.onDeferredDelete()` after the current callback stack unwinds. */
  deferredDelete(d: DeferredDeletable): void;
  /** Runs `cb` on the next turn of the loop. */
  post(cb: () => void): void;
  /** Monotonic milliseconds, refreshed once per loop turn. */
  approximateMonotonicTime(): number;
  /** Wall-clock milliseconds since the epoch. */
  systemTime(): number;
}
