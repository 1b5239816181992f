import type { Counter, Gauge, Histogram, Scope } from '../api/stats.js';
import type { ClusterInfo, ClusterStats, ResourceManager, UpstreamProtocol } from '../api/upstream.js';
import {
  DEFAULT_BUFFER_LIMIT_BYTES,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HEALTHY_PANIC_THRESHOLD,
  DEFAULT_IDLE_TIMEOUT_MS,
  type ClusterOptions,
  type LbPolicy,
} from './cluster-options.js';
import { ResourceManagerImpl } from './resource-manager.js';

/**
 * Every stat Envoy keeps per cluster that sluice updates, under `cluster.<name>.`, with Envoy's
 * names. The api's ClusterStats plus the ones only the upstream core touches.
 */
export class ClusterStatsImpl implements ClusterStats {
  readonly upstream_cx_total: Counter;
  readonly upstream_cx_active: Gauge;
  readonly upstream_cx_http1_total: Counter;
  readonly upstream_cx_http2_total: Counter;
  readonly upstream_cx_connect_fail: Counter;
  readonly upstream_cx_connect_timeout: Counter;
  readonly upstream_cx_idle_timeout: Counter;
  readonly upstream_cx_overflow: Counter;
  readonly upstream_cx_pool_overflow: Counter;
  readonly upstream_cx_destroy: Counter;
  readonly upstream_cx_destroy_local: Counter;
  readonly upstream_cx_destroy_remote: Counter;
  readonly upstream_cx_destroy_with_active_rq: Counter;
  readonly upstream_cx_destroy_local_with_active_rq: Counter;
  readonly upstream_cx_destroy_remote_with_active_rq: Counter;
  readonly upstream_cx_rx_bytes_total: Counter;
  readonly upstream_cx_tx_bytes_total: Counter;
  readonly upstream_cx_max_requests: Counter;
  readonly upstream_cx_none_healthy: Counter;
  readonly upstream_cx_protocol_error: Counter;
  readonly upstream_cx_close_notify: Counter;
  readonly upstream_cx_connect_ms: Histogram;
  readonly upstream_cx_length_ms: Histogram;
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
  readonly upstream_rq_retry_limit_exceeded: Counter;
  readonly upstream_rq_rx_reset: Counter;
  readonly upstream_rq_tx_reset: Counter;
  readonly upstream_rq_completed: Counter;
  readonly lb_healthy_panic: Counter;
  readonly membership_healthy: Gauge;
  readonly membership_total: Gauge;
  readonly membership_change: Counter;

  constructor(scope: Scope) {
    const c = (n: string): Counter => scope.counter(n);
    const g = (n: string): Gauge => scope.gauge(n);
    this.upstream_cx_total = c('upstream_cx_total');
    this.upstream_cx_active = g('upstream_cx_active');
    this.upstream_cx_http1_total = c('upstream_cx_http1_total');
    this.upstream_cx_http2_total = c('upstream_cx_http2_total');
    this.upstream_cx_connect_fail = c('upstream_cx_connect_fail');
    this.upstream_cx_connect_timeout = c('upstream_cx_connect_timeout');
    this.upstream_cx_idle_timeout = c('upstream_cx_idle_timeout');
    this.upstream_cx_overflow = c('upstream_cx_overflow');
    this.upstream_cx_pool_overflow = c('upstream_cx_pool_overflow');
    this.upstream_cx_destroy = c('upstream_cx_destroy');
    this.upstream_cx_destroy_local = c('upstream_cx_destroy_local');
    this.upstream_cx_destroy_remote = c('upstream_cx_destroy_remote');
    this.upstream_cx_destroy_with_active_rq = c('upstream_cx_destroy_with_active_rq');
    this.upstream_cx_destroy_local_with_active_rq = c('upstream_cx_destroy_local_with_active_rq');
    this.upstream_cx_destroy_remote_with_active_rq = c('upstream_cx_destroy_remote_with_active_rq');
    this.upstream_cx_rx_bytes_total = c('upstream_cx_rx_bytes_total');
    this.upstream_cx_tx_bytes_total = c('upstream_cx_tx_bytes_total');
    this.upstream_cx_max_requests = c('upstream_cx_max_requests');
    this.upstream_cx_none_healthy = c('upstream_cx_none_healthy');
    this.upstream_cx_protocol_error = c('upstream_cx_protocol_error');
    this.upstream_cx_close_notify = c('upstream_cx_close_notify');
    this.upstream_cx_connect_ms = scope.histogram('upstream_cx_connect_ms');
    this.upstream_cx_length_ms = scope.histogram('upstream_cx_length_ms');
    this.upstream_rq_total = c('upstream_rq_total');
    this.upstream_rq_active = g('upstream_rq_active');
    this.upstream_rq_pending_total = c('upstream_rq_pending_total');
    this.upstream_rq_pending_active = g('upstream_rq_pending_active');
    this.upstream_rq_pending_overflow = c('upstream_rq_pending_overflow');
    this.upstream_rq_pending_failure_eject = c('upstream_rq_pending_failure_eject');
    this.upstream_rq_cancelled = c('upstream_rq_cancelled');
    this.upstream_rq_timeout = c('upstream_rq_timeout');
    this.upstream_rq_per_try_timeout = c('upstream_rq_per_try_timeout');
    this.upstream_rq_retry = c('upstream_rq_retry');
    this.upstream_rq_retry_success = c('upstream_rq_retry_success');
    this.upstream_rq_retry_overflow = c('upstream_rq_retry_overflow');
    this.upstream_rq_retry_limit_exceeded = c('upstream_rq_retry_limit_exceeded');
    this.upstream_rq_rx_reset = c('upstream_rq_rx_reset');
    this.upstream_rq_tx_reset = c('upstream_rq_tx_reset');
    this.upstream_rq_completed = c('upstream_rq_completed');
    this.lb_healthy_panic = c('lb_healthy_panic');
    this.membership_healthy = g('membership_healthy');
    this.membership_total = g('membership_total');
    this.membership_change = c('membership_change');
  }
}

export type ResourcePriority = 'Default' | 'High';

/** Envoy's ClusterInfoImpl for a static cluster: settings resolved from ClusterOptions. */
export class ClusterInfoImpl implements ClusterInfo {
  readonly name: string;
  /** `alt_stat_name` or the name: what /clusters prints as observability_name. */
  readonly observabilityName: string;
  readonly connectTimeoutMs: number;
  readonly perConnectionBufferLimitBytes: number;
  readonly maxRequestsPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly upstreamProtocol: UpstreamProtocol;
  readonly useDownstreamProtocol: boolean;
  readonly http2Options: Readonly<Record<string, unknown>> | undefined;
  readonly lbPolicy: LbPolicy;
  /** healthy_panic_threshold as a fraction in [0, 1]. */
  readonly healthyPanicThreshold: number;
  readonly statsScope: Scope;
  readonly stats: ClusterStatsImpl;
  private readonly defaultResources: ResourceManagerImpl;
  private readonly highResources: ResourceManagerImpl;

  constructor(
    readonly options: ClusterOptions,
    rootScope: Scope,
  ) {
    this.name = options.name;
    this.observabilityName = options.altStatName ?? options.name;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.perConnectionBufferLimitBytes = options.perConnectionBufferLimitBytes ?? DEFAULT_BUFFER_LIMIT_BYTES;
    this.maxRequestsPerConnection = options.maxRequestsPerConnection ?? 0;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.upstreamProtocol = options.upstreamProtocol ?? 'http1';
    this.useDownstreamProtocol = options.useDownstreamProtocol ?? false;
    this.http2Options = options.http2Options;
    this.lbPolicy = options.lbPolicy ?? 'ROUND_ROBIN';
    const panic = options.healthyPanicThresholdPercent ?? DEFAULT_HEALTHY_PANIC_THRESHOLD;
    this.healthyPanicThreshold = Math.min(Math.max(panic, 0), 100) / 100;
    this.statsScope = rootScope.createScope(`cluster.${this.observabilityName}`);
    this.stats = new ClusterStatsImpl(this.statsScope);
    const breakers = options.circuitBreakers ?? {};
    this.defaultResources = new ResourceManagerImpl(
      breakers.default ?? {},
      this.statsScope.createScope('circuit_breakers.default'),
    );
    this.highResources = new ResourceManagerImpl(breakers.high ?? {}, this.statsScope.createScope('circuit_breakers.high'));
  }

  /** The default-priority breakers (sluice routes everything at default priority). */
  resourceManager(): ResourceManager {
    return this.defaultResources;
  }

  resourceManagerFor(priority: ResourcePriority): ResourceManagerImpl {
    return priority === 'High' ? this.highResources : this.defaultResources;
  }
}
