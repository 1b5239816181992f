import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config/config-error.js';
import { loadBootstrap, loadConfigText, parseConfigText } from '../../../../src/config/load.js';
import { CONNECTION_LIMIT_TYPE, fakeConnectionLimit, fakeRegistry, fakeTcpProxy, TCP_PROXY_TYPE } from './fake-filters.js';

/** A valid bootstrap; each bad-config row breaks one thing in a fresh copy. */
function base(): Record<string, any> {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } },
    static_resources: {
      listeners: [
        {
          name: 'ingress',
          address: { socket_address: { address: '127.0.0.1', port_value: 10000 } },
          filter_chains: [
            {
              filters: [
                { name: 'envoy.filters.network.connection_limit', typed_config: { '@type': CONNECTION_LIMIT_TYPE, stat_prefix: 'cl', max_connections: 10 } },
                { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: 'tcp', cluster: 'origin' } },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'origin',
          connect_timeout: '0.25s',
          load_assignment: {
            cluster_name: 'origin',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8081 } } } }] }],
          },
        },
      ],
    },
  };
}

type Row = [label: string, mutate: (c: Record<string, any>) => void, path: string, message: string];

const L0 = 'static_resources.listeners[0]';
const C0 = 'static_resources.clusters[0]';
const EP0 = `${C0}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address`;
const F = `${L0}.filter_chains[0].filters`;

const badConfigs: Row[] = [
  ['duration without unit', (c) => (c.static_resources.clusters[0].connect_timeout = '5'), `${C0}.connect_timeout`, 'expected a duration like "0.25s"'],
  ['duration in ms', (c) => (c.static_resources.clusters[0].connect_timeout = '250ms'), `${C0}.connect_timeout`, 'expected a duration like "0.25s"'],
  ['duration as a number', (c) => (c.static_resources.clusters[0].connect_timeout = 5), `${C0}.connect_timeout`, 'expected a duration like "0.25s"'],
  ['negative duration', (c) => (c.static_resources.clusters[0].connect_timeout = '-1s'), `${C0}.connect_timeout`, 'duration must not be negative'],
  ['zero connect timeout', (c) => (c.static_resources.clusters[0].connect_timeout = '0s'), `${C0}.connect_timeout`, 'duration must be greater than 0s'],
  ['unknown top-level field', (c) => (c.static_ressources = {}), '(root)', 'unknown field "static_ressources"'],
  ['unknown listener field', (c) => (c.static_resources.listeners[0].bogus = 1), L0, 'unknown field "bogus"'],
  ['unknown socket_address field', (c) => (c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port = 1), EP0, 'unknown field "port"'],
  ['unknown filter_chain_match field', (c) => (c.static_resources.listeners[0].filter_chains[0].filter_chain_match = { sni: ['a'] }), `${L0}.filter_chains[0].filter_chain_match`, 'unknown field "sni"'],
  ['transport_socket', (c) => (c.static_resources.listeners[0].filter_chains[0].transport_socket = { name: 'tls' }), `${L0}.filter_chains[0].transport_socket.name`, 'unknown transport socket "tls" (known: envoy.transport_sockets.raw_buffer, envoy.transport_sockets.tls)'],
  ['health_checks', (c) => (c.static_resources.clusters[0].health_checks = []), C0, 'field "health_checks" is not supported by sluice yet'],
  ['secrets', (c) => (c.static_resources.secrets = []), 'static_resources', 'field "secrets" is not supported by sluice yet'],
  ['dynamic_resources', (c) => (c.dynamic_resources = {}), '(root)', 'field "dynamic_resources" is not supported by sluice yet'],
  ['listener port too large', (c) => (c.static_resources.listeners[0].address.socket_address.port_value = 70000), `${L0}.address.socket_address.port_value`, 'expected a port number in [0, 65535], got 70000'],
  ['port as a word', (c) => (c.admin.address.socket_address.port_value = 'http'), 'admin.address.socket_address.port_value', 'expected a port number in [0, 65535], got "http"'],
  ['endpoint port 0', (c) => (c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 0), `${EP0}.port_value`, 'expected a port number in [1, 65535], got 0'],
  ['DNS name as address', (c) => (c.static_resources.listeners[0].address.socket_address.address = 'localhost'), `${L0}.address.socket_address.address`, 'expected an IP address, got "localhost" (DNS names are not supported by sluice yet)'],
  ['missing cluster name', (c) => delete c.static_resources.clusters[0].name, `${C0}.name`, 'required field is missing'],
  ['empty cluster name', (c) => (c.static_resources.clusters[0].name = ''), `${C0}.name`, 'must not be empty'],
  ['missing listener address', (c) => delete c.static_resources.listeners[0].address, `${L0}.address`, 'required field is missing'],
  ['missing admin address', (c) => (c.admin = {}), 'admin.address', 'required field is missing'],
  [
    'duplicate cluster names',
    (c) => c.static_resources.clusters.push({ ...c.static_resources.clusters[0] }),
    'static_resources.clusters[1].name',
    'duplicate cluster name "origin" (also static_resources.clusters[0])',
  ],
  [
    'duplicate listener names',
    (c) => c.static_resources.listeners.push({ ...c.static_resources.listeners[0], address: { socket_address: { address: '127.0.0.1', port_value: 10001 } } }),
    'static_resources.listeners[1].name',
    'duplicate listener name "ingress" (also static_resources.listeners[0])',
  ],
  [
    'listener on the admin address',
    (c) => (c.static_resources.listeners[0].address.socket_address.port_value = 9901),
    `${L0}.address`,
    'address 127.0.0.1:9901 is already used by admin.address',
  ],
  [
    'wildcard listener on the admin port',
    (c) => (c.static_resources.listeners[0].address.socket_address = { address: '0.0.0.0', port_value: 9901 }),
    `${L0}.address`,
    'address 0.0.0.0:9901 is already used by admin.address',
  ],
  ['bad lb_policy', (c) => (c.static_resources.clusters[0].lb_policy = 'ROUND'), `${C0}.lb_policy`, 'expected one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, got "ROUND"'],
  ['MAGLEV', (c) => (c.static_resources.clusters[0].lb_policy = 'MAGLEV'), `${C0}.lb_policy`, 'MAGLEV is not supported by sluice yet'],
  ['STRICT_DNS', (c) => (c.static_resources.clusters[0].type = 'STRICT_DNS'), `${C0}.type`, 'STRICT_DNS is not supported by sluice yet'],
  ['bad cluster type', (c) => (c.static_resources.clusters[0].type = 'STATICK'), `${C0}.type`, 'expected one of STATIC, got "STATICK"'],
  ['negative max_connections', (c) => (c.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_connections: -1 }] }), `${C0}.circuit_breakers.thresholds[0].max_connections`, 'expected an integer in [0, 4294967295], got -1'],
  [
    'duplicate threshold priority',
    (c) => (c.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_connections: 1 }, { priority: 'DEFAULT' }] }),
    `${C0}.circuit_breakers.thresholds[1].priority`,
    'duplicate thresholds for priority DEFAULT',
  ],
  ['fractional buffer limit', (c) => (c.static_resources.clusters[0].per_connection_buffer_limit_bytes = 1.5), `${C0}.per_connection_buffer_limit_bytes`, 'expected an integer in [0, 4294967295], got 1.5'],
  ['clusters not a list', (c) => (c.static_resources.clusters = { name: 'x' }), 'static_resources.clusters', 'expected a list, got an object'],
  ['listener not an object', (c) => (c.static_resources.listeners[0] = 'ingress'), L0, 'expected an object, got "ingress"'],
  ['no filter chains', (c) => (c.static_resources.listeners[0].filter_chains = []), `${L0}.filter_chains`, 'no filter chains specified'],
  ['empty filter list', (c) => (c.static_resources.listeners[0].filter_chains[0].filters = []), `${L0}.filter_chains[0].filters`, 'must have at least one entry'],
  [
    'same filter_chain_match twice',
    (c) => c.static_resources.listeners[0].filter_chains.push(c.static_resources.listeners[0].filter_chains[0]),
    `${L0}.filter_chains[1].filter_chain_match`,
    'same matching rules as filter_chains[0]',
  ],
  ['endpoint priority 1', (c) => (c.static_resources.clusters[0].load_assignment.endpoints[0].priority = 1), `${C0}.load_assignment.endpoints[0].priority`, 'priorities other than 0 are not supported by sluice yet'],
  [
    'HttpProtocolOptions with deprecated http2_protocol_options',
    (c) => {
      c.static_resources.clusters[0].http2_protocol_options = {};
      c.static_resources.clusters[0].typed_extension_protocol_options = {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: {} },
        },
      };
    },
    `${C0}.typed_extension_protocol_options`,
    'cannot be combined with the deprecated cluster fields http_protocol_options, http2_protocol_options, common_http_protocol_options and protocol_selection',
  ],
  [
    'explicit_http_config with both protocols',
    (c) =>
      (c.static_resources.clusters[0].typed_extension_protocol_options = {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http_protocol_options: {}, http2_protocol_options: {} },
        },
      }),
    `${C0}.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config`,
    'exactly one of http_protocol_options, http2_protocol_options is required',
  ],
  [
    'http2 window too small',
    (c) => (c.static_resources.clusters[0].http2_protocol_options = { initial_stream_window_size: 1000 }),
    `${C0}.http2_protocol_options.initial_stream_window_size`,
    'expected an integer in [65535, 2147483647], got 1000',
  ],
  ['unknown filter name', (c) => (c.static_resources.listeners[0].filter_chains[0].filters[1] = { name: 'envoy.filters.network.echo2' }), `${F}[1].name`, 'unknown network filter "envoy.filters.network.echo2" (known: envoy.filters.network.connection_limit, envoy.filters.network.tcp_proxy)'],
  [
    'wrong @type for the filter',
    (c) => (c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo'),
    `${F}[1].typed_config.@type`,
    'type "type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo" is not a config of network filter "envoy.filters.network.tcp_proxy" (expected type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy)',
  ],
  [
    'terminal filter not last',
    (c) => c.static_resources.listeners[0].filter_chains[0].filters.unshift(c.static_resources.listeners[0].filter_chains[0].filters[1]),
    `${F}[0]`,
    'terminal filter "envoy.filters.network.tcp_proxy" must be the last filter in a network filter chain',
  ],
  ['unknown cluster in tcp_proxy', (c) => (c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config.cluster = 'nope'), `${F}[1].typed_config.cluster`, 'unknown cluster "nope"'],
  ['bad filter typed_config field', (c) => (c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.max_connections = 0), `${F}[0].typed_config.max_connections`, 'expected an integer in [1, 4294967295], got 0'],
  ['unknown field in filter typed_config', (c) => (c.static_resources.listeners[0].filter_chains[0].filters[1].typed_config.clustr = 'x'), `${F}[1].typed_config`, 'unknown field "clustr"'],
  [
    'partial wildcard in server_names',
    (c) => (c.static_resources.listeners[0].filter_chains[0].filter_chain_match = { server_names: ['a.example.com', '*example.com'] }),
    `${L0}.filter_chains[0].filter_chain_match.server_names[1]`,
    'partial wildcard "*example.com" is not supported: a wildcard must be a whole leading label, as in "*.example.com"',
  ],
  [
    'wildcard not in the leading label',
    (c) => (c.static_resources.listeners[0].filter_chains[0].filter_chain_match = { server_names: ['api.*.example.com'] }),
    `${L0}.filter_chains[0].filter_chain_match.server_names[0]`,
    'partial wildcard "api.*.example.com" is not supported: a wildcard must be a whole leading label, as in "*.example.com"',
  ],
  [
    'overlapping filter_chain_match',
    (c) => {
      const chains = c.static_resources.listeners[0].filter_chains;
      chains[0].filter_chain_match = { server_names: ['a.example.com', 'b.example.com'], transport_protocol: 'tls' };
      chains.push({ ...chains[0], filter_chain_match: { server_names: ['c.example.com', 'B.example.com'], transport_protocol: 'tls' } });
    },
    `${L0}.filter_chains[1].filter_chain_match`,
    'matching rules overlap with filter_chains[0] (a connection could match both)',
  ],
  [
    'same filter_chain_match in another order and case',
    (c) => {
      const chains = c.static_resources.listeners[0].filter_chains;
      chains[0].filter_chain_match = { server_names: ['a.example.com', 'b.example.com'], application_protocols: ['h2', 'http/1.1'] };
      chains.push({ ...chains[0], filter_chain_match: { server_names: ['B.example.com', 'a.example.com'], application_protocols: ['http/1.1', 'h2'] } });
    },
    `${L0}.filter_chains[1].filter_chain_match`,
    'same matching rules as filter_chains[0]',
  ],
  [
    'a server name listed twice',
    (c) => (c.static_resources.listeners[0].filter_chains[0].filter_chain_match = { server_names: ['a.example.com', 'A.example.com'] }),
    `${L0}.filter_chains[0].filter_chain_match.server_names[1]`,
    'duplicate server name "a.example.com"',
  ],
];

describe('bad configs are rejected with the path of the problem', () => {
  it('has a row per case', () => {
    expect(badConfigs.length).toBeGreaterThanOrEqual(40);
  });

  it.each(badConfigs)('%s', (_label, mutate, path, detail) => {
    const raw = base();
    mutate(raw);
    let err: unknown;
    try {
      loadBootstrap(raw, fakeRegistry());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.message).toBe(`${path}: ${detail}`);
    expect(ce.path).toBe(path === '(root)' ? '' : path);
    expect(ce.problems).toHaveLength(1);
  });

  it('the base config itself is valid', () => {
    expect(() => loadBootstrap(base(), fakeRegistry())).not.toThrow();
  });

  it('lists every problem, one line each, in document order', () => {
    const raw = base();
    raw.static_resources.listeners[0].address.socket_address.port_value = -1;
    raw.static_resources.clusters[0].connect_timeout = '1';
    raw.static_resources.clusters[0].lb_policy = 'FASTEST';
    expect(() => loadBootstrap(raw, fakeRegistry())).toThrow(
      new ConfigError(`${L0}.address.socket_address.port_value`, 'expected a port number in [0, 65535], got -1', [
        { path: `${C0}.connect_timeout`, detail: 'expected a duration like "0.25s"' },
        { path: `${C0}.lb_policy`, detail: 'expected one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, got "FASTEST"' },
      ]).message,
    );
  });

  it('reports a non-terminal last filter', () => {
    const raw = base();
    raw.static_resources.listeners[0].filter_chains[0].filters.pop();
    expect(() => loadBootstrap(raw, fakeRegistry())).toThrow(
      `${F}[0]: non-terminal filter "envoy.filters.network.connection_limit" is the last filter in a network filter chain`,
    );
  });
});

describe('YAML', () => {
  it('reports syntax errors with line and column', () => {
    const text = 'static_resources:\n  clusters:\n  - name: a\n     connect_timeout: 1s\n';
    let err: unknown;
    try {
      parseConfigText(text, 'sluice.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe('sluice.yaml:3:11');
    expect((err as ConfigError).message).toBe(
      [
        'sluice.yaml:3:11: YAML syntax error: Nested mappings are not allowed in compact mappings',
        'sluice.yaml:3:11: YAML syntax error: Implicit keys need to be on a single line',
      ].join('\n'),
    );
  });

  it('rejects duplicate keys with their line', () => {
    expect(() => parseConfigText('admin: {}\nnode: {}\nadmin: {}\n', 'c.yaml')).toThrow(/^c\.yaml:3:1: YAML syntax error: Map keys must be unique/);
  });

  it('rejects several documents', () => {
    expect(() => parseConfigText('node: {}\n---\nnode: {}\n', 'c.yaml')).toThrow('c.yaml:2:1: expected one YAML document, found several');
  });

  it('reads JSON too', () => {
    expect(parseConfigText('{"node": {"id": "n1"}, "layered_runtime": {}}')).toEqual({ node: { id: 'n1' }, layered_runtime: {} });
  });

  it('treats an empty document as an empty bootstrap', () => {
    expect(parseConfigText('')).toEqual({});
    expect(parseConfigText('# nothing\n')).toEqual({});
    expect(loadConfigText('', fakeRegistry())).toEqual({ node: { id: '', cluster: '' }, admin: undefined, listeners: [], clusters: [] });
  });

  it('keeps YAML 1.2 scalars as strings (no yes/no booleans)', () => {
    expect(() => loadConfigText('static_resources:\n  listeners:\n  - address: {socket_address: {address: 127.0.0.1}}\n    continue_on_listener_filters_timeout: yes\n    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy}]}]\n', fakeRegistry())).toThrow(
      `${L0}.continue_on_listener_filters_timeout: expected true or false, got "yes"`,
    );
  });
});

describe('filters are parsed by their factories', () => {
  it('resolves filters by @type, strips @type and keeps their parsed config', () => {
    const raw = base();
    raw.static_resources.listeners[0].filter_chains[0].filters[1].name = 'my_proxy';
    const b = loadBootstrap(raw, fakeRegistry());
    const chain = b.listeners[0]!.filterChains[0]!;
    expect(chain.filters.map((f) => ({ name: f.name, factory: f.factory, config: f.config, path: f.path }))).toEqual([
      { name: 'envoy.filters.network.connection_limit', factory: fakeConnectionLimit, config: { statPrefix: 'cl', maxConnections: 10 }, path: `${F}[0]` },
      { name: 'my_proxy', factory: fakeTcpProxy, config: { statPrefix: 'tcp', cluster: 'origin' }, path: `${F}[1]` },
    ]);
  });

  it('finds a filter by name when typed_config has no @type', () => {
    const raw = base();
    delete raw.static_resources.listeners[0].filter_chains[0].filters[1].typed_config['@type'];
    const b = loadBootstrap(raw, fakeRegistry());
    expect(b.listeners[0]!.filterChains[0]!.filters[1]!.factory).toBe(fakeTcpProxy);
  });

  it('gives a factory {} when typed_config is absent, so it names its required fields', () => {
    const raw = base();
    delete raw.static_resources.listeners[0].filter_chains[0].filters[1].typed_config;
    expect(() => loadBootstrap(raw, fakeRegistry())).toThrow(
      [`${F}[1].typed_config.stat_prefix: required field is missing`, `${F}[1].typed_config.cluster: required field is missing`].join('\n'),
    );
  });

  it('resolves listener filters and the default filter chain', () => {
    const raw = base();
    raw.static_resources.listeners[0].listener_filters = [
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
    ];
    raw.static_resources.listeners[0].default_filter_chain = { filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { stat_prefix: 'd', cluster: 'origin' } }] };
    const l = loadBootstrap(raw, fakeRegistry()).listeners[0]!;
    expect(l.listenerFilters.map((f) => [f.name, f.config, f.path])).toEqual([['envoy.filters.listener.tls_inspector', {}, `${L0}.listener_filters[0]`]]);
    expect(l.defaultFilterChain?.filters.map((f) => [f.config, f.path])).toEqual([[{ statPrefix: 'd', cluster: 'origin' }, `${L0}.default_filter_chain.filters[0]`]]);
  });

  it('reports an unknown listener filter at its name', () => {
    const raw = base();
    raw.static_resources.listeners[0].listener_filters = [{ name: 'envoy.filters.listener.proxy_protocol' }];
    expect(() => loadBootstrap(raw, fakeRegistry())).toThrow(
      `${L0}.listener_filters[0].name: unknown listener filter "envoy.filters.listener.proxy_protocol" (known: envoy.filters.listener.tls_inspector)`,
    );
  });

  it('gives the HTTP filter lookup to factories', () => {
    const seen: unknown[] = [];
    const registry = fakeRegistry().registerNetworkFilter({
      name: 'probe',
      typeUrls: ['type.googleapis.com/probe'],
      isTerminalFilter: true,
      parseConfig: (_raw, _path, ctx) => {
        seen.push(ctx?.httpFilterFactory('envoy.filters.http.router', undefined), ctx?.clusterExists('origin'), ctx?.clusterExists('x'));
        return {};
      },
      createFilterFactory: () => () => undefined,
    });
    const router = { name: 'envoy.filters.http.router', typeUrls: ['type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'], isTerminalFilter: true, parseConfig: () => ({}), createFilterFactory: () => () => undefined };
    registry.registerHttpFilter(router);
    const raw = base();
    raw.static_resources.listeners[0].filter_chains[0].filters = [{ name: 'probe' }];
    loadBootstrap(raw, registry);
    expect(seen).toEqual([router, true, false]);
  });
});

describe('filter_chain_match: chains that do not overlap are accepted', () => {
  it.each([
    ['an exact name and a wildcard covering it', [{ server_names: ['a.example.com'] }, { server_names: ['*.example.com'] }]],
    ['set and unset server_names', [{ server_names: ['a.example.com'] }, {}]],
    ['the same names on different transport protocols', [{ server_names: ['a.example.com'], transport_protocol: 'tls' }, { server_names: ['a.example.com'] }]],
    ['the same names with disjoint ALPN lists', [{ server_names: ['a.example.com'], application_protocols: ['h2'] }, { server_names: ['a.example.com'], application_protocols: ['http/1.1'] }]],
    ['the same names on different destination ports', [{ server_names: ['a.example.com'], destination_port: 443 }, { server_names: ['a.example.com'], destination_port: 8443 }]],
  ])('%s', (_label, matches) => {
    const raw = base();
    const chain = raw.static_resources.listeners[0].filter_chains[0];
    raw.static_resources.listeners[0].filter_chains = matches.map((m) => ({ ...chain, filter_chain_match: m }));
    expect(loadBootstrap(raw, fakeRegistry()).listeners[0]!.filterChains).toHaveLength(2);
  });
});
