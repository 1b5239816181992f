/**
 * `envoy.filters.network.http_connection_manager` (envoy.extensions.filters.network.
 * http_connection_manager.v3.HttpConnectionManager): parsing of typed_config and the factory that
 * installs an HttpConnectionManager on each new connection.
 *
 * Envoy's defaults apply where it has them (idle_timeout 1h, stream_idle_timeout 5m,
 * drain_timeout 5s, delayed_close_timeout 1s, max_request_headers_kb 60, max_headers_count 100,
 * generate_request_id true); server_name defaults to "sluice". Fields sluice does not implement are
 * rejected by name rather than silently ignored.
 */
import { z } from 'zod';
import { parseAccessLogs, createAccessLogs, type AccessLogConfig } from '../../../src/access-log/config.js';
import type {
  ConfigValidationContext,
  FactoryContext,
  NamedHttpFilterConfigFactory,
  NamedNetworkFilterConfigFactory,
} from '../../../src/api/filter-config.js';
import type { HttpFilterFactoryCb } from '../../../src/api/http-filter.js';
import type { NetworkFilterFactoryCb } from '../../../src/api/network.js';
import { ConfigError, joinPath } from '../../../src/config/config-error.js';
import { http1ProtocolOptionsSchema, http2ProtocolOptionsSchema } from '../../../src/config/protocol-options.js';
import {
  bool,
  duration,
  enumOf,
  list,
  notSupported,
  parseWith,
  splitTypedConfig,
  strictObject,
  string,
  typedConfigObject,
  uint32,
} from '../../../src/config/schema-helpers.js';
import { parseRouteConfiguration, type RouteConfigurationSpec } from '../../../src/router/route-config-parse.js';
import { RouteTable } from '../../../src/router/route-table.js';
import { DEFAULT_HTTP1_OPTIONS, DEFAULT_HTTP2_OPTIONS } from '../../../codecs/index.js';
import { HttpConnectionManager } from './hcm.js';
import type { HcmRuntime, HcmSettings } from './hcm-config.js';
import { createHcmListenerStats, createHcmStats } from './hcm-stats.js';

export const HCM_FILTER_NAME = 'envoy.filters.network.http_connection_manager';
export const HCM_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
export const DEFAULT_DELAYED_CLOSE_TIMEOUT_MS = 1_000;
export const DEFAULT_MAX_REQUEST_HEADERS_KB = 60;
export const DEFAULT_MAX_HEADERS_COUNT = 100;
export const DEFAULT_SERVER_NAME = 'sluice';

/** One http_filters entry: resolved and parsed at load when a validation context is given. */
export interface HttpFilterEntry {
  readonly name: string;
  readonly typedConfig: unknown;
  readonly typeUrl: string | undefined;
  /** The entry's dotted path, for errors found when the factory is created. */
  readonly path: string;
  readonly resolved: { readonly factory: NamedHttpFilterConfigFactory; readonly config: unknown } | undefined;
}

/** The validated HttpConnectionManager config. */
export interface HcmConfig {
  readonly settings: HcmSettings;
  readonly routeConfig: RouteConfigurationSpec;
  readonly httpFilters: readonly HttpFilterEntry[];
  readonly accessLogs: readonly AccessLogConfig[];
}

const commonHttpProtocolOptions = strictObject({
  idle_timeout: duration().optional(),
  max_connection_duration: duration().optional(),
  max_headers_count: uint32(1).optional(),
  max_stream_duration: duration().optional(),
  headers_with_underscores_action: enumOf(['ALLOW', 'REJECT_REQUEST', 'DROP_HEADER']).optional(),
  max_requests_per_connection: uint32().optional(),
  ...notSupported(['max_response_headers_kb']),
});

const httpFilterEntry = strictObject({
  name: string({ nonEmpty: true }),
  typed_config: z.unknown().optional(),
  ...notSupported(['config_discovery', 'is_optional', 'disabled']),
});

const upgradeConfig = strictObject({
  upgrade_type: string({ nonEmpty: true }),
  enabled: bool().optional(),
  ...notSupported(['filters']),
});

const hcmSchema = typedConfigObject({
  stat_prefix: string({ nonEmpty: true }),
  codec_type: enumOf(['AUTO', 'HTTP1', 'HTTP2'], ['HTTP3']).optional(),
  route_config: z.unknown().optional(),
  http_filters: list(z.unknown()),
  access_log: z.unknown().optional(),
  use_remote_address: bool().optional(),
  xff_num_trusted_hops: uint32().optional(),
  skip_xff_append: bool().optional(),
  via: string().optional(),
  generate_request_id: bool().optional(),
  preserve_external_request_id: bool().optional(),
  server_name: string().optional(),
  server_header_transformation: enumOf(['OVERWRITE', 'APPEND_IF_ABSENT', 'PASS_THROUGH']).optional(),
  common_http_protocol_options: commonHttpProtocolOptions.optional(),
  http_protocol_options: http1ProtocolOptionsSchema.optional(),
  http2_protocol_options: http2ProtocolOptionsSchema.optional(),
  max_request_headers_kb: uint32(1, 8192).optional(),
  stream_idle_timeout: duration().optional(),
  request_timeout: duration().optional(),
  request_headers_timeout: duration().optional(),
  drain_timeout: duration().optional(),
  delayed_close_timeout: duration().optional(),
  upgrade_configs: list(upgradeConfig),
  normalize_path: bool().optional(),
  merge_slashes: bool().optional(),
  strip_matching_host_port: bool().optional(),
  strip_any_host_port: bool().optional(),
  proxy_100_continue: z.literal(false, { error: 'proxy_100_continue: true is not supported by sluice yet' }).optional(),
  ...notSupported([
    'rds',
    'scoped_routes',
    'tracing',
    'http3_protocol_options',
    'scheme_header_transformation',
    'stream_error_on_invalid_http_message',
    'access_log_flush_interval',
    'flush_access_log_on_new_request',
    'access_log_options',
    'original_ip_detection_extensions',
    'early_header_mutation_extensions',
    'internal_address_config',
    'always_set_request_id_in_response',
    'forward_client_cert_details',
    'set_current_client_cert_details',
    'represent_ipv4_remote_address_as_ipv4_mapped_ipv6',
    'local_reply_config',
    'path_with_escaped_slashes_action',
    'path_normalization_options',
    'request_id_extension',
    'strip_trailing_host_dot',
    'proxy_status_config',
    'typed_header_validation_config',
    'append_x_forwarded_port',
    'append_local_overload',
    'add_user_agent',
    'user_agent',
    'http1_safe_max_connection_duration',
  ]),
});

function parseHttpFilters(raw: readonly unknown[], path: string, ctx: ConfigValidationContext | undefined): HttpFilterEntry[] {
  const basePath = joinPath(path, 'http_filters');
  if (raw.length === 0) throw new ConfigError(basePath, 'must have at least one entry (the router, last)');
  const problems: ConfigError[] = [];
  const entries: HttpFilterEntry[] = [];
  raw.forEach((item, i) => {
    const p = joinPath(basePath, i);
    try {
      const e = parseWith(httpFilterEntry, item, p);
      const { typeUrl, body } = splitTypedConfig(e.typed_config ?? {});
      let resolved: HttpFilterEntry['resolved'];
      if (ctx !== undefined) {
        const factory = ctx.httpFilterFactory(e.name, typeUrl);
        if (factory === undefined) throw new ConfigError(joinPath(p, 'name'), `unknown HTTP filter "${e.name}"`);
        checkPosition(factory, i, raw.length, p);
        resolved = { factory, config: factory.parseConfig(body, joinPath(p, 'typed_config'), ctx) };
      }
      entries.push({ name: e.name, typedConfig: body, typeUrl, path: p, resolved });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err);
    }
  });
  if (problems.length > 0) throw ConfigError.aggregate(problems);
  return entries;
}

/** The terminal filter (the router) must be last, and only last (Envoy's validateTerminalFilters). */
function checkPosition(factory: NamedHttpFilterConfigFactory, index: number, count: number, path: string): void {
  const last = index === count - 1;
  if (factory.isTerminalFilter && !last) {
    throw new ConfigError(joinPath(path, 'name'), `terminal filter "${factory.name}" must be the last HTTP filter`);
  }
  if (!factory.isTerminalFilter && last) {
    throw new ConfigError(joinPath(path, 'name'), `the last HTTP filter must be a terminal filter such as envoy.filters.http.router, not "${factory.name}"`);
  }
}

/** Parses HttpConnectionManager typed_config found at `path`. */
export function parseHcmConfig(typedConfig: unknown, path: string, ctx?: ConfigValidationContext): HcmConfig {
  const c = parseWith(hcmSchema, typedConfig, path);
  if (c.route_config === undefined) throw new ConfigError(path, 'route_config is required (rds and scoped_routes are not supported by sluice yet)');
  if (c.strip_matching_host_port === true && c.strip_any_host_port === true) {
    throw new ConfigError(path, 'only one of strip_matching_host_port, strip_any_host_port may be set');
  }
  const routeConfig = parseRouteConfiguration(c.route_config, joinPath(path, 'route_config'), ctx);
  const httpFilters = parseHttpFilters(c.http_filters, path, ctx);
  const accessLogs = c.access_log === undefined ? [] : parseAccessLogs(c.access_log, joinPath(path, 'access_log'));
  const common = c.common_http_protocol_options ?? {};
  const maxHeadersKb = c.max_request_headers_kb ?? DEFAULT_MAX_REQUEST_HEADERS_KB;
  const maxHeadersCount = common.max_headers_count ?? DEFAULT_MAX_HEADERS_COUNT;
  const upgrades = new Map<string, boolean>();
  for (const u of c.upgrade_configs) upgrades.set(u.upgrade_type.toLowerCase(), u.enabled ?? true);
  const settings: HcmSettings = {
    statPrefix: c.stat_prefix,
    codecType: c.codec_type ?? 'AUTO',
    useRemoteAddress: c.use_remote_address ?? false,
    xffNumTrustedHops: c.xff_num_trusted_hops ?? 0,
    skipXffAppend: c.skip_xff_append ?? false,
    via: c.via ?? '',
    generateRequestId: c.generate_request_id ?? true,
    preserveExternalRequestId: c.preserve_external_request_id ?? false,
    serverName: c.server_name ?? DEFAULT_SERVER_NAME,
    serverHeaderTransformation: c.server_header_transformation ?? 'OVERWRITE',
    idleTimeoutMs: common.idle_timeout ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxConnectionDurationMs: common.max_connection_duration ?? 0,
    maxStreamDurationMs: common.max_stream_duration ?? 0,
    maxRequestsPerConnection: common.max_requests_per_connection ?? 0,
    streamIdleTimeoutMs: c.stream_idle_timeout ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS,
    requestTimeoutMs: c.request_timeout ?? 0,
    requestHeadersTimeoutMs: c.request_headers_timeout ?? 0,
    drainTimeoutMs: c.drain_timeout ?? DEFAULT_DRAIN_TIMEOUT_MS,
    delayedCloseTimeoutMs: c.delayed_close_timeout ?? DEFAULT_DELAYED_CLOSE_TIMEOUT_MS,
    headersWithUnderscoresAction: common.headers_with_underscores_action ?? 'ALLOW',
    maxRequestHeadersKb: maxHeadersKb,
    maxHeadersCount,
    upgrades,
    normalizePath: c.normalize_path ?? false,
    mergeSlashes: c.merge_slashes ?? false,
    stripPortMode: c.strip_any_host_port === true ? 'any' : c.strip_matching_host_port === true ? 'matching' : 'none',
    http1: { ...DEFAULT_HTTP1_OPTIONS, ...c.http_protocol_options, maxHeadersKb, maxHeadersCount },
    http2: { ...DEFAULT_HTTP2_OPTIONS, ...c.http2_protocol_options, maxHeadersKb, maxHeadersCount },
  };
  return { settings, routeConfig, httpFilters, accessLogs };
}

function createHttpFilterFactories(config: HcmConfig, ctx: FactoryContext): HttpFilterFactoryCb[] {
  const count = config.httpFilters.length;
  return config.httpFilters.map((entry, i) => {
    if (entry.resolved !== undefined) return entry.resolved.factory.createFilterFactory(entry.resolved.config, ctx);
    const factory = ctx.httpFilterFactory(entry.name);
    if (factory === undefined) throw new ConfigError(joinPath(entry.path, 'name'), `unknown HTTP filter "${entry.name}"`);
    if (entry.typeUrl !== undefined && !factory.typeUrls.includes(entry.typeUrl)) {
      throw new ConfigError(joinPath(joinPath(entry.path, 'typed_config'), '@type'), `type "${entry.typeUrl}" is not a config of HTTP filter "${factory.name}"`);
    }
    checkPosition(factory, i, count, entry.path);
    const parsed = factory.parseConfig(entry.typedConfig, joinPath(entry.path, 'typed_config'));
    return factory.createFilterFactory(parsed, ctx);
  });
}

/**
 * Builds what every connection of this listener's HCM shares. Its access logs are flushed when the
 * server exits (a ShutdownExit callback), so the entries of the last requests reach their files.
 */
export function createHcmRuntime(config: HcmConfig, ctx: FactoryContext): HcmRuntime {
  const prefix = `http.${config.settings.statPrefix}`;
  const filterFactories = createHttpFilterFactories(config, ctx);
  const accessLogs = createAccessLogs(config.accessLogs, {
    scope: ctx.scope,
    onError: (err) => ctx.logger.warn({ err: err.message }, 'access log write failed'),
  });
  if (accessLogs.length > 0) {
    ctx.lifecycleNotifier.registerCallback('ShutdownExit', async () => {
      await Promise.all(accessLogs.map((log) => log.flush()));
    });
  }
  return {
    settings: config.settings,
    routeConfig: new RouteTable(config.routeConfig),
    filterFactories,
    accessLogs,
    stats: createHcmStats(ctx.scope.createScope(prefix)),
    listenerStats: createHcmListenerStats(ctx.listenerScope.createScope(prefix)),
    codecScope: ctx.scope,
    drainDecision: ctx.drainDecision,
    logger: ctx.logger,
  };
}

export const hcmFactory: NamedNetworkFilterConfigFactory<HcmConfig> = {
  name: HCM_FILTER_NAME,
  typeUrls: [HCM_TYPE_URL],
  isTerminalFilter: true,
  parseConfig: parseHcmConfig,
  createFilterFactory(config: HcmConfig, ctx: FactoryContext): NetworkFilterFactoryCb {
    const runtime = createHcmRuntime(config, ctx);
    return (fm) => fm.addReadFilter(new HttpConnectionManager(runtime));
  },
};
