/** Limits and options of the HTTP/1 codec (Envoy's Http1Settings plus HCM limits). */
export interface Http1CodecOptions {
  /** `max_request_headers_kb` (default 60): the head of a message may not exceed this. */
  readonly maxHeadersKb: number;
  /** `max_headers_count` (default 100). */
  readonly maxHeadersCount: number;
  /** Accept HTTP/1.0 requests (Envoy's `accept_http_10`; sluice defaults to true). */
  readonly acceptHttp10: boolean;
  /** Host to use for HTTP/1.0 requests without one (`default_host_for_http_10`). */
  readonly defaultHostForHttp10: string;
}

/** Envoy's `http2_protocol_options.connection_keepalive` (KeepaliveSettings), in ms. */
export interface Http2KeepaliveOptions {
  /** Send a PING every interval (plus jitter); 0: no interval PINGs. */
  readonly intervalMs: number;
  /** Close the connection (NoFlush) when a PING is not acknowledged within this; any frame received extends it. */
  readonly timeoutMs: number;
  /** A random 0..(interval * percent / 100) ms is added to each interval (Envoy's default: 15). */
  readonly intervalJitterPercent: number;
  /** Client side: a PING goes out ahead of a new stream when nothing was received for this long; 0 disables. */
  readonly connectionIdleIntervalMs: number;
}

/** Options of the HTTP/2 codec (Envoy's `http2_protocol_options`). */
export interface Http2CodecOptions {
  readonly maxConcurrentStreams: number;
  readonly initialStreamWindowSize: number;
  readonly initialConnectionWindowSize: number;
  readonly hpackTableSize: number;
  readonly maxHeadersKb: number;
  readonly maxHeadersCount: number;
  readonly maxOutboundFrames: number;
  readonly maxOutboundControlFrames: number;
  readonly maxConsecutiveInboundFramesWithEmptyPayload: number;
  readonly maxInboundPriorityFramesPerStream: number;
  readonly maxInboundWindowUpdateFramesPerDataFrameSent: number;
  readonly allowConnect: boolean;
  /** `connection_keepalive`; undefined: no keepalive PINGs. */
  readonly connectionKeepalive?: Http2KeepaliveOptions;
  /**
   * Our SETTINGS must be acknowledged within this (RFC 9113 §6.5.3), else GOAWAY
   * SETTINGS_TIMEOUT; 0 disables. Not in Envoy's options; default DEFAULT_SETTINGS_TIMEOUT_MS.
   */
  readonly settingsTimeoutMs?: number;
}

/** SETTINGS_TIMEOUT when the options do not say. */
export const DEFAULT_SETTINGS_TIMEOUT_MS = 10_000;

export const DEFAULT_HTTP1_OPTIONS: Http1CodecOptions = {
  maxHeadersKb: 60,
  maxHeadersCount: 100,
  acceptHttp10: true,
  defaultHostForHttp10: '',
};

/** Envoy's defaults (protections from `http2_protocol_options`). */
export const DEFAULT_HTTP2_OPTIONS: Http2CodecOptions = {
  maxConcurrentStreams: 2147483647,
  initialStreamWindowSize: 268435456,
  initialConnectionWindowSize: 268435456,
  hpackTableSize: 4096,
  maxHeadersKb: 60,
  maxHeadersCount: 100,
  maxOutboundFrames: 10000,
  maxOutboundControlFrames: 1000,
  maxConsecutiveInboundFramesWithEmptyPayload: 1,
  maxInboundPriorityFramesPerStream: 100,
  maxInboundWindowUpdateFramesPerDataFrameSent: 10,
  allowConnect: false,
};
