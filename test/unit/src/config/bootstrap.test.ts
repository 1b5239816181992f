import { describe, expect, it } from 'vitest';
import { parseBootstrap } from '../../../../src/config/bootstrap.js';
import { DEFAULT_CIRCUIT_BREAKER_THRESHOLDS } from '../../../../src/config/cluster-config.js';
import { parseConfigText } from '../../../../src/config/load.js';

const FULL = `
node: { id: edge-1, cluster: edge, metadata: { team: web } }
admin:
  access_log_path: /dev/null
  address: { socket_address: { address: "::1", port_value: 9901 } }
layered_runtime:
  layers: [{ name: static, static_layer: { some.key: 1 } }]
static_resources:
  listeners:
  - name: https
    address: { socket_address: { address: 0.0.0.0, port_value: 8443 } }
    stat_prefix: edge_https
    per_connection_buffer_limit_bytes: 32768
    listener_filters_timeout: 2s
    continue_on_listener_filters_timeout: true
    drain_type: MODIFY_ONLY
    tcp_backlog_size: 1024
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    filter_chains:
    - name: h2
      filter_chain_match:
        server_names: [a.example.com, b.example.com]
        application_protocols: [h2]
        destination_port: 8443
        transport_protocol: tls
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: t
          cluster: a
    - filters:
      - name: envoy.filters.network.tcp_proxy
  - address: { socket_address: { address: 127.0.0.1 } }
    filter_chains: [{ filters: [{ name: x }] }]
  clusters:
  - name: a
    type: STATIC
    connect_timeout: { seconds: 1, nanos: 500000000 }
    lb_policy: LEAST_REQUEST
    least_request_lb_config: { choice_count: 3, active_request_bias: { default_value: 0.5, runtime_key: k } }
    common_lb_config: { healthy_panic_threshold: { value: 25.5 } }
    alt_stat_name: a_stats
    per_connection_buffer_limit_bytes: "65536"
    max_requests_per_connection: 100
    circuit_breakers:
      thresholds:
      - { max_connections: 10, max_pending_requests: 20, max_requests: 30, max_retries: 4, max_connection_pools: 5, track_remaining: true }
      - { priority: HIGH, max_connections: 11 }
    common_http_protocol_options: { idle_timeout: 30s, max_headers_count: 50 }
    http2_protocol_options: { max_concurrent_streams: 100, initial_stream_window_size: 65536, allow_connect: true }
    load_assignment:
      cluster_name: a_endpoints
      endpoints:
      - locality: { zone: z1 }
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } }, hostname: one }
          load_balancing_weight: 3
        - endpoint: { address: { socket_address: { address: "fe80::1", port_value: 81 } } }
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 10.0.0.3, port_value: 82 } } }
  - name: b
    connect_timeout: 0.25s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        common_http_protocol_options: { idle_timeout: 0s, max_requests_per_connection: 7 }
        use_downstream_protocol_config:
          http_protocol_options: { accept_http_10: true, default_host_for_http_10: example.com }
          http2_protocol_options: { hpack_table_size: 0 }
  - name: c
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
`;

describe('parseBootstrap', () => {
  it('parses a full config to the exact typed result', () => {
    const b = parseBootstrap(parseConfigText(FULL));
    expect(b).toEqual({
      node: { id: 'edge-1', cluster: 'edge' },
      admin: { address: { address: '::1', port: 9901, family: 'IPv6' }, accessLogPath: '/dev/null' },
      listeners: [
        {
          name: 'https',
          address: { address: '0.0.0.0', port: 8443, family: 'IPv4' },
          statPrefix: 'edge_https',
          perConnectionBufferLimitBytes: 32768,
          listenerFilters: [
            {
              name: 'envoy.filters.listener.tls_inspector',
              typeUrl: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
              typedConfig: {},
              hasTypedConfig: true,
            },
          ],
          listenerFiltersTimeoutMs: 2000,
          continueOnListenerFiltersTimeout: true,
          filterChains: [
            {
              name: 'h2',
              match: {
                serverNames: ['a.example.com', 'b.example.com'],
                applicationProtocols: ['h2'],
                destinationPort: 8443,
                transportProtocol: 'tls',
              },
              filters: [
                {
                  name: 'envoy.filters.network.tcp_proxy',
                  typeUrl: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
                  typedConfig: { stat_prefix: 't', cluster: 'a' },
                  hasTypedConfig: true,
                },
              ],
            },
            {
              name: '',
              match: { serverNames: [], applicationProtocols: [], destinationPort: undefined, transportProtocol: '' },
              filters: [{ name: 'envoy.filters.network.tcp_proxy', typeUrl: undefined, typedConfig: {}, hasTypedConfig: false }],
            },
          ],
          defaultFilterChain: undefined,
          drainType: 'MODIFY_ONLY',
          tcpBacklogSize: 1024,
        },
        {
          name: 'listener_1',
          address: { address: '127.0.0.1', port: 0, family: 'IPv4' },
          statPrefix: '',
          perConnectionBufferLimitBytes: 1048576,
          listenerFilters: [],
          listenerFiltersTimeoutMs: 15000,
          continueOnListenerFiltersTimeout: false,
          filterChains: [
            {
              name: '',
              match: { serverNames: [], applicationProtocols: [], destinationPort: undefined, transportProtocol: '' },
              filters: [{ name: 'x', typeUrl: undefined, typedConfig: {}, hasTypedConfig: false }],
            },
          ],
          defaultFilterChain: undefined,
          drainType: 'DEFAULT',
          tcpBacklogSize: undefined,
        },
      ],
      clusters: [
        {
          name: 'a',
          altStatName: 'a_stats',
          type: 'STATIC',
          connectTimeoutMs: 1500,
          lbPolicy: 'LEAST_REQUEST',
          leastRequestChoiceCount: 3,
          leastRequestActiveRequestBias: 0.5,
          healthyPanicThresholdPercent: 25.5,
          loadAssignmentClusterName: 'a_endpoints',
          endpoints: [
            { address: { address: '10.0.0.1', port: 80, family: 'IPv4' }, hostname: 'one', loadBalancingWeight: 3 },
            { address: { address: 'fe80::1', port: 81, family: 'IPv6' }, hostname: '', loadBalancingWeight: 1 },
            { address: { address: '10.0.0.3', port: 82, family: 'IPv4' }, hostname: '', loadBalancingWeight: 1 },
          ],
          circuitBreakers: {
            default: { maxConnections: 10, maxPendingRequests: 20, maxRequests: 30, maxRetries: 4, maxConnectionPools: 5, trackRemaining: true },
            high: { ...DEFAULT_CIRCUIT_BREAKER_THRESHOLDS, maxConnections: 11 },
          },
          perConnectionBufferLimitBytes: 65536,
          idleTimeoutMs: 30000,
          maxRequestsPerConnection: 100,
          maxHeadersCount: 50,
          upstreamProtocol: 'http2',
          useDownstreamProtocol: false,
          http1Options: {},
          http2Options: { maxConcurrentStreams: 100, initialStreamWindowSize: 65536, allowConnect: true },
        },
        {
          name: 'b',
          altStatName: '',
          type: 'STATIC',
          connectTimeoutMs: 250,
          lbPolicy: 'ROUND_ROBIN',
          leastRequestChoiceCount: 2,
          leastRequestActiveRequestBias: 1,
          healthyPanicThresholdPercent: 50,
          loadAssignmentClusterName: 'b',
          endpoints: [],
          circuitBreakers: { default: DEFAULT_CIRCUIT_BREAKER_THRESHOLDS, high: DEFAULT_CIRCUIT_BREAKER_THRESHOLDS },
          perConnectionBufferLimitBytes: 1048576,
          idleTimeoutMs: 0,
          maxRequestsPerConnection: 7,
          maxHeadersCount: undefined,
          upstreamProtocol: 'http1',
          useDownstreamProtocol: true,
          http1Options: { acceptHttp10: true, defaultHostForHttp10: 'example.com' },
          http2Options: { hpackTableSize: 0 },
        },
        {
          name: 'c',
          altStatName: '',
          type: 'STATIC',
          connectTimeoutMs: 5000,
          lbPolicy: 'ROUND_ROBIN',
          leastRequestChoiceCount: 2,
          leastRequestActiveRequestBias: 1,
          healthyPanicThresholdPercent: 50,
          loadAssignmentClusterName: 'c',
          endpoints: [],
          circuitBreakers: { default: DEFAULT_CIRCUIT_BREAKER_THRESHOLDS, high: DEFAULT_CIRCUIT_BREAKER_THRESHOLDS },
          perConnectionBufferLimitBytes: 1048576,
          idleTimeoutMs: 3600000,
          maxRequestsPerConnection: 0,
          maxHeadersCount: undefined,
          upstreamProtocol: 'http2',
          useDownstreamProtocol: false,
          http1Options: {},
          http2Options: {},
        },
      ],
    });
  });

  it('parses an empty document to an empty bootstrap', () => {
    expect(parseBootstrap({})).toEqual({ node: { id: '', cluster: '' }, admin: undefined, listeners: [], clusters: [] });
    expect(parseBootstrap(null)).toEqual({ node: { id: '', cluster: '' }, admin: undefined, listeners: [], clusters: [] });
  });

  it('rejects a document that is not a mapping', () => {
    expect(() => parseBootstrap('hello')).toThrow('(root): expected an object, got "hello"');
    expect(() => parseBootstrap([1])).toThrow('(root): expected an object, got a list');
  });

  it('accepts protocol_selection: USE_DOWNSTREAM_PROTOCOL with the deprecated options', () => {
    const b = parseBootstrap({
      static_resources: { clusters: [{ name: 'x', protocol_selection: 'USE_DOWNSTREAM_PROTOCOL', http_protocol_options: { accept_http_10: false } }] },
    });
    expect(b.clusters[0]).toMatchObject({ useDownstreamProtocol: true, upstreamProtocol: 'http1', http1Options: { acceptHttp10: false } });
  });

  it('lets two port-0 listeners share an address', () => {
    const l = (name: string) => ({ name, address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [{ name: 'x' }] }] });
    expect(parseBootstrap({ static_resources: { listeners: [l('a'), l('b')] } }).listeners.map((x) => x.name)).toEqual(['a', 'b']);
  });

  it('reports a duplicate and an unsupported extension together', () => {
    expect(() =>
      parseBootstrap({
        static_resources: {
          clusters: [
            { name: 'x', typed_extension_protocol_options: { 'envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions': {} } },
            { name: 'y', typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', auto_config: {} } } },
          ],
        },
      }),
    ).toThrow(
      [
        'static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions"]: protocol options extension "envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions" is not supported by sluice yet',
        'static_resources.clusters[1].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]: field "auto_config" is not supported by sluice yet',
      ].join('\n'),
    );
  });

  it('checks max_requests_per_connection is set once', () => {
    expect(() =>
      parseBootstrap({ static_resources: { clusters: [{ name: 'x', max_requests_per_connection: 1, common_http_protocol_options: { max_requests_per_connection: 2 } }] } }),
    ).toThrow(
      'static_resources.clusters[0].max_requests_per_connection: only one of max_requests_per_connection and common_http_protocol_options.max_requests_per_connection may be set',
    );
  });
});
