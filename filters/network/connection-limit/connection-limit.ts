/**
 * The connection limit read filter (Envoy's ConnectionLimitFilter): caps the connections open at
 * once through one filter-chain config. A connection over the limit is counted in
 * `limited_connections`, has its reads disabled, and is closed NoFlush, after `delay` when set
 * (slowing down a client that reconnects in a loop) or at once. `active_connections` counts every
 * connection that went through the filter, rejected ones included, until it closes, as Envoy does.
 *
 * The count is per worker (one process or thread); Envoy's is shared by its workers.
 */
import type { BufferInstance } from '../../../src/api/buffer.js';
import type { Timer } from '../../../src/api/dispatcher.js';
import type {
  ConnectionCallbacks,
  ConnectionEvent,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
} from '../../../src/api/network.js';
import type { Counter, Gauge, Scope } from '../../../src/api/stats.js';
import type { ConnectionLimitConfig } from './config.js';

/** Envoy's connection limit stats, under `connection_limit.<stat_prefix>.`. */
export interface ConnectionLimitStats {
  readonly limited_connections: Counter;
  readonly active_connections: Gauge;
}

/** The shared count of one filter-chain config (Envoy's ConnectionLimitFilter::Config). */
export class ConnectionLimitState {
  readonly stats: ConnectionLimitStats;
  readonly maxConnections: number;
  readonly delayMs: number;
  readonly enabled: boolean;
  private connections = 0;

  constructor(config: ConnectionLimitConfig, rootScope: Scope) {
    const scope = rootScope.createScope(`connection_limit.${config.statPrefix}`);
    this.stats = {
      limited_connections: scope.counter('limited_connections'),
      active_connections: scope.gauge('active_connections'),
    };
    this.maxConnections = config.maxConnections;
    this.delayMs = config.delayMs;
    this.enabled = config.enabled;
  }

  /** Takes a slot when one is free. */
  tryAcquire(): boolean {
    if (this.connections >= this.maxConnections) return false;
    this.connections++;
    return true;
  }

  /**
   * Counts a rejected connection too: Envoy balances its close (which always releases) this way,
   * so a rejected connection briefly holds a slot until it is closed.
   */
  acquire(): void {
    this.connections++;
  }

  release(): void {
    if (this.connections > 0) this.connections--;
  }

  /** Connections currently counted against the limit. */
  count(): number {
    return this.connections;
  }
}

export class ConnectionLimitFilter implements ReadFilter, ConnectionCallbacks {
  private readCallbacks: ReadFilterCallbacks | undefined;
  private rejected = false;
  private counted = false;
  private delayTimer: Timer | undefined;

  constructor(private readonly state: ConnectionLimitState) {}

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.readCallbacks = cb;
  }

  onNewConnection(): FilterStatus {
    const state = this.state;
    if (!state.enabled) return 'Continue';
    const conn = this.callbacks().connection();
    conn.addConnectionCallbacks(this);
    this.counted = true;
    state.stats.active_connections.inc();
    if (state.tryAcquire()) return 'Continue';

    state.stats.limited_connections.inc();
    this.rejected = true;
    state.acquire();
    // Nothing is read from a rejected connection while it waits out the delay.
    conn.readDisable(true);
    if (state.delayMs > 0) {
      this.delayTimer = conn.dispatcher().createTimer(() => {
        this.delayTimer = undefined;
        conn.close('NoFlush', 'over_connection_limit');
      });
      this.delayTimer.enableTimer(state.delayMs);
    } else {
      conn.close('NoFlush', 'over_connection_limit');
    }
    return 'StopIteration';
  }

  onData(_data: BufferInstance, _endStream: boolean): FilterStatus {
    return this.rejected ? 'StopIteration' : 'Continue';
  }

  // ConnectionCallbacks of the downstream connection.

  onEvent(event: ConnectionEvent): void {
    if (event === 'Connected' || !this.counted) return;
    this.counted = false;
    this.delayTimer?.disableTimer();
    this.delayTimer = undefined;
    this.state.release();
    this.state.stats.active_connections.dec();
  }

  onAboveWriteBufferHighWatermark(): void {}

  onBelowWriteBufferLowWatermark(): void {}

  private callbacks(): ReadFilterCallbacks {
    const cb = this.readCallbacks;
    if (cb === undefined) throw new Error('ConnectionLimitFilter used before initializeReadFilterCallbacks');
    return cb;
  }
}
