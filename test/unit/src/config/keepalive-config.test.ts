/**
 * `http2_protocol_options.connection_keepalive` (envoy.config.core.v3.KeepaliveSettings) in the
 * HTTP connection manager and in clusters (the deprecated cluster field and
 * HttpProtocolOptions.explicit_http_config): parsed to ms with Envoy's defaults, handed to the
 * codecs' options, and rejected with the exact path of the field at fault.
 */
import { describe, expect, it } from 'vitest';
import { clientCodecOptionsFor } from '../../../../codecs/codec-client.js';
import { HCM_TYPE_URL, parseHcmConfig } from '../../../../filters/network/http-connection-manager/config.js';
import { parseBootstrap } from '../../../../src/config/bootstrap.js';
import { http2ProtocolOptionsSchema } from '../../../../src/config/protocol-options.js';
import { parseWith } from '../../../../src/config/schema-helpers.js';
import { clusterOptions } from '../../../../src/server/server.js';
import { configErrorOf } from '../../../support/config-errors.js';

const KP = 'h2.connection_keepalive';

describe('connection_keepalive schema', () => {
  it('applies Envoy defaults: no interval PINGs, 15% jitter, no idle interval', () => {
    expect(parseWith(http2ProtocolOptionsSchema, { connection_keepalive: { timeout: '5s' } }, 'h2')).toEqual({
      connectionKeepalive: { intervalMs: 0, timeoutMs: 5000, intervalJitterPercent: 15, connectionIdleIntervalMs: 0 },
    });
  });

  it('reads every field', () => {
    const raw = { interval: '30s', timeout: '0.1s', interval_jitter: { value: 2.5 }, connection_idle_interval: { seconds: 60, nanos: 500_000_000 } };
    expect(parseWith(http2ProtocolOptionsSchema, { connection_keepalive: raw }, 'h2')).toEqual({
      connectionKeepalive: { intervalMs: 30_000, timeoutMs: 100, intervalJitterPercent: 2.5, connectionIdleIntervalMs: 60_500 },
    });
  });

  it.each([
    [{}, `${KP}.timeout`, 'required field is missing'],
    [{ timeout: '0s' }, `${KP}.timeout`, 'duration must be at least 1ms'],
    [{ timeout: '0.0005s' }, `${KP}.timeout`, 'duration must be at least 1ms'],
    [{ timeout: '1s', interval: '0s' }, `${KP}.interval`, 'duration must be at least 1ms'],
    [{ timeout: '1s', interval: '5' }, `${KP}.interval`, 'expected a duration like "0.25s"'],
    [{ timeout: '1s', connection_idle_interval: '0s' }, `${KP}.connection_idle_interval`, 'duration must be at least 1ms'],
    [{ timeout: '1s', interval_jitter: { value: 101 } }, `${KP}.interval_jitter.value`, 'expected a number in [0, 100], got 101'],
    [{ timeout: '1s', interval_jitter: 15 }, `${KP}.interval_jitter`, 'expected an object, got 15'],
    [{ timeout: '1s', bogus: 1 }, KP, 'unknown field "bogus"'],
  ])('rejects %j', (raw, path, detail) => {
    const e = configErrorOf(() => parseWith(http2ProtocolOptionsSchema, { connection_keepalive: raw }, 'h2'));
    expect(e.problems).toEqual([{ path, detail }]);
  });
});

describe('connection_keepalive in the HTTP connection manager', () => {
  const P = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
  const hcm = (h2: unknown): Record<string, unknown> => ({
    '@type': HCM_TYPE_URL,
    stat_prefix: 'in',
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] },
    http_filters: [{ name: 'envoy.filters.http.router' }],
    http2_protocol_options: h2,
  });

  it('reaches the downstream codec options', () => {
    const c = parseHcmConfig(hcm({ connection_keepalive: { interval: '0.1s', timeout: '0.1s', interval_jitter: { value: 0 } } }), P);
    expect(c.settings.http2.connectionKeepalive).toEqual({ intervalMs: 100, timeoutMs: 100, intervalJitterPercent: 0, connectionIdleIntervalMs: 0 });
  });

  it('is absent unless configured', () => {
    expect(parseHcmConfig(hcm({}), P).settings.http2.connectionKeepalive).toBeUndefined();
  });

  it('reports errors at the field', () => {
    const e = configErrorOf(() => parseHcmConfig(hcm({ connection_keepalive: { interval: '1s' } }), P));
    expect(e.problems).toEqual([{ path: `${P}.http2_protocol_options.connection_keepalive.timeout`, detail: 'required field is missing' }]);
  });
});

describe('connection_keepalive in clusters', () => {
  const C0 = 'static_resources.clusters[0]';
  const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
  const cluster = (extra: Record<string, unknown>): unknown => ({
    static_resources: {
      clusters: [
        {
          name: 'up',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'up', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }] },
          ...extra,
        },
      ],
    },
  });
  const typed = (h2: unknown): Record<string, unknown> => ({
    typed_extension_protocol_options: {
      [HPO]: { '@type': `type.googleapis.com/${HPO}`, explicit_http_config: { http2_protocol_options: h2 } },
    },
  });
  const KEEPALIVE = { interval: '10s', timeout: '2s', connection_idle_interval: '30s' };
  const EXPECTED = { intervalMs: 10_000, timeoutMs: 2000, intervalJitterPercent: 15, connectionIdleIntervalMs: 30_000 };

  it('explicit_http_config.http2_protocol_options reaches the upstream codec options', () => {
    const c = parseBootstrap(cluster(typed({ connection_keepalive: KEEPALIVE, max_concurrent_streams: 50 }))).clusters[0]!;
    expect(c.upstreamProtocol).toBe('http2');
    const opts = clusterOptions(c);
    expect(opts.http2Options).toEqual({ connectionKeepalive: EXPECTED, maxConcurrentStreams: 50 });
    const codec = clientCodecOptionsFor(opts.http2Options).http2;
    expect(codec.connectionKeepalive).toEqual(EXPECTED);
    expect(codec.maxConcurrentStreams).toBe(50);
  });

  it('the deprecated cluster http2_protocol_options field works the same', () => {
    const c = parseBootstrap(cluster({ http2_protocol_options: { connection_keepalive: KEEPALIVE } })).clusters[0]!;
    expect(clientCodecOptionsFor(clusterOptions(c).http2Options).http2.connectionKeepalive).toEqual(EXPECTED);
  });

  it('without it the upstream codec sends no keepalive PINGs', () => {
    const c = parseBootstrap(cluster(typed({}))).clusters[0]!;
    expect(clientCodecOptionsFor(clusterOptions(c).http2Options).http2.connectionKeepalive).toBeUndefined();
  });

  it.each([
    [
      typed({ connection_keepalive: { interval: '1s' } }),
      `${C0}.typed_extension_protocol_options["${HPO}"].explicit_http_config.http2_protocol_options.connection_keepalive.timeout`,
      'required field is missing',
    ],
    [
      { http2_protocol_options: { connection_keepalive: { timeout: '1s', interval_jitter: { value: -1 } } } },
      `${C0}.http2_protocol_options.connection_keepalive.interval_jitter.value`,
      'expected a number in [0, 100], got -1',
    ],
  ])('reports %#: errors at the exact path', (extra, path, detail) => {
    const e = configErrorOf(() => parseBootstrap(cluster(extra)));
    expect(e.problems).toEqual([{ path, detail }]);
  });
});
