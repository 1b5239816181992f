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
}).transform(
  (m): FilterChainMatchConfig => ({
    serverNames: m.server_names,
    applicationProtocols: m.application_protocols,
    destinationPort: m.destination_port,
    transportProtocol: m.transport_protocol ?? '',
  }),
);

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
    [...m.serverNames].sort(),
    [...m.applicationProtocols].sort(),
    m.destinationPort ?? 0,
    m.transportProtocol,
  ]);
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
    } else {
      seen.set(key, i);
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
