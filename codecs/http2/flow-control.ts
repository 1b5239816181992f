/**
 * Flow-control window arithmetic (RFC 9113 §5.2, §6.9), pure. One instance per direction for
 * the connection and for each stream. Violations are returned as `false`; the caller knows
 * whether the window is a stream's (stream FLOW_CONTROL_ERROR) or the connection's (connection
 * FLOW_CONTROL_ERROR), RFC 9113 §6.9.1.
 */
import { MAX_WINDOW_SIZE } from './frame.js';

/** RFC 9113 §6.9.2: initial window of streams and the connection. */
export const DEFAULT_INITIAL_WINDOW_SIZE = 65_535;

/** The peer's receive window as we see it: how much DATA we may send. */
export class SendWindow {
  private size: number;

  constructor(initial: number = DEFAULT_INITIAL_WINDOW_SIZE) {
    this.size = initial;
  }

  /** The window; negative after the peer lowered SETTINGS_INITIAL_WINDOW_SIZE (§6.9.2). */
  get window(): number {
    return this.size;
  }

  /** Octets we may send now (never negative). */
  get available(): number {
    return this.size > 0 ? this.size : 0;
  }

  /** Takes `n` octets of DATA payload (padding included) to send; false (no change) if over. */
  send(n: number): boolean {
    if (n > this.size) return false;
    this.size -= n;
    return true;
  }

  /**
   * Applies a received WINDOW_UPDATE. RFC 9113 §6.9.1: a window above 2^31-1 MUST be a
   * FLOW_CONTROL_ERROR: returns false and leaves the window unchanged.
   */
  increase(n: number): boolean {
    if (this.size + n > MAX_WINDOW_SIZE) return false;
    this.size += n;
    return true;
  }

  /**
   * RFC 9113 §6.9.2: the peer changed SETTINGS_INITIAL_WINDOW_SIZE by `delta` (new - old); stream
   * windows move by it and may go negative. False (no change) if the window would exceed
   * 2^31-1, which is a connection FLOW_CONTROL_ERROR. Not for the connection window.
   */
  applyInitialWindowDelta(delta: number): boolean {
    if (this.size + delta > MAX_WINDOW_SIZE) return false;
    this.size += delta;
    return true;
  }
}

/**
 * Our receive window: how much DATA the peer may send, and when to return credit. Credit is
 * returned only for octets the application has consumed, in WINDOW_UPDATEs of at least half the
 * target window, so a slow reader keeps the window closed (backpressure) and a fast one causes
 * few updates.
 */
export class RecvWindow {
  private size: number;
  private targetSize: number;
  private unclaimedOctets = 0;

  constructor(initial: number = DEFAULT_INITIAL_WINDOW_SIZE) {
    this.size = initial;
    this.targetSize = initial;
  }

  /** Octets the peer may still send; may be negative after our initial window went down. */
  get window(): number {
    return this.size;
  }

  /** The window we aim to offer when everything received has been consumed. */
  get target(): number {
    return this.targetSize;
  }

  /** Consumed octets not yet returned to the peer. */
  get unclaimed(): number {
    return this.unclaimedOctets;
  }

  /**
   * The peer sent a DATA frame of `n` flow-controlled octets (its whole payload, padding
   * included). False (no change) if that exceeds the window: a FLOW_CONTROL_ERROR (§6.9.1).
   */
  onDataReceived(n: number): boolean {
    if (n > this.size) return false;
    this.size -= n;
    return true;
  }

  /**
   * The application consumed `n` received octets (padding counts as consumed at once). Returns
   * the WINDOW_UPDATE increment to send now: everything unclaimed once it reaches half the target
   * window, else 0.
   */
  consumed(n: number): number {
    this.unclaimedOctets += n;
    if (this.unclaimedOctets < this.targetSize / 2) return 0;
    return this.claim();
  }

  /**
   * Our SETTINGS_INITIAL_WINDOW_SIZE changed by `delta` (once the peer ACKed it): the stream
   * window and target move by it; the window may go negative. False (no change) on overflow.
   */
  applyInitialWindowDelta(delta: number): boolean {
    if (this.size + delta > MAX_WINDOW_SIZE || this.targetSize + delta > MAX_WINDOW_SIZE) return false;
    this.size += delta;
    this.targetSize += delta;
    return true;
  }

  /**
   * Grows the target window (e.g. the connection window, which only WINDOW_UPDATE can enlarge,
   * §6.9.2). Returns the increment to send now (including unclaimed credit), or 0 if `size` is
   * not larger than the current target. Capped at 2^31-1.
   */
  raiseTarget(size: number): number {
    const capped = Math.min(size, MAX_WINDOW_SIZE);
    if (capped <= this.targetSize) return 0;
    this.unclaimedOctets += capped - this.targetSize;
    this.targetSize = capped;
    return this.claim();
  }

  private claim(): number {
    let n = this.unclaimedOctets;
    if (this.size + n > MAX_WINDOW_SIZE) n = MAX_WINDOW_SIZE - this.size;
    this.unclaimedOctets -= n;
    this.size += n;
    return n;
  }
}
