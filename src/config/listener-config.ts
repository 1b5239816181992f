/**
 * envoy.config.listener.v3.Listener, the subset sluice implements. Filters are kept raw here
 * (name, `@type`, fields, path); load.ts hands each to its registered factory.
 */
import { z } from 'zod';
import { downstreamTransportSocketSchema, type DownstreamTlsContextConfig } from '../network/tls/tls-config.js';
import { DEFAULT_BUFFER_LIMIT_BYTES } from './cluster-config.js';
import {
  address,
  bool,
  duration,
  enumOf,
  ignored,
  list,
  notSupported,
  port,
  splitTypedConfig,
  strictObject,
  string,
  uint32,
  type SocketAddress,
} from './schema-helpers.js';

/** A filter entry before its factory parsed it. `typedConfig` is the typed_config without `@type`. */
export interface RawFilterConfig {
  readonly name: string;
  readonly typeUrl: string | undefined;
  readonly typedConfig: unknown;
  /** True when the entry had a typed_config at all. */
  readonly hasTypedConfig: boolean;
}

/** What a filter chain matches on. Empty lists and an undefined port match anything. */
export interface FilterChainMatchConfig {
  readonly serverNames: readonly string[];
  readonly applicationProtocols: readonly string[];
  readonly destinationPort: number | undefined;
  readonly transportProtocol: string;
}

export interface FilterChainConfig<F> {
  readonly name: string;
  readonly match: FilterChainMatchConfig;
  readonly filters: readonly F[];
  /** `transport_socket` with a DownstreamTlsContext; absent for raw_buffer. */
  readonly transportSocket?: DownstreamTlsContextConfig;
  /** `transport_socket_connect_timeout` in ms; absent: no limit on the TLS handshake. */
  readonly transportSocketConnectTimeoutMs?: number;
}

export interface ListenerConfig<NF, LF> {
  readonly name: string;
  readonly address: SocketAddress;
  /** `stat_prefix`; '' means the stats scope is named after the address. */
  readonly statPrefix: string;
  readonly perConnectionBufferLimitBytes: number;
  readonly listenerFilters: readonly LF[];
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
  readonly filterChains: readonly FilterChainConfig<NF>[];
  readonly defaultFilterChain: FilterChainConfig<NF> | undefined;
  readonly drainType: 'DEFAULT' | 'MODIFY_ONLY';
  /** listen(2) backlog; undefined leaves Node's default. */
  readonly tcpBacklogSize: number | undefined;
}

export type RawListenerConfig = ListenerConfig<RawFilterConfig, RawFilterConfig>;

export const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

function filterEntrySchema<const K extends string>(unsupported: readonly K[]) {
  return strictObject({
    name: string({ nonEmpty: true }),
    typed_config: z.unknown().optional(),
    ...notSupported(unsupported),
  }).transform((entry, ctx): RawFilterConfig => {
    // The generic shape hides these two fields from the compiler; the schema above guarantees them.
    const f = entry as { name: string; typed_config?: unknown };
    const { typeUrl, body } = splitTypedConfig(f.typed_config);
    if (f.typed_config !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
      ctx.addIssue({ code: 'custom', path: ['typed_config'], message: 'expected an object with an "@type"' });
    }
    return { name: f.name, typeUrl, typedConfig: f.typed_config === undefined ? {} : body, hasTypedConfig: f.typed_config !== undefined };
  });
}

const filterSchema = filterEntrySchema(['config_discovery']);
const listenerFilterSchema = filterEntrySchema(['config_discovery', 'filter_disabled']);

const filterChainMatchSchema = strictObject({
  server_names: list(string({ nonEmpty: true })),
  application_protocols: list(string({ nonEmpty: true })),
  destination_port: port(1).optional(),
  transport_protocol: string().optional(),
  ...notSupported([
    'prefix_ranges',
    'address_suffix',
    'suffix_len',
    'direct_source_prefix_ranges',
    'source_type',
    'source_prefix_ranges',
    'source_ports',
  ]),
}).transform((m, ctx): FilterChainMatchConfig => {
  m.server_names.forEach((name, i) => {
    // Envoy: "partial wildcards are not supported in server_names"; only a leading `*.` label matches.
    if (name.includes('*') && !isWildcardServerName(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['server_names', i],
        message: `partial wildcard "${name}" is not supported: a wildcard must be a whole leading label, as in "*.example.com"`,
      });
    }
  });
  duplicateEntries(m.server_names.map((n) => n.toLowerCase()), 'server_names', 'server name', ctx);
  duplicateEntries(m.application_protocols, 'application_protocols', 'application protocol', ctx);
  return {
    serverNames: m.server_names,
    applicationProtocols: m.application_protocols,
    destinationPort: m.destination_port,
    transportProtocol: m.transport_protocol ?? '',
  };
});

/** `*.suffix` with no other `*` (Envoy's isWildcardServerName; a second `*` could never match). */
function isWildcardServerName(name: string): boolean {
  return name.startsWith('*.') && name.length > 2 && !name.includes('*', 1);
}

/** A value listed twice in one match list is an overlap with itself (Envoy rejects it). */
function duplicateEntries(values: readonly string[], field: string, what: string, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (seen.has(v)) ctx.addIssue({ code: 'custom', path: [field, i], message: `duplicate ${what} "${v}"` });
    seen.add(v);
  });
}

const EMPTY_MATCH: FilterChainMatchConfig = { serverNames: [], applicationProtocols: [], destinationPort: undefined, transportProtocol: '' };

const filterChainSchema = strictObject({
  name: string().optional(),
  filter_chain_match: filterChainMatchSchema.optional(),
  filters: list(filterSchema, { min: 1 }),
  ...ignored(['metadata']),
  transport_socket: downstreamTransportSocketSchema.optional(),
  transport_socket_connect_timeout: duration().optional(),
  ...notSupported(['use_proxy_proto', 'on_demand_configuration']),
}).transform(
  (c): FilterChainConfig<RawFilterConfig> => ({
    name: c.name ?? '',
    match: c.filter_chain_match ?? EMPTY_MATCH,
    filters: c.filters,
    ...(c.transport_socket !== undefined ? { transportSocket: c.transport_socket } : {}),
    ...(c.transport_socket_connect_timeout ? { transportSocketConnectTimeoutMs: c.transport_socket_connect_timeout } : {}),
  }),
);

/** The filter-chain match as a comparable key (Envoy rejects two chains with the same match). */
export function matchKey(m: FilterChainMatchConfig): string {
  return JSON.stringify([
    m.serverNames.map((n) => n.toLowerCase()).sort(),
    [...m.applicationProtocols].sort(),
    m.destinationPort ?? 0,
    m.transportProtocol,
  ]);
}

/** Two values of a list criterion meet: both unset, or both listing one value. */
function listsMeet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === 0 || b.length === 0) return a.length === b.length;
  return a.some((v) => b.includes(v));
}

/**
 * True when some connection would match both chains on every criterion, with neither more
 * specific (Envoy's filter-chain tree would put both on one leaf: "multiple filter chains with
 * overlapping matching rules are defined"). An unset criterion is a value of its own, so an unset
 * and a set one do not overlap: the set one is more specific.
 */
export function matchesOverlap(a: FilterChainMatchConfig, b: FilterChainMatchConfig): boolean {
  return (
    a.destinationPort === b.destinationPort &&
    a.transportProtocol === b.transportProtocol &&
    listsMeet(
      a.serverNames.map((n) => n.toLowerCase()),
      b.serverNames.map((n) => n.toLowerCase()),
    ) &&
    listsMeet(a.applicationProtocols, b.applicationProtocols)
  );
}

export const listenerSchema = strictObject({
  name: string().optional(),
  address: address(),
  stat_prefix: string().optional(),
  per_connection_buffer_limit_bytes: uint32().optional(),
  listener_filters: list(listenerFilterSchema),
  listener_filters_timeout: duration().optional(),
  continue_on_listener_filters_timeout: bool().optional(),
  filter_chains: list(filterChainSchema),
  default_filter_chain: filterChainSchema.optional(),
  drain_type: enumOf(['DEFAULT', 'MODIFY_ONLY']).optional(),
  tcp_backlog_size: uint32(1).optional(),
  ...ignored(['metadata', 'traffic_direction', 'enable_reuse_port']),
  ...notSupported([
    'additional_addresses',
    'filter_chain_matcher',
    'use_original_dst',
    'transparent',
    'freebind',
    'socket_options',
    'tcp_fast_open_queue_length',
    'udp_listener_config',
    'api_listener',
    'connection_balance_config',
    'reuse_port',
    'access_log',
    'bind_to_port',
    'internal_listener',
    'enable_mptcp',
    'ignore_global_conn_limit',
    'max_connections_to_accept_per_socket_event',
    'deprecated_v1',
    'listener_specifier',
  ]),
}).transform((l, ctx): Omit<RawListenerConfig, 'name'> & { name: string | undefined } => {
  if (l.filter_chains.length === 0 && l.default_filter_chain === undefined) {
    ctx.addIssue({ code: 'custom', path: ['filter_chains'], message: 'no filter chains specified' });
  }
  const seen = new Map<string, number>();
  l.filter_chains.forEach((c, i) => {
    const key = matchKey(c.match);
    const first = seen.get(key);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['filter_chains', i, 'filter_chain_match'],
        message: `same matching rules as filter_chains[${first}]`,
      });
      return;
    }
    seen.set(key, i);
    // Not identical, but listing a common value in every criterion: as ambiguous.
    const other = l.filter_chains.findIndex((o, j) => j < i && matchesOverlap(o.match, c.match));
    if (other !== -1) {
      ctx.addIssue({
        code: 'custom',
        path: ['filter_chains', i, 'filter_chain_match'],
        message: `matching rules overlap with filter_chains[${other}] (a connection could match both)`,
      });
    }
  });
  return {
    name: l.name,
    address: l.address,
    statPrefix: l.stat_prefix ?? '',
    perConnectionBufferLimitBytes: l.per_connection_buffer_limit_bytes ?? DEFAULT_BUFFER_LIMIT_BYTES,
    listenerFilters: l.listener_filters,
    listenerFiltersTimeoutMs: l.listener_filters_timeout ?? DEFAULT_LISTENER_FILTERS_TIMEOUT_MS,
    continueOnListenerFiltersTimeout: l.continue_on_listener_filters_timeout ?? false,
    filterChains: l.filter_chains,
    defaultFilterChain: l.default_filter_chain,
    drainType: l.drain_type ?? 'DEFAULT',
    tcpBacklogSize: l.tcp_backlog_size,
  };
});
