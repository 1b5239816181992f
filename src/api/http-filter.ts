import type { BufferInstance } from './buffer.js';
import type { Dispatcher } from './dispatcher.js';
import type { RequestHeaderMap, ResponseHeaderMap, StreamResetReason, TrailerMap } from './http-codec.js';
import type { Connection } from './network.js';
import type { Route } from './router.js';
import type { ResponseFlag, StreamInfo } from './stream-info.js';

/**
 * Continue: the next filter gets the headers now.
 * StopIteration: later filters wait for continueDecoding(); body still flows to this filter.
 * StopAllIterationAndBuffer: nothing more reaches later filters; body is buffered (limit -> 413).
 * StopAllIterationAndWatermark: as above, but over the limit the downstream is read-disabled.
 */
export type FilterHeadersStatus =
  | 'Continue'
  | 'StopIteration'
  | 'StopAllIterationAndBuffer'
  | 'StopAllIterationAndWatermark';

/**
 * StopIterationAndBuffer: buffer the body for this filter (limit -> 413 / 500) until continue.
 * StopIterationAndWatermark: buffer, read-disabling the downstream over the limit.
 * StopIterationNoBuffer: this filter took the data; nothing is buffered.
 */
export type FilterDataStatus = 'Continue' | 'StopIterationAndBuffer' | 'StopIterationAndWatermark' | 'StopIterationNoBuffer';

export type FilterTrailersStatus = 'Continue' | 'StopIteration';

export interface LocalReplyOptions {
  readonly details: string;
  readonly responseFlag?: ResponseFlag;
  /** Extra response headers, e.g. `x-envoy-overloaded`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** gRPC status to send instead of an HTTP error for gRPC requests. */
  readonly grpcStatus?: number;
}

/** Watermark relay from the downstream connection to whoever feeds it (the router). */
export interface DownstreamWatermarkCallbacks {
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

export interface StreamFilterCallbacks {
  connection(): Connection;
  dispatcher(): Dispatcher;
  streamInfo(): StreamInfo;
  /** The matched route, computed once per request (and again after clearRouteCache()). */
  route(): Route | undefined;
  clearRouteCache(): void;
  /** Resets the downstream stream. */
  resetStream(reason?: StreamResetReason, details?: string): void;
  readonly streamId: number;
}

export interface StreamDecoderFilterCallbacks extends StreamFilterCallbacks {
  continueDecoding(): void;
  /** Data buffered by StopIterationAndBuffer for the current filter. */
  decodingBuffer(): BufferInstance | undefined;
  /** Answers the request locally; later decoder filters are skipped, encoder filters run. */
  sendLocalReply(code: number, body: string, options: LocalReplyOptions): void;
  /** Starts the response from this filter (the router uses these for the upstream's reply). */
  encode1xxHeaders(headers: ResponseHeaderMap): void;
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean, details: string): void;
  encodeData(data: BufferInstance, endStream: boolean): void;
  encodeTrailers(trailers: TrailerMap): void;
  /** The router tells the downstream that the upstream is slow: read-disable the downstream. */
  onDecoderFilterAboveWriteBufferHighWatermark(): void;
  onDecoderFilterBelowWriteBufferLowWatermark(): void;
  /** Subscribes to the downstream connection's watermarks; told the current state at once. */
  addDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void;
  removeDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void;
  decoderBufferLimit(): number;
  /** True when the request body is complete (no more decodeData will come). */
  requestComplete(): boolean;
}

export interface StreamEncoderFilterCallbacks extends StreamFilterCallbacks {
  continueEncoding(): void;
  encodingBuffer(): BufferInstance | undefined;
  onEncoderFilterAboveWriteBufferHighWatermark(): void;
  onEncoderFilterBelowWriteBufferLowWatermark(): void;
  encoderBufferLimit(): number;
}

export interface StreamFilterBase {
  /** The stream is over (completed or reset): release resources, cancel timers. */
  onDestroy(): void;
}

export interface StreamDecoderFilter extends StreamFilterBase {
  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void;
  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus;
  decodeData(data: BufferInstance, endStream: boolean): FilterDataStatus;
  decodeTrailers(trailers: TrailerMap): FilterTrailersStatus;
}

export interface StreamEncoderFilter extends StreamFilterBase {
  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void;
  encode1xxHeaders?(headers: ResponseHeaderMap): 'Continue' | 'StopIteration';
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): FilterHeadersStatus;
  encodeData(data: BufferInstance, endStream: boolean): FilterDataStatus;
  encodeTrailers(trailers: TrailerMap): FilterTrailersStatus;
}

export type StreamFilter = StreamDecoderFilter & StreamEncoderFilter;

/** What an HTTP filter factory sees when a stream's filter chain is built. */
export interface FilterChainFactoryCallbacks {
  addStreamDecoderFilter(filter: StreamDecoderFilter): void;
  addStreamEncoderFilter(filter: StreamEncoderFilter): void;
  addStreamFilter(filter: StreamFilter): void;
}

/** Envoy's Http::FilterFactoryCb. */
export type HttpFilterFactoryCb = (cb: FilterChainFactoryCallbacks) => void;
