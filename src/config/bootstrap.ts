/**
 * envoy.config.bootstrap.v3.Bootstrap, the subset sluice implements: `node`, `admin`,
 * `static_resources.{listeners, clusters}` (layered_runtime is accepted and ignored), plus the checks
 * that span several fields: unique listener and cluster names, and no two sockets on one address.
 * Filters stay raw here; load.ts parses them with their factories.
 */
import { ConfigProblems, joinPath } from './config-error.js';
import { clusterSchema, type ClusterConfig } from './cluster-config.js';
import { listenerSchema, type ListenerConfig, type RawFilterConfig } from './listener-config.js';
import { address, ignored, list, notSupported, parseWith, strictObject, string, type SocketAddress } from './schema-helpers.js';

export interface NodeConfig {
  readonly id: string;
  readonly cluster: string;
}

export interface AdminConfig {
  readonly address: SocketAddress;
  /** Deprecated in Envoy; accepted, '' when not set. */
  readonly accessLogPath: string;
}

export interface BootstrapConfig<NF = RawFilterConfig, LF = RawFilterConfig> {
  readonly node: NodeConfig;
  /** No admin listener when undefined. */
  readonly admin: AdminConfig | undefined;
  readonly listeners: readonly ListenerConfig<NF, LF>[];
  readonly clusters: readonly ClusterConfig[];
}

const nodeSchema = strictObject({
  id: string().optional(),
  cluster: string().optional(),
  ...ignored(['metadata', 'locality', 'user_agent_name', 'user_agent_version', 'user_agent_build_version', 'extensions', 'client_features']),
  ...notSupported(['dynamic_parameters', 'listening_addresses']),
});

const adminSchema = strictObject({
  address: address(),
  access_log_path: string().optional(),
  ...ignored(['profile_path']),
  ...notSupported(['access_log', 'socket_options', 'ignore_global_conn_limit']),
});

const staticResourcesSchema = strictObject({
  listeners: list(listenerSchema),
  clusters: list(clusterSchema),
  ...notSupported(['secrets']),
});

const bootstrapSchema = strictObject({
  node: nodeSchema.optional(),
  admin: adminSchema.optional(),
  static_resources: staticResourcesSchema.optional(),
  ...ignored(['layered_runtime']),
  ...notSupported([
    'dynamic_resources',
    'cluster_manager',
    'hds_config',
    'flags_path',
    'stats_sinks',
    'deferred_stat_options',
    'stats_config',
    'stats_flush_interval',
    'stats_flush_on_admin',
    'watchdog',
    'watchdogs',
    'tracing',
    'runtime',
    'overload_manager',
    'enable_dispatcher_stats',
    'header_prefix',
    'stats_server_version_override',
    'use_tcp_for_dns_lookups',
    'dns_resolution_config',
    'typed_dns_resolver_config',
    'bootstrap_extensions',
    'fatal_actions',
    'config_sources',
    'default_config_source',
    'default_socket_interface',
    'certificate_provider_instances',
    'inline_headers',
    'perf_tracing_file_path',
    'default_regex_engine',
    'xds_delegate_extension',
    'xds_config_tracker_extension',
    'listener_manager',
    'application_log_config',
    'grpc_async_client_manager_config',
    'memory_allocator_manager',
  ]),
});

function checkUniqueNames(names: readonly string[], base: string, what: string, problems: ConfigProblems): void {
  const first = new Map<string, number>();
  names.forEach((name, i) => {
    const prev = first.get(name);
    if (prev === undefined) first.set(name, i);
    else problems.add(joinPath(joinPath(base, i), 'name'), `duplicate ${what} name "${name}" (also ${base}[${prev}])`);
  });
}

/**
 * Whether two sockets can not both listen: same port, and the same address or a wildcard that
 * covers the other (`::` is dual-stack in Node, so it covers IPv4 too). Port 0 never clashes.
 */
function clashes(a: SocketAddress, b: SocketAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  if (a.address === b.address || a.address === '::' || b.address === '::') return true;
  return (a.address === '0.0.0.0' && b.family === 'IPv4') || (b.address === '0.0.0.0' && a.family === 'IPv4');
}

function checkAddressClashes(bootstrap: BootstrapConfig, problems: ConfigProblems): void {
  const taken: { address: SocketAddress; path: string }[] = [];
  const claim = (a: SocketAddress, path: string) => {
    const prev = taken.find((t) => clashes(t.address, a));
    if (prev !== undefined) problems.add(path, `address ${a.address}:${a.port} is already used by ${prev.path}`);
    else taken.push({ address: a, path });
  };
  if (bootstrap.admin !== undefined) claim(bootstrap.admin.address, 'admin.address');
  bootstrap.listeners.forEach((l, i) => claim(l.address, `static_resources.listeners[${i}].address`));
}

/**
 * Validates a bootstrap document (the parsed YAML/JSON) and returns it typed, with Envoy's
 * defaults filled in. Throws one ConfigError listing every problem found.
 */
export function parseBootstrap(raw: unknown): BootstrapConfig {
  const b = parseWith(bootstrapSchema, raw ?? {}, '');
  const listeners = (b.static_resources?.listeners ?? []).map((l, i) => ({ ...l, name: l.name ?? `listener_${i}` }));
  const bootstrap: BootstrapConfig = {
    node: { id: b.node?.id ?? '', cluster: b.node?.cluster ?? '' },
    admin: b.admin === undefined ? undefined : { address: b.admin.address, accessLogPath: b.admin.access_log_path ?? '' },
    listeners,
    clusters: b.static_resources?.clusters ?? [],
  };
  const problems = new ConfigProblems();
  checkUniqueNames(
    bootstrap.listeners.map((l) => l.name),
    'static_resources.listeners',
    'listener',
    problems,
  );
  checkUniqueNames(
    bootstrap.clusters.map((c) => c.name),
    'static_resources.clusters',
    'cluster',
    problems,
  );
  checkAddressClashes(bootstrap, problems);
  problems.throwIfAny();
  return bootstrap;
}
