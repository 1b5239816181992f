import type { BufferInstance } from './buffer.js';
import type { Protocol, RequestEncoder, ResponseDecoder } from './http-codec.js';
import type { Address, ClientConnection, ConnectionEvent } from './network.js';
import type { Counter, Gauge, Scope } from './stats.js';

/** One circuit-breaker resource: a count and its maximum. */
export interface ResourceLimit {
  canCreate(): boolean;
  inc(): void;
  dec(): void;
  count(): number;
  max(): number;
}

/** Envoy's circuit breakers for one priority (defaults 1024 each; retries 3). */
export interface ResourceManager {
  readonly connections: ResourceLimit;
  readonly pendingRequests: ResourceLimit;
  readonly requests: ResourceLimit;
  readonly retries: ResourceLimit;
  readonly connectionPools: ResourceLimit;
}

/** Stats every cluster has, with Envoy's names under `cluster.<name>.`. */
export interface ClusterStats {
  readonly upstream_cx_total: Counter;
  readonly upstream_cx_active: Gauge;
  readonly upstream_cx_connect_fail: Counter;
  readonly upstream_cx_connect_timeout: Counter;
  readonly upstream_cx_overflow: Counter;
  readonly upstream_cx_destroy: Counter;
  readonly upstream_cx_destroy_local: Counter;
  readonly upstream_cx_destroy_remote: Counter;
  readonly upstream_cx_rx_bytes_total: Counter;
  readonly upstream_cx_tx_bytes_total: Counter;
  readonly upstream_cx_max_requests: Counter;
  readonly upstream_cx_none_healthy: Counter;
  readonly upstream_rq_total: Counter;
  readonly upstream_rq_active: Gauge;
  readonly upstream_rq_pending_total: Counter;
  readonly upstream_rq_pending_active: Gauge;
  readonly upstream_rq_pending_overflow: Counter;
  readonly upstream_rq_pending_failure_eject: Counter;
  readonly upstream_rq_cancelled: Counter;
  readonly upstream_rq_timeout: Counter;
  readonly upstream_rq_per_try_timeout: Counter;
  readonly upstream_rq_retry: Counter;
  readonly upstream_rq_retry_success: Counter;
  readonly upstream_rq_retry_overflow: Counter;
  readonly upstream_rq_rx_reset: Counter;
  readonly upstream_rq_tx_reset: Counter;
  readonly upstream_rq_completed: Counter;
}

export type UpstreamProtocol = 'http1' | 'http2';

/** Static facts about a cluster (Envoy's ClusterInfo). */
export interface ClusterInfo {
  readonly name: string;
  readonly connectTimeoutMs: number;
  readonly perConnectionBufferLimitBytes: number;
  /** 0 means unlimited. */
  readonly maxRequestsPerConnection: number;
  /** Idle upstream connections are closed after this many ms; 0 disables. */
  readonly idleTimeoutMs: number;
  readonly upstreamProtocol: UpstreamProtocol;
  /** Use the downstream's protocol upstream (`use_downstream_protocol_config`). */
  readonly useDownstreamProtocol: boolean;
  /** Extra options of the upstream HTTP/2 codec, as parsed from config. */
  readonly http2Options: Readonly<Record<string, unknown>> | undefined;
  readonly stats: ClusterStats;
  readonly statsScope: Scope;
  resourceManager(): ResourceManager;
}

export interface HostDescription {
  readonly address: Address;
  /** `address:port`, the form used in stats, /clusters and %UPSTREAM_HOST%. */
  readonly addressString: string;
  readonly hostname: string;
  readonly cluster: ClusterInfo;
}

export type HostHealth = 'Healthy' | 'Unhealthy';

export interface Host extends HostDescription {
  readonly weight: number;
  health(): HostHealth;
  /** In-flight requests, for LEAST_REQUEST. */
  readonly activeRequests: number;
  readonly activeConnections: number;
  onRequestStart(): void;
  onRequestEnd(): void;
  onConnectionOpen(): void;
  onConnectionClose(): void;
  /** Creates an unconnected client connection to this host with the cluster's buffer limit. */
  createConnection(): ClientConnection;
}

export interface LoadBalancerContext {
  /** A hash for consistent policies; undefined when none. */
  readonly hashKey?: number;
  /** Hosts already tried by this request (retries prefer others). */
  shouldSelectAnotherHost?(host: Host): boolean;
  readonly downstreamProtocol?: Protocol;
}

export interface LoadBalancer {
  chooseHost(ctx: LoadBalancerContext | undefined): Host | undefined;
}

export interface Cancellable {
  /** Cancels a pending pool request; CloseExcess also closes a connection made for it. */
  cancel(policy: 'Default' | 'CloseExcess'): void;
}

export type PoolFailureReason = 'Overflow' | 'LocalConnectionFailure' | 'RemoteConnectionFailure' | 'Timeout';

/** Read/events from an upstream TCP connection handed out by the TCP pool. */
export interface TcpUpstreamCallbacks {
  onUpstreamData(data: BufferInstance, endStream: boolean): void;
  onEvent(event: ConnectionEvent): void;
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

/** A connected upstream TCP connection owned by its user until release. */
export interface TcpConnectionData {
  connection(): ClientConnection;
  addUpstreamCallbacks(cb: TcpUpstreamCallbacks): void;
}

export interface TcpPoolCallbacks {
  onPoolReady(conn: TcpConnectionData, host: Host): void;
  onPoolFailure(reason: PoolFailureReason, details: string, host: Host | undefined): void;
}

export interface TcpConnPool {
  /** Returns a handle while connecting, or undefined when the callback already ran. */
  newConnection(cb: TcpPoolCallbacks): Cancellable | undefined;
  readonly host: Host;
}

export interface HttpPoolCallbacks {
  onPoolReady(encoder: RequestEncoder, host: Host, protocol: Protocol): void;
  onPoolFailure(reason: PoolFailureReason, details: string, host: Host | undefined): void;
}

export interface HttpConnPool {
  /** Returns a handle while the stream waits, or undefined when a callback already ran. */
  newStream(decoder: ResponseDecoder, cb: HttpPoolCallbacks): Cancellable | undefined;
  readonly host: Host;
  readonly protocol: UpstreamProtocol;
  /** True when it holds no connections and no pending streams. */
  isIdle(): boolean;
  /** Closes idle connections and stops new ones (drain). */
  drainConnections(): void;
  addIdleCallback(cb: () => void): void;
}

/** Makes HTTP pools; the codec layer registers one so the core needs no codec import. */
export type HttpConnPoolFactory = (host: Host, protocol: UpstreamProtocol) => HttpConnPool;

/** One cluster as a worker sees it (Envoy's ThreadLocalCluster). */
export interface ThreadLocalCluster {
  info(): ClusterInfo;
  loadBalancer(): LoadBalancer;
  hosts(): readonly Host[];
  /** A TCP pool for the host the load balancer picks; undefined when no healthy host. */
  tcpConnPool(ctx: LoadBalancerContext | undefined): TcpConnPool | undefined;
  /** An HTTP pool for the host the load balancer picks; undefined when no healthy host. */
  httpConnPool(protocol: UpstreamProtocol, ctx: LoadBalancerContext | undefined): HttpConnPool | undefined;
}

export interface ClusterManager {
  getThreadLocalCluster(name: string): ThreadLocalCluster | undefined;
  clusterNames(): readonly string[];
  /** Closes every pool's connections; resolves when all are closed. */
  shutdown(): Promise<void>;
}
