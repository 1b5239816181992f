/**
 * `envoy.filters.listener.tls_inspector`
 * (envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector): parsing of typed_config and
 * the factory. One stats block per factory, rooted at `tls_inspector.` like Envoy's.
 */
import { z } from 'zod';
import type { FactoryContext, NamedListenerFilterConfigFactory } from '../../../src/api/filter-config.js';
import type { ListenerFilter } from '../../../src/api/network.js';
import { bool, checked, describe, parseWith, typedConfigObject, uint32 } from '../../../src/config/schema-helpers.js';
import { DEFAULT_MAX_CLIENT_HELLO_SIZE, TlsInspector, tlsInspectorStats, type TlsInspectorConfig } from './tls-inspector.js';

export const TLS_INSPECTOR_FILTER_NAME = 'envoy.filters.listener.tls_inspector';
export const TLS_INSPECTOR_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

/** A BoolValue sluice implements only as false (JA3/JA4 fingerprints have nowhere to go yet). */
function falseOnly(): z.ZodType<boolean, unknown> {
  return checked((raw) => {
    if (raw === false) return { ok: true, value: false };
    if (raw === true) return { ok: false, message: 'fingerprinting is not supported by sluice yet' };
    return { ok: false, message: `expected true or false, got ${describe(raw)}` };
  });
}

const tlsInspectorSchema = typedConfigObject({
  enable_ja3_fingerprinting: falseOnly().optional(),
  enable_ja4_fingerprinting: falseOnly().optional(),
  // Envoy grows its read buffer from this size; sluice's listener peeks what arrives, so it is
  // validated (Envoy's bounds) and has no further effect.
  initial_read_buffer_size: uint32(256, DEFAULT_MAX_CLIENT_HELLO_SIZE).optional(),
  max_client_hello_size: uint32(1, DEFAULT_MAX_CLIENT_HELLO_SIZE).optional(),
  close_connection_on_client_hello_parsing_errors: bool().optional(),
});

/** Validates a TlsInspector typed_config; throws a ConfigError naming `path` and the bad field. */
export function parseTlsInspectorConfig(typedConfig: unknown, path: string): TlsInspectorConfig {
  const c: z.output<typeof tlsInspectorSchema> = parseWith(tlsInspectorSchema, typedConfig, path);
  return {
    maxClientHelloSize: c.max_client_hello_size ?? DEFAULT_MAX_CLIENT_HELLO_SIZE,
    closeConnectionOnClientHelloParsingErrors: c.close_connection_on_client_hello_parsing_errors ?? false,
  };
}

export const tlsInspectorFactory: NamedListenerFilterConfigFactory<TlsInspectorConfig> = {
  name: TLS_INSPECTOR_FILTER_NAME,
  typeUrls: [TLS_INSPECTOR_TYPE_URL],
  parseConfig: parseTlsInspectorConfig,
  createFilter(config: TlsInspectorConfig, ctx: FactoryContext): () => ListenerFilter {
    const stats = tlsInspectorStats(ctx.scope);
    return () => new TlsInspector(config, stats);
  },
};
