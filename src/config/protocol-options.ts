/**
 * Envoy's HTTP protocol option messages (envoy.config.core.v3.Http1ProtocolOptions,
 * Http2ProtocolOptions, HttpProtocolOptions) as schemas, shared by clusters and the HTTP
 * connection manager. Outputs use the option names of the codecs (camelCase), holding only what
 * the config set, so the codec's defaults apply to the rest.
 */
import { z } from 'zod';
import { bool, duration, enumOf, notSupported, number, strictObject, string, uint32 } from './schema-helpers.js';

/** The HTTP/1 options the config set (keys as in the codec's Http1CodecOptions). */
export interface Http1ProtocolOptionsConfig {
  readonly acceptHttp10?: boolean;
  readonly defaultHostForHttp10?: string;
}

/** `connection_keepalive` (envoy.config.core.v3.KeepaliveSettings) in ms, defaults applied. */
export interface KeepaliveConfig {
  /** 0: no interval PINGs (the field was not set). */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** `interval_jitter.value` (default 15). */
  readonly intervalJitterPercent: number;
  /** 0: not set. */
  readonly connectionIdleIntervalMs: number;
}

/** The HTTP/2 options the config set (keys as in the codec's Http2CodecOptions). */
export interface Http2ProtocolOptionsConfig {
  readonly hpackTableSize?: number;
  readonly maxConcurrentStreams?: number;
  readonly initialStreamWindowSize?: number;
  readonly initialConnectionWindowSize?: number;
  readonly allowConnect?: boolean;
  readonly maxOutboundFrames?: number;
  readonly maxOutboundControlFrames?: number;
  readonly maxConsecutiveInboundFramesWithEmptyPayload?: number;
  readonly maxInboundPriorityFramesPerStream?: number;
  readonly maxInboundWindowUpdateFramesPerDataFrameSent?: number;
  readonly connectionKeepalive?: KeepaliveConfig;
}

/** HttpProtocolOptions (Envoy's `common_http_protocol_options`) as far as sluice implements it. */
export interface CommonHttpProtocolOptionsConfig {
  /** ms; undefined when not set (upstream default: 1 hour; 0 disables). */
  readonly idleTimeoutMs?: number;
  /** 0 or undefined: unlimited. */
  readonly maxRequestsPerConnection?: number;
  readonly maxHeadersCount?: number;
  readonly headersWithUnderscoresAction?: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
}

/** Drops the keys whose value is undefined, so outputs compare exactly and hold only what was set. */
function defined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

const WINDOW = () => uint32(65535, 2147483647);

/** Envoy's `gte: {nanos: 1000000}` on a KeepaliveSettings duration. */
const atLeast1ms = () =>
  duration().pipe(z.number().refine((ms) => ms >= 1, { message: 'duration must be at least 1ms' }));

/** envoy.config.core.v3.KeepaliveSettings. */
export const keepaliveSettingsSchema = strictObject({
  interval: atLeast1ms().optional(),
  timeout: atLeast1ms(),
  // type.v3.Percent: a double in [0, 100].
  interval_jitter: strictObject({ value: number(0, 100) }).optional(),
  connection_idle_interval: atLeast1ms().optional(),
}).transform(
  (o): KeepaliveConfig => ({
    intervalMs: o.interval ?? 0,
    timeoutMs: o.timeout,
    intervalJitterPercent: o.interval_jitter?.value ?? 15,
    connectionIdleIntervalMs: o.connection_idle_interval ?? 0,
  }),
);

export const http1ProtocolOptionsSchema = strictObject({
  accept_http_10: bool().optional(),
  default_host_for_http_10: string().optional(),
  ...notSupported([
    'allow_absolute_url',
    'header_key_format',
    'enable_trailers',
    'allow_chunked_length',
    'override_stream_error_on_invalid_http_message',
    'send_fully_qualified_url',
    'use_balsa_parser',
    'allow_custom_methods',
    'ignore_http_11_upgrade',
  ]),
}).transform(
  (o): Http1ProtocolOptionsConfig => defined({ acceptHttp10: o.accept_http_10, defaultHostForHttp10: o.default_host_for_http_10 }),
);

export const http2ProtocolOptionsSchema = strictObject({
  hpack_table_size: uint32().optional(),
  // RFC 9113 §6.5.2 allows 0..2^31-1; Envoy requires at least 1.
  max_concurrent_streams: uint32(1, 2147483647).optional(),
  initial_stream_window_size: WINDOW().optional(),
  initial_connection_window_size: WINDOW().optional(),
  allow_connect: bool().optional(),
  max_outbound_frames: uint32(1).optional(),
  max_outbound_control_frames: uint32(1).optional(),
  max_consecutive_inbound_frames_with_empty_payload: uint32().optional(),
  max_inbound_priority_frames_per_stream: uint32().optional(),
  max_inbound_window_update_frames_per_data_frame_sent: uint32(1).optional(),
  connection_keepalive: keepaliveSettingsSchema.optional(),
  ...notSupported([
    'allow_metadata',
    'stream_error_on_invalid_http_messaging',
    'override_stream_error_on_invalid_http_message',
    'custom_settings_parameters',
    'use_oghttp2_codec',
    'max_metadata_size',
  ]),
}).transform(
  (o): Http2ProtocolOptionsConfig =>
    defined({
      hpackTableSize: o.hpack_table_size,
      maxConcurrentStreams: o.max_concurrent_streams,
      initialStreamWindowSize: o.initial_stream_window_size,
      initialConnectionWindowSize: o.initial_connection_window_size,
      allowConnect: o.allow_connect,
      maxOutboundFrames: o.max_outbound_frames,
      maxOutboundControlFrames: o.max_outbound_control_frames,
      maxConsecutiveInboundFramesWithEmptyPayload: o.max_consecutive_inbound_frames_with_empty_payload,
      maxInboundPriorityFramesPerStream: o.max_inbound_priority_frames_per_stream,
      maxInboundWindowUpdateFramesPerDataFrameSent: o.max_inbound_window_update_frames_per_data_frame_sent,
      connectionKeepalive: o.connection_keepalive,
    }),
);

export const commonHttpProtocolOptionsSchema = strictObject({
  idle_timeout: duration().optional(),
  max_requests_per_connection: uint32().optional(),
  max_headers_count: uint32(1).optional(),
  headers_with_underscores_action: enumOf(['ALLOW', 'REJECT_REQUEST', 'DROP_HEADER']).optional(),
  ...notSupported(['max_connection_duration', 'max_stream_duration', 'max_response_headers_kb']),
}).transform(
  (o): CommonHttpProtocolOptionsConfig =>
    defined({
      idleTimeoutMs: o.idle_timeout,
      maxRequestsPerConnection: o.max_requests_per_connection,
      maxHeadersCount: o.max_headers_count,
      headersWithUnderscoresAction: o.headers_with_underscores_action,
    }),
);
