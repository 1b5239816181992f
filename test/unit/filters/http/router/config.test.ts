import { describe, expect, it } from 'vitest';
import type { FactoryContext } from '../../../../../src/api/filter-config.js';
import type { StreamDecoderFilter } from '../../../../../src/api/http-filter.js';
import { ConfigError } from '../../../../../src/config/config-error.js';
import { FilterRegistry } from '../../../../../src/config/filter-registry.js';
import { ROUTER_TYPE_URL, routerFactory } from '../../../../../filters/http/router/config.js';
import { RouterFilter } from '../../../../../filters/http/router/router.js';
import { FakeClusterManager } from './fakes.js';

const PATH = 'http_filters[0].typed_config';

function errorOf(raw: unknown): { path: string; detail: string } | undefined {
  try {
    routerFactory.parseConfig(raw, PATH);
  } catch (e) {
    if (e instanceof ConfigError) return { path: e.path, detail: e.detail };
    throw e;
  }
  return undefined;
}

describe('envoy.filters.http.router config', () => {
  it('is the terminal envoy.filters.http.router with the v3 type URL', () => {
    expect(routerFactory.name).toBe('envoy.filters.http.router');
    expect(routerFactory.typeUrls).toEqual(['type.googleapis.com/envoy.extensions.filters.http.router.v3.Router']);
    expect(ROUTER_TYPE_URL).toBe(routerFactory.typeUrls[0]);
    expect(routerFactory.isTerminalFilter).toBe(true);
    expect(() => new FilterRegistry().registerHttpFilter(routerFactory)).not.toThrow();
  });

  it.each<[unknown, { suppressEnvoyHeaders: boolean; startChildSpan: boolean; dynamicStats: boolean }]>([
    [undefined, { suppressEnvoyHeaders: false, startChildSpan: false, dynamicStats: true }],
    [{}, { suppressEnvoyHeaders: false, startChildSpan: false, dynamicStats: true }],
    [{ '@type': ROUTER_TYPE_URL }, { suppressEnvoyHeaders: false, startChildSpan: false, dynamicStats: true }],
    [{ suppress_envoy_headers: true, start_child_span: true, dynamic_stats: false }, { suppressEnvoyHeaders: true, startChildSpan: true, dynamicStats: false }],
  ])('parses %j', (raw, expected) => {
    expect(routerFactory.parseConfig(raw, PATH)).toEqual(expected);
  });

  it.each<[unknown, string, string]>([
    [{ suppress_envoy_headers: 'yes' }, `${PATH}.suppress_envoy_headers`, 'expected true or false, got "yes"'],
    [{ bogus: 1 }, PATH, 'unknown field "bogus"'],
    [{ upstream_log: [] }, PATH, 'field "upstream_log" is not supported by sluice yet'],
    [{ strict_check_headers: ['x'] }, PATH, 'field "strict_check_headers" is not supported by sluice yet'],
    [{ respect_expected_rq_timeout: true }, PATH, 'field "respect_expected_rq_timeout" is not supported by sluice yet'],
    [{ upstream_http_filters: [] }, PATH, 'field "upstream_http_filters" is not supported by sluice yet'],
  ])('rejects %j', (raw, path, detail) => {
    expect(errorOf(raw)).toEqual({ path, detail });
  });

  it('the factory adds one RouterFilter as a decoder filter', () => {
    const added: StreamDecoderFilter[] = [];
    const ctx = { clusterManager: new FakeClusterManager() } as unknown as FactoryContext;
    const cb = routerFactory.createFilterFactory(routerFactory.parseConfig({}, PATH), ctx);
    cb({
      addStreamDecoderFilter: (f) => added.push(f),
      addStreamEncoderFilter: () => expect.unreachable(),
      addStreamFilter: () => expect.unreachable(),
    });
    expect(added).toHaveLength(1);
    expect(added[0]).toBeInstanceOf(RouterFilter);
  });
});
