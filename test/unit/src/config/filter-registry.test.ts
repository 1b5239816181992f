import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config/config-error.js';
import { FilterRegistry } from '../../../../src/config/filter-registry.js';
import { fakeConnectionLimit, fakeTcpProxy, TCP_PROXY_TYPE } from './fake-filters.js';

const P = 'static_resources.listeners[0].filter_chains[0].filters[1]';

describe('FilterRegistry', () => {
  const r = new FilterRegistry().registerNetworkFilter(fakeTcpProxy).registerNetworkFilter(fakeConnectionLimit);

  it('finds by @type first, then by name', () => {
    expect(r.network.find('anything', TCP_PROXY_TYPE)).toBe(fakeTcpProxy);
    expect(r.network.find('envoy.filters.network.tcp_proxy', undefined)).toBe(fakeTcpProxy);
    expect(r.network.find('envoy.filters.network.connection_limit', TCP_PROXY_TYPE)).toBe(fakeTcpProxy);
    expect(r.network.find('envoy.filters.network.connection_limit', 'type.googleapis.com/unknown')).toBe(fakeConnectionLimit);
    expect(r.network.find('nope', undefined)).toBeUndefined();
  });

  it('resolve names the field at fault', () => {
    expect(() => r.network.resolve('nope', undefined, P)).toThrow(
      new ConfigError(`${P}.name`, 'unknown network filter "nope" (known: envoy.filters.network.connection_limit, envoy.filters.network.tcp_proxy)'),
    );
    let err: unknown;
    try {
      r.network.resolve('envoy.filters.network.tcp_proxy', 'type.googleapis.com/x.Y', P);
    } catch (e) {
      err = e;
    }
    expect((err as ConfigError).path).toBe(`${P}.typed_config.@type`);
    expect(r.http.resolve.bind(r.http, 'envoy.filters.http.router', undefined, P)).toThrow(`${P}.name: unknown HTTP filter "envoy.filters.http.router" (known: none)`);
  });

  it('refuses a second factory with the same name or type URL', () => {
    const reg = new FilterRegistry().registerNetworkFilter(fakeTcpProxy);
    expect(() => reg.registerNetworkFilter(fakeTcpProxy)).toThrow('network filter "envoy.filters.network.tcp_proxy" is already registered');
    expect(() => reg.registerNetworkFilter({ ...fakeConnectionLimit, typeUrls: [TCP_PROXY_TYPE] })).toThrow(
      `type URL "${TCP_PROXY_TYPE}" of network filter "envoy.filters.network.connection_limit" is already used by "envoy.filters.network.tcp_proxy"`,
    );
    expect(reg.network.names()).toEqual(['envoy.filters.network.tcp_proxy']);
  });

  it('gives HTTP filter factories by name', () => {
    const router = { name: 'envoy.filters.http.router', typeUrls: [], isTerminalFilter: true, parseConfig: () => ({}), createFilterFactory: () => () => undefined };
    const reg = new FilterRegistry().registerHttpFilter(router);
    expect(reg.httpFilterFactory('envoy.filters.http.router')).toBe(router);
    expect(reg.httpFilterFactory('x')).toBeUndefined();
  });
});
