import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../codecs/index.js';
import type { Route, RouteEntry } from '../../../../src/api/router.js';
import { portStart } from '../../../../src/router/route-table.js';
import { all, oneHost, request, streamInfo, table } from './helpers.js';

/** Every virtual host answers with a direct response naming itself, so a match is observable. */
function hostsTable(domains: Record<string, string[]>, extra: Record<string, unknown> = {}) {
  return table({
    virtual_hosts: Object.entries(domains).map(([name, d]) => ({
      name,
      domains: d,
      routes: [{ name, match: { prefix: '/' }, direct_response: { status: 200 } }],
    })),
    ...extra,
  });
}

describe('virtual host selection', () => {
  const t = hostsTable({
    exact: ['foo.com'],
    suffix: ['*.foo.com'],
    longerSuffix: ['*-bar.foo.com'],
    prefix: ['foo.*'],
    longerPrefix: ['foo.bar.*'],
    withPort: ['api.example.com:8443'],
    ipv6: ['[::1]'],
    fallback: ['*'],
  });

  it.each([
    ['foo.com', 'exact'],
    ['FOO.Com', 'exact'],
    ['foo.com:8080', 'exact'],
    ['a.foo.com', 'suffix'],
    ['x.y.foo.com', 'suffix'],
    ['baz-bar.foo.com', 'longerSuffix'],
    // The wildcard must match at least one character: "-bar.foo.com" falls back to "*.foo.com".
    ['-bar.foo.com', 'suffix'],
    ['.foo.com', 'fallback'],
    ['a.foo.com:9999', 'suffix'],
    ['foo.org', 'prefix'],
    ['foo.org:81', 'prefix'],
    ['foo.bar.baz', 'longerPrefix'],
    ['foo.', 'fallback'],
    ['other.com', 'fallback'],
    ['api.example.com:8443', 'withPort'],
    ['api.example.com', 'fallback'],
    ['api.example.com:9000', 'fallback'],
    ['[::1]:443', 'ipv6'],
    ['[::1]', 'ipv6'],
  ])('%s -> %s', (authority, vhost) => {
    expect(t.route(request(authority, '/'), 0)?.name).toBe(vhost);
  });

  it('exact beats every wildcard, suffix beats prefix', () => {
    const t2 = hostsTable({ ex: ['foo.bar.com'], sfx: ['*.bar.com'], pfx: ['foo.*'] });
    expect(t2.route(request('foo.bar.com', '/'), 0)?.name).toBe('ex');
    expect(t2.route(request('x.bar.com', '/'), 0)?.name).toBe('sfx');
    expect(t2.route(request('foo.baz.com', '/'), 0)?.name).toBe('pfx');
    expect(t2.route(request('nothing.org', '/'), 0)).toBeUndefined();
  });

  it('a request without :authority matches nothing unless "*" is the only domain', () => {
    expect(t.route(request(undefined, '/'), 0)).toBeUndefined();
    expect(hostsTable({ only: ['*'] }).route(request(undefined, '/'), 0)?.name).toBe('only');
  });

  it('ignore_port_in_host_matching strips the port before the exact lookup', () => {
    const t3 = hostsTable({ a: ['h.com:8080'], b: ['h.com'] }, { ignore_port_in_host_matching: true });
    expect(t3.route(request('h.com:8080', '/'), 0)?.name).toBe('b');
    const t4 = hostsTable({ a: ['h.com:8080'], b: ['h.com'] });
    expect(t4.route(request('h.com:8080', '/'), 0)?.name).toBe('a');
    expect(t4.route(request('h.com:9090', '/'), 0)?.name).toBe('b');
  });

  it.each([
    ['h.com', -1],
    ['h.com:80', 5],
    ['[::1]', -1],
    ['[::1]:80', 5],
    ['::1', 1],
  ])('portStart(%s) = %d', (host, at) => {
    expect(portStart(host)).toBe(at);
  });
});

describe('route matching', () => {
  const t = oneHost([
    { name: 'exact', match: { path: '/exact' }, direct_response: { status: 200 } },
    { name: 'ci-path', match: { path: '/CI', case_sensitive: false }, direct_response: { status: 200 } },
    { name: 'sep', match: { path_separated_prefix: '/sep' }, direct_response: { status: 200 } },
    { name: 'regex', match: { safe_regex: { regex: '/re/[0-9]+' } }, direct_response: { status: 200 } },
    { name: 'pfx', match: { prefix: '/pfx' }, direct_response: { status: 200 } },
    { name: 'ci-pfx', match: { prefix: '/Upper', case_sensitive: false }, direct_response: { status: 200 } },
    { name: 'h-exact', match: { prefix: '/h/exact', headers: [{ name: 'x-a', string_match: { exact: '1' } }] }, direct_response: { status: 200 } },
    { name: 'h-invert', match: { prefix: '/h/invert', headers: [{ name: 'x-a', string_match: { exact: '1' }, invert_match: true }] }, direct_response: { status: 200 } },
    { name: 'h-present', match: { prefix: '/h/present', headers: [{ name: 'x-p', present_match: true }] }, direct_response: { status: 200 } },
    { name: 'h-bare', match: { prefix: '/h/bare', headers: [{ name: 'X-P' }] }, direct_response: { status: 200 } },
    { name: 'h-absent', match: { prefix: '/h/absent', headers: [{ name: 'x-p', present_match: false }] }, direct_response: { status: 200 } },
    { name: 'h-inv-present', match: { prefix: '/h/ipresent', headers: [{ name: 'x-p', present_match: true, invert_match: true }] }, direct_response: { status: 200 } },
    { name: 'h-prefix', match: { prefix: '/h/prefix', headers: [{ name: 'x-a', string_match: { prefix: 'ab' } }] }, direct_response: { status: 200 } },
    { name: 'h-suffix', match: { prefix: '/h/suffix', headers: [{ name: 'x-a', string_match: { suffix: 'yz' } }] }, direct_response: { status: 200 } },
    { name: 'h-contains', match: { prefix: '/h/contains', headers: [{ name: 'x-a', string_match: { contains: 'mid' } }] }, direct_response: { status: 200 } },
    { name: 'h-regex', match: { prefix: '/h/regex', headers: [{ name: 'x-a', string_match: { safe_regex: { regex: '[a-z]+\\d' } } }] }, direct_response: { status: 200 } },
    { name: 'h-ci', match: { prefix: '/h/ci', headers: [{ name: 'x-a', string_match: { exact: 'ABC', ignore_case: true } }] }, direct_response: { status: 200 } },
    { name: 'h-legacy', match: { prefix: '/h/legacy', headers: [{ name: 'x-a', exact_match: '' }] }, direct_response: { status: 200 } },
    { name: 'h-legacy-prefix', match: { prefix: '/h/lprefix', headers: [{ name: 'x-a', prefix_match: 'ab' }] }, direct_response: { status: 200 } },
    { name: 'h-method', match: { prefix: '/h/method', headers: [{ name: ':method', string_match: { exact: 'POST' } }] }, direct_response: { status: 200 } },
    {
      name: 'h-missing-empty',
      match: { prefix: '/h/missing', headers: [{ name: 'x-m', string_match: { exact: '' }, treat_missing_header_as_empty: true }] },
      direct_response: { status: 200 },
    },
    {
      name: 'h-two',
      match: { prefix: '/h/two', headers: [{ name: 'x-a', exact_match: '1' }, { name: 'x-b', exact_match: '2' }] },
      direct_response: { status: 200 },
    },
    { name: 'q-str', match: { prefix: '/q/str', query_parameters: [{ name: 'x', string_match: { exact: 'a b' } }] }, direct_response: { status: 200 } },
    { name: 'q-present', match: { prefix: '/q/present', query_parameters: [{ name: 'p', present_match: true }] }, direct_response: { status: 200 } },
    { name: 'q-absent', match: { prefix: '/q/absent', query_parameters: [{ name: 'p', present_match: false }] }, direct_response: { status: 200 } },
    { name: 'q-any', match: { prefix: '/q/any', query_parameters: [{ name: 'k' }] }, direct_response: { status: 200 } },
    { name: 'fallback', match: { prefix: '/' }, direct_response: { status: 200 } },
  ]);

  it.each<[string, Record<string, string | string[]>, string]>([
    ['/exact', {}, 'exact'],
    ['/exact?q=1', {}, 'exact'],
    ['/exact#frag', {}, 'exact'],
    ['/exact/', {}, 'fallback'],
    ['/Exact', {}, 'fallback'],
    ['/ci', {}, 'ci-path'],
    ['/cI?x=1', {}, 'ci-path'],
    ['/sep', {}, 'sep'],
    ['/sep/x', {}, 'sep'],
    ['/sep?x', {}, 'sep'],
    ['/sepx', {}, 'fallback'],
    ['/re/123', {}, 'regex'],
    ['/re/123?x=y', {}, 'regex'],
    ['/re/12a', {}, 'fallback'],
    ['/re/123/x', {}, 'fallback'],
    ['/x/re/123', {}, 'fallback'],
    ['/pfxabc', {}, 'pfx'],
    ['/PFX', {}, 'fallback'],
    ['/upperCASE/x', {}, 'ci-pfx'],
    ['/h/exact', { 'x-a': '1' }, 'h-exact'],
    ['/h/exact', { 'x-a': '2' }, 'fallback'],
    ['/h/exact', {}, 'fallback'],
    // Several values are matched joined with ",".
    ['/h/exact', { 'x-a': ['1', '2'] }, 'fallback'],
    ['/h/invert', { 'x-a': '2' }, 'h-invert'],
    ['/h/invert', { 'x-a': '1' }, 'fallback'],
    // Envoy: an absent header does not satisfy an inverted value matcher.
    ['/h/invert', {}, 'fallback'],
    ['/h/present', { 'x-p': '' }, 'h-present'],
    ['/h/present', {}, 'fallback'],
    ['/h/bare', { 'x-p': 'v' }, 'h-bare'],
    ['/h/bare', {}, 'fallback'],
    ['/h/absent', {}, 'h-absent'],
    ['/h/absent', { 'x-p': 'v' }, 'fallback'],
    ['/h/ipresent', {}, 'h-inv-present'],
    ['/h/ipresent', { 'x-p': 'v' }, 'fallback'],
    ['/h/prefix', { 'x-a': 'abc' }, 'h-prefix'],
    ['/h/prefix', { 'x-a': 'xab' }, 'fallback'],
    ['/h/suffix', { 'x-a': 'xyz' }, 'h-suffix'],
    ['/h/suffix', { 'x-a': 'yzx' }, 'fallback'],
    ['/h/contains', { 'x-a': 'amidb' }, 'h-contains'],
    ['/h/contains', { 'x-a': 'mi-d' }, 'fallback'],
    ['/h/regex', { 'x-a': 'abc1' }, 'h-regex'],
    ['/h/regex', { 'x-a': 'abc1x' }, 'fallback'],
    ['/h/ci', { 'x-a': 'aBc' }, 'h-ci'],
    ['/h/ci', { 'x-a': 'abcd' }, 'fallback'],
    ['/h/legacy', { 'x-a': 'anything' }, 'h-legacy'],
    ['/h/legacy', {}, 'fallback'],
    ['/h/lprefix', { 'x-a': 'abz' }, 'h-legacy-prefix'],
    ['/h/method', {}, 'fallback'],
    ['/h/missing', {}, 'h-missing-empty'],
    ['/h/missing', { 'x-m': 'v' }, 'fallback'],
    ['/h/two', { 'x-a': '1', 'x-b': '2' }, 'h-two'],
    ['/h/two', { 'x-a': '1' }, 'fallback'],
    ['/q/str?x=a%20b', {}, 'q-str'],
    ['/q/str?y=1&x=a%20b', {}, 'q-str'],
    ['/q/str?x=ab', {}, 'fallback'],
    // The first occurrence of a parameter counts.
    ['/q/str?x=z&x=a%20b', {}, 'fallback'],
    ['/q/str?x=a%20b#x=c', {}, 'q-str'],
    ['/q/present?p', {}, 'q-present'],
    ['/q/present?p=', {}, 'q-present'],
    ['/q/present?q=1', {}, 'fallback'],
    ['/q/absent?q=1', {}, 'q-absent'],
    ['/q/absent?p=1', {}, 'fallback'],
    ['/q/any?k=whatever', {}, 'q-any'],
    ['/q/any', {}, 'fallback'],
  ])('%s %j -> %s', (path, headers, name) => {
    expect(t.route(request('h', path, headers), 0)?.name).toBe(name);
  });

  it('matches :method through a pseudo-header matcher', () => {
    const h = request('h', '/h/method');
    h.set(':method', 'POST');
    expect(t.route(h, 0)?.name).toBe('h-method');
  });

  it('routes are tried in order: the first match wins', () => {
    const t2 = oneHost([
      { name: 'first', match: { prefix: '/' }, direct_response: { status: 200 } },
      { name: 'second', match: { path: '/x' }, direct_response: { status: 200 } },
    ]);
    expect(t2.route(request('h', '/x'), 0)?.name).toBe('first');
  });

  it('no route matches: undefined', () => {
    const t2 = oneHost([{ name: 'only', match: { path: '/only' }, direct_response: { status: 200 } }]);
    expect(t2.route(request('h', '/other'), 0)).toBeUndefined();
  });
});

describe('weighted clusters', () => {
  const t = oneHost([
    {
      name: 'w',
      match: { prefix: '/' },
      route: {
        weighted_clusters: {
          clusters: [
            { name: 'a', weight: 10, request_headers_to_add: [{ header: { key: 'x-cluster', value: 'a' } }], host_rewrite_literal: 'a.internal' },
            { name: 'b', weight: 20, response_headers_to_add: [{ header: { key: 'x-level', value: 'cluster' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
            { name: 'zero', weight: 0 },
            { name: 'c', weight: 70 },
          ],
        },
        timeout: '3s',
      },
      response_headers_to_add: [{ header: { key: 'x-level', value: 'route' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    },
  ]);

  it.each([
    [0, 'a'],
    [9, 'a'],
    [10, 'b'],
    [29, 'b'],
    [30, 'c'],
    [99, 'c'],
    [100, 'a'],
    [4_294_967_295, 'c'],
    // A fraction is scaled to 32 bits: floor(0.5 * 2^32) % 100 = 48.
    [0.5, 'c'],
    [0.000_000_001, 'a'],
  ])('random value %d picks %s', (random, cluster) => {
    const h = request('h', '/');
    expect(t.route(h, random)?.routeEntry?.clusterName(h)).toBe(cluster);
  });

  it('every entry carries the route name and the route settings', () => {
    const r = t.route(request('h', '/'), 15)!;
    expect(r.name).toBe('w');
    expect(r.routeEntry!.timeoutMs).toBe(3000);
    expect(r.directResponse).toBeUndefined();
  });

  it("a cluster's request mutations and host rewrite apply before the route's", () => {
    const h = request('h', '/');
    t.route(h, 0)!.routeEntry!.finalizeRequestHeaders(h);
    expect(h.get('x-cluster')).toBe('a');
    expect(h.get(':authority')).toBe('a.internal');
  });

  it("a cluster's response mutations apply after the route's (they win on overwrite)", () => {
    const resp = HeaderMapImpl.fromObject({ ':status': '200' });
    const h = request('h', '/');
    t.route(h, 10)!.routeEntry!.finalizeResponseHeaders(resp);
    expect(all(resp, 'x-level')).toEqual(['cluster']);
  });
});

describe('route entry rewrites and settings', () => {
  function finalize(routes: unknown[], path: string, insertOriginal?: boolean) {
    const t = oneHost(routes);
    const h = request('orig.host', path);
    const r = t.route(h, 0)!;
    r.routeEntry!.finalizeRequestHeaders(h, undefined, insertOriginal);
    return h;
  }

  it.each<[string, Record<string, unknown>, Record<string, unknown>, string, string]>([
    ['prefix', { prefix: '/api/' }, { prefix_rewrite: '/' }, '/api/users?x=1', '/users?x=1'],
    ['prefix, case-insensitive', { prefix: '/API', case_sensitive: false }, { prefix_rewrite: '/v2' }, '/api/x', '/v2/x'],
    ['exact path', { path: '/old' }, { prefix_rewrite: '/new' }, '/old?q', '/new?q'],
    ['separated prefix', { path_separated_prefix: '/svc' }, { prefix_rewrite: '/s' }, '/svc/a', '/s/a'],
    ['regex route: the whole path', { safe_regex: { regex: '/r/.*' } }, { prefix_rewrite: '/x' }, '/r/abc?q=1', '/x?q=1'],
    [
      'regex_rewrite with groups',
      { prefix: '/service' },
      { regex_rewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' } },
      '/service/foo/v1/api?q=1',
      '/v1/api/instance/foo?q=1',
    ],
    ['regex_rewrite replaces every match', { prefix: '/' }, { regex_rewrite: { pattern: { regex: 'one' }, substitution: 'two' } }, '/a/one/b/one', '/a/two/b/two'],
    ['regex_rewrite keeps a literal $', { prefix: '/' }, { regex_rewrite: { pattern: { regex: 'x' }, substitution: '$1' } }, '/x', '/$1'],
  ])('%s', (_name, match, action, path, rewritten) => {
    const h = finalize([{ match, route: { cluster: 'c', ...action } }], path);
    expect(h.get(':path')).toBe(rewritten);
    expect(h.get('x-envoy-original-path')).toBe(path);
  });

  it('no x-envoy-original-path when asked not to (suppress_envoy_headers)', () => {
    const h = finalize([{ match: { prefix: '/api' }, route: { cluster: 'c', prefix_rewrite: '/v1' } }], '/api/x', false);
    expect(h.get(':path')).toBe('/v1/x');
    expect(h.has('x-envoy-original-path')).toBe(false);
  });

  it('no rewrite configured: :path untouched, no x-envoy-original-path', () => {
    const h = finalize([{ match: { prefix: '/api' }, route: { cluster: 'c' } }], '/api/x');
    expect(h.get(':path')).toBe('/api/x');
    expect(h.has('x-envoy-original-path')).toBe(false);
  });

  it('host_rewrite_literal sets :authority; auto_host_rewrite is exposed to the router', () => {
    const h = finalize([{ match: { prefix: '/' }, route: { cluster: 'c', host_rewrite_literal: 'new.host' } }], '/');
    expect(h.get(':authority')).toBe('new.host');
    const t = oneHost([{ match: { prefix: '/' }, route: { cluster: 'c', auto_host_rewrite: true } }]);
    expect(t.route(request('h', '/'), 0)!.routeEntry!.autoHostRewrite).toBe(true);
  });

  it.each<[Record<string, unknown>, number, number | undefined]>([
    [{}, 15_000, undefined],
    [{ timeout: '0s' }, 0, undefined],
    [{ timeout: '2.5s', idle_timeout: '0s' }, 2500, 0],
    [{ timeout: { seconds: 1, nanos: 1_500_000 }, idle_timeout: '30s' }, 1001, 30_000],
  ])('timeouts %j', (action, timeoutMs, idleTimeoutMs) => {
    const t = oneHost([{ match: { prefix: '/' }, route: { cluster: 'c', ...action } }]);
    const e = t.route(request('h', '/'), 0)!.routeEntry!;
    expect(e.timeoutMs).toBe(timeoutMs);
    expect(e.idleTimeoutMs).toBe(idleTimeoutMs);
  });

  it("the route's retry policy replaces the virtual host's (no field inheritance)", () => {
    const t = oneHost(
      [
        { name: 'own', match: { prefix: '/own' }, route: { cluster: 'c', retry_policy: { retry_on: 'reset', num_retries: 5 } } },
        { name: 'inherit', match: { prefix: '/' }, route: { cluster: 'c' } },
      ],
      { retry_policy: { retry_on: '5xx,gateway-error', per_try_timeout: '1s', retry_back_off: { base_interval: '0.1s' }, retriable_status_codes: [418] } },
    );
    const own = t.route(request('h', '/own'), 0)!.routeEntry!.retryPolicy!;
    expect([...own.retryOn]).toEqual(['reset']);
    expect(own.numRetries).toBe(5);
    expect(own.perTryTimeoutMs).toBe(0);
    expect(own.baseIntervalMs).toBe(25);
    expect(own.maxIntervalMs).toBe(250);
    const inherited = t.route(request('h', '/x'), 0)!.routeEntry!.retryPolicy!;
    expect([...inherited.retryOn]).toEqual(['5xx', 'gateway-error']);
    expect(inherited.numRetries).toBe(1);
    expect(inherited.perTryTimeoutMs).toBe(1000);
    expect(inherited.baseIntervalMs).toBe(100);
    expect(inherited.maxIntervalMs).toBe(1000);
    expect([...inherited.retriableStatusCodes]).toEqual([418]);
  });

  it('no retry policy anywhere: undefined', () => {
    const t = oneHost([{ match: { prefix: '/' }, route: { cluster: 'c' } }]);
    expect(t.route(request('h', '/'), 0)!.routeEntry!.retryPolicy).toBeUndefined();
  });

  it('clusterNames lists every cluster once', () => {
    const t = oneHost([
      { match: { prefix: '/a' }, route: { cluster: 'one' } },
      { match: { prefix: '/b' }, route: { weighted_clusters: { clusters: [{ name: 'two', weight: 1 }, { name: 'one', weight: 1 }] } } },
      { match: { prefix: '/' }, direct_response: { status: 200 } },
    ]);
    expect(t.clusterNames().sort()).toEqual(['one', 'two']);
  });
});

describe('redirects and direct responses', () => {
  function location(redirect: Record<string, unknown>, authority = 'example.com', path = '/a/b?q=1', extra: Record<string, string> = {}, prefix = '/') {
    const t = oneHost([{ match: { prefix }, redirect }]);
    const h = request(authority, path, extra);
    const r = t.route(h, 0)!;
    expect(r.routeEntry).toBeUndefined();
    return { status: r.directResponse!.status, body: r.directResponse!.body, location: r.directResponse!.location!(h) };
  }

  it.each<[string, Record<string, unknown>, string, Record<string, string>, string]>([
    ['https_redirect', { https_redirect: true }, 'example.com', {}, 'https://example.com/a/b?q=1'],
    ['https_redirect drops :80 of an http request', { https_redirect: true }, 'example.com:80', { 'x-forwarded-proto': 'http' }, 'https://example.com/a/b?q=1'],
    ['https_redirect keeps a non-default port', { https_redirect: true }, 'example.com:8080', { 'x-forwarded-proto': 'http' }, 'https://example.com:8080/a/b?q=1'],
    ['https_redirect of IPv6 with :80', { https_redirect: true }, '[::1]:80', { 'x-forwarded-proto': 'http' }, 'https://[::1]/a/b?q=1'],
    ['scheme_redirect lowercased', { scheme_redirect: 'HTTPS' }, 'example.com', {}, 'https://example.com/a/b?q=1'],
    ['same scheme keeps :443 of https', { scheme_redirect: 'https' }, 'example.com:443', { 'x-forwarded-proto': 'https' }, 'https://example.com:443/a/b?q=1'],
    ['host_redirect', { host_redirect: 'new.com' }, 'example.com:9000', {}, 'http://new.com/a/b?q=1'],
    ['port_redirect replaces the port', { port_redirect: 8443 }, 'example.com:80', {}, 'http://example.com:8443/a/b?q=1'],
    ['host and port', { host_redirect: 'n.com', port_redirect: 81 }, 'example.com', {}, 'http://n.com:81/a/b?q=1'],
    ['path_redirect keeps the query', { path_redirect: '/new' }, 'example.com', {}, 'http://example.com/new?q=1'],
    ['path_redirect with its own query', { path_redirect: '/new?x=y', strip_query: true }, 'example.com', {}, 'http://example.com/new?x=y'],
    ['relative path_redirect gets a slash', { path_redirect: 'rel' }, 'example.com', {}, 'http://example.com/rel?q=1'],
    ['strip_query', { strip_query: true }, 'example.com', {}, 'http://example.com/a/b'],
    ['strip_query with path_redirect', { path_redirect: '/n', strip_query: true }, 'example.com', {}, 'http://example.com/n'],
  ])('%s', (_name, redirect, authority, extra, expected) => {
    expect(location(redirect, authority, '/a/b?q=1', extra).location).toBe(expected);
  });

  it('prefix_rewrite replaces the matched prefix', () => {
    expect(location({ prefix_rewrite: '/z/' }, 'example.com', '/a/b?q=1', {}, '/a/').location).toBe('http://example.com/z/b?q=1');
  });

  it.each([
    [undefined, 301],
    ['MOVED_PERMANENTLY', 301],
    ['FOUND', 302],
    ['SEE_OTHER', 303],
    ['TEMPORARY_REDIRECT', 307],
    ['PERMANENT_REDIRECT', 308],
  ])('response_code %s -> %d, empty body', (code, status) => {
    const r = location(code === undefined ? { https_redirect: true } : { https_redirect: true, response_code: code });
    expect(r.status).toBe(status);
    expect(r.body).toBe('');
  });

  it('direct_response: status and body; Location only for 201 and 3xx, pointing at the request', () => {
    const t = oneHost([
      { match: { prefix: '/ok' }, direct_response: { status: 200, body: { inline_string: 'hello' } } },
      { match: { prefix: '/bytes' }, direct_response: { status: 503, body: { inline_bytes: Buffer.from('raw').toString('base64') } } },
      { match: { prefix: '/created' }, direct_response: { status: 201 } },
      { match: { prefix: '/moved' }, direct_response: { status: 302 } },
    ]);
    const ok = t.route(request('h', '/ok'), 0)!.directResponse!;
    expect([ok.status, ok.body, ok.location]).toEqual([200, 'hello', undefined]);
    expect(t.route(request('h', '/bytes'), 0)!.directResponse!.body).toBe('raw');
    const created = request('h:8080', '/created?x');
    expect(t.route(created, 0)!.directResponse!.location!(created)).toBe('http://h:8080/created?x');
    const moved = request('h', '/moved');
    expect(t.route(moved, 0)!.directResponse!.location!(moved)).toBe('http://h/moved');
  });
});

describe('header mutations', () => {
  const levels = (name: string) => ({
    request_headers_to_add: [
      { header: { key: 'x-level', value: name }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-append', value: name } },
    ],
    response_headers_to_add: [
      { header: { key: 'x-level', value: name }, append: false },
      { header: { key: 'x-append', value: name }, append: true },
    ],
  });

  function build(mostSpecificWins: boolean) {
    return table({
      ...levels('global'),
      most_specific_header_mutations_wins: mostSpecificWins,
      virtual_hosts: [{ name: 'vh', domains: ['*'], ...levels('vhost'), routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, ...levels('route') }] }],
    });
  }

  it.each([
    [false, 'global', ['route', 'vhost', 'global']],
    [true, 'route', ['global', 'vhost', 'route']],
  ])('most_specific_header_mutations_wins=%s: overwrite winner %s, append order %j', (msw, winner, order) => {
    const t = build(msw);
    const h = request('h', '/');
    const entry = t.route(h, 0)!.routeEntry!;
    entry.finalizeRequestHeaders(h);
    expect(all(h, 'x-level')).toEqual([winner]);
    expect(all(h, 'x-append')).toEqual(order);
    const resp = HeaderMapImpl.fromObject({ ':status': '200' });
    entry.finalizeResponseHeaders(resp);
    expect(all(resp, 'x-level')).toEqual([winner]);
    expect(all(resp, 'x-append')).toEqual(order);
  });

  it('response mutations apply once per header map (router and HCM may both ask)', () => {
    const t = build(false);
    const h = request('h', '/');
    const route = t.route(h, 0)!;
    const resp = HeaderMapImpl.fromObject({ ':status': '200' });
    route.routeEntry!.finalizeResponseHeaders(resp);
    t.finalizeResponseHeaders(route, resp);
    route.routeEntry!.finalizeResponseHeaders(resp);
    expect(all(resp, 'x-append')).toEqual(['route', 'vhost', 'global']);
  });

  it('RouteConfig.finalizeResponseHeaders applies to direct responses, not to foreign or absent routes', () => {
    const t = table({
      response_headers_to_add: [{ header: { key: 'x-g', value: 'g' } }],
      virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }],
    });
    const route = t.route(request('h', '/'), 0);
    const resp = HeaderMapImpl.fromObject({ ':status': '200' });
    t.finalizeResponseHeaders(route, resp);
    expect(all(resp, 'x-g')).toEqual(['g']);
    const resp2 = HeaderMapImpl.fromObject({ ':status': '404' });
    t.finalizeResponseHeaders(undefined, resp2);
    const foreign: Route = { name: 'x', routeEntry: undefined, directResponse: { status: 200, body: '' } };
    t.finalizeResponseHeaders(foreign, resp2);
    expect(resp2.has('x-g')).toBe(false);
  });

  function routeEntry(routeExtra: Record<string, unknown>, vhostExtra: Record<string, unknown> = {}): RouteEntry {
    return oneHost([{ match: { prefix: '/' }, route: { cluster: 'c' }, ...routeExtra }], vhostExtra).route(request('h', '/'), 0)!.routeEntry!;
  }

  it('each level removes before it adds; a later level may remove what an earlier one added', () => {
    const e = routeEntry(
      { request_headers_to_remove: ['x-r'], request_headers_to_add: [{ header: { key: 'x-r', value: 'new' } }, { header: { key: 'x-gone', value: 'route' } }] },
      { request_headers_to_remove: ['x-gone'] },
    );
    const h = request('h', '/', { 'x-r': 'old' });
    e.finalizeRequestHeaders(h);
    expect(all(h, 'x-r')).toEqual(['new']);
    expect(h.has('x-gone')).toBe(false);
  });

  it.each<[string, Record<string, unknown>, Record<string, string>, string[]]>([
    ['APPEND_IF_EXISTS_OR_ADD appends', { append_action: 'APPEND_IF_EXISTS_OR_ADD' }, { 'x-h': 'old' }, ['old', 'v']],
    ['default appends', {}, { 'x-h': 'old' }, ['old', 'v']],
    ['append: true appends', { append: true }, { 'x-h': 'old' }, ['old', 'v']],
    ['append: false overwrites', { append: false }, { 'x-h': 'old' }, ['v']],
    ['ADD_IF_ABSENT, present: untouched', { append_action: 'ADD_IF_ABSENT' }, { 'x-h': 'old' }, ['old']],
    ['ADD_IF_ABSENT, absent: added', { append_action: 'ADD_IF_ABSENT' }, {}, ['v']],
    ['OVERWRITE_IF_EXISTS, present: replaced', { append_action: 'OVERWRITE_IF_EXISTS' }, { 'x-h': 'old' }, ['v']],
    ['OVERWRITE_IF_EXISTS, absent: nothing', { append_action: 'OVERWRITE_IF_EXISTS' }, {}, []],
    ['OVERWRITE_IF_EXISTS_OR_ADD, absent: added', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }, {}, ['v']],
  ])('%s', (_name, option, existing, expected) => {
    const e = routeEntry({ request_headers_to_add: [{ header: { key: 'X-H', value: 'v' }, ...option }] });
    const h = request('h', '/', existing);
    e.finalizeRequestHeaders(h);
    expect(all(h, 'x-h')).toEqual(expected);
  });

  it('entries see the headers as they were, not each other (overwrites, then appends)', () => {
    const e = routeEntry({
      request_headers_to_add: [
        { header: { key: 'x-a', value: '1' } },
        { header: { key: 'x-a', value: '2' }, append_action: 'ADD_IF_ABSENT' },
        { header: { key: 'x-a', value: '3' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      ],
    });
    const h = request('h', '/');
    e.finalizeRequestHeaders(h);
    expect(all(h, 'x-a')).toEqual(['3', '1', '2']);
  });

  it('empty values are skipped unless keep_empty_value', () => {
    const e = routeEntry({
      request_headers_to_add: [
        { header: { key: 'x-empty', value: '' } },
        { header: { key: 'x-kept', value: '' }, keep_empty_value: true },
        { header: { key: 'x-no-value' } },
      ],
    });
    const h = request('h', '/');
    e.finalizeRequestHeaders(h);
    expect(h.has('x-empty')).toBe(false);
    expect(all(h, 'x-kept')).toEqual(['']);
    expect(h.has('x-no-value')).toBe(false);
  });

  it('formatters read the StreamInfo and the request', () => {
    const e = routeEntry({
      request_headers_to_add: [
        { header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } },
        { header: { key: 'x-proto', value: 'p=%PROTOCOL%;up=%UPSTREAM_REMOTE_ADDRESS%' } },
        { header: { key: 'x-start', value: '%START_TIME%' } },
        { header: { key: 'x-copy', value: '%REQ(x-src)%' } },
        { header: { key: 'x-pct', value: '100%% %ROUTE_NAME%' } },
      ],
      response_headers_to_add: [{ header: { key: 'x-req', value: '%REQ(x-src)%' } }],
    });
    const si = streamInfo();
    const h = request('h', '/', { 'x-src': 'copied' });
    si.requestHeaders = h;
    e.finalizeRequestHeaders(h, si);
    expect(h.get('x-client')).toBe('10.0.0.7');
    expect(h.get('x-proto')).toBe('p=HTTP/1.1;up=[::1]:8080');
    expect(h.get('x-start')).toBe('2024-01-02T03:04:05.678Z');
    expect(h.get('x-copy')).toBe('copied');
    expect(h.get('x-pct')).toBe('100% r1');
    const resp = HeaderMapImpl.fromObject({ ':status': '200' });
    e.finalizeResponseHeaders(resp, si);
    expect(resp.get('x-req')).toBe('copied');
  });

  it('without a StreamInfo, formatted values are empty and not added', () => {
    const e = routeEntry({ request_headers_to_add: [{ header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS%' } }] });
    const h = request('h', '/');
    e.finalizeRequestHeaders(h);
    expect(h.has('x-client')).toBe(false);
  });
});
