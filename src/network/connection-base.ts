import type { Dispatcher } from '../api/dispatcher.js';
import type { Logger } from '../api/logger.js';
import type { ConnectionCallbacks, ConnectionEvent, ConnectionState } from '../api/network.js';
import type { ConnectionStatsCounters } from './connection-options.js';

let nextConnectionId = 0;

/**
 * Envoy's ConnectionImplBase: the parts of a connection that do not touch the socket. Its id, its
 * dispatcher, the local close reason, and the callbacks list with event and watermark delivery.
 * Callbacks may be removed while an event is being delivered: their slot is emptied and skipped,
 * and the list is compacted once delivery ends.
 */
export abstract class ConnectionImplBase {
  readonly id = nextConnectionId++;
  protected readonly disp: Dispatcher;
  protected readonly logger: Logger | undefined;
  protected localReason = '';
  protected counters: ConnectionStatsCounters | undefined;
  private lastRxBuffered = 0;
  private lastTxBuffered = 0;
  private callbacks: Array<ConnectionCallbacks | undefined> = [];
  private callbackDepth = 0;
  private callbacksRemoved = false;

  constructor(dispatcher: Dispatcher, logger: Logger | undefined) {
    this.disp = dispatcher;
    this.logger = logger;
  }

  abstract state(): ConnectionState;
  /** Bytes waiting to be written: ours plus the transport's. */
  abstract bufferedWriteBytes(): number;
  protected abstract readBufferedBytes(): number;

  dispatcher(): Dispatcher {
    return this.disp;
  }

  addConnectionCallbacks(cb: ConnectionCallbacks): void {
    this.callbacks.push(cb);
  }

  removeConnectionCallbacks(cb: ConnectionCallbacks): void {
    const i = this.callbacks.indexOf(cb);
    if (i < 0) return;
    if (this.callbackDepth > 0) {
      this.callbacks[i] = undefined;
      this.callbacksRemoved = true;
    } else {
      this.callbacks.splice(i, 1);
    }
  }

  localCloseReason(): string {
    return this.localReason;
  }

  /** Attaches (or with undefined detaches) counters bumped by this connection's I/O. */
  setStatsCounters(counters: ConnectionStatsCounters | undefined): void {
    this.zeroBufferedGauges();
    this.counters = counters;
    if (counters !== undefined) this.updateBufferedGauges();
  }

  /** Moves the buffered-bytes gauges by what changed since the last update. */
  protected updateBufferedGauges(): void {
    const c = this.counters!;
    const rx = this.readBufferedBytes();
    if (rx !== this.lastRxBuffered) {
      c.rxBuffered?.inc(rx - this.lastRxBuffered);
      this.lastRxBuffered = rx;
    }
    const tx = this.bufferedWriteBytes();
    if (tx !== this.lastTxBuffered) {
      c.txBuffered?.inc(tx - this.lastTxBuffered);
      this.lastTxBuffered = tx;
    }
  }

  /** Takes this connection's share back out of the buffered gauges (close, detach). */
  protected zeroBufferedGauges(): void {
    if (this.counters !== undefined) {
      this.counters.rxBuffered?.dec(this.lastRxBuffered);
      this.counters.txBuffered?.dec(this.lastTxBuffered);
    }
    this.lastRxBuffered = 0;
    this.lastTxBuffered = 0;
  }

  /**
   * Delivers an event to every callback, even if one throws (a listener's or pool's accounting
   * depends on hearing the close); the first error is rethrown afterwards. A 'Connected' handler
   * that closes the connection ends the delivery of 'Connected'.
   */
  protected raiseConnectionEvent(event: ConnectionEvent): void {
    this.callbackDepth++;
    let firstError: unknown;
    let failed = false;
    const cbs = this.callbacks;
    for (let i = 0; i < cbs.length; i++) {
      const cb = cbs[i];
      if (cb === undefined) continue;
      try {
        cb.onEvent(event);
      } catch (e) {
        if (!failed) firstError = e;
        failed = true;
      }
      if (event === 'Connected' && this.state() === 'Closed') break;
    }
    this.endCallbackIteration();
    if (failed) throw firstError;
  }

  /** Above/below write-buffer watermark delivery; stops if a callback closes the connection. */
  protected raiseWatermark(above: boolean): void {
    this.callbackDepth++;
    try {
      const cbs = this.callbacks;
      for (let i = 0; i < cbs.length && this.state() !== 'Closed'; i++) {
        const cb = cbs[i];
        if (cb === undefined) continue;
        if (above) cb.onAboveWriteBufferHighWatermark();
        else cb.onBelowWriteBufferLowWatermark();
      }
    } finally {
      this.endCallbackIteration();
    }
  }

  /** Logs an exception that must not escape to Node's loop (it would end the process). */
  protected reportError(e: unknown): void {
    if (this.logger !== undefined) this.logger.error({ err: e, connectionId: this.id }, 'exception in connection callback');
    else console.error(`sluice: connection ${this.id}: exception in callback`, e);
  }

  private endCallbackIteration(): void {
    this.callbackDepth--;
    if (this.callbackDepth === 0 && this.callbacksRemoved) {
      this.callbacksRemoved = false;
      this.callbacks = this.callbacks.filter((cb) => cb !== undefined);
    }
  }
}
