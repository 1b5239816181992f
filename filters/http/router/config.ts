/**
 * The `envoy.filters.http.router` factory (envoy.extensions.filters.http.router.v3.Router).
 */
import type { NamedHttpFilterConfigFactory } from '../../../src/api/filter-config.js';
import { bool, notSupported, parseWith, typedConfigObject } from '../../../src/config/schema-helpers.js';
import { RouterFilter, type RouterConfig } from './router.js';

export const ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

const schema = typedConfigObject({
  suppress_envoy_headers: bool().optional(),
  start_child_span: bool().optional(),
  dynamic_stats: bool().optional(),
  ...notSupported([
    'upstream_log',
    'upstream_log_options',
    'strict_check_headers',
    'respect_expected_rq_timeout',
    'suppress_grpc_request_failure_code_stats',
    'upstream_http_filters',
  ]),
});

export const routerFactory: NamedHttpFilterConfigFactory<RouterConfig> = {
  name: 'envoy.filters.http.router',
  typeUrls: [ROUTER_TYPE_URL],
  isTerminalFilter: true,
  parseConfig(typedConfig, path) {
    // An absent typed_config is the default Router message.
    const c = parseWith(schema, typedConfig ?? {}, path);
    return {
      suppressEnvoyHeaders: c.suppress_envoy_headers ?? false,
      startChildSpan: c.start_child_span ?? false,
      dynamicStats: c.dynamic_stats ?? true,
    };
  },
  createFilterFactory(config, ctx) {
    const cm = ctx.clusterManager;
    return (chain) => chain.addStreamDecoderFilter(new RouterFilter(config, cm));
  },
};
