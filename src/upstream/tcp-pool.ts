import type { BufferInstance } from '../api/buffer.js';
import type { Dispatcher } from '../api/dispatcher.js';
import type {
  ClientConnection,
  ConnectionCallbacks,
  ConnectionEvent,
  ConnectionStats,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
} from '../api/network.js';
import type { Counter, Gauge } from '../api/stats.js';
import type {
  Cancellable,
  Host,
  PoolFailureReason,
  TcpConnPool,
  TcpConnectionData,
  TcpPoolCallbacks,
  TcpUpstreamCallbacks,
} from '../api/upstream.js';
import { ActiveClient, ConnPoolBase } from './conn-pool-base.js';

/** What src/network's ConnectionImpl offers beyond the api, used when present. */
interface LiveStatsConnection {
  setStatsCounters(counters: {
    readonly rxTotal?: Counter;
    readonly txTotal?: Counter;
    readonly rxBuffered?: Gauge;
    readonly txBuffered?: Gauge;
  }): void;
}

function hasLiveStats(c: ClientConnection): c is ClientConnection & LiveStatsConnection {
  return typeof (c as Partial<LiveStatsConnection>).setStatsCounters === 'function';
}

/** Why the transport failed, when the connection can say (ConnectionImpl.transportFailureReason). */
function failureReasonOf(c: ClientConnection): string {
  const withReason = c as ClientConnection & { transportFailureReason?: () => string };
  const reason = withReason.transportFailureReason?.() ?? '';
  return reason !== '' ? reason : c.localCloseReason();
}

/**
 * One upstream TCP connection (Envoy's ActiveTcpClient). It carries one user at a time: the user
 * gets the connection through TcpConnectionData and owns it until it closes. Reads are disabled
 * from Connected until a user is attached, so bytes the upstream sends first (MySQL greetings)
 * wait in the socket rather than being lost.
 */
export class ActiveTcpClient extends ActiveClient implements ConnectionCallbacks, ReadFilter {
  readonly connection: ClientConnection;
  callbacks: TcpUpstreamCallbacks | undefined;
  /** A user holds the connection (the one stream of a TCP client). */
  inUse = false;
  /** Reads were disabled by us on Connected and not yet re-enabled. */
  readDisabledByPool = false;
  private readonly liveStats: boolean;

  constructor(private readonly pool: TcpConnPoolImpl) {
    super(pool.host.cluster.maxRequestsPerConnection, 1);
    this.connection = pool.host.createConnection();
    this.liveStats = hasLiveStats(this.connection);
    if (hasLiveStats(this.connection)) {
      const scope = pool.host.cluster.statsScope;
      this.connection.setStatsCounters({
        rxTotal: pool.host.cluster.stats.upstream_cx_rx_bytes_total,
        txTotal: pool.host.cluster.stats.upstream_cx_tx_bytes_total,
        rxBuffered: scope.gauge('upstream_cx_rx_bytes_buffered'),
        txBuffered: scope.gauge('upstream_cx_tx_bytes_buffered'),
      });
    }
    this.connection.addConnectionCallbacks(this);
    this.connection.addReadFilter(this);
  }

  connect(): void {
    this.connection.connect();
  }

  numActiveStreams(): number {
    return this.inUse ? 1 : 0;
  }

  close(): void {
    this.connection.close('NoFlush', 'tcp_pool_close');
  }

  closingWithIncompleteStream(): boolean {
    return this.inUse;
  }

  override connectionStats(): ConnectionStats | undefined {
    // With live counters the totals are already counted as bytes move.
    return this.liveStats ? undefined : this.connection.stats();
  }

  // ConnectionCallbacks

  onEvent(event: ConnectionEvent): void {
    if (event === 'Connected') {
      this.connection.readDisable(true);
      this.readDisabledByPool = true;
      this.pool.onConnectionEvent(this, event);
      return;
    }
    this.pool.onConnectionEvent(this, event, failureReasonOf(this.connection));
    if (this.inUse) {
      // The user's stream ends with the connection: release it, then tell the user.
      const cb = this.callbacks;
      this.callbacks = undefined;
      this.inUse = false;
      this.pool.onStreamClosed(this, true);
      cb?.onEvent(event);
    }
  }

  onAboveWriteBufferHighWatermark(): void {
    this.callbacks?.onAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.callbacks?.onBelowWriteBufferLowWatermark();
  }

  // ReadFilter: the client is the connection's only read filter and hands bytes to the user.

  initializeReadFilterCallbacks(_cb: ReadFilterCallbacks): void {}

  onNewConnection(): FilterStatus {
    return 'Continue';
  }

  onData(data: BufferInstance, endStream: boolean): FilterStatus {
    if (this.callbacks !== undefined) {
      this.callbacks.onUpstreamData(data, endStream);
    } else {
      // Bytes with nobody to take them (Envoy closes too): the protocol state is unknown.
      data.drain(data.length);
      this.close();
    }
    return 'StopIteration';
  }
}

/** The handle a TCP pool user gets (Envoy's TcpConnectionData). */
class TcpConnectionDataImpl implements TcpConnectionData {
  constructor(private readonly client: ActiveTcpClient) {}

  connection(): ClientConnection {
    return this.client.connection;
  }

  addUpstreamCallbacks(cb: TcpUpstreamCallbacks): void {
    this.client.callbacks = cb;
  }
}

/**
 * Envoy's Tcp::ConnPoolImpl on the shared pool base: one connection per user at a time, connect
 * timeout, circuit breakers and pending-queue semantics from ConnPoolBase. The user (tcp_proxy)
 * closes the connection when done, which ends its stream.
 */
export class TcpConnPoolImpl extends ConnPoolBase<ActiveTcpClient, TcpPoolCallbacks> implements TcpConnPool {
  constructor(host: Host, dispatcher: Dispatcher) {
    super(host, dispatcher);
  }

  newConnection(cb: TcpPoolCallbacks): Cancellable | undefined {
    return this.newStreamImpl(cb);
  }

  protected instantiateActiveClient(): ActiveTcpClient {
    return new ActiveTcpClient(this);
  }

  protected onPoolReady(client: ActiveTcpClient, cb: TcpPoolCallbacks): void {
    client.inUse = true;
    cb.onPoolReady(new TcpConnectionDataImpl(client), this.host);
    // Reads resume only once the user had its chance to add callbacks.
    if (client.readDisabledByPool) {
      client.readDisabledByPool = false;
      if (client.connection.state() !== 'Closed') client.connection.readDisable(false);
    }
  }

  protected onPoolFailure(
    host: Host | undefined,
    reason: PoolFailureReason,
    details: string,
    cb: TcpPoolCallbacks,
  ): void {
    cb.onPoolFailure(reason, details, host);
  }

  /** Pooled TCP connections are handed out at once; nothing sits idle to time out. */
  protected override idleTimeoutMs(): number {
    return 0;
  }
}
