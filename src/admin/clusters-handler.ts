import type { ResourceManager } from '../api/upstream.js';
import type { ClusterManagerImpl, ThreadLocalClusterImpl } from '../upstream/cluster-manager.js';
import { HealthFlag, type HostImpl, type HostStats } from '../upstream/host.js';

/** Host stats in Envoy's /clusters order (counters and gauges merged, sorted by name). */
const HOST_STAT_NAMES: ReadonlyArray<keyof HostStats> = [
  'cx_active',
  'cx_connect_fail',
  'cx_total',
  'rq_active',
  'rq_error',
  'rq_success',
  'rq_timeout',
  'rq_total',
];
const HOST_GAUGES: ReadonlySet<keyof HostStats> = new Set(['cx_active', 'rq_active']);

function breakersAsText(out: string[], cluster: string, priority: string, rm: ResourceManager): void {
  out.push(`${cluster}::${priority}_priority::max_connections::${rm.connections.max()}\n`);
  out.push(`${cluster}::${priority}_priority::max_pending_requests::${rm.pendingRequests.max()}\n`);
  out.push(`${cluster}::${priority}_priority::max_requests::${rm.requests.max()}\n`);
  out.push(`${cluster}::${priority}_priority::max_retries::${rm.retries.max()}\n`);
}

function hostAsText(out: string[], cluster: string, host: HostImpl): void {
  const prefix = `${cluster}::${host.addressString}::`;
  for (const name of HOST_STAT_NAMES) out.push(`${prefix}${name}::${host.stats[name]}\n`);
  out.push(`${prefix}hostname::${host.hostname}\n`);
  out.push(`${prefix}health_flags::${host.healthFlagsString()}\n`);
  out.push(`${prefix}weight::${host.weight}\n`);
  out.push(`${prefix}region::\n`);
  out.push(`${prefix}zone::\n`);
  out.push(`${prefix}sub_zone::\n`);
  out.push(`${prefix}canary::false\n`);
  out.push(`${prefix}priority::0\n`);
  out.push(`${prefix}success_rate::-1\n`);
  out.push(`${prefix}local_origin_success_rate::-1\n`);
}

/**
 * Envoy's `/clusters` text: per cluster its observability name, the circuit-breaker maxima of both
 * priorities, `added_via_api`, then every host's stats and attributes as
 * `<cluster>::<address:port>::<name>::<value>` lines.
 */
export function clustersAsText(cm: ClusterManagerImpl): string {
  const out: string[] = [];
  for (const c of cm.allClusters()) {
    const info = c.info();
    const name = info.name;
    out.push(`${name}::observability_name::${info.observabilityName}\n`);
    breakersAsText(out, name, 'default', info.resourceManagerFor('Default'));
    breakersAsText(out, name, 'high', info.resourceManagerFor('High'));
    out.push(`${name}::added_via_api::false\n`);
    for (const h of c.hosts()) hostAsText(out, name, h);
  }
  return out.join('');
}

function breakersAsJson(rm: ResourceManager, high: boolean): Record<string, unknown> {
  return {
    ...(high ? { priority: 'HIGH' } : {}),
    max_connections: rm.connections.max(),
    max_pending_requests: rm.pendingRequests.max(),
    max_requests: rm.requests.max(),
    max_retries: rm.retries.max(),
  };
}

/** Proto3 JSON: uint64 as a string, zero values and the default enum (COUNTER) left out. */
function hostStatJson(name: keyof HostStats, value: number): Record<string, unknown> {
  return {
    name,
    ...(value !== 0 ? { value: String(value) } : {}),
    ...(HOST_GAUGES.has(name) ? { type: 'GAUGE' } : {}),
  };
}

function hostAsJson(h: HostImpl): Record<string, unknown> {
  const health: Record<string, unknown> = {};
  if (h.healthFlagGet(HealthFlag.FAILED_ACTIVE_HC)) health['failed_active_health_check'] = true;
  if (h.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) health['failed_outlier_check'] = true;
  health['eds_health_status'] = 'HEALTHY';
  if (h.healthFlagGet(HealthFlag.DEGRADED_ACTIVE_HC)) health['failed_active_degraded_check'] = true;
  if (h.healthFlagGet(HealthFlag.PENDING_ACTIVE_HC)) health['pending_active_hc'] = true;
  if (h.healthFlagGet(HealthFlag.ACTIVE_HC_TIMEOUT)) health['active_hc_timeout'] = true;
  return {
    address: { socket_address: { address: h.address.address, port_value: h.address.port } },
    stats: HOST_STAT_NAMES.map((n) => hostStatJson(n, h.stats[n])),
    health_status: health,
    weight: h.weight,
    ...(h.hostname !== '' ? { hostname: h.hostname } : {}),
    locality: {},
  };
}

function clusterAsJson(c: ThreadLocalClusterImpl): Record<string, unknown> {
  const info = c.info();
  return {
    name: info.name,
    circuit_breakers: {
      thresholds: [breakersAsJson(info.resourceManagerFor('Default'), false), breakersAsJson(info.resourceManagerFor('High'), true)],
    },
    observability_name: info.observabilityName,
    ...(c.hosts().length > 0 ? { host_statuses: c.hosts().map(hostAsJson) } : {}),
  };
}

/** Envoy's `/clusters?format=json` (admin.v3.Clusters), pretty-printed as protobuf JSON is. */
export function clustersAsJson(cm: ClusterManagerImpl): string {
  const clusters = cm.allClusters();
  const body = clusters.length > 0 ? { cluster_statuses: clusters.map(clusterAsJson) } : {};
  return JSON.stringify(body, null, 1);
}
