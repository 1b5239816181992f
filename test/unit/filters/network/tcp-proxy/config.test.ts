import { describe, expect, it } from 'vitest';
import type { ConfigValidationContext } from '../../../../../src/api/filter-config.js';
import { FilterRegistry } from '../../../../../src/config/filter-registry.js';
import { loadBootstrap } from '../../../../../src/config/load.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  TCP_PROXY_FILTER_NAME,
  TCP_PROXY_TYPE_URL,
  parseTcpProxyConfig,
  tcpProxyFactory,
  type TcpProxyConfig,
} from '../../../../../filters/network/tcp-proxy/config.js';
import { problemLines } from '../../../../support/config-errors.js';

const P = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

const problems = (raw: unknown, ctx?: ConfigValidationContext): string[] => problemLines(() => parseTcpProxyConfig(raw, P, ctx));

describe('tcp_proxy config: accepted', () => {
  const base = { statPrefix: 'p', idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, maxConnectAttempts: 1, maxDownstreamConnectionDurationMs: 0 };
  const table: Array<[string, unknown, TcpProxyConfig]> = [
    ['a single cluster, Envoy defaults', { '@type': TCP_PROXY_TYPE_URL, stat_prefix: 'p', cluster: 'c' }, { ...base, clusters: [{ name: 'c', weight: 1 }] }],
    [
      'weighted clusters',
      { stat_prefix: 'p', weighted_clusters: { clusters: [{ name: 'a', weight: 3 }, { name: 'b', weight: '1' }] } },
      { ...base, clusters: [{ name: 'a', weight: 3 }, { name: 'b', weight: 1 }] },
    ],
    ['idle_timeout "0s" disables it', { stat_prefix: 'p', cluster: 'c', idle_timeout: '0s' }, { ...base, clusters: [{ name: 'c', weight: 1 }], idleTimeoutMs: 0 }],
    ['idle_timeout as a duration', { stat_prefix: 'p', cluster: 'c', idle_timeout: '0.25s' }, { ...base, clusters: [{ name: 'c', weight: 1 }], idleTimeoutMs: 250 }],
    ['idle_timeout in message form', { stat_prefix: 'p', cluster: 'c', idle_timeout: { seconds: 2, nanos: 5e8 } }, { ...base, clusters: [{ name: 'c', weight: 1 }], idleTimeoutMs: 2500 }],
    ['max_connect_attempts', { stat_prefix: 'p', cluster: 'c', max_connect_attempts: 3 }, { ...base, clusters: [{ name: 'c', weight: 1 }], maxConnectAttempts: 3 }],
    [
      'max_downstream_connection_duration of exactly 1ms',
      { stat_prefix: 'p', cluster: 'c', max_downstream_connection_duration: '0.001s' },
      { ...base, clusters: [{ name: 'c', weight: 1 }], maxDownstreamConnectionDurationMs: 1 },
    ],
  ];
  it.each(table)('%s', (_name, raw, expected) => {
    expect(parseTcpProxyConfig(raw, P)).toEqual(expected);
  });
});

describe('tcp_proxy config: rejected, with the path of the field', () => {
  const table: Array<[string, unknown, string[]]> = [
    ['not an object', 'cluster: c', [`${P}: expected an object, got "cluster: c"`]],
    ['null', null, [`${P}: expected an object, got null`]],
    ['stat_prefix missing', { cluster: 'c' }, [`${P}.stat_prefix: required field is missing`]],
    ['stat_prefix empty', { stat_prefix: '', cluster: 'c' }, [`${P}.stat_prefix: must not be empty`]],
    ['stat_prefix not a string', { stat_prefix: 7, cluster: 'c' }, [`${P}.stat_prefix: expected a string, got 7`]],
    ['no cluster', { stat_prefix: 'p' }, [`${P}: exactly one of "cluster" or "weighted_clusters" must be set, got neither`]],
    [
      'both cluster specifiers',
      { stat_prefix: 'p', cluster: 'c', weighted_clusters: { clusters: [{ name: 'a', weight: 1 }] } },
      [`${P}: exactly one of "cluster" or "weighted_clusters" must be set, got both`],
    ],
    ['empty cluster name', { stat_prefix: 'p', cluster: '' }, [`${P}.cluster: must not be empty`]],
    ['weighted_clusters without clusters', { stat_prefix: 'p', weighted_clusters: {} }, [`${P}.weighted_clusters.clusters: must have at least one entry`]],
    [
      'bad weighted entries, all reported',
      { stat_prefix: 'p', weighted_clusters: { clusters: [{ name: 'a', weight: 0 }, { name: '', weight: 1, extra: 1 }] } },
      [
        `${P}.weighted_clusters.clusters[0].weight: expected an integer in [1, 4294967295], got 0`,
        `${P}.weighted_clusters.clusters[1].name: must not be empty`,
        `${P}.weighted_clusters.clusters[1]: unknown field "extra"`,
      ],
    ],
    [
      'weighted entry metadata_match',
      { stat_prefix: 'p', weighted_clusters: { clusters: [{ name: 'a', weight: 1, metadata_match: {} }] } },
      [`${P}.weighted_clusters.clusters[0]: field "metadata_match" is not supported by sluice yet`],
    ],
    ['idle_timeout without unit', { stat_prefix: 'p', cluster: 'c', idle_timeout: '5' }, [`${P}.idle_timeout: expected a duration like "0.25s"`]],
    ['idle_timeout negative', { stat_prefix: 'p', cluster: 'c', idle_timeout: '-1s' }, [`${P}.idle_timeout: duration must not be negative`]],
    ['max_connect_attempts 0', { stat_prefix: 'p', cluster: 'c', max_connect_attempts: 0 }, [`${P}.max_connect_attempts: expected an integer in [1, 4294967295], got 0`]],
    ['max_connect_attempts fractional', { stat_prefix: 'p', cluster: 'c', max_connect_attempts: 1.5 }, [`${P}.max_connect_attempts: expected an integer in [1, 4294967295], got 1.5`]],
    [
      'max_downstream_connection_duration under 1ms',
      { stat_prefix: 'p', cluster: 'c', max_downstream_connection_duration: '0.0005s' },
      [`${P}.max_downstream_connection_duration: duration must be at least 1ms`],
    ],
    [
      'downstream_idle_timeout (not implemented by Envoy)',
      { stat_prefix: 'p', cluster: 'c', downstream_idle_timeout: '1s' },
      [`${P}: field "downstream_idle_timeout" is not implemented (Envoy does not implement it either); use idle_timeout`],
    ],
    [
      'upstream_idle_timeout (not implemented by Envoy)',
      { stat_prefix: 'p', cluster: 'c', upstream_idle_timeout: '1s' },
      [`${P}: field "upstream_idle_timeout" is not implemented (Envoy does not implement it either); use idle_timeout`],
    ],
    ['unknown field', { stat_prefix: 'p', cluster: 'c', clusterr: 'x' }, [`${P}: unknown field "clusterr"`]],
  ];
  it.each(table)('%s', (_name, raw, expected) => {
    expect(problems(raw)).toEqual(expected);
  });

  it.each([
    'on_demand',
    'metadata_match',
    'access_log',
    'backoff_options',
    'hash_policy',
    'tunneling_config',
    'max_downstream_connection_duration_jitter_percentage',
    'access_log_flush_interval',
    'flush_access_log_on_connected',
    'access_log_options',
    'proxy_protocol_tlvs',
  ])('Envoy field %s is named as not supported', (field) => {
    expect(problems({ stat_prefix: 'p', cluster: 'c', [field]: {} })).toEqual([`${P}: field "${field}" is not supported by sluice yet`]);
  });
});

describe('tcpProxyFactory', () => {
  it('is the terminal envoy.filters.network.tcp_proxy with the v3 type URL', () => {
    expect(tcpProxyFactory.name).toBe(TCP_PROXY_FILTER_NAME);
    expect(TCP_PROXY_FILTER_NAME).toBe('envoy.filters.network.tcp_proxy');
    expect(tcpProxyFactory.typeUrls).toEqual(['type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy']);
    expect(tcpProxyFactory.isTerminalFilter).toBe(true);
    expect(tcpProxyFactory.parseConfig({ stat_prefix: 'x', cluster: 'y' }, P).clusters).toEqual([{ name: 'y', weight: 1 }]);
  });
});

describe('tcp_proxy config: clusters checked against the bootstrap', () => {
  const known = new Set(['a', 'b']);
  const ctx: ConfigValidationContext = { clusterExists: (name) => known.has(name), httpFilterFactory: () => undefined };

  it('accepts clusters that exist', () => {
    expect(parseTcpProxyConfig({ stat_prefix: 'p', cluster: 'a' }, P, ctx).clusters).toEqual([{ name: 'a', weight: 1 }]);
    const weighted = { stat_prefix: 'p', weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 2 }] } };
    expect(parseTcpProxyConfig(weighted, P, ctx).clusters).toEqual([{ name: 'a', weight: 1 }, { name: 'b', weight: 2 }]);
  });

  it('names an unknown cluster at its path', () => {
    expect(problems({ stat_prefix: 'p', cluster: 'x' }, ctx)).toEqual([`${P}.cluster: unknown cluster "x"`]);
  });

  it('names every unknown weighted cluster at its own path', () => {
    const weighted = { stat_prefix: 'p', weighted_clusters: { clusters: [{ name: 'y', weight: 1 }, { name: 'a', weight: 1 }, { name: 'z', weight: 1 }] } };
    expect(problems(weighted, ctx)).toEqual([
      `${P}.weighted_clusters.clusters[0].name: unknown cluster "y"`,
      `${P}.weighted_clusters.clusters[2].name: unknown cluster "z"`,
    ]);
  });

  it('does not check clusters without a context (a filter config parsed on its own)', () => {
    expect(parseTcpProxyConfig({ stat_prefix: 'p', cluster: 'x' }, P).clusters).toEqual([{ name: 'x', weight: 1 }]);
  });
});

describe('tcp_proxy config in a whole bootstrap', () => {
  it('loadBootstrap rejects a tcp_proxy naming an undefined cluster, at the field', () => {
    const bootstrap = {
      static_resources: {
        listeners: [
          {
            name: 'l4',
            address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
            filter_chains: [{ filters: [{ name: TCP_PROXY_FILTER_NAME, typed_config: { '@type': TCP_PROXY_TYPE_URL, stat_prefix: 'p', cluster: 'x' } }] }],
          },
        ],
        clusters: [{ name: 'a', connect_timeout: '1s', load_assignment: { cluster_name: 'a', endpoints: [] } }],
      },
    };
    const registry = new FilterRegistry().registerNetworkFilter(tcpProxyFactory);
    expect(() => loadBootstrap(bootstrap, registry)).toThrow(
      'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster: unknown cluster "x"',
    );
    bootstrap.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.cluster = 'a';
    expect(loadBootstrap(bootstrap, registry).listeners).toHaveLength(1);
  });
});
