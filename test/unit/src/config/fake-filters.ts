/** Network filter factories for config tests, shaped like the real tcp_proxy and connection_limit. */
import type { NamedNetworkFilterConfigFactory, NamedListenerFilterConfigFactory } from '../../../../src/api/filter-config.js';
import { ConfigError, joinPath } from '../../../../src/config/config-error.js';
import { FilterRegistry } from '../../../../src/config/filter-registry.js';
import { parseWith, string, typedConfigObject, uint32 } from '../../../../src/config/schema-helpers.js';

export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const CONNECTION_LIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit';
export const TLS_INSPECTOR_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

const tcpProxySchema = typedConfigObject({ stat_prefix: string({ nonEmpty: true }), cluster: string({ nonEmpty: true }) });

export const fakeTcpProxy: NamedNetworkFilterConfigFactory<{ statPrefix: string; cluster: string }> = {
  name: 'envoy.filters.network.tcp_proxy',
  typeUrls: [TCP_PROXY_TYPE],
  isTerminalFilter: true,
  parseConfig(raw, path, ctx) {
    const c = parseWith(tcpProxySchema, raw, path);
    if (ctx !== undefined && !ctx.clusterExists(c.cluster)) {
      throw new ConfigError(joinPath(path, 'cluster'), `unknown cluster "${c.cluster}"`);
    }
    return { statPrefix: c.stat_prefix, cluster: c.cluster };
  },
  createFilterFactory: () => () => undefined,
};

const connectionLimitSchema = typedConfigObject({ stat_prefix: string({ nonEmpty: true }), max_connections: uint32(1) });

export const fakeConnectionLimit: NamedNetworkFilterConfigFactory<{ statPrefix: string; maxConnections: number }> = {
  name: 'envoy.filters.network.connection_limit',
  typeUrls: [CONNECTION_LIMIT_TYPE],
  isTerminalFilter: false,
  parseConfig(raw, path) {
    const c = parseWith(connectionLimitSchema, raw, path);
    return { statPrefix: c.stat_prefix, maxConnections: c.max_connections };
  },
  createFilterFactory: () => () => undefined,
};

export const fakeTlsInspector: NamedListenerFilterConfigFactory<Record<string, never>> = {
  name: 'envoy.filters.listener.tls_inspector',
  typeUrls: [TLS_INSPECTOR_TYPE],
  parseConfig(raw, path) {
    return parseWith(typedConfigObject({}), raw, path) as Record<string, never>;
  },
  createFilter: () => () => ({ onAccept: () => 'Continue', onData: () => 'Continue', maxReadBytes: () => 0 }),
};

export function fakeRegistry(): FilterRegistry {
  return new FilterRegistry()
    .registerNetworkFilter(fakeTcpProxy)
    .registerNetworkFilter(fakeConnectionLimit)
    .registerListenerFilter(fakeTlsInspector);
}
