import type { Scope } from '../api/stats.js';
import type { UpstreamProtocol } from '../api/upstream.js';
import type { ClientTransport } from '../network/connection-options.js';

/** Envoy's `lb_policy` values sluice implements. */
export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';

/** One static endpoint (`load_assignment.endpoints[].lb_endpoints[].endpoint`). */
export interface HostOptions {
  /** An IP literal (static clusters do not resolve names). */
  readonly address: string;
  readonly port: number;
  /** `load_balancing_weight`, 1..128 in Envoy; default 1. */
  readonly weight?: number;
  /** `endpoint.hostname`, shown in /clusters; default ''. */
  readonly hostname?: string;
}

/** `circuit_breakers.thresholds[]` for one priority; omitted fields take Envoy's defaults. */
export interface CircuitBreakerThresholds {
  /** Default 1024. */
  readonly maxConnections?: number;
  /** Default 1024. */
  readonly maxPendingRequests?: number;
  /** Default 1024. */
  readonly maxRequests?: number;
  /** Default 3. */
  readonly maxRetries?: number;
  /** Default unlimited. */
  readonly maxConnectionPools?: number;
  /** Publishes `circuit_breakers.<priority>.remaining_*` gauges (`track_remaining`). */
  readonly trackRemaining?: boolean;
}

export interface CircuitBreakerOptions {
  readonly default?: CircuitBreakerThresholds;
  readonly high?: CircuitBreakerThresholds;
}

/** `least_request_lb_config`. */
export interface LeastRequestOptions {
  /** Hosts sampled per pick when weights are equal; default 2 (power of two choices). */
  readonly choiceCount?: number;
  /** `active_request_bias` for weighted picks; default 1.0. */
  readonly activeRequestBias?: number;
}

/**
 * A static cluster as plain data: the config layer maps Envoy's YAML onto this, and the cluster
 * manager builds ClusterInfo, hosts and load balancers from it. Durations are milliseconds.
 */
export interface ClusterOptions {
  readonly name: string;
  /** `connect_timeout`; Envoy's default is 5s. */
  readonly connectTimeoutMs?: number;
  readonly lbPolicy?: LbPolicy;
  readonly hosts: readonly HostOptions[];
  readonly circuitBreakers?: CircuitBreakerOptions;
  /** `per_connection_buffer_limit_bytes`; default 1 MiB. */
  readonly perConnectionBufferLimitBytes?: number;
  /** `max_requests_per_connection`; 0 or absent = unlimited. */
  readonly maxRequestsPerConnection?: number;
  /** `common_http_protocol_options.idle_timeout`; Envoy's default is 1h, 0 disables. */
  readonly idleTimeoutMs?: number;
  /** `http2_protocol_options` present => 'http2'; default 'http1'. */
  readonly upstreamProtocol?: UpstreamProtocol;
  /** `use_downstream_protocol_config` present. */
  readonly useDownstreamProtocol?: boolean;
  /** The cluster's parsed `http2_protocol_options`, passed through to the HTTP/2 pool. */
  readonly http2Options?: Readonly<Record<string, unknown>>;
  /** `common_lb_config.healthy_panic_threshold` in percent; default 50, 0 disables panic mode. */
  readonly healthyPanicThresholdPercent?: number;
  readonly leastRequest?: LeastRequestOptions;
  /** Envoy's `alt_stat_name`: the name used in stats instead of `name`. */
  readonly altStatName?: string;
  /**
   * The upstream transport (`transport_socket`, e.g. TLS), made once with the cluster's stats
   * scope (`cluster.<name>.`); raw TCP when absent.
   */
  readonly createTransport?: (clusterScope: Scope) => ClientTransport;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
export const DEFAULT_HEALTHY_PANIC_THRESHOLD = 50;
