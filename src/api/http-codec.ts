import type { BufferInstance } from './buffer.js';

export type Protocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';

/**
 * An ordered header multimap with lowercase names (Envoy's HeaderMap). Requests always carry the
 * pseudo-headers `:method`, `:path`, `:authority` (from Host on HTTP/1) and `:scheme`; responses
 * carry `:status`. Codecs translate to and from their wire form.
 */
export interface HeaderMap extends Iterable<readonly [string, string]> {
  /** The first value of `name`, or undefined. */
  get(name: string): string | undefined;
  getAll(name: string): string[];
  has(name: string): boolean;
  /** Replaces every value of `name` with one value. */
  set(name: string, value: string): void;
  /** Appends a value, keeping existing ones. */
  add(name: string, value: string): void;
  /** Removes every value of `name`; returns how many were removed. */
  remove(name: string): number;
  /** Removes, in one pass, every entry the predicate selects; returns how many were removed. */
  removeIf(predicate: (name: string, value: string) => boolean): number;
  /** Number of name/value pairs. */
  readonly size: number;
  /** Sum of name and value lengths (the limit `max_request_headers_kb` applies to). */
  byteSize(): number;
  forEach(fn: (name: string, value: string) => void): void;
  clone(): HeaderMap;
}

export type RequestHeaderMap = HeaderMap;
export type ResponseHeaderMap = HeaderMap;
export type TrailerMap = HeaderMap;

export type StreamResetReason =
  | 'LocalReset'
  | 'LocalRefusedStreamReset'
  | 'RemoteReset'
  | 'RemoteRefusedStreamReset'
  | 'ConnectionFailure'
  | 'ConnectionTermination'
  | 'ConnectTimeout'
  | 'Overflow'
  | 'ProtocolError'
  | 'OverloadManager'
  /**
   * A CONNECT tunnel's TCP connection failed (RFC 9113 §8.5): HTTP/2 sends (or received)
   * RST_STREAM CONNECT_ERROR; HTTP/1 closes the connection.
   */
  | 'ConnectError';

/** Why a codec's dispatch stopped. Errors are values, never exceptions. */
export type CodecStatus =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly code: 'CodecProtocolError' | 'BufferFloodError' | 'PrematureResponseError' | 'CodecClientError';
      readonly message: string;
    };

export interface StreamCallbacks {
  onResetStream(reason: StreamResetReason, details: string): void;
  /** The stream's outbound buffer went above its high watermark: stop sending into it. */
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

/** One request/response exchange inside a codec connection. */
export interface Stream {
  addCallbacks(cb: StreamCallbacks): void;
  removeCallbacks(cb: StreamCallbacks): void;
  /** Resets the stream (HTTP/2 RST_STREAM; HTTP/1 closes the connection). */
  resetStream(reason: StreamResetReason): void;
  /**
   * Counted: while disabled no body is delivered. HTTP/1 pauses the socket; HTTP/2 stops returning
   * window credit for this stream, so the peer stops sending.
   */
  readDisable(disable: boolean): void;
  bufferLimit(): number;
  /** The HTTP/2 stream id, or a per-connection sequence number on HTTP/1. */
  readonly streamId: number;
}

export interface StreamEncoder {
  stream(): Stream;
  /** Drains `data`. */
  encodeData(data: BufferInstance, endStream: boolean): void;
  encodeTrailers(trailers: TrailerMap): void;
}

export interface RequestEncoder extends StreamEncoder {
  encodeHeaders(headers: RequestHeaderMap, endStream: boolean): CodecStatus;
}

export interface ResponseEncoder extends StreamEncoder {
  encode1xxHeaders(headers: ResponseHeaderMap): void;
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void;
  /** True when the request asked for 100-continue and it has not been answered yet. */
  readonly expectsContinue?: boolean;
}

export interface StreamDecoder {
  decodeData(data: BufferInstance, endStream: boolean): void;
}

export interface RequestDecoder extends StreamDecoder {
  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): void;
  decodeTrailers(trailers: TrailerMap): void;
  /** The codec found the request malformed; the decoder answers it (400) or resets. */
  sendLocalReply?(code: number, body: string, details: string): void;
}

export interface ResponseDecoder extends StreamDecoder {
  decode1xxHeaders(headers: ResponseHeaderMap): void;
  decodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void;
  decodeTrailers(trailers: TrailerMap): void;
}

/** Events a codec reports about the whole connection. */
export interface CodecConnectionCallbacks {
  /** The peer sent GOAWAY (HTTP/2) or `connection: close` (HTTP/1). */
  onGoAway(errorCode: number): void;
  /** Optional: an HTTP/2 SETTINGS frame arrived (client side uses max concurrent streams). */
  onSettings?(settings: { readonly maxConcurrentStreams?: number }): void;
}

export interface ServerConnectionCallbacks extends CodecConnectionCallbacks {
  /** A new request began: return the decoder that receives it. */
  newStream(encoder: ResponseEncoder): RequestDecoder;
}

/** A codec bound to one network connection (Envoy's Http::Connection). */
export interface CodecConnection {
  /** Feeds received bytes; drains what it used. Never throws across callbacks. */
  dispatch(data: BufferInstance): CodecStatus;
  /** Tells the peer no new streams will be accepted (HTTP/2 GOAWAY; HTTP/1 connection: close). */
  goAway(): void;
  /** First phase of a graceful drain (HTTP/2 GOAWAY with last-stream-id 2^31-1). */
  shutdownNotice(): void;
  protocol(): Protocol;
  /** Streams still open on the connection. */
  activeStreamCount(): number;
  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void;
  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void;
}

export type ServerConnection = CodecConnection;

export interface ClientConnection extends CodecConnection {
  newStream(decoder: ResponseDecoder): RequestEncoder;
}
