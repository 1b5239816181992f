/**
 * The TCP proxy read filter (Envoy's TcpProxy::Filter): one upstream TCP connection per downstream
 * connection, bytes moved both ways without copying (BufferInstance.move through Connection.write).
 *
 * Lifecycle, as in Envoy:
 * - onNewConnection: half-close on, reads disabled until an upstream exists, cluster picked (by
 *   weight), a connection asked of the cluster's TCP pool. StopIteration: this filter is terminal.
 * - onPoolReady: reads enabled, bytes flow; the idle timer starts.
 * - onPoolFailure: another attempt while fewer than max_connect_attempts were made, else the
 *   downstream is closed (NoFlush).
 * - The downstream closing remotely flushes the upstream (FlushWrite); if the upstream still holds
 *   bytes it keeps draining (`upstream_flush_total`/`upstream_flush_active`) until it closes, sends
 *   data back (then it is reset, as a kernel would) or goes idle. A local downstream close (timeouts,
 *   init failure) closes the upstream NoFlush. The upstream closing closes the downstream FlushWrite.
 * - Watermarks: the downstream write buffer above high pauses upstream reads and the upstream write
 *   buffer above high pauses downstream reads; below low resumes them.
 */
import type { BufferInstance } from '../../../src/api/buffer.js';
import type { Dispatcher, Timer } from '../../../src/api/dispatcher.js';
import type {
  ClientConnection,
  Connection,
  ConnectionCallbacks,
  ConnectionEvent,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
} from '../../../src/api/network.js';
import type { Counter, Gauge, Scope } from '../../../src/api/stats.js';
import type {
  Cancellable,
  ClusterInfo,
  ClusterManager,
  Host,
  PoolFailureReason,
  TcpConnectionData,
  TcpPoolCallbacks,
  TcpUpstreamCallbacks,
} from '../../../src/api/upstream.js';
import type { TcpProxyConfig, WeightedClusterEntry } from './config.js';

/** Envoy's TCP proxy stats, under `tcp.<stat_prefix>.`. */
export interface TcpProxyStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_no_route: Counter;
  readonly downstream_cx_rx_bytes_total: Counter;
  readonly downstream_cx_rx_bytes_buffered: Gauge;
  readonly downstream_cx_tx_bytes_total: Counter;
  readonly downstream_cx_tx_bytes_buffered: Gauge;
  readonly downstream_flow_control_paused_reading_total: Counter;
  readonly downstream_flow_control_resumed_reading_total: Counter;
  readonly idle_timeout: Counter;
  readonly max_downstream_connection_duration: Counter;
  readonly upstream_flush_total: Counter;
  readonly upstream_flush_active: Gauge;
}

function tcpProxyStats(scope: Scope): TcpProxyStats {
  return {
    downstream_cx_total: scope.counter('downstream_cx_total'),
    downstream_cx_no_route: scope.counter('downstream_cx_no_route'),
    downstream_cx_rx_bytes_total: scope.counter('downstream_cx_rx_bytes_total'),
    downstream_cx_rx_bytes_buffered: scope.gauge('downstream_cx_rx_bytes_buffered'),
    downstream_cx_tx_bytes_total: scope.counter('downstream_cx_tx_bytes_total'),
    downstream_cx_tx_bytes_buffered: scope.gauge('downstream_cx_tx_bytes_buffered'),
    downstream_flow_control_paused_reading_total: scope.counter('downstream_flow_control_paused_reading_total'),
    downstream_flow_control_resumed_reading_total: scope.counter('downstream_flow_control_resumed_reading_total'),
    idle_timeout: scope.counter('idle_timeout'),
    max_downstream_connection_duration: scope.counter('max_downstream_connection_duration'),
    upstream_flush_total: scope.counter('upstream_flush_total'),
    upstream_flush_active: scope.gauge('upstream_flush_active'),
  };
}

/**
 * The network core's ConnectionImpl counts bytes into counters a filter attaches (Envoy's
 * Connection::setConnectionStats); the api's Connection does not declare it, so it is used when
 * present and the filter counts by itself otherwise.
 */
interface ConnectionWithStatsCounters {
  setStatsCounters(counters: { readonly rxTotal?: Counter; readonly txTotal?: Counter; readonly rxBuffered?: Gauge; readonly txBuffered?: Gauge }): void;
}

function hasStatsCounters(c: Connection): c is Connection & ConnectionWithStatsCounters {
  return typeof (c as Partial<ConnectionWithStatsCounters>).setStatsCounters === 'function';
}

/**
 * What every connection of one filter chain shares (Envoy's TcpProxy::Config): the stats scope and
 * the cluster choice.
 */
export class TcpProxySharedConfig {
  readonly stats: TcpProxyStats;
  readonly statsScope: Scope;
  readonly idleTimeoutMs: number;
  readonly maxConnectAttempts: number;
  readonly maxDownstreamConnectionDurationMs: number;
  private readonly clusters: readonly WeightedClusterEntry[];
  private readonly totalWeight: number;

  /** `random` returns a number in [0, 1) (injectable so weighted choice can be tested). */
  constructor(config: TcpProxyConfig, rootScope: Scope, private readonly random: () => number = Math.random) {
    this.statsScope = rootScope.createScope(`tcp.${config.statPrefix}`);
    this.stats = tcpProxyStats(this.statsScope);
    this.idleTimeoutMs = config.idleTimeoutMs;
    this.maxConnectAttempts = config.maxConnectAttempts;
    this.maxDownstreamConnectionDurationMs = config.maxDownstreamConnectionDurationMs;
    this.clusters = config.clusters;
    this.totalWeight = config.clusters.reduce((sum, c) => sum + c.weight, 0);
  }

  /** The cluster for a new connection: with weights, cluster i with probability w_i / sum(w). */
  pickCluster(): string {
    const clusters = this.clusters;
    if (clusters.length === 1) return clusters[0]!.name;
    let selected = Math.floor(this.random() * this.totalWeight);
    for (const c of clusters) {
      if (selected < c.weight) return c.name;
      selected -= c.weight;
    }
    return clusters[clusters.length - 1]!.name;
  }
}

export class TcpProxyFilter implements ReadFilter, TcpPoolCallbacks {
  private readCallbacks: ReadFilterCallbacks | undefined;
  private downstream!: Connection;
  private dispatcher!: Dispatcher;
  private readonly stats: TcpProxyStats;
  private readonly downstreamCallbacks: ConnectionCallbacks;
  private readonly upstreamCallbacks: TcpUpstreamCallbacks;

  private upstream: ClientConnection | undefined;
  /** The cluster of the current or last attempt, for its flow-control and attempt stats. */
  private clusterInfo: ClusterInfo | undefined;
  private poolHandle: Cancellable | undefined;
  private connectAttempts = 0;
  private downstreamClosed = false;
  /** The downstream is gone and the upstream still flushes what it was sent. */
  private draining = false;
  private upstreamReadPausedByUs = false;
  private downstreamReadPausedByUs = false;
  /** The downstream connection does not count its bytes into our stats: onData/onUpstreamData do. */
  private countBytes = true;

  private idleTimer: Timer | undefined;
  /** Monotonic ms of the last byte received on either side. */
  private lastActivity = 0;
  /**
   * Bytes sent on both connections when the idle timer last ran or was armed: any later change is
   * sending progress, which counts as activity (Envoy's bytes-sent callbacks).
   */
  private txAtCheck = 0;
  private durationTimer: Timer | undefined;

  constructor(
    private readonly config: TcpProxySharedConfig,
    private readonly clusterManager: ClusterManager,
  ) {
    this.stats = config.stats;
    this.downstreamCallbacks = {
      onEvent: (event) => this.onDownstreamEvent(event),
      onAboveWriteBufferHighWatermark: () => this.readDisableUpstream(true),
      onBelowWriteBufferLowWatermark: () => this.readDisableUpstream(false),
    };
    this.upstreamCallbacks = {
      onUpstreamData: (data, endStream) => this.onUpstreamData(data, endStream),
      onEvent: (event) => this.onUpstreamEvent(event),
      onAboveWriteBufferHighWatermark: () => this.readDisableDownstream(true),
      onBelowWriteBufferLowWatermark: () => this.readDisableDownstream(false),
    };
  }

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.readCallbacks = cb;
  }

  onNewConnection(): FilterStatus {
    const conn = this.callbacks().connection();
    this.downstream = conn;
    this.dispatcher = conn.dispatcher();
    conn.addConnectionCallbacks(this.downstreamCallbacks);
    if (hasStatsCounters(conn)) {
      const st = this.stats;
      conn.setStatsCounters({
        rxTotal: st.downstream_cx_rx_bytes_total,
        txTotal: st.downstream_cx_tx_bytes_total,
        rxBuffered: st.downstream_cx_rx_bytes_buffered,
        txBuffered: st.downstream_cx_tx_bytes_buffered,
      });
      this.countBytes = false;
    }
    conn.enableHalfClose(true);
    // Nothing may be read before there is an upstream to write it to.
    conn.readDisable(true);
    this.stats.downstream_cx_total.inc();
    if (this.config.maxDownstreamConnectionDurationMs > 0) {
      this.durationTimer = this.dispatcher.createTimer(() => this.onMaxDownstreamConnectionDuration());
      this.durationTimer.enableTimer(this.config.maxDownstreamConnectionDurationMs);
    }
    this.establishUpstreamConnection();
    return 'StopIteration';
  }

  onData(data: BufferInstance, endStream: boolean): FilterStatus {
    const n = data.length;
    if (this.countBytes) this.stats.downstream_cx_rx_bytes_total.inc(n);
    const upstream = this.upstream;
    if (upstream !== undefined && !this.draining) {
      this.lastActivity = this.dispatcher.approximateMonotonicTime();
      upstream.write(data, endStream);
    } else if (n > 0) {
      // Reads are disabled until the upstream exists and the filter is gone with it: only a
      // read already in flight can land here, and it has nowhere to go.
      data.drain(n);
    }
    return 'StopIteration';
  }

  /** True while a pool request is outstanding (for tests and admin output). */
  connecting(): boolean {
    return this.poolHandle !== undefined;
  }

  /** Connect attempts made so far. */
  attempts(): number {
    return this.connectAttempts;
  }

  // TcpPoolCallbacks

  onPoolReady(conn: TcpConnectionData, host: Host): void {
    this.poolHandle = undefined;
    const upstream = conn.connection();
    if (this.downstreamClosed) {
      upstream.close('NoFlush', 'tcp_proxy_downstream_closed');
      return;
    }
    this.upstream = upstream;
    this.clusterInfo = host.cluster;
    conn.addUpstreamCallbacks(this.upstreamCallbacks);
    upstream.enableHalfClose(true);
    this.downstream.readDisable(false);
    if (this.config.idleTimeoutMs > 0) {
      this.idleTimer = this.dispatcher.createTimer(() => this.onIdleTimer());
      this.armIdleTimer(this.dispatcher.approximateMonotonicTime());
    }
    this.callbacks().continueReading();
  }

  onPoolFailure(_reason: PoolFailureReason, _details: string, _host: Host | undefined): void {
    this.poolHandle = undefined;
    if (this.downstreamClosed) return;
    // Envoy treats every failure (overflow, local or remote connect failure, timeout) as the end
    // of this attempt; the next one is refused once max_connect_attempts were made.
    this.establishUpstreamConnection();
  }

  private callbacks(): ReadFilterCallbacks {
    const cb = this.readCallbacks;
    if (cb === undefined) throw new Error('TcpProxyFilter used before initializeReadFilterCallbacks');
    return cb;
  }

  private establishUpstreamConnection(): void {
    const cluster = this.clusterManager.getThreadLocalCluster(this.config.pickCluster());
    if (cluster === undefined) {
      this.stats.downstream_cx_no_route.inc();
      this.onInitFailure('tcp_proxy_no_route');
      return;
    }
    const info = cluster.info();
    this.clusterInfo = info;
    // The pool would queue the request behind a connection that is never released.
    if (!info.resourceManager().connections.canCreate()) {
      info.stats.upstream_cx_overflow.inc();
      this.onInitFailure('tcp_proxy_upstream_overflow');
      return;
    }
    if (this.connectAttempts >= this.config.maxConnectAttempts) {
      info.statsScope.counter('upstream_cx_connect_attempts_exceeded').inc();
      this.onInitFailure('tcp_proxy_connect_attempts_exceeded');
      return;
    }
    // No healthy host: the cluster counts upstream_cx_none_healthy.
    const pool = cluster.tcpConnPool(undefined);
    if (pool === undefined) {
      this.onInitFailure('tcp_proxy_no_healthy_upstream');
      return;
    }
    this.connectAttempts++;
    // A failure reported inline re-enters this method; only a live handle is kept.
    const handle = pool.newConnection(this);
    if (handle !== undefined) this.poolHandle = handle;
  }

  private onInitFailure(details: string): void {
    if (this.downstream.state() === 'Open') this.downstream.close('NoFlush', details);
  }

  private onUpstreamData(data: BufferInstance, endStream: boolean): void {
    const n = data.length;
    if (this.draining) {
      if (n > 0) {
        // Nobody is left to read it: behave as a kernel does for data arriving on a socket its
        // application shut for reading, and reset.
        data.drain(n);
        this.upstream?.close('NoFlush', 'tcp_proxy_data_after_downstream_close');
      }
      return;
    }
    if (this.countBytes) this.stats.downstream_cx_tx_bytes_total.inc(n);
    this.lastActivity = this.dispatcher.approximateMonotonicTime();
    this.downstream.write(data, endStream);
  }

  private onUpstreamEvent(event: ConnectionEvent): void {
    if (event === 'Connected') return;
    const wasDraining = this.draining;
    this.draining = false;
    this.upstream = undefined;
    this.disableIdleTimer();
    if (wasDraining) {
      this.stats.upstream_flush_active.dec();
      return;
    }
    if (!this.downstreamClosed && this.downstream.state() === 'Open') {
      this.downstream.close('FlushWrite', event === 'RemoteClose' ? 'tcp_proxy_upstream_closed' : 'tcp_proxy_upstream_local_close');
    }
  }

  private onDownstreamEvent(event: ConnectionEvent): void {
    if (event === 'Connected' || this.downstreamClosed) return;
    this.downstreamClosed = true;
    this.durationTimer?.disableTimer();
    this.durationTimer = undefined;
    if (this.poolHandle !== undefined) {
      const handle = this.poolHandle;
      this.poolHandle = undefined;
      handle.cancel('CloseExcess');
    }
    const upstream = this.upstream;
    if (upstream === undefined) return;
    if (event === 'RemoteClose') {
      upstream.close('FlushWrite', 'tcp_proxy_downstream_closed');
      // close() may have completed inline (nothing to flush): onUpstreamEvent cleared `upstream`.
      if (this.upstream !== undefined && upstream.state() !== 'Closed') {
        this.draining = true;
        this.stats.upstream_flush_total.inc();
        this.stats.upstream_flush_active.inc();
        return;
      }
    } else {
      upstream.close('NoFlush', 'tcp_proxy_downstream_closed');
    }
    this.upstream = undefined;
    this.disableIdleTimer();
  }

  private readDisableUpstream(disable: boolean): void {
    const upstream = this.upstream;
    if (upstream === undefined || upstream.state() !== 'Open' || this.upstreamReadPausedByUs === disable) return;
    this.upstreamReadPausedByUs = disable;
    upstream.readDisable(disable);
    const scope = this.clusterInfo?.statsScope;
    if (scope === undefined) return;
    scope.counter(disable ? 'upstream_flow_control_paused_reading_total' : 'upstream_flow_control_resumed_reading_total').inc();
  }

  private readDisableDownstream(disable: boolean): void {
    // During a close both sides may still report watermarks while they flush.
    if (this.downstreamClosed || this.downstream.state() !== 'Open' || this.downstreamReadPausedByUs === disable) return;
    this.downstreamReadPausedByUs = disable;
    this.downstream.readDisable(disable);
    if (disable) this.stats.downstream_flow_control_paused_reading_total.inc();
    else this.stats.downstream_flow_control_resumed_reading_total.inc();
  }

  private onMaxDownstreamConnectionDuration(): void {
    this.durationTimer = undefined;
    this.stats.max_downstream_connection_duration.inc();
    if (this.downstream.state() === 'Open') this.downstream.close('NoFlush', 'max_downstream_connection_duration_reached');
  }

  private txBytes(): number {
    return this.downstream.stats().txBytes + (this.upstream?.stats().txBytes ?? 0);
  }

  private armIdleTimer(now: number): void {
    this.lastActivity = now;
    this.txAtCheck = this.txBytes();
    this.idleTimer?.enableTimer(this.config.idleTimeoutMs);
  }

  /**
   * The hot path only stamps `lastActivity` on received bytes; the timer re-arms itself for the
   * remainder when there was traffic, so no timer is touched per chunk.
   *
   * Bytes leaving a socket count as activity too: a slow reader draining a full buffer is not idle.
   * There is no per-write callback, so sending progress is sampled here: every run records the
   * sent-byte total, and a run that finds the receive side idle for the full timeout but the total
   * moved since the previous run starts a new period. The writes a receive causes happen before the
   * run that re-arms for the remainder, so they never count twice; a flush that completes later is
   * seen as progress at that run (up to one timeout later than Envoy would close).
   */
  private onIdleTimer(): void {
    const timer = this.idleTimer;
    if (timer === undefined) return;
    const timeout = this.config.idleTimeoutMs;
    const now = this.dispatcher.approximateMonotonicTime();
    const idleFor = now - this.lastActivity;
    const tx = this.txBytes();
    const sent = tx !== this.txAtCheck;
    this.txAtCheck = tx;
    if (idleFor < timeout) {
      timer.enableTimer(timeout - idleFor);
      return;
    }
    if (sent) {
      this.lastActivity = now;
      timer.enableTimer(timeout);
      return;
    }
    this.idleTimer = undefined;
    this.stats.idle_timeout.inc();
    if (this.draining) this.upstream?.close('NoFlush', 'tcp_proxy_idle_timeout');
    else if (this.downstream.state() === 'Open') this.downstream.close('NoFlush', 'tcp_proxy_idle_timeout');
  }

  private disableIdleTimer(): void {
    this.idleTimer?.disableTimer();
    this.idleTimer = undefined;
  }
}
