/**
 * envoy.config.cluster.v3.Cluster, the subset sluice implements: STATIC clusters with IP
 * endpoints, round-robin / least-request / random balancing, circuit breakers, per-connection
 * buffer limits and the upstream HTTP protocol options (deprecated cluster fields and the
 * `envoy.extensions.upstreams.http.v3.HttpProtocolOptions` typed extension, never both).
 */
import { z } from 'zod';
import { upstreamTransportSocketSchema, type UpstreamTlsContextConfig } from '../network/tls/tls-config.js';
import { joinPath } from './config-error.js';
import {
  commonHttpProtocolOptionsSchema,
  http1ProtocolOptionsSchema,
  http2ProtocolOptionsSchema,
  type CommonHttpProtocolOptionsConfig,
  type Http1ProtocolOptionsConfig,
  type Http2ProtocolOptionsConfig,
} from './protocol-options.js';
import {
  address,
  bool,
  checked,
  duration,
  enumOf,
  ignored,
  list,
  notSupported,
  number,
  strictObject,
  string,
  uint32,
  UINT32_MAX,
  type SocketAddress,
} from './schema-helpers.js';

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';

/** Circuit-breaker maxima of one priority (Envoy's defaults: 1024, 1024, 1024, 3, unlimited). */
export interface CircuitBreakerThresholdsConfig {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  readonly maxConnectionPools: number;
  /** Publish `circuit_breakers.<priority>.remaining_*` gauges. */
  readonly trackRemaining: boolean;
}

export const DEFAULT_CIRCUIT_BREAKER_THRESHOLDS: CircuitBreakerThresholdsConfig = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  maxConnectionPools: UINT32_MAX,
  trackRemaining: false,
};

/** One endpoint of `load_assignment`, flattened out of its locality group. */
export interface EndpointConfig {
  readonly address: SocketAddress;
  readonly hostname: string;
  /** 1 when not set. */
  readonly loadBalancingWeight: number;
}

export interface ClusterConfig {
  readonly name: string;
  /** `alt_stat_name` / `observability_name`: the name in stats instead of `name` ('' = name). */
  readonly altStatName: string;
  readonly type: 'STATIC';
  readonly connectTimeoutMs: number;
  readonly lbPolicy: LbPolicy;
  /** LEAST_REQUEST's `least_request_lb_config.choice_count` (default 2). */
  readonly leastRequestChoiceCount: number;
  /** LEAST_REQUEST's `active_request_bias.default_value` (default 1.0). */
  readonly leastRequestActiveRequestBias: number;
  /** `common_lb_config.healthy_panic_threshold.value` in percent (default 50; 0 disables panic). */
  readonly healthyPanicThresholdPercent: number;
  readonly loadAssignmentClusterName: string;
  readonly endpoints: readonly EndpointConfig[];
  readonly circuitBreakers: { readonly default: CircuitBreakerThresholdsConfig; readonly high: CircuitBreakerThresholdsConfig };
  readonly perConnectionBufferLimitBytes: number;
  /** Upstream connection idle timeout in ms (default 1 hour); 0 disables it. */
  readonly idleTimeoutMs: number;
  /** 0 means unlimited. */
  readonly maxRequestsPerConnection: number;
  /** Upstream response header count limit; undefined keeps the codec default. */
  readonly maxHeadersCount: number | undefined;
  readonly upstreamProtocol: 'http1' | 'http2';
  /** `use_downstream_protocol_config` / `protocol_selection: USE_DOWNSTREAM_PROTOCOL`. */
  readonly useDownstreamProtocol: boolean;
  readonly http1Options: Http1ProtocolOptionsConfig;
  readonly http2Options: Http2ProtocolOptionsConfig;
  /** `transport_socket` with an UpstreamTlsContext; absent for raw_buffer. */
  readonly transportSocket?: UpstreamTlsContextConfig;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS = 3_600_000;
export const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;

export const HTTP_PROTOCOL_OPTIONS_EXTENSION = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
export const HTTP_PROTOCOL_OPTIONS_TYPE_URL = `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS_EXTENSION}`;

const thresholdsSchema = strictObject({
  priority: enumOf(['DEFAULT', 'HIGH']).optional(),
  max_connections: uint32().optional(),
  max_pending_requests: uint32().optional(),
  max_requests: uint32().optional(),
  max_retries: uint32().optional(),
  max_connection_pools: uint32().optional(),
  track_remaining: bool().optional(),
  ...notSupported(['retry_budget']),
}).transform((t) => ({
  priority: t.priority ?? 'DEFAULT',
  thresholds: {
    maxConnections: t.max_connections ?? DEFAULT_CIRCUIT_BREAKER_THRESHOLDS.maxConnections,
    maxPendingRequests: t.max_pending_requests ?? DEFAULT_CIRCUIT_BREAKER_THRESHOLDS.maxPendingRequests,
    maxRequests: t.max_requests ?? DEFAULT_CIRCUIT_BREAKER_THRESHOLDS.maxRequests,
    maxRetries: t.max_retries ?? DEFAULT_CIRCUIT_BREAKER_THRESHOLDS.maxRetries,
    maxConnectionPools: t.max_connection_pools ?? DEFAULT_CIRCUIT_BREAKER_THRESHOLDS.maxConnectionPools,
    trackRemaining: t.track_remaining ?? false,
  } satisfies CircuitBreakerThresholdsConfig,
}));

const circuitBreakersSchema = strictObject({
  thresholds: list(thresholdsSchema),
  ...notSupported(['per_host_thresholds']),
}).transform((cb, ctx) => {
  let def = DEFAULT_CIRCUIT_BREAKER_THRESHOLDS;
  let high = DEFAULT_CIRCUIT_BREAKER_THRESHOLDS;
  const seen = new Set<string>();
  cb.thresholds.forEach((t, i) => {
    if (seen.has(t.priority)) {
      ctx.addIssue({ code: 'custom', path: ['thresholds', i, 'priority'], message: `duplicate thresholds for priority ${t.priority}` });
    }
    seen.add(t.priority);
    if (t.priority === 'DEFAULT') def = t.thresholds;
    else high = t.thresholds;
  });
  return { default: def, high };
});

const endpointSchema = strictObject({
  address: address({ minPort: 1 }),
  hostname: string().optional(),
  ...notSupported(['health_check_config', 'additional_addresses']),
});

const lbEndpointSchema = strictObject({
  endpoint: endpointSchema,
  load_balancing_weight: uint32(1).optional(),
  ...ignored(['metadata']),
  ...notSupported(['health_status', 'endpoint_name']),
}).transform(
  (e): EndpointConfig => ({ address: e.endpoint.address, hostname: e.endpoint.hostname ?? '', loadBalancingWeight: e.load_balancing_weight ?? 1 }),
);

const localityLbEndpointsSchema = strictObject({
  lb_endpoints: list(lbEndpointSchema),
  // Priorities other than 0 need priority-level failover, which sluice does not do yet.
  priority: checked<number>((raw) =>
    raw === 0 || raw === '0' ? { ok: true, value: 0 } : { ok: false, message: 'priorities other than 0 are not supported by sluice yet' },
  ).optional(),
  ...ignored(['locality', 'metadata', 'load_balancing_weight']),
  ...notSupported(['leds_cluster_locality_config', 'proximity']),
});

const loadAssignmentSchema = strictObject({
  cluster_name: string({ nonEmpty: true }),
  endpoints: list(localityLbEndpointsSchema),
  ...notSupported(['policy', 'named_endpoints']),
});

const explicitHttpConfigSchema = strictObject({
  http_protocol_options: http1ProtocolOptionsSchema.optional(),
  http2_protocol_options: http2ProtocolOptionsSchema.optional(),
  ...notSupported(['http3_protocol_options']),
}).superRefine((o, ctx) => {
  const n = (o.http_protocol_options ? 1 : 0) + (o.http2_protocol_options ? 1 : 0);
  if (n !== 1) ctx.addIssue({ code: 'custom', message: 'exactly one of http_protocol_options, http2_protocol_options is required' });
});

const useDownstreamSchema = strictObject({
  http_protocol_options: http1ProtocolOptionsSchema.optional(),
  http2_protocol_options: http2ProtocolOptionsSchema.optional(),
  ...notSupported(['http3_protocol_options']),
});

interface UpstreamProtocolChoice {
  readonly upstreamProtocol: 'http1' | 'http2';
  readonly useDownstreamProtocol: boolean;
  readonly http1Options: Http1ProtocolOptionsConfig;
  readonly http2Options: Http2ProtocolOptionsConfig;
  readonly common: CommonHttpProtocolOptionsConfig | undefined;
}

const httpProtocolOptionsSchema = strictObject({
  '@type': enumOf([HTTP_PROTOCOL_OPTIONS_TYPE_URL]),
  common_http_protocol_options: commonHttpProtocolOptionsSchema.optional(),
  explicit_http_config: explicitHttpConfigSchema.optional(),
  use_downstream_protocol_config: useDownstreamSchema.optional(),
  ...notSupported(['auto_config', 'upstream_http_protocol_options', 'http_filters', 'header_validation_config']),
}).transform((o, ctx): UpstreamProtocolChoice => {
  if ((o.explicit_http_config ? 1 : 0) + (o.use_downstream_protocol_config ? 1 : 0) !== 1) {
    ctx.addIssue({ code: 'custom', message: 'exactly one of explicit_http_config, use_downstream_protocol_config is required' });
    return z.NEVER;
  }
  const chosen = o.explicit_http_config ?? o.use_downstream_protocol_config;
  return {
    upstreamProtocol: o.explicit_http_config?.http2_protocol_options ? 'http2' : 'http1',
    useDownstreamProtocol: o.use_downstream_protocol_config !== undefined,
    http1Options: chosen?.http_protocol_options ?? {},
    http2Options: chosen?.http2_protocol_options ?? {},
    common: o.common_http_protocol_options,
  };
});

const typedExtensionProtocolOptionsSchema = z.record(z.string(), z.unknown()).transform((rec, ctx) => {
  let choice: UpstreamProtocolChoice | undefined;
  for (const [key, value] of Object.entries(rec)) {
    if (key !== HTTP_PROTOCOL_OPTIONS_EXTENSION) {
      ctx.addIssue({ code: 'custom', path: [key], message: `protocol options extension "${key}" is not supported by sluice yet` });
      continue;
    }
    const r = httpProtocolOptionsSchema.safeParse(value);
    if (r.success) choice = r.data;
    else for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: [key, ...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
  }
  return choice;
});

export const clusterSchema = strictObject({
  name: string({ nonEmpty: true }),
  type: enumOf(['STATIC'], ['STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST']).optional(),
  connect_timeout: duration({ positive: true }).optional(),
  lb_policy: enumOf(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'], ['RING_HASH', 'MAGLEV', 'CLUSTER_PROVIDED', 'LOAD_BALANCING_POLICY_CONFIG']).optional(),
  least_request_lb_config: strictObject({
    choice_count: uint32(2).optional(),
    // core.v3.RuntimeDouble; sluice has no runtime, so the default always applies.
    active_request_bias: strictObject({ default_value: number(0, Number.MAX_VALUE), runtime_key: string().optional() }).optional(),
    ...notSupported(['slow_start_config', 'locality_lb_config', 'selection_method']),
  }).optional(),
  common_lb_config: strictObject({
    healthy_panic_threshold: strictObject({ value: number(0, 100) }).optional(),
    ...notSupported([
      'zone_aware_lb_config',
      'locality_weighted_lb_config',
      'update_merge_window',
      'ignore_new_hosts_until_first_hc',
      'close_connections_on_host_set_change',
      'consistent_hashing_lb_config',
      'override_host_status',
    ]),
  }).optional(),
  alt_stat_name: string().optional(),
  observability_name: string().optional(),
  load_assignment: loadAssignmentSchema.optional(),
  circuit_breakers: circuitBreakersSchema.optional(),
  per_connection_buffer_limit_bytes: uint32().optional(),
  max_requests_per_connection: uint32().optional(),
  common_http_protocol_options: commonHttpProtocolOptionsSchema.optional(),
  http_protocol_options: http1ProtocolOptionsSchema.optional(),
  http2_protocol_options: http2ProtocolOptionsSchema.optional(),
  protocol_selection: enumOf(['USE_CONFIGURED_PROTOCOL', 'USE_DOWNSTREAM_PROTOCOL']).optional(),
  typed_extension_protocol_options: typedExtensionProtocolOptionsSchema.optional(),
  transport_socket: upstreamTransportSocketSchema.optional(),
  ...ignored(['metadata']),
  ...notSupported([
    'cluster_type',
    'eds_cluster_config',
    'transport_socket_matches',
    'health_checks',
    'outlier_detection',
    'dns_lookup_family',
    'dns_refresh_rate',
    'dns_failure_refresh_rate',
    'respect_dns_ttl',
    'dns_resolvers',
    'typed_dns_resolver_config',
    'upstream_connection_options',
    'upstream_bind_config',
    'lb_subset_config',
    'ring_hash_lb_config',
    'maglev_lb_config',
    'original_dst_lb_config',
    'round_robin_lb_config',
    'load_balancing_policy',
    'cleanup_interval',
    'close_connections_on_host_health_failure',
    'ignore_health_on_host_removal',
    'filters',
    'track_timeout_budgets',
    'track_cluster_stats',
    'preconnect_policy',
    'connection_pool_per_downstream_connection',
    'upstream_config',
    'wait_for_warm_on_init',
  ]),
}).transform((c, ctx): ClusterConfig => {
  const legacy =
    c.http_protocol_options !== undefined || c.http2_protocol_options !== undefined || c.common_http_protocol_options !== undefined;
  const typed = c.typed_extension_protocol_options;
  if (typed !== undefined && (legacy || c.protocol_selection !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['typed_extension_protocol_options'],
      message:
        'cannot be combined with the deprecated cluster fields http_protocol_options, http2_protocol_options, common_http_protocol_options and protocol_selection',
    });
  }
  const common = typed?.common ?? c.common_http_protocol_options;
  if (c.max_requests_per_connection !== undefined && common?.maxRequestsPerConnection !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['max_requests_per_connection'],
      message: 'only one of max_requests_per_connection and common_http_protocol_options.max_requests_per_connection may be set',
    });
  }
  if (c.alt_stat_name !== undefined && c.observability_name !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['observability_name'], message: 'only one of alt_stat_name and observability_name may be set' });
  }
  const endpoints = (c.load_assignment?.endpoints ?? []).flatMap((l) => l.lb_endpoints);
  return {
    name: c.name,
    altStatName: c.observability_name ?? c.alt_stat_name ?? '',
    type: c.type ?? 'STATIC',
    connectTimeoutMs: c.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    lbPolicy: c.lb_policy ?? 'ROUND_ROBIN',
    leastRequestChoiceCount: c.least_request_lb_config?.choice_count ?? 2,
    leastRequestActiveRequestBias: c.least_request_lb_config?.active_request_bias?.default_value ?? 1,
    healthyPanicThresholdPercent: c.common_lb_config?.healthy_panic_threshold?.value ?? 50,
    loadAssignmentClusterName: c.load_assignment?.cluster_name ?? c.name,
    endpoints,
    circuitBreakers: c.circuit_breakers ?? { default: DEFAULT_CIRCUIT_BREAKER_THRESHOLDS, high: DEFAULT_CIRCUIT_BREAKER_THRESHOLDS },
    perConnectionBufferLimitBytes: c.per_connection_buffer_limit_bytes ?? DEFAULT_BUFFER_LIMIT_BYTES,
    idleTimeoutMs: common?.idleTimeoutMs ?? DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS,
    maxRequestsPerConnection: c.max_requests_per_connection ?? common?.maxRequestsPerConnection ?? 0,
    maxHeadersCount: common?.maxHeadersCount,
    upstreamProtocol: typed?.upstreamProtocol ?? (c.http2_protocol_options !== undefined ? 'http2' : 'http1'),
    useDownstreamProtocol: typed?.useDownstreamProtocol ?? c.protocol_selection === 'USE_DOWNSTREAM_PROTOCOL',
    http1Options: typed?.http1Options ?? c.http_protocol_options ?? {},
    http2Options: typed?.http2Options ?? c.http2_protocol_options ?? {},
    ...(c.transport_socket !== undefined ? { transportSocket: c.transport_socket } : {}),
  };
});

/** The dotted path of cluster `i`. */
export function clusterPath(i: number): string {
  return joinPath('static_resources.clusters', i);
}
