/**
 * `envoy.filters.network.connection_limit`
 * (envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit): parsing of typed_config
 * and the factory. One ConnectionLimitState per filter-chain config counts that config's active
 * connections across all of its connections (Envoy's ConnectionLimitFilter::Config).
 */
import { z } from 'zod';
import type { FactoryContext, NamedNetworkFilterConfigFactory } from '../../../src/api/filter-config.js';
import type { NetworkFilterFactoryCb } from '../../../src/api/network.js';
import {
  bool,
  duration,
  integer,
  parseWith,
  strictObject,
  string,
  typedConfigObject,
} from '../../../src/config/schema-helpers.js';
import { ConnectionLimitFilter, ConnectionLimitState } from './connection-limit.js';

export const CONNECTION_LIMIT_FILTER_NAME = 'envoy.filters.network.connection_limit';
export const CONNECTION_LIMIT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit';

/** The validated ConnectionLimit config. */
export interface ConnectionLimitConfig {
  readonly statPrefix: string;
  readonly maxConnections: number;
  /** 0 when unset: over-limit connections are closed at once. */
  readonly delayMs: number;
  /**
   * `runtime_enabled.default_value`. sluice has no runtime layer, so a RuntimeFeatureFlag always
   * takes its default, as Envoy's does when the runtime key is unset.
   */
  readonly enabled: boolean;
}

const runtimeFeatureFlag = strictObject({
  default_value: bool(),
  runtime_key: string().optional(),
});

const connectionLimitSchema = typedConfigObject({
  stat_prefix: string({ nonEmpty: true }),
  // google.protobuf.UInt64Value, gte 1, required by the filter. Numbers beyond 2^53 are not exact
  // in JSON; no connection count comes near.
  max_connections: integer(1, Number.MAX_SAFE_INTEGER),
  delay: duration().optional(),
  runtime_enabled: runtimeFeatureFlag.optional(),
});

/** Validates a ConnectionLimit typed_config; throws a ConfigError naming `path` and the bad field. */
export function parseConnectionLimitConfig(typedConfig: unknown, path: string): ConnectionLimitConfig {
  const c: z.output<typeof connectionLimitSchema> = parseWith(connectionLimitSchema, typedConfig, path);
  return {
    statPrefix: c.stat_prefix,
    maxConnections: c.max_connections,
    delayMs: c.delay ?? 0,
    enabled: c.runtime_enabled?.default_value ?? true,
  };
}

export const connectionLimitFactory: NamedNetworkFilterConfigFactory<ConnectionLimitConfig> = {
  name: CONNECTION_LIMIT_FILTER_NAME,
  typeUrls: [CONNECTION_LIMIT_TYPE_URL],
  isTerminalFilter: false,
  parseConfig: parseConnectionLimitConfig,
  createFilterFactory(config: ConnectionLimitConfig, ctx: FactoryContext): NetworkFilterFactoryCb {
    const state = new ConnectionLimitState(config, ctx.scope);
    return (fm) => fm.addReadFilter(new ConnectionLimitFilter(state));
  },
};
