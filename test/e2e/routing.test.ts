/**
 * The route table end to end: a real sluice on 127.0.0.1 in front of echo origins, driven by
 * node:http. Virtual host selection by domain, route matching, weighted clusters, rewrites,
 * redirects, direct responses and header mutations at the three levels of a route_config.
 */
import * as http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogFile, clusterConfig, EchoOrigin, HttpProxy, request, type EchoedRequest } from '../support/http-harness.js';
import { withTimeout } from '../support/net-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function origin(): Promise<EchoOrigin> {
  const o = await EchoOrigin.start();
  cleanups.push(() => o.close());
  return o;
}

async function proxy(options: Parameters<typeof HttpProxy.start>[0]): Promise<HttpProxy> {
  const p = await HttpProxy.start(options);
  cleanups.push(() => p.close());
  return p;
}

function echoed(body: Buffer): EchoedRequest {
  return JSON.parse(body.toString()) as EchoedRequest;
}

/** A route_config of one virtual host, "all", for every domain, with `routes`. */
function allDomains(routes: unknown[]): unknown {
  return { virtual_hosts: [{ name: 'all', domains: ['*'], routes }] };
}

/** A route to `cluster` that tags the request with `x-route: <name>`. */
function tagged(name: string, match: Record<string, unknown>, cluster = 'backend'): unknown {
  return {
    name,
    match,
    route: { cluster },
    request_headers_to_add: [{ header: { key: 'x-route', value: name } }],
  };
}

describe('virtual host selection by domain', () => {
  it('prefers an exact domain, then the longest *.suffix, then the longest prefix.*, then *', async () => {
    const o = await origin();
    const vhost = (name: string, domains: string[]): unknown => ({
      name,
      domains,
      routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }],
      request_headers_to_add: [{ header: { key: 'x-vhost', value: name } }],
    });
    const p = await proxy({
      clusters: { backend: o.port },
      routeConfig: {
        virtual_hosts: [
          vhost('catch-all', ['*']),
          vhost('prefix-short', ['api.*']),
          vhost('prefix-long', ['api.v2.*']),
          vhost('suffix-short', ['*.com']),
          vhost('suffix-long', ['*.example.com']),
          vhost('exact', ['www.example.com', 'exact.test:8080']),
        ],
      },
    });
    const cases: Array<[string, string]> = [
      ['www.example.com', 'exact'],
      ['WWW.Example.COM', 'exact'],
      ['exact.test:8080', 'exact'],
      ['shop.example.com', 'suffix-long'],
      ['a.b.example.com', 'suffix-long'],
      ['other.com', 'suffix-short'],
      // A suffix wildcard beats a prefix wildcard.
      ['api.example.com', 'suffix-long'],
      ['api.v2.internal', 'prefix-long'],
      ['api.internal', 'prefix-short'],
      ['unknown.org', 'catch-all'],
      // `*.com` needs at least one character before the suffix.
      ['.com', 'catch-all'],
    ];
    for (const [host, expected] of cases) {
      const res = await request(p.port, { path: '/', headers: { host } });
      expect(res.status, host).toBe(200);
      expect(echoed(res.body).headers['x-vhost'], host).toBe(expected);
    }
  });

  it('answers 404 NR when no virtual host matches the authority', async () => {
    const o = await origin();
    const log = AccessLogFile.create();
    cleanups.push(() => log.remove());
    const p = await proxy({
      clusters: { backend: o.port },
      routeConfig: { virtual_hosts: [{ name: 'only', domains: ['only.test'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }] },
      hcm: { access_log: log.config('%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:AUTHORITY)%\n') },
    });
    const res = await request(p.port, { path: '/', headers: { host: 'elsewhere.test' } });
    expect(res.status).toBe(404);
    expect(o.requests).toHaveLength(0);
    expect(await log.lines(1)).toEqual(['404 NR elsewhere.test\n']);
  });
});

describe('route matching', () => {
  it('matches path, prefix, safe_regex, headers, query parameters and case-insensitive prefixes in order', async () => {
    const o = await origin();
    const p = await proxy({
      clusters: { backend: o.port },
      routeConfig: allDomains([
        tagged('exact-path', { path: '/exact' }),
        tagged('regex', { safe_regex: { regex: '/items/[0-9]+' } }),
        tagged('header', { prefix: '/h', headers: [{ name: 'x-flavor', string_match: { exact: 'mint' } }] }),
        tagged('header-present', { prefix: '/h', headers: [{ name: 'x-flavor', present_match: true }] }),
        tagged('header-regex-inverted', {
          prefix: '/inv',
          headers: [{ name: 'x-env', string_match: { safe_regex: { regex: 'prod|staging' } }, invert_match: true }],
        }),
        tagged('query', { prefix: '/q', query_parameters: [{ name: 'debug', string_match: { exact: '1' } }] }),
        tagged('query-present', { prefix: '/q', query_parameters: [{ name: 'trace', present_match: true }] }),
        tagged('case-insensitive', { prefix: '/CaSe/', case_sensitive: false }),
        tagged('case-sensitive', { prefix: '/Strict/' }),
        tagged('fallback', { prefix: '/' }),
      ]),
    });
    const cases: Array<[string, Record<string, string>, string]> = [
      ['/exact', {}, 'exact-path'],
      // `path` is the whole path (query excluded), not a prefix.
      ['/exact?x=1', {}, 'exact-path'],
      ['/exact/more', {}, 'fallback'],
      ['/exactly', {}, 'fallback'],
      // safe_regex matches the whole path, never part of it.
      ['/items/42', {}, 'regex'],
      ['/items/42?z=1', {}, 'regex'],
      ['/items/42x', {}, 'fallback'],
      ['/items/abc', {}, 'fallback'],
      ['/h', { 'x-flavor': 'mint' }, 'header'],
      ['/h', { 'x-flavor': 'lemon' }, 'header-present'],
      ['/h', {}, 'fallback'],
      ['/inv', { 'x-env': 'dev' }, 'header-regex-inverted'],
      ['/inv', { 'x-env': 'prod' }, 'fallback'],
      ['/q?debug=1', {}, 'query'],
      ['/q?a=b&debug=1', {}, 'query'],
      ['/q?debug=2', {}, 'fallback'],
      ['/q?debug=2&trace', {}, 'query-present'],
      ['/q', {}, 'fallback'],
      ['/case/x', {}, 'case-insensitive'],
      ['/CASE/x', {}, 'case-insensitive'],
      ['/strict/x', {}, 'fallback'],
      ['/Strict/x', {}, 'case-sensitive'],
    ];
    for (const [path, headers, expected] of cases) {
      const res = await request(p.port, { path, headers });
      expect(res.status, path).toBe(200);
      const seen = echoed(res.body);
      expect(seen.headers['x-route'], `${path} ${JSON.stringify(headers)}`).toBe(expected);
      // Matching never changes what the origin receives.
      expect(seen.url).toBe(path);
    }
  });
});

describe('weighted clusters', () => {
  it('splits 200 requests about 80/20 between two origins, each getting some', async () => {
    const a = await origin();
    const b = await origin();
    const p = await proxy({
      clusters: { a: a.port, b: b.port },
      routeConfig: allDomains([
        {
          match: { prefix: '/' },
          route: {
            weighted_clusters: {
              clusters: [
                { name: 'a', weight: 80, request_headers_to_add: [{ header: { key: 'x-picked', value: 'a' } }] },
                { name: 'b', weight: 20, request_headers_to_add: [{ header: { key: 'x-picked', value: 'b' } }] },
              ],
            },
          },
        },
      ]),
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    cleanups.push(() => agent.destroy());
    const one = (i: number): Promise<EchoedRequest> =>
      withTimeout(
        new Promise<EchoedRequest>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port: p.port, path: `/w/${i}`, agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => (res.statusCode === 200 ? resolve(echoed(Buffer.concat(chunks))) : reject(new Error(`status ${res.statusCode}`))));
          });
          req.on('error', reject);
        }),
        5000,
        `request ${i}`,
      );
    const total = 200;
    const seen: EchoedRequest[] = [];
    for (let i = 0; i < total; i += 20) seen.push(...(await Promise.all(Array.from({ length: 20 }, (_, j) => one(i + j)))));
    expect(a.requests.length + b.requests.length).toBe(total);
    // Each origin got what its cluster's own header mutation says.
    expect(a.requests.every((r) => r.headers['x-picked'] === 'a')).toBe(true);
    expect(b.requests.every((r) => r.headers['x-picked'] === 'b')).toBe(true);
    expect(seen.filter((r) => r.headers['x-picked'] === 'b')).toHaveLength(b.requests.length);
    // Binomial(200, 0.2): mean 40, sd 5.7. [15, 70] is more than 4 sd either side.
    expect(b.requests.length).toBeGreaterThanOrEqual(15);
    expect(b.requests.length).toBeLessThanOrEqual(70);
    expect(p.counter('cluster.a.upstream_rq_total')).toBe(a.requests.length);
    expect(p.counter('cluster.b.upstream_rq_total')).toBe(b.requests.length);
  });
});

describe('rewrites', () => {
  it('prefix_rewrite: the origin sees the new path and x-envoy-original-path; the log shows the original', async () => {
    const o = await origin();
    const log = AccessLogFile.create();
    cleanups.push(() => log.remove());
    const p = await proxy({
      clusters: { backend: o.port },
      routeConfig: allDomains([
        { match: { prefix: '/old/' }, route: { cluster: 'backend', prefix_rewrite: '/new/' } },
        { match: { prefix: '/api' }, route: { cluster: 'backend', prefix_rewrite: '/' } },
      ]),
      hcm: { access_log: log.config() },
    });
    const res = await request(p.port, { path: '/old/thing?x=1' });
    expect(res.status).toBe(200);
    const seen = echoed(res.body);
    expect(seen.url).toBe('/new/thing?x=1');
    expect(seen.headers['x-envoy-original-path']).toBe('/old/thing?x=1');
    const res2 = await request(p.port, { path: '/api/v1/users' });
    expect(echoed(res2.body).url).toBe('//v1/users');
    const lines = await log.lines(2);
    expect(lines[0]).toContain('"GET /old/thing?x=1 HTTP/1.1" 200 ');
    expect(lines[1]).toContain('"GET /api/v1/users HTTP/1.1" 200 ');
  });

  it('regex_rewrite substitutes capture groups in the path and keeps the query', async () => {
    const o = await origin();
    const p = await proxy({
      clusters: { backend: o.port },
      routeConfig: allDomains([
        {
          match: { prefix: '/users/' },
          route: { cluster: 'backend', regex_rewrite: { pattern: { regex: '^/users/([0-9]+)/profile$' }, substitution: '/v2/profile/\\1' } },
        },
      ]),
    });
    const seen = echoed((await request(p.port, { path: '/users/77/profile?full=1' })).body);
    expect(seen.url).toBe('/v2/profile/77?full=1');
    expect(seen.headers['x-envoy-original-path']).toBe('/users/77/profile?full=1');
  });

  it('host_rewrite_literal and auto_host_rewrite set the Host the origin sees', async () => {
    const o = await origin();
    const p = await proxy({
      clusters: {},
      clusterConfigs: [clusterConfig('named', [o.port], {}, ['origin.internal']), clusterConfig('plain', [o.port])],
      routeConfig: allDomains([
        { match: { prefix: '/literal' }, route: { cluster: 'plain', host_rewrite_literal: 'rewritten.example' } },
        // No hostname on the endpoint: auto_host_rewrite leaves Host alone.
        { match: { prefix: '/auto-plain' }, route: { cluster: 'plain', auto_host_rewrite: true } },
        { match: { prefix: '/auto' }, route: { cluster: 'named', auto_host_rewrite: true } },
        { match: { prefix: '/' }, route: { cluster: 'plain' } },
      ]),
    });
    const host = (path: string): Promise<string | undefined> =>
      request(p.port, { path, headers: { host: 'client.example' } }).then((r) => echoed(r.body).headers['host']);
    expect(await host('/literal')).toBe('rewritten.example');
    expect(await host('/auto')).toBe('origin.internal');
    expect(await host('/auto-plain')).toBe('client.example');
    expect(await host('/other')).toBe('client.example');
  });
});

describe('redirects and direct responses', () => {
  it('redirect: Location and status for path, prefix, host, https and strip_query redirects', async () => {
    const o = await origin();
    const p = await proxy({
      clusters: { backend: o.port },
      routeConfig: allDomains([
        { match: { prefix: '/moved' }, redirect: { path_redirect: '/new-home' } },
        { match: { prefix: '/docs/' }, redirect: { prefix_rewrite: '/manual/', response_code: 'FOUND' } },
        { match: { prefix: '/away' }, redirect: { host_redirect: 'other.example', response_code: 'TEMPORARY_REDIRECT' } },
        { match: { prefix: '/secure' }, redirect: { https_redirect: true, response_code: 'PERMANENT_REDIRECT' } },
        { match: { prefix: '/strip' }, redirect: { path_redirect: '/clean', strip_query: true, response_code: 'SEE_OTHER' } },
      ]),
    });
    const cases: Array<[string, number, string]> = [
      ['/moved?a=1', 301, 'http://site.test/new-home?a=1'],
      ['/docs/intro', 302, 'http://site.test/manual/intro'],
      ['/away/x', 307, 'http://other.example/away/x'],
      ['/secure/login', 308, 'https://site.test/secure/login'],
      ['/strip?token=1', 303, 'http://site.test/clean'],
    ];
    for (const [path, status, location] of cases) {
      const res = await request(p.port, { path, headers: { host: 'site.test' } });
      expect(res.status, path).toBe(status);
      expect(res.headers['location'], path).toBe(location);
      expect(res.body.length, path).toBe(0);
    }
    expect(o.requests).toHaveLength(0);
  });

  it('direct_response: status and inline body, never reaching the origin', async () => {
    const o = await origin();
    const p = await proxy({
      clusters: { backend: o.port },
      routeConfig: allDomains([
        { match: { path: '/teapot' }, direct_response: { status: 418, body: { inline_string: "I'm a teapot" } } },
        { match: { path: '/empty' }, direct_response: { status: 204 } },
        { match: { path: '/ok' }, direct_response: { status: 200, body: { inline_string: 'fine' } } },
      ]),
    });
    const teapot = await request(p.port, { path: '/teapot' });
    expect(teapot.status).toBe(418);
    expect(teapot.body.toString()).toBe("I'm a teapot");
    expect(teapot.headers['content-length']).toBe('12');
    expect(teapot.headers['content-type']).toBe('text/plain');
    const empty = await request(p.port, { path: '/empty' });
    expect(empty.status).toBe(204);
    expect(empty.body.length).toBe(0);
    const ok = await request(p.port, { method: 'POST', path: '/ok', body: 'ignored body' });
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe('fine');
    expect(o.requests).toHaveLength(0);
    expect(p.counter('http.e2e.downstream_rq_4xx')).toBe(1);
    expect(p.counter('http.e2e.downstream_rq_2xx')).toBe(2);
  });
});

describe('header mutations at route, virtual host and route_config level', () => {
  const add = (key: string, value: string, action?: string): unknown => ({
    header: { key, value },
    ...(action !== undefined ? { append_action: action } : {}),
  });

  function routeConfig(mostSpecificWins: boolean): unknown {
    return {
      most_specific_header_mutations_wins: mostSpecificWins,
      request_headers_to_add: [add('x-level-config', 'config'), add('x-who', 'config', 'OVERWRITE_IF_EXISTS_OR_ADD')],
      request_headers_to_remove: ['x-drop-config'],
      response_headers_to_add: [add('x-resp-config', 'config'), add('x-resp-who', 'config', 'OVERWRITE_IF_EXISTS_OR_ADD')],
      response_headers_to_remove: ['x-origin'],
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          request_headers_to_add: [add('x-level-vhost', 'vhost'), add('x-who', 'vhost', 'OVERWRITE_IF_EXISTS_OR_ADD')],
          request_headers_to_remove: ['x-drop-vhost'],
          response_headers_to_add: [add('x-resp-vhost', 'vhost'), add('x-resp-who', 'vhost', 'OVERWRITE_IF_EXISTS_OR_ADD')],
          routes: [
            {
              match: { prefix: '/direct' },
              direct_response: { status: 200, body: { inline_string: 'direct' } },
              response_headers_to_add: [add('x-resp-route', 'direct')],
            },
            {
              match: { prefix: '/' },
              route: { cluster: 'backend' },
              request_headers_to_add: [
                add('x-level-route', 'route'),
                add('x-who', 'route', 'OVERWRITE_IF_EXISTS_OR_ADD'),
                add('x-client', 'added', 'APPEND_IF_EXISTS_OR_ADD'),
                add('x-keep', 'proxy', 'ADD_IF_ABSENT'),
                add('x-peer', '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%'),
              ],
              request_headers_to_remove: ['x-drop-route'],
              response_headers_to_add: [add('x-resp-route', 'route'), add('x-resp-who', 'route', 'OVERWRITE_IF_EXISTS_OR_ADD')],
            },
          ],
        },
      ],
    };
  }

  it('adds and removes request and response headers at every level; the route_config wins by default', async () => {
    const o = await origin();
    const p = await proxy({ clusters: { backend: o.port }, routeConfig: routeConfig(false) });
    const res = await request(p.port, {
      path: '/m',
      headers: { 'x-drop-config': '1', 'x-drop-vhost': '1', 'x-drop-route': '1', 'x-client': 'mine', 'x-keep': 'client' },
    });
    expect(res.status).toBe(200);
    const h = echoed(res.body).headers;
    expect(h['x-level-config']).toBe('config');
    expect(h['x-level-vhost']).toBe('vhost');
    expect(h['x-level-route']).toBe('route');
    expect(h['x-who']).toBe('config');
    expect(h['x-drop-config']).toBeUndefined();
    expect(h['x-drop-vhost']).toBeUndefined();
    expect(h['x-drop-route']).toBeUndefined();
    // node:http joins repeated headers with ", ".
    expect(h['x-client']).toBe('mine, added');
    expect(h['x-keep']).toBe('client');
    expect(h['x-peer']).toBe('127.0.0.1');
    expect(res.headers['x-resp-config']).toBe('config');
    expect(res.headers['x-resp-vhost']).toBe('vhost');
    expect(res.headers['x-resp-route']).toBe('route');
    expect(res.headers['x-resp-who']).toBe('config');
    expect(res.headers['x-origin']).toBeUndefined();
  });

  it('most_specific_header_mutations_wins lets the route win', async () => {
    const o = await origin();
    const p = await proxy({ clusters: { backend: o.port }, routeConfig: routeConfig(true) });
    const res = await request(p.port, { path: '/m' });
    expect(echoed(res.body).headers['x-who']).toBe('route');
    expect(res.headers['x-resp-who']).toBe('route');
  });

  it('response_headers_to_add applies to direct responses and to local replies', async () => {
    const o = await origin();
    const p = await proxy({ clusters: { backend: o.port }, routeConfig: routeConfig(false) });
    const res = await request(p.port, { path: '/direct' });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('direct');
    expect(res.headers['x-resp-route']).toBe('direct');
    expect(res.headers['x-resp-vhost']).toBe('vhost');
    expect(res.headers['x-resp-config']).toBe('config');
    await o.close();
    // The origin is gone: a 503 local reply on the forwarding route carries its mutations too.
    const failed = await request(p.port, { path: '/down' });
    expect(failed.status).toBe(503);
    expect(failed.headers['x-resp-route']).toBe('route');
    expect(failed.headers['x-resp-config']).toBe('config');
  });
});
