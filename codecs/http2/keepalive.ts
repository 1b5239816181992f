/**
 * HTTP/2 connection keepalive (Envoy's `http2_protocol_options.connection_keepalive`, the
 * keepalive half of Http2::ConnectionImpl): a PING every `interval` (plus a random jitter of up
 * to `interval_jitter` percent of it); when its ACK does not come within `timeout` the connection
 * is closed. Any frame received extends the wait (the ACK may be queued behind other frames: HOL
 * blocking), an ACK schedules the next PING. On the client side `connection_idle_interval` sends a
 * PING ahead of a new stream on a connection that received nothing for that long, so a dead
 * connection is found before a request is lost on it. Timers are the dispatcher's.
 */
import type { Dispatcher, Timer } from '../../src/api/dispatcher.js';
import type { Http2KeepaliveOptions } from '../codec-options.js';

export interface KeepaliveHooks {
  /** Submit a PING with this opaque data (the current time, as Envoy does, for debugging). */
  sendPing(opaque: Buffer): void;
  /** No ACK in time: count `keepalive_timeout` and close the connection without flushing. */
  onTimeout(): void;
}

export class Http2Keepalive {
  private readonly sendTimer: Timer | undefined;
  private readonly timeoutTimer: Timer;
  private lastReceivedMs: number;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly options: Http2KeepaliveOptions,
    private readonly hooks: KeepaliveHooks,
    private readonly random: () => number = Math.random,
  ) {
    this.timeoutTimer = dispatcher.createTimer(() => hooks.onTimeout());
    if (options.intervalMs > 0) this.sendTimer = dispatcher.createTimer(() => this.sendPing());
    this.lastReceivedMs = dispatcher.approximateMonotonicTime();
    // Schedules the first PING, with jitter.
    this.onPingAck();
  }

  /** Bytes arrived (before they are processed). */
  onDataReceived(): void {
    this.lastReceivedMs = this.dispatcher.approximateMonotonicTime();
  }

  /** A frame other than a PING ACK was received: the peer is alive, wait longer for the ACK. */
  onFrameReceived(): void {
    if (this.timeoutTimer.enabled()) this.timeoutTimer.enableTimer(this.options.timeoutMs);
  }

  /** A PING ACK was received (any: Envoy does not match the opaque data either). */
  onPingAck(): void {
    this.timeoutTimer.disableTimer();
    if (this.sendTimer === undefined) return;
    let interval = this.options.intervalMs;
    const jitterRange = Math.floor((this.options.intervalJitterPercent * interval) / 100);
    if (jitterRange > 0) interval += Math.floor(this.random() * jitterRange);
    this.sendTimer.enableTimer(interval);
  }

  /** Client side, before a new stream: PING first when the connection was idle too long. */
  beforeNewStream(): void {
    const idle = this.options.connectionIdleIntervalMs;
    if (idle > 0 && this.dispatcher.approximateMonotonicTime() - this.lastReceivedMs > idle) this.sendPing();
  }

  /** Sends a PING unless one is outstanding, and starts waiting for its ACK. */
  sendPing(): void {
    if (this.timeoutTimer.enabled()) return;
    const opaque = Buffer.allocUnsafe(8);
    opaque.writeDoubleBE(this.dispatcher.systemTime());
    this.hooks.sendPing(opaque);
    this.timeoutTimer.enableTimer(this.options.timeoutMs);
  }

  /** An ACK is awaited. */
  awaitingAck(): boolean {
    return this.timeoutTimer.enabled();
  }

  disable(): void {
    this.sendTimer?.disableTimer();
    this.timeoutTimer.disableTimer();
  }
}
