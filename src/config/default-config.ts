/**
 * The configuration sluice runs when started without `-c`: a proxy on 127.0.0.1:8080 in front of
 * the built-in demo origin on 127.0.0.1:8081, and the admin listener on 127.0.0.1:9901.
 * It is ordinary Envoy YAML, so it doubles as a starting point: `sluice --print-default-config`.
 */

/** Where the demo origin listens; main.ts starts it only with the embedded config. */
export const DEMO_ORIGIN_ADDRESS = { address: '127.0.0.1', port: 8081 } as const;

export const DEFAULT_CONFIG_YAML = `# sluice's embedded default configuration (Envoy v3 bootstrap YAML).
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }

static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: { address: 127.0.0.1, port_value: 8080 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          route_config:
            name: local_route
            virtual_hosts:
            - name: demo
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: demo_origin }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router

  clusters:
  - name: demo_origin
    type: STATIC
    connect_timeout: 0.25s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: demo_origin
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: ${DEMO_ORIGIN_ADDRESS.address}, port_value: ${DEMO_ORIGIN_ADDRESS.port} }
`;
