/**
 * Envoy v3 RouteConfiguration (envoy.config.route.v3.RouteConfiguration) from YAML/JSON config:
 * validated field by field, errors naming the dotted path, Envoy fields sluice does not implement
 * rejected as "not supported" rather than ignored. The result is a RouteConfigurationSpec whose
 * matchers and formatters are already compiled; `RouteTable` turns it into the runtime table.
 */
import { z } from 'zod';
import type { ConfigValidationContext } from '../api/filter-config.js';
import type { RetryPolicy } from '../api/router.js';
import { ConfigError, joinPath } from '../config/config-error.js';
import {
  bool,
  checked,
  describe,
  duration,
  enumOf,
  ignored,
  list,
  notSupported,
  parseWith,
  port,
  strictObject,
  string,
  uint32,
  UINT32_MAX,
  type Check,
} from '../config/schema-helpers.js';
import type { HeaderParser } from './header-parser.js';
import type { HeaderMatcher, QueryParameterMatcher } from './route-matchers.js';
import {
  headerMatcher,
  headerMutationFields,
  headerMutationLevel,
  headerSafeString,
  oneOf,
  queryParameterMatcher,
  regexMatcher,
  regexRewrite,
  retryPolicy,
  type HeaderMutationLevel,
  type RegexRewrite,
} from './route-config-schema.js';

export type PathMatch =
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'path'; readonly value: string }
  | { readonly kind: 'safe_regex'; readonly regex: RegExp }
  | { readonly kind: 'path_separated_prefix'; readonly value: string };

export interface RouteMatchSpec {
  readonly path: PathMatch;
  /** Applies to prefix, path and path_separated_prefix (Envoy ignores it for safe_regex). */
  readonly caseSensitive: boolean;
  readonly headers: readonly HeaderMatcher[];
  readonly queryParameters: readonly QueryParameterMatcher[];
}

export interface WeightedClusterSpec {
  readonly name: string;
  readonly weight: number;
  readonly headers: HeaderMutationLevel;
  readonly hostRewriteLiteral: string | undefined;
}

export interface RouteActionSpec {
  readonly kind: 'route';
  /** Set for `cluster`; undefined for `weighted_clusters`. */
  readonly cluster: string | undefined;
  readonly weightedClusters: readonly WeightedClusterSpec[] | undefined;
  readonly prefixRewrite: string | undefined;
  readonly regexRewrite: RegexRewrite | undefined;
  readonly hostRewriteLiteral: string | undefined;
  readonly autoHostRewrite: boolean;
  /** 0 disables the route timeout. */
  readonly timeoutMs: number;
  /** undefined: not set (the HCM's stream_idle_timeout applies); 0 disables. */
  readonly idleTimeoutMs: number | undefined;
  /** The route's own policy; the virtual host's applies when undefined. */
  readonly retryPolicy: RetryPolicy | undefined;
}

export interface RedirectSpec {
  readonly kind: 'redirect';
  /** `https` for https_redirect, else scheme_redirect lowercased, else undefined (keep). */
  readonly scheme: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly pathRedirect: string | undefined;
  readonly prefixRewrite: string | undefined;
  readonly responseCode: number;
  readonly stripQuery: boolean;
}

export interface DirectResponseSpec {
  readonly kind: 'direct_response';
  readonly status: number;
  readonly body: string;
}

export interface RouteSpec {
  readonly name: string;
  readonly match: RouteMatchSpec;
  readonly action: RouteActionSpec | RedirectSpec | DirectResponseSpec;
  readonly headers: HeaderMutationLevel;
}

export interface VirtualHostSpec {
  readonly name: string;
  /** Lowercased. */
  readonly domains: readonly string[];
  readonly routes: readonly RouteSpec[];
  readonly headers: HeaderMutationLevel;
  readonly retryPolicy: RetryPolicy | undefined;
}

export interface RouteConfigurationSpec {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostSpec[];
  readonly headers: HeaderMutationLevel;
  /** Envoy's `most_specific_header_mutations_wins` (default false: the route config's win). */
  readonly mostSpecificHeaderMutationsWins: boolean;
  /** Envoy's `ignore_port_in_host_matching`: strip the port before any domain lookup. */
  readonly ignorePortInHostMatching: boolean;
}

/** Envoy's default route timeout. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
/** Envoy's default `max_direct_response_body_size_bytes`. */
export const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

const path = (opts: { kind: 'path' | 'prefix' }) =>
  checked((raw): Check<string> => {
    if (typeof raw !== 'string') return { ok: false, message: `expected a string, got ${describe(raw)}` };
    if (/[\r\n\0]/.test(raw)) return { ok: false, message: 'must not contain CR, LF or NUL characters' };
    if (opts.kind === 'path' && raw === '') return { ok: false, message: 'must not be empty' };
    return { ok: true, value: raw };
  });

const pathSeparatedPrefix = checked((raw): Check<string> => {
  if (typeof raw !== 'string') return { ok: false, message: `expected a string, got ${describe(raw)}` };
  // Envoy's PGV rule: ^[^?#]+[^?#/]$
  if (!/^[^?#\r\n\0]+[^?#/\r\n\0]$/.test(raw)) {
    return { ok: false, message: 'must be at least 2 characters, contain no "?" or "#", and not end with "/"' };
  }
  return { ok: true, value: raw };
});

const PATH_FIELDS = ['prefix', 'path', 'safe_regex', 'path_separated_prefix'] as const;

const routeMatch = strictObject({
  prefix: path({ kind: 'prefix' }).optional(),
  path: path({ kind: 'path' }).optional(),
  safe_regex: regexMatcher.optional(),
  path_separated_prefix: pathSeparatedPrefix.optional(),
  case_sensitive: bool().optional(),
  headers: list(headerMatcher),
  query_parameters: list(queryParameterMatcher),
  ...notSupported(['connect_matcher', 'path_match_policy', 'runtime_fraction', 'grpc', 'tls_context', 'dynamic_metadata', 'filter_state', 'cookies']),
})
  .superRefine(oneOf(PATH_FIELDS, { required: true }))
  .transform((v): RouteMatchSpec => {
    let p: PathMatch;
    if (v.prefix !== undefined) p = { kind: 'prefix', value: v.prefix };
    else if (v.path !== undefined) p = { kind: 'path', value: v.path };
    else if (v.safe_regex !== undefined) p = { kind: 'safe_regex', regex: v.safe_regex };
    else p = { kind: 'path_separated_prefix', value: v.path_separated_prefix! };
    return { path: p, caseSensitive: v.case_sensitive ?? true, headers: v.headers, queryParameters: v.query_parameters };
  });

const hostLiteral = headerSafeString().transform((s, ctx) => {
  if (s === '') {
    ctx.addIssue({ code: 'custom', message: 'must not be empty' });
    return z.NEVER;
  }
  return s;
});

const weightedCluster = strictObject({
  name: string({ nonEmpty: true }),
  weight: uint32(),
  host_rewrite_literal: hostLiteral.optional(),
  ...headerMutationFields,
  ...notSupported(['cluster_header', 'metadata_match', 'typed_per_filter_config']),
}).transform(
  (v): WeightedClusterSpec => ({ name: v.name, weight: v.weight, headers: headerMutationLevel(v), hostRewriteLiteral: v.host_rewrite_literal }),
);

const weightedClusters = strictObject({
  clusters: list(weightedCluster, { min: 1 }),
  total_weight: uint32(1).optional(),
  ...notSupported(['runtime_key_prefix', 'header_name', 'random_value_specifier']),
})
  .superRefine((v, ctx) => {
    const sum = v.clusters.reduce((a, c) => a + c.weight, 0);
    if (sum === 0) ctx.addIssue({ code: 'custom', message: 'the sum of the weights must be greater than 0', path: ['clusters'] });
    else if (sum > UINT32_MAX) ctx.addIssue({ code: 'custom', message: `the sum of the weights must not exceed ${UINT32_MAX}`, path: ['clusters'] });
    else if (v.total_weight !== undefined && v.total_weight !== sum) {
      ctx.addIssue({ code: 'custom', message: `is ${v.total_weight} but the weights sum to ${sum}`, path: ['total_weight'] });
    }
  })
  .transform((v) => v.clusters);

const routeAction = strictObject({
  cluster: string({ nonEmpty: true }).optional(),
  weighted_clusters: weightedClusters.optional(),
  prefix_rewrite: path({ kind: 'prefix' }).optional(),
  regex_rewrite: regexRewrite.optional(),
  host_rewrite_literal: hostLiteral.optional(),
  auto_host_rewrite: bool().optional(),
  timeout: duration().optional(),
  idle_timeout: duration().optional(),
  retry_policy: retryPolicy.optional(),
  priority: enumOf(['DEFAULT'], ['HIGH']).optional(),
  ...notSupported([
    'cluster_header',
    'cluster_specifier_plugin',
    'inline_cluster_specifier_plugin',
    'cluster_not_found_response_code',
    'metadata_match',
    'path_rewrite_policy',
    'host_rewrite_header',
    'host_rewrite_path_regex',
    'append_x_forwarded_host',
    'early_data_policy',
    'retry_policy_typed_config',
    'request_mirror_policies',
    'rate_limits',
    'include_vh_rate_limits',
    'hash_policy',
    'cors',
    'max_grpc_timeout',
    'grpc_timeout_offset',
    'upgrade_configs',
    'internal_redirect_policy',
    'internal_redirect_action',
    'max_internal_redirects',
    'hedge_policy',
    'max_stream_duration',
    'flush_timeout',
  ]),
})
  .superRefine(oneOf(['cluster', 'weighted_clusters'], { required: true }))
  .superRefine(oneOf(['prefix_rewrite', 'regex_rewrite']))
  .superRefine(oneOf(['host_rewrite_literal', 'auto_host_rewrite']))
  .transform(
    (v): RouteActionSpec => ({
      kind: 'route',
      cluster: v.cluster,
      weightedClusters: v.weighted_clusters,
      prefixRewrite: v.prefix_rewrite,
      regexRewrite: v.regex_rewrite,
      hostRewriteLiteral: v.host_rewrite_literal,
      autoHostRewrite: v.auto_host_rewrite ?? false,
      timeoutMs: v.timeout ?? DEFAULT_ROUTE_TIMEOUT_MS,
      idleTimeoutMs: v.idle_timeout,
      retryPolicy: v.retry_policy,
    }),
  );

const REDIRECT_CODES = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
} as const;
type RedirectCodeName = keyof typeof REDIRECT_CODES;

const schemeName = checked((raw): Check<string> => {
  if (typeof raw !== 'string' || !/^[A-Za-z][A-Za-z0-9+.-]*$/.test(raw)) return { ok: false, message: `expected a URI scheme, got ${describe(raw)}` };
  return { ok: true, value: raw.toLowerCase() };
});

const redirectAction = strictObject({
  https_redirect: bool().optional(),
  scheme_redirect: schemeName.optional(),
  host_redirect: hostLiteral.optional(),
  port_redirect: port(1).optional(),
  path_redirect: headerSafeString().optional(),
  prefix_rewrite: path({ kind: 'prefix' }).optional(),
  response_code: enumOf(Object.keys(REDIRECT_CODES) as RedirectCodeName[]).optional(),
  strip_query: bool().optional(),
  ...notSupported(['regex_rewrite', 'path_rewrite_policy']),
})
  .superRefine(oneOf(['https_redirect', 'scheme_redirect']))
  .superRefine(oneOf(['path_redirect', 'prefix_rewrite']))
  .transform(
    (v): RedirectSpec => ({
      kind: 'redirect',
      scheme: v.https_redirect === true ? 'https' : v.scheme_redirect,
      host: v.host_redirect,
      port: v.port_redirect,
      pathRedirect: v.path_redirect,
      prefixRewrite: v.prefix_rewrite,
      responseCode: REDIRECT_CODES[v.response_code ?? 'MOVED_PERMANENTLY'],
      stripQuery: v.strip_query ?? false,
    }),
  );

const base64 = checked((raw): Check<string> => {
  if (typeof raw !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 !== 0) {
    return { ok: false, message: `expected base64 bytes, got ${describe(raw)}` };
  }
  return { ok: true, value: Buffer.from(raw, 'base64').toString('latin1') };
});

const dataSource = strictObject({
  inline_string: z.string().optional(),
  inline_bytes: base64.optional(),
  ...notSupported(['filename', 'environment_variable', 'watched_directory']),
})
  .superRefine(oneOf(['inline_string', 'inline_bytes']))
  .transform((v) => v.inline_string ?? v.inline_bytes ?? '');

const directResponseAction = strictObject({
  status: uint32(100, 599),
  body: dataSource.optional(),
  ...notSupported(['body_format']),
}).transform((v): DirectResponseSpec => ({ kind: 'direct_response', status: v.status, body: v.body ?? '' }));

const route = strictObject({
  name: z.string().optional(),
  match: routeMatch,
  route: routeAction.optional(),
  redirect: redirectAction.optional(),
  direct_response: directResponseAction.optional(),
  ...headerMutationFields,
  ...ignored(['metadata']),
  ...notSupported([
    'filter_action',
    'non_forwarding_action',
    'decorator',
    'typed_per_filter_config',
    'tracing',
    'per_request_buffer_limit_bytes',
    'request_body_buffer_limit',
    'stat_prefix',
  ]),
})
  .superRefine(oneOf(['route', 'redirect', 'direct_response'], { required: true }))
  .transform(
    (v): RouteSpec => ({
      name: v.name ?? '',
      match: v.match,
      action: (v.route ?? v.redirect ?? v.direct_response)!,
      headers: headerMutationLevel(v),
    }),
  );

const domain = checked((raw): Check<string> => {
  if (typeof raw !== 'string' || raw === '') return { ok: false, message: `expected a domain, got ${describe(raw)}` };
  // Envoy validates domains as header values (no control characters).
  if (/[\x00-\x1f\x7f]/.test(raw)) return { ok: false, message: 'must not contain control characters' };
  return { ok: true, value: raw.toLowerCase() };
});

const virtualHost = strictObject({
  name: string({ nonEmpty: true }),
  domains: list(domain, { min: 1 }),
  routes: list(route),
  retry_policy: retryPolicy.optional(),
  ...headerMutationFields,
  ...ignored(['metadata']),
  ...notSupported([
    'require_tls',
    'virtual_clusters',
    'rate_limits',
    'cors',
    'typed_per_filter_config',
    'include_request_attempt_count',
    'include_attempt_count_in_response',
    'retry_policy_typed_config',
    'hedge_policy',
    'include_is_timeout_retry_header',
    'per_request_buffer_limit_bytes',
    'request_body_buffer_limit',
    'request_mirror_policies',
    'matcher',
  ]),
}).transform(
  (v): VirtualHostSpec => ({
    name: v.name,
    domains: v.domains,
    routes: v.routes,
    headers: headerMutationLevel(v),
    retryPolicy: v.retry_policy,
  }),
);

const routeConfiguration = strictObject({
  name: z.string().optional(),
  virtual_hosts: list(virtualHost),
  most_specific_header_mutations_wins: bool().optional(),
  validate_clusters: bool().optional(),
  max_direct_response_body_size_bytes: uint32().optional(),
  ignore_port_in_host_matching: bool().optional(),
  ...headerMutationFields,
  ...ignored(['metadata']),
  ...notSupported([
    'vhds',
    'internal_only_headers',
    'cluster_specifier_plugins',
    'request_mirror_policies',
    'ignore_path_parameters_in_path_matching',
    'typed_per_filter_config',
  ]),
});

type RawRouteConfiguration = z.output<typeof routeConfiguration>;

/** Checks that span the whole table: unique domains, body sizes, cluster names. */
function validate(v: RawRouteConfiguration, basePath: string, ctx: ConfigValidationContext | undefined): void {
  const problems: { path: string; detail: string }[] = [];
  const vhostsPath = joinPath(basePath, 'virtual_hosts');
  const seen = new Map<string, string>();
  const maxBody = v.max_direct_response_body_size_bytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES;
  const checkClusters = ctx !== undefined && v.validate_clusters !== false;
  v.virtual_hosts.forEach((vh, i) => {
    const vhPath = joinPath(vhostsPath, i);
    vh.domains.forEach((d, j) => {
      const other = seen.get(d);
      if (other !== undefined) {
        problems.push({
          path: joinPath(joinPath(vhPath, 'domains'), j),
          detail: `duplicate domain "${d}" (already used by virtual host "${other}"); domains must be unique across virtual hosts`,
        });
      } else seen.set(d, vh.name);
    });
    vh.routes.forEach((r, k) => {
      const rPath = joinPath(joinPath(vhPath, 'routes'), k);
      const a = r.action;
      if (a.kind === 'direct_response' && Buffer.byteLength(a.body, 'latin1') > maxBody) {
        problems.push({
          path: joinPath(joinPath(rPath, 'direct_response'), 'body'),
          detail: `is ${Buffer.byteLength(a.body, 'latin1')} bytes, more than max_direct_response_body_size_bytes (${maxBody})`,
        });
      }
      if (a.kind === 'route' && checkClusters) {
        const actionPath = joinPath(rPath, 'route');
        if (a.cluster !== undefined && !ctx.clusterExists(a.cluster)) {
          problems.push({ path: joinPath(actionPath, 'cluster'), detail: `unknown cluster "${a.cluster}"` });
        }
        a.weightedClusters?.forEach((wc, n) => {
          if (!ctx.clusterExists(wc.name)) {
            const p = joinPath(joinPath(joinPath(joinPath(actionPath, 'weighted_clusters'), 'clusters'), n), 'name');
            problems.push({ path: p, detail: `unknown cluster "${wc.name}"` });
          }
        });
      }
    });
  });
  if (problems.length > 0) throw ConfigError.aggregate(problems);
}

/**
 * Parses a RouteConfiguration found at `path` (e.g. `...typed_config.route_config`). With `ctx`
 * (a whole bootstrap being loaded) and `validate_clusters` not false, every cluster a route names
 * must exist, as Envoy checks for statically defined route tables.
 */
export function parseRouteConfiguration(raw: unknown, path: string, ctx?: ConfigValidationContext): RouteConfigurationSpec {
  const v = parseWith(routeConfiguration, raw, path);
  validate(v, path, ctx);
  return {
    name: v.name ?? '',
    virtualHosts: v.virtual_hosts,
    headers: headerMutationLevel(v),
    mostSpecificHeaderMutationsWins: v.most_specific_header_mutations_wins ?? false,
    ignorePortInHostMatching: v.ignore_port_in_host_matching ?? false,
  };
}

export type { HeaderMutationLevel, HeaderParser, RegexRewrite };
