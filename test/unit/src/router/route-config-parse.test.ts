import { describe, expect, it } from 'vitest';
import type { ConfigValidationContext } from '../../../../src/api/filter-config.js';
import { ConfigError } from '../../../../src/config/config-error.js';
import { parseRouteConfiguration } from '../../../../src/router/route-config-parse.js';

const P = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config';

/** A config with one virtual host whose single route is `route`. */
function withRoute(route: Record<string, unknown>, vhost: Record<string, unknown> = {}): unknown {
  return { virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [route], ...vhost }] };
}

const fwd = (action: Record<string, unknown> = {}, match: Record<string, unknown> = { prefix: '/' }, extra: Record<string, unknown> = {}) =>
  withRoute({ match, route: { cluster: 'c', ...action }, ...extra });

function problemsOf(config: unknown, ctx?: ConfigValidationContext): { path: string; detail: string }[] {
  try {
    parseRouteConfiguration(config, P, ctx);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map((p) => ({ path: p.path, detail: p.detail }));
  }
  return [];
}

const R = `${P}.virtual_hosts[0].routes[0]`;
const V = `${P}.virtual_hosts[0]`;

describe('parseRouteConfiguration errors name the field', () => {
  it.each<[string, unknown, string, string]>([
    ['a route without an action', withRoute({ match: { prefix: '/' } }), R, 'one of "route", "redirect", "direct_response" is required'],
    [
      'two actions',
      withRoute({ match: { prefix: '/' }, route: { cluster: 'c' }, direct_response: { status: 200 } }),
      R,
      'only one of "route", "redirect", "direct_response" may be set (got route and direct_response)',
    ],
    ['a match without a path specifier', withRoute({ match: {}, route: { cluster: 'c' } }), `${R}.match`, 'one of "prefix", "path", "safe_regex", "path_separated_prefix" is required'],
    [
      'two path specifiers',
      fwd({}, { prefix: '/', path: '/x' }),
      `${R}.match`,
      'only one of "prefix", "path", "safe_regex", "path_separated_prefix" may be set (got prefix and path)',
    ],
    ['an unknown route field', withRoute({ match: { prefix: '/' }, route: { cluster: 'c' }, bogus: 1 }), R, 'unknown field "bogus"'],
    ['a not-supported route action field', fwd({ hash_policy: [] }), `${R}.route`, 'field "hash_policy" is not supported by sluice yet'],
    ['a not-supported match field', fwd({}, { prefix: '/', grpc: {} }), `${R}.match`, 'field "grpc" is not supported by sluice yet'],
    ['a not-supported virtual host field', withRoute({ match: { prefix: '/' }, route: { cluster: 'c' } }, { require_tls: 'ALL' }), V, 'field "require_tls" is not supported by sluice yet'],
    ['a not-supported route config field', { virtual_hosts: [], vhds: {} }, P, 'field "vhds" is not supported by sluice yet'],
    ['no cluster', withRoute({ match: { prefix: '/' }, route: {} }), `${R}.route`, 'one of "cluster", "weighted_clusters" is required'],
    ['an empty cluster name', fwd({ cluster: '' }), `${R}.route.cluster`, 'must not be empty'],
    ['a bad timeout', fwd({ timeout: '5' }), `${R}.route.timeout`, 'expected a duration like "0.25s"'],
    ['a negative timeout', fwd({ timeout: '-1s' }), `${R}.route.timeout`, 'duration must not be negative'],
    [
      'prefix_rewrite with regex_rewrite',
      fwd({ prefix_rewrite: '/', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } }),
      `${R}.route`,
      'only one of "prefix_rewrite", "regex_rewrite" may be set (got prefix_rewrite and regex_rewrite)',
    ],
    [
      'host_rewrite_literal with auto_host_rewrite',
      fwd({ host_rewrite_literal: 'h', auto_host_rewrite: true }),
      `${R}.route`,
      'only one of "host_rewrite_literal", "auto_host_rewrite" may be set (got host_rewrite_literal and auto_host_rewrite)',
    ],
    ['a lookahead regex', withRoute({ match: { safe_regex: { regex: 'a(?=b)' } }, route: { cluster: 'c' } }), `${R}.match.safe_regex.regex`, 'invalid regex "a(?=b)": lookaround is not supported (RE2 syntax)'],
    ['a backreference', withRoute({ match: { safe_regex: { regex: '(a)\\1' } }, route: { cluster: 'c' } }), `${R}.match.safe_regex.regex`, 'invalid regex "(a)\\\\1": backreferences are not supported (RE2 syntax)'],
    ['a malformed regex', withRoute({ match: { safe_regex: { regex: '(a' } }, route: { cluster: 'c' } }), `${R}.match.safe_regex.regex`, 'invalid regex "(a": Invalid regular expression: /^(?:(a)$/: Unterminated group'],
    ['a bad path_separated_prefix', withRoute({ match: { path_separated_prefix: '/a/' }, route: { cluster: 'c' } }), `${R}.match.path_separated_prefix`, 'must be at least 2 characters, contain no "?" or "#", and not end with "/"'],
    ['an empty path', withRoute({ match: { path: '' }, route: { cluster: 'c' } }), `${R}.match.path`, 'must not be empty'],
    [
      'a header matcher with two specifiers',
      fwd({}, { prefix: '/', headers: [{ name: 'x', exact_match: 'a', prefix_match: 'b' }] }),
      `${R}.match.headers[0]`,
      'only one of "exact_match", "safe_regex_match", "present_match", "prefix_match", "suffix_match", "contains_match", "string_match" may be set (got exact_match and prefix_match)',
    ],
    ['a header matcher range', fwd({}, { prefix: '/', headers: [{ name: 'x', range_match: { start: 1, end: 2 } }] }), `${R}.match.headers[0]`, 'field "range_match" is not supported by sluice yet'],
    ['a bad header matcher name', fwd({}, { prefix: '/', headers: [{ name: 'a b', present_match: true }] }), `${R}.match.headers[0].name`, 'invalid header name "a b"'],
    ['an empty string matcher', fwd({}, { prefix: '/', headers: [{ name: 'x', string_match: {} }] }), `${R}.match.headers[0].string_match`, 'one of "exact", "prefix", "suffix", "contains", "safe_regex" is required'],
    ['an empty prefix string matcher', fwd({}, { prefix: '/', query_parameters: [{ name: 'q', string_match: { prefix: '' } }] }), `${R}.match.query_parameters[0].string_match.prefix`, 'must not be empty'],
    ['an unknown retry condition', fwd({ retry_policy: { retry_on: '5xx,nope' } }), `${R}.route.retry_policy.retry_on`, 'unknown retry condition "nope" (expected 5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, retriable-status-codes)'],
    ['an unsupported retry condition', fwd({ retry_policy: { retry_on: 'cancelled' } }), `${R}.route.retry_policy.retry_on`, 'retry condition "cancelled" is not supported by sluice yet'],
    ['a zero base interval', fwd({ retry_policy: { retry_back_off: { base_interval: '0s' } } }), `${R}.route.retry_policy.retry_back_off.base_interval`, 'duration must be greater than 0s'],
    ['max below base', fwd({ retry_policy: { retry_back_off: { base_interval: '1s', max_interval: '0.5s' } } }), `${R}.route.retry_policy.retry_back_off.max_interval`, 'must be greater than or equal to base_interval'],
    ['a retriable status code out of range', fwd({ retry_policy: { retriable_status_codes: [99] } }), `${R}.route.retry_policy.retriable_status_codes[0]`, 'expected an integer in [100, 599], got 99'],
    ['a not-supported retry field', fwd({ retry_policy: { retry_host_predicate: [] } }), `${R}.route.retry_policy`, 'field "retry_host_predicate" is not supported by sluice yet'],
    ['zero total weight', fwd({ cluster: undefined, weighted_clusters: { clusters: [{ name: 'a', weight: 0 }] } }), `${R}.route.weighted_clusters.clusters`, 'the sum of the weights must be greater than 0'],
    ['a wrong total_weight', fwd({ cluster: undefined, weighted_clusters: { clusters: [{ name: 'a', weight: 3 }], total_weight: 4 } }), `${R}.route.weighted_clusters.total_weight`, 'is 4 but the weights sum to 3'],
    ['no weighted clusters', fwd({ cluster: undefined, weighted_clusters: { clusters: [] } }), `${R}.route.weighted_clusters.clusters`, 'must have at least one entry'],
    ['https_redirect with scheme_redirect', withRoute({ match: { prefix: '/' }, redirect: { https_redirect: true, scheme_redirect: 'http' } }), `${R}.redirect`, 'only one of "https_redirect", "scheme_redirect" may be set (got https_redirect and scheme_redirect)'],
    ['path_redirect with prefix_rewrite', withRoute({ match: { prefix: '/' }, redirect: { path_redirect: '/a', prefix_rewrite: '/b' } }), `${R}.redirect`, 'only one of "path_redirect", "prefix_rewrite" may be set (got path_redirect and prefix_rewrite)'],
    ['an unknown redirect code', withRoute({ match: { prefix: '/' }, redirect: { response_code: 'GONE' } }), `${R}.redirect.response_code`, 'expected one of MOVED_PERMANENTLY, FOUND, SEE_OTHER, TEMPORARY_REDIRECT, PERMANENT_REDIRECT, got "GONE"'],
    ['a port_redirect of 0', withRoute({ match: { prefix: '/' }, redirect: { port_redirect: 0 } }), `${R}.redirect.port_redirect`, 'expected a port number in [1, 65535], got 0'],
    ['a CRLF in path_redirect', withRoute({ match: { prefix: '/' }, redirect: { path_redirect: '/a\r\nx: y' } }), `${R}.redirect.path_redirect`, 'must not contain CR, LF or NUL characters'],
    ['a direct response status of 600', withRoute({ match: { prefix: '/' }, direct_response: { status: 600 } }), `${R}.direct_response.status`, 'expected an integer in [100, 599], got 600'],
    ['a direct response body from a file', withRoute({ match: { prefix: '/' }, direct_response: { status: 200, body: { filename: '/etc/x' } } }), `${R}.direct_response.body`, 'field "filename" is not supported by sluice yet'],
    [
      'a direct response body over the limit',
      { max_direct_response_body_size_bytes: 4, virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'hello' } } }] }] },
      `${R}.direct_response.body`,
      'is 5 bytes, more than max_direct_response_body_size_bytes (4)',
    ],
    ['an unknown formatter', fwd({}, { prefix: '/' }, { request_headers_to_add: [{ header: { key: 'x', value: 'a%NOPE%b' } }] }), `${R}.request_headers_to_add[0].header.value`, expect.stringMatching(/^%NOPE% is not a supported header formatter \(supported: DOWNSTREAM_REMOTE_ADDRESS, /) as unknown as string],
    ['an unterminated formatter', fwd({}, { prefix: '/' }, { response_headers_to_add: [{ header: { key: 'x', value: '50%' } }] }), `${R}.response_headers_to_add[0].header.value`, 'unterminated formatter at position 2 (a literal "%" is written "%%")'],
    ['START_TIME with a format', fwd({}, { prefix: '/' }, { request_headers_to_add: [{ header: { key: 'x', value: '%START_TIME(%s)%' } }] }), `${R}.request_headers_to_add[0].header.value`, expect.stringContaining('START_TIME') as unknown as string],
    ['adding :path', fwd({}, { prefix: '/' }, { request_headers_to_add: [{ header: { key: ':path', value: '/x' } }] }), `${R}.request_headers_to_add[0].header.key`, ':-prefixed or host headers may not be modified'],
    ['adding Host', withRoute({ match: { prefix: '/' }, route: { cluster: 'c' } }, { request_headers_to_add: [{ header: { key: 'Host', value: 'x' } }] }), `${V}.request_headers_to_add[0].header.key`, ':-prefixed or host headers may not be modified'],
    ['removing :authority', { request_headers_to_remove: [':authority'], virtual_hosts: [] }, `${P}.request_headers_to_remove[0]`, ':-prefixed or host headers may not be removed'],
    ['append and append_action', fwd({}, { prefix: '/' }, { request_headers_to_add: [{ header: { key: 'x', value: 'v' }, append: true, append_action: 'ADD_IF_ABSENT' }] }), `${R}.request_headers_to_add[0]`, 'both "append" and "append_action" are set; use "append_action" only'],
    ['an unknown append_action', fwd({}, { prefix: '/' }, { request_headers_to_add: [{ header: { key: 'x', value: 'v' }, append_action: 'PREPEND' }] }), `${R}.request_headers_to_add[0].append_action`, 'expected one of APPEND_IF_EXISTS_OR_ADD, ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS, got "PREPEND"'],
    ['a header value with LF', fwd({}, { prefix: '/' }, { request_headers_to_add: [{ header: { key: 'x', value: 'a\nb' } }] }), `${R}.request_headers_to_add[0].header.value`, 'must not contain CR, LF or NUL characters'],
    ['a virtual host without domains', { virtual_hosts: [{ name: 'vh', domains: [] }] }, `${V}.domains`, 'must have at least one entry'],
    ['a virtual host without a name', { virtual_hosts: [{ domains: ['*'] }] }, `${V}.name`, 'required field is missing'],
    ['a domain with a control character', { virtual_hosts: [{ name: 'vh', domains: ['a\tb'] }] }, `${V}.domains[0]`, 'must not contain control characters'],
    ['a non-object route config', 'nope', P, 'expected an object, got "nope"'],
  ])('%s', (_name, config, path, detail) => {
    expect(problemsOf(config)).toEqual([{ path, detail }]);
  });

  it('duplicate domains across virtual hosts (case-insensitive), each one reported', () => {
    const config = {
      virtual_hosts: [
        { name: 'a', domains: ['x.com', '*'] },
        { name: 'b', domains: ['X.com', 'y.com'] },
        { name: 'c', domains: ['*'] },
      ],
    };
    expect(problemsOf(config)).toEqual([
      { path: `${P}.virtual_hosts[1].domains[0]`, detail: 'duplicate domain "x.com" (already used by virtual host "a"); domains must be unique across virtual hosts' },
      { path: `${P}.virtual_hosts[2].domains[0]`, detail: 'duplicate domain "*" (already used by virtual host "a"); domains must be unique across virtual hosts' },
    ]);
  });

  it('every problem of a document is reported at once', () => {
    const config = withRoute({ match: { prefix: '/', bogus: true }, route: { cluster: 'c', timeout: 'x' } });
    expect(problemsOf(config)).toEqual([
      { path: `${R}.match`, detail: 'unknown field "bogus"' },
      { path: `${R}.route.timeout`, detail: 'expected a duration like "0.25s"' },
    ]);
  });
});

describe('cluster validation', () => {
  const ctx: ConfigValidationContext = { clusterExists: (n) => n === 'known', httpFilterFactory: () => undefined };
  const config = (extra: Record<string, unknown> = {}) => ({
    ...extra,
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: [
          { match: { prefix: '/a' }, route: { cluster: 'known' } },
          { match: { prefix: '/b' }, route: { cluster: 'missing' } },
          { match: { prefix: '/c' }, route: { weighted_clusters: { clusters: [{ name: 'known', weight: 1 }, { name: 'gone', weight: 1 }] } } },
        ],
      },
    ],
  });

  it('with a bootstrap context, unknown clusters are errors at their fields', () => {
    expect(problemsOf(config(), ctx)).toEqual([
      { path: `${V}.routes[1].route.cluster`, detail: 'unknown cluster "missing"' },
      { path: `${V}.routes[2].route.weighted_clusters.clusters[1].name`, detail: 'unknown cluster "gone"' },
    ]);
  });

  it('validate_clusters: false skips the check, as does parsing without a context', () => {
    expect(problemsOf(config({ validate_clusters: false }), ctx)).toEqual([]);
    expect(problemsOf(config())).toEqual([]);
  });
});

describe('defaults', () => {
  it('an empty route configuration is valid', () => {
    const spec = parseRouteConfiguration({}, P);
    expect(spec.name).toBe('');
    expect(spec.virtualHosts).toEqual([]);
    expect(spec.mostSpecificHeaderMutationsWins).toBe(false);
    expect(spec.ignorePortInHostMatching).toBe(false);
  });

  it('route defaults: case_sensitive, 15 s timeout, no idle timeout, 301 redirects', () => {
    const spec = parseRouteConfiguration(
      {
        name: 'rc',
        virtual_hosts: [
          {
            name: 'vh',
            domains: ['Example.COM'],
            routes: [
              { name: 'r', match: { prefix: '/' }, route: { cluster: 'c' } },
              { match: { prefix: '/' }, redirect: { host_redirect: 'h' } },
            ],
          },
        ],
      },
      P,
    );
    expect(spec.name).toBe('rc');
    const vh = spec.virtualHosts[0]!;
    expect(vh.domains).toEqual(['example.com']);
    const r = vh.routes[0]!;
    expect(r.name).toBe('r');
    expect(r.match.caseSensitive).toBe(true);
    expect(r.action).toMatchObject({ kind: 'route', cluster: 'c', timeoutMs: 15000, idleTimeoutMs: undefined, autoHostRewrite: false, retryPolicy: undefined });
    expect(vh.routes[1]!.action).toEqual({
      kind: 'redirect',
      scheme: undefined,
      host: 'h',
      port: undefined,
      pathRedirect: undefined,
      prefixRewrite: undefined,
      responseCode: 301,
      stripQuery: false,
    });
  });

  it('retry policy defaults: one retry, 25 ms base, 10x max', () => {
    const spec = parseRouteConfiguration(fwd({ retry_policy: { retry_on: ' 5xx , reset,' } }), P);
    const a = spec.virtualHosts[0]!.routes[0]!.action;
    expect(a.kind).toBe('route');
    const p = a.kind === 'route' ? a.retryPolicy! : undefined;
    expect(p).toEqual({ retryOn: new Set(['5xx', 'reset']), numRetries: 1, perTryTimeoutMs: 0, retriableStatusCodes: new Set(), baseIntervalMs: 25, maxIntervalMs: 250 });
  });

  it('ignores metadata and google_re2, accepts the legacy header matchers', () => {
    expect(
      problemsOf(
        withRoute(
          {
            metadata: { filter_metadata: {} },
            match: { safe_regex: { google_re2: {}, regex: '/x' }, headers: [{ name: 'a', suffix_match: 'z' }, { name: 'b', contains_match: 'y' }, { name: 'c', safe_regex_match: { regex: 'q' } }] },
            route: { cluster: 'c', priority: 'DEFAULT' },
          },
          { metadata: {} },
        ),
      ),
    ).toEqual([]);
  });
});
