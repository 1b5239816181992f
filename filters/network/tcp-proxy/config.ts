/**
 * `envoy.filters.network.tcp_proxy` (envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy):
 * parsing of typed_config and the factory that installs a TcpProxyFilter on each new connection.
 *
 * Supported fields: stat_prefix, cluster | weighted_clusters, idle_timeout (default 1h, "0s"
 * disables), max_connect_attempts (default 1), max_downstream_connection_duration (>= 1ms).
 * Every other TcpProxy field is rejected by name rather than silently ignored.
 */
import { z } from 'zod';
import type { ConfigValidationContext, FactoryContext, NamedNetworkFilterConfigFactory } from '../../../src/api/filter-config.js';
import type { NetworkFilterFactoryCb } from '../../../src/api/network.js';
import { ConfigProblems, joinPath } from '../../../src/config/config-error.js';
import {
  duration,
  list,
  notSupported,
  parseWith,
  strictObject,
  string,
  typedConfigObject,
  uint32,
} from '../../../src/config/schema-helpers.js';
import { TcpProxyFilter, TcpProxySharedConfig } from './tcp-proxy.js';

export const TCP_PROXY_FILTER_NAME = 'envoy.filters.network.tcp_proxy';
export const TCP_PROXY_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** Envoy's default idle_timeout when the field is absent: one hour. */
export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

export interface WeightedClusterEntry {
  readonly name: string;
  readonly weight: number;
}

/** The validated TcpProxy config. */
export interface TcpProxyConfig {
  readonly statPrefix: string;
  /** One entry of weight 1 for `cluster`; the weighted_clusters entries otherwise. */
  readonly clusters: readonly WeightedClusterEntry[];
  /** 0 when disabled ("0s"). */
  readonly idleTimeoutMs: number;
  readonly maxConnectAttempts: number;
  /** 0 when unset (no limit). */
  readonly maxDownstreamConnectionDurationMs: number;
}

/**
 * Fields Envoy declares but marks `[#not-implemented-hide:]`: Envoy accepts and ignores them, which
 * would surprise whoever sets one, so they are rejected with a pointer to `idle_timeout`.
 */
function notImplementedByEnvoy<const K extends string>(names: readonly K[]): { [P in K]: z.ZodOptional<z.ZodNever> } {
  const shape: Record<string, z.ZodOptional<z.ZodNever>> = {};
  for (const name of names) {
    shape[name] = z.never({ error: `field "${name}" is not implemented (Envoy does not implement it either); use idle_timeout` }).optional();
  }
  return shape as { [P in K]: z.ZodOptional<z.ZodNever> };
}

const clusterWeight = strictObject({
  name: string({ nonEmpty: true }),
  weight: uint32(1),
  ...notSupported(['metadata_match']),
});

const weightedClusters = strictObject({
  clusters: list(clusterWeight, { min: 1 }),
});

const tcpProxySchema = typedConfigObject({
  stat_prefix: string({ nonEmpty: true }),
  cluster: string({ nonEmpty: true }).optional(),
  weighted_clusters: weightedClusters.optional(),
  idle_timeout: duration().optional(),
  max_connect_attempts: uint32(1).optional(),
  max_downstream_connection_duration: duration()
    .refine((ms) => ms >= 1, { message: 'duration must be at least 1ms' })
    .optional(),
  ...notImplementedByEnvoy(['downstream_idle_timeout', 'upstream_idle_timeout']),
  ...notSupported([
    'on_demand',
    'metadata_match',
    'access_log',
    'backoff_options',
    'hash_policy',
    'tunneling_config',
    'max_downstream_connection_duration_jitter_percentage',
    'access_log_flush_interval',
    'flush_access_log_on_connected',
    'access_log_options',
    'proxy_protocol_tlvs',
  ]),
}).superRefine((c, ctx) => {
  // `cluster_specifier` is a required oneof.
  const set = (c.cluster !== undefined ? 1 : 0) + (c.weighted_clusters !== undefined ? 1 : 0);
  if (set !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: `exactly one of "cluster" or "weighted_clusters" must be set, ${set === 0 ? 'got neither' : 'got both'}`,
    });
  }
});

/**
 * Validates a TcpProxy typed_config; throws a ConfigError naming `path` and the bad field. With
 * `ctx` (a whole bootstrap being loaded), `cluster` and every weighted cluster must be defined in
 * static_resources.clusters, as Envoy checks for a statically configured tcp_proxy.
 */
export function parseTcpProxyConfig(typedConfig: unknown, path: string, ctx?: ConfigValidationContext): TcpProxyConfig {
  const c = parseWith(tcpProxySchema, typedConfig, path);
  const clusters: WeightedClusterEntry[] =
    c.cluster !== undefined
      ? [{ name: c.cluster, weight: 1 }]
      : (c.weighted_clusters?.clusters ?? []).map((w) => ({ name: w.name, weight: w.weight }));
  if (ctx !== undefined) checkClustersExist(c.cluster !== undefined, clusters, path, ctx);
  return {
    statPrefix: c.stat_prefix,
    clusters,
    idleTimeoutMs: c.idle_timeout ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxConnectAttempts: c.max_connect_attempts ?? 1,
    maxDownstreamConnectionDurationMs: c.max_downstream_connection_duration ?? 0,
  };
}

/** Every unknown cluster, each at its own path (`cluster`, `weighted_clusters.clusters[i].name`). */
function checkClustersExist(single: boolean, clusters: readonly WeightedClusterEntry[], path: string, ctx: ConfigValidationContext): void {
  const problems = new ConfigProblems();
  clusters.forEach((entry, i) => {
    if (ctx.clusterExists(entry.name)) return;
    const at = single ? joinPath(path, 'cluster') : joinPath(joinPath(joinPath(joinPath(path, 'weighted_clusters'), 'clusters'), i), 'name');
    problems.add(at, `unknown cluster "${entry.name}"`);
  });
  problems.throwIfAny();
}

export const tcpProxyFactory: NamedNetworkFilterConfigFactory<TcpProxyConfig> = {
  name: TCP_PROXY_FILTER_NAME,
  typeUrls: [TCP_PROXY_TYPE_URL],
  isTerminalFilter: true,
  parseConfig: parseTcpProxyConfig,
  createFilterFactory(config: TcpProxyConfig, ctx: FactoryContext): NetworkFilterFactoryCb {
    // One shared config (stats, cluster choice) per filter chain, as Envoy's TcpProxy::Config.
    const shared = new TcpProxySharedConfig(config, ctx.scope);
    const clusterManager = ctx.clusterManager;
    return (fm) => fm.addReadFilter(new TcpProxyFilter(shared, clusterManager));
  },
};
