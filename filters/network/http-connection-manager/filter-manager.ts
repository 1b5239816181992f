/**
 * The HTTP filter chain of one stream (Envoy's Http::FilterManager): decoder filters in the order
 * they were added, encoder filters in reverse, with Envoy's iteration semantics.
 *
 * - Continue: the next filter gets the frame now.
 * - StopIteration (headers): later filters wait for continueDecoding(); data and trailers still
 *   reach the stopped filter, and its Continue on data resumes the chain (data buffered meanwhile).
 * - StopAllIterationAndBuffer / AndWatermark (headers): nothing reaches this filter or later ones
 *   until it continues; data is buffered for it (over the limit: 413, or read-disable for Watermark).
 * - StopIterationAndBuffer / AndWatermark (data): this frame and later ones are buffered in the
 *   stream's one request (or response) buffer until the filter continues.
 * - StopIterationNoBuffer (data): the filter took the data.
 *
 * The request buffer is watermarked at the connection's buffer limit: above it a buffering filter
 * gets a 413 `request_payload_too_large` (a watermarking one read-disables the downstream instead);
 * the response buffer gives a 500 `response_payload_too_large` (or relays a high watermark).
 *
 * A local reply asked for while a decoder filter runs is sent right after that filter returns, so
 * filters never see the stream end under them. After the response started, a local reply goes to
 * the codec directly; after response headers reached the codec, it resets the stream instead.
 */
import type { BufferInstance } from '../../../src/api/buffer.js';
import type { Dispatcher } from '../../../src/api/dispatcher.js';
import type { RequestHeaderMap, ResponseHeaderMap, StreamResetReason, TrailerMap } from '../../../src/api/http-codec.js';
import type {
  DownstreamWatermarkCallbacks,
  FilterChainFactoryCallbacks,
  LocalReplyOptions,
  StreamDecoderFilter,
  StreamEncoderFilter,
  StreamFilter,
  StreamFilterBase,
} from '../../../src/api/http-filter.js';
import type { Connection } from '../../../src/api/network.js';
import type { Route } from '../../../src/api/router.js';
import type { StreamInfoImpl } from '../../../src/access-log/stream-info-impl.js';
import { BufferChain } from '../../../src/common/buffer-chain.js';
import { WatermarkBuffer } from '../../../src/common/watermark-buffer.js';
import { ActiveDecoderFilter, ActiveEncoderFilter, type ActiveFilterBase, type StartState } from './active-filter.js';
import { buildLocalReply, reasonPhrase } from './local-reply.js';

/** What the filter manager needs from its stream (the HCM's ActiveStream). */
export interface FilterManagerCallbacks {
  /** The end of the encoder chain: these go to the codec. */
  encodeHeadersToCodec(headers: ResponseHeaderMap, endStream: boolean): void;
  encode1xxHeadersToCodec(headers: ResponseHeaderMap): void;
  encodeDataToCodec(data: BufferInstance, endStream: boolean): void;
  encodeTrailersToCodec(trailers: TrailerMap): void;
  /** `downstream_rq_too_large` / `rs_too_large`. */
  onRequestDataTooLarge(): void;
  onResponseDataTooLarge(): void;
  /** A decoder filter (the router) says the upstream is backed up: read-disable the downstream. */
  onDecoderFilterAboveWriteBufferHighWatermark(): void;
  onDecoderFilterBelowWriteBufferLowWatermark(): void;
  /** Relays to the stream's DownstreamWatermarkCallbacks subscribers. */
  callHighWatermarkCallbacks(): void;
  callLowWatermarkCallbacks(): void;
  addDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void;
  removeDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void;
  /** A filter resets the stream. */
  resetStream(reason: StreamResetReason, details: string): void;
  route(): Route | undefined;
  clearRouteCache(): void;
  /** Route-level response header mutations, applied to local replies. */
  finalizeLocalReplyHeaders(headers: ResponseHeaderMap): void;
  connection(): Connection;
  dispatcher(): Dispatcher;
  streamInfo(): StreamInfoImpl;
  resetIdleTimer(): void;
  readonly streamId: number;
}

/** Flags of the stream as the filter chain sees it. */
export interface FilterManagerState {
  /** The codec delivered the whole request. */
  remoteDecodeComplete: boolean;
  /** The response's end has entered the encoder chain (from a decoder filter or a local reply). */
  localComplete: boolean;
  /** The response's end reached the codec. */
  remoteEncodeComplete: boolean;
  /** Non-1xx response headers reached the codec. */
  responseHeadersEncoded: boolean;
  /** Set on reset or destruction: no more callbacks run. */
  destroyed: boolean;
  isGrpcRequest: boolean;
  isHeadRequest: boolean;
}

interface PreparedLocalReply {
  readonly code: number;
  readonly body: string;
  readonly options: LocalReplyOptions;
}

export class FilterManager implements FilterChainFactoryCallbacks {
  readonly state: FilterManagerState = {
    remoteDecodeComplete: false,
    localComplete: false,
    remoteEncodeComplete: false,
    responseHeadersEncoded: false,
    destroyed: false,
    isGrpcRequest: false,
    isHeadRequest: false,
  };
  private readonly decoders: ActiveDecoderFilter[] = [];
  private readonly encoders: ActiveEncoderFilter[] = [];
  /** Every filter once (a StreamFilter is both a decoder and an encoder); a Set costs more per stream. */
  private readonly allFilters: StreamFilterBase[] = [];
  requestHeaders: RequestHeaderMap | undefined;
  requestTrailers: TrailerMap | undefined;
  responseHeaders: ResponseHeaderMap | undefined;
  responseTrailers: TrailerMap | undefined;
  bufferedRequestData: WatermarkBuffer | undefined;
  bufferedResponseData: WatermarkBuffer | undefined;
  private decoderFiltersStreaming = false;
  private encoderFiltersStreaming = false;
  /** Depth of decoder filter callbacks on the stack (local replies wait until it is 0). */
  private decodingDepth = 0;
  /** A local reply was sent or is pending: the decoder chain goes no further. */
  decoderChainAborted = false;
  /** A local reply bypassed the encoder filters: they get nothing more. */
  encoderChainAborted = false;
  private preparedLocalReply: PreparedLocalReply | undefined;

  constructor(
    readonly callbacks: FilterManagerCallbacks,
    /** The connection's buffer limit; 0 = unlimited. */
    readonly bufferLimit: number,
  ) {}

  // FilterChainFactoryCallbacks
  addStreamDecoderFilter(filter: StreamDecoderFilter): void {
    const f = new ActiveDecoderFilter(this, this.decoders.length, filter);
    this.decoders.push(f);
    this.addToAll(filter);
    filter.setDecoderFilterCallbacks(f);
  }

  addStreamEncoderFilter(filter: StreamEncoderFilter): void {
    // Encoder filters run in reverse order of addition: the new one goes first.
    this.encoders.unshift(new ActiveEncoderFilter(this, 0, filter));
    for (let i = 1; i < this.encoders.length; i++) this.encoders[i]!.index = i;
    this.addToAll(filter);
    filter.setEncoderFilterCallbacks(this.encoders[0]!);
  }

  addStreamFilter(filter: StreamFilter): void {
    this.addStreamDecoderFilter(filter);
    this.addStreamEncoderFilter(filter);
  }

  private addToAll(filter: StreamFilterBase): void {
    if (!this.allFilters.includes(filter)) this.allFilters.push(filter);
  }

  setStreaming(filter: ActiveFilterBase, streaming: boolean): void {
    if (filter instanceof ActiveDecoderFilter) this.decoderFiltersStreaming = streaming;
    else this.encoderFiltersStreaming = streaming;
  }

  createRequestBuffer(): WatermarkBuffer {
    this.bufferedRequestData ??= new WatermarkBuffer(
      {
        onAboveHighWatermark: () => this.requestDataTooLarge(),
        onBelowLowWatermark: () => this.callbacks.onDecoderFilterBelowWriteBufferLowWatermark(),
      },
      this.bufferLimit,
    );
    return this.bufferedRequestData;
  }

  createResponseBuffer(): WatermarkBuffer {
    this.bufferedResponseData ??= new WatermarkBuffer(
      {
        onAboveHighWatermark: () => this.responseDataTooLarge(),
        onBelowLowWatermark: () => this.callbacks.callLowWatermarkCallbacks(),
      },
      this.bufferLimit,
    );
    return this.bufferedResponseData;
  }

  private requestDataTooLarge(): void {
    if (this.decoderFiltersStreaming) {
      this.callbacks.onDecoderFilterAboveWriteBufferHighWatermark();
      return;
    }
    this.callbacks.onRequestDataTooLarge();
    this.sendLocalReply(413, reasonPhrase(413), { details: 'request_payload_too_large' });
  }

  private responseDataTooLarge(): void {
    if (this.encoderFiltersStreaming) {
      this.callbacks.callHighWatermarkCallbacks();
      return;
    }
    this.callbacks.onResponseDataTooLarge();
    this.sendLocalReply(500, reasonPhrase(500), { details: 'response_payload_too_large' });
  }

  private decodeStart(from: ActiveDecoderFilter | undefined, start: StartState): number {
    if (from === undefined) return 0;
    if (start === 'CanStartFromCurrent' && from.iterateFromCurrentFilter) return from.index;
    return from.index + 1;
  }

  /** After a decoder filter returned: false when iteration must end (reset, local reply). */
  private afterDecoderCallback(): boolean {
    if (this.state.destroyed) return false;
    if (this.decoderChainAborted) {
      if (this.decodingDepth === 0) this.executePreparedLocalReply();
      return false;
    }
    return true;
  }

  decodeHeaders(from: ActiveDecoderFilter | undefined, headers: RequestHeaderMap, endStream: boolean): void {
    if (from === undefined) this.requestHeaders = headers;
    const filters = this.decoders;
    for (let i = this.decodeStart(from, 'AlwaysStartFromNext'); i < filters.length; i++) {
      const f = filters[i]!;
      f.endStream = endStream;
      this.decodingDepth++;
      const status = f.filter.decodeHeaders(headers, endStream);
      this.decodingDepth--;
      if (!this.afterDecoderCallback()) return;
      // The response is already complete (e.g. a direct response): later filters need not run.
      if (this.state.localComplete && i + 1 < filters.length) return;
      if (!f.handleAfterHeaders(status)) return;
    }
  }

  decodeData(from: ActiveDecoderFilter | undefined, data: BufferInstance, endStream: boolean, start: StartState): void {
    this.callbacks.resetIdleTimer();
    // Once the response is complete (or a reset went out) filters do not care about more body.
    if (this.state.localComplete || this.state.destroyed) return;
    const filters = this.decoders;
    for (let i = this.decodeStart(from, start); i < filters.length; i++) {
      const f = filters[i]!;
      if (f.stoppedAll()) {
        this.decoderFiltersStreaming = f.iterationState === 'StopAllWatermark';
        f.handleBufferData(data);
        return;
      }
      // This filter already saw the end of the stream: a nested continue delivered it.
      if (f.endStream) return;
      f.endStream = endStream;
      this.decodingDepth++;
      const status = f.filter.decodeData(data, endStream);
      this.decodingDepth--;
      if (!this.afterDecoderCallback()) return;
      if (!f.handleAfterData(status, data)) return;
    }
  }

  decodeTrailers(from: ActiveDecoderFilter | undefined, trailers: TrailerMap): void {
    if (from === undefined) this.requestTrailers = trailers;
    if (this.state.localComplete || this.state.destroyed) return;
    const filters = this.decoders;
    for (let i = this.decodeStart(from, 'CanStartFromCurrent'); i < filters.length; i++) {
      const f = filters[i]!;
      if (f.stoppedAll()) return;
      this.decodingDepth++;
      const status = f.filter.decodeTrailers(trailers);
      this.decodingDepth--;
      f.endStream = true;
      if (!this.afterDecoderCallback()) return;
      if (!f.handleAfterTrailers(status)) return;
    }
  }

  private encodeStart(from: ActiveEncoderFilter | undefined, start: StartState): number {
    if (from === undefined) return 0;
    if (start === 'CanStartFromCurrent' && from.iterateFromCurrentFilter) return from.index;
    return from.index + 1;
  }

  private afterEncoderCallback(): boolean {
    return !this.state.destroyed && !this.encoderChainAborted;
  }

  encode1xxHeaders(headers: ResponseHeaderMap): void {
    if (this.state.destroyed || this.responseHeaders !== undefined) return;
    for (const f of this.encoders) {
      const hook = f.filter.encode1xxHeaders;
      if (hook === undefined) continue;
      if (hook.call(f.filter, headers) === 'StopIteration') return;
      if (!this.afterEncoderCallback()) return;
    }
    this.callbacks.encode1xxHeadersToCodec(headers);
  }

  encodeHeaders(from: ActiveEncoderFilter | undefined, headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.state.destroyed) return;
    this.callbacks.resetIdleTimer();
    if (from === undefined) {
      if (this.responseHeaders !== undefined) return;
      this.state.localComplete = endStream;
      this.responseHeaders = headers;
    }
    const filters = this.encoders;
    for (let i = this.encodeStart(from, 'AlwaysStartFromNext'); i < filters.length; i++) {
      const f = filters[i]!;
      f.endStream = endStream;
      const status = f.filter.encodeHeaders(headers, endStream);
      if (!this.afterEncoderCallback()) return;
      if (!f.handleAfterHeaders(status)) return;
    }
    this.state.responseHeadersEncoded = true;
    if (endStream) this.state.remoteEncodeComplete = true;
    this.callbacks.encodeHeadersToCodec(headers, endStream);
  }

  encodeData(from: ActiveEncoderFilter | undefined, data: BufferInstance, endStream: boolean, start: StartState): void {
    if (this.state.destroyed) return;
    this.callbacks.resetIdleTimer();
    if (from === undefined) {
      if (this.state.localComplete) return;
      this.state.localComplete = endStream;
    }
    const filters = this.encoders;
    for (let i = this.encodeStart(from, start); i < filters.length; i++) {
      const f = filters[i]!;
      if (f.stoppedAll()) {
        this.encoderFiltersStreaming = f.iterationState === 'StopAllWatermark';
        f.handleBufferData(data);
        return;
      }
      if (f.endStream) return;
      f.endStream = endStream;
      const status = f.filter.encodeData(data, endStream);
      if (!this.afterEncoderCallback()) return;
      if (!f.handleAfterData(status, data)) return;
    }
    if (endStream) this.state.remoteEncodeComplete = true;
    this.callbacks.encodeDataToCodec(data, endStream);
  }

  encodeTrailers(from: ActiveEncoderFilter | undefined, trailers: TrailerMap): void {
    if (this.state.destroyed) return;
    this.callbacks.resetIdleTimer();
    if (from === undefined) {
      if (this.state.localComplete) return;
      this.state.localComplete = true;
      this.responseTrailers = trailers;
    }
    const filters = this.encoders;
    for (let i = this.encodeStart(from, 'CanStartFromCurrent'); i < filters.length; i++) {
      const f = filters[i]!;
      if (f.stoppedAll()) return;
      const status = f.filter.encodeTrailers(trailers);
      f.endStream = true;
      if (!this.afterEncoderCallback()) return;
      if (!f.handleAfterTrailers(status)) return;
    }
    this.state.remoteEncodeComplete = true;
    this.callbacks.encodeTrailersToCodec(trailers);
  }

  /**
   * Answers the request locally. While a decoder filter runs, the reply waits until it returns
   * (and the decoder chain stops); it goes through the encoder filters unless the response has
   * already started, in which case it goes to the codec directly, or resets the stream once
   * response headers were sent.
   */
  sendLocalReply(code: number, body: string, options: LocalReplyOptions): void {
    if (this.state.destroyed || this.preparedLocalReply !== undefined) return;
    if (this.decodingDepth > 0) {
      this.decoderChainAborted = true;
      this.preparedLocalReply = { code, body, options };
      return;
    }
    this.decoderChainAborted = true;
    this.sendLocalReplyNow(code, body, options);
  }

  private executePreparedLocalReply(): void {
    const r = this.preparedLocalReply;
    if (r === undefined) return;
    this.sendLocalReplyNow(r.code, r.body, r.options);
  }

  private sendLocalReplyNow(code: number, body: string, options: LocalReplyOptions): void {
    const info = this.callbacks.streamInfo();
    info.responseCodeDetails = options.details;
    if (options.responseFlag !== undefined) info.responseFlags.add(options.responseFlag);
    if (this.state.responseHeadersEncoded) {
      // Headers are on the wire: all that is left is to reset the stream.
      this.callbacks.resetStream('LocalReset', options.details);
      return;
    }
    const reply = buildLocalReply(code, body, options, { isGrpc: this.state.isGrpcRequest, isHead: this.state.isHeadRequest });
    this.callbacks.finalizeLocalReplyHeaders(reply.headers);
    const endStream = reply.body === undefined;
    if (this.responseHeaders === undefined) {
      this.encodeHeaders(undefined, reply.headers, endStream);
      if (!endStream && !this.state.destroyed) this.encodeData(undefined, new BufferChain(reply.body), true, 'AlwaysStartFromNext');
      return;
    }
    // The response started through the encoder filters but nothing reached the codec: bypass the
    // filters so their state machines are not confused, and send straight to the codec.
    this.encoderChainAborted = true;
    this.encoderFiltersStreaming = true;
    this.responseHeaders = reply.headers;
    this.state.localComplete = true;
    this.state.responseHeadersEncoded = true;
    this.state.remoteEncodeComplete = endStream;
    this.callbacks.encodeHeadersToCodec(reply.headers, endStream);
    if (!endStream && !this.state.destroyed) {
      this.state.remoteEncodeComplete = true;
      this.callbacks.encodeDataToCodec(new BufferChain(reply.body), true);
    }
  }

  /** Calls every filter's onDestroy once, and stops all iteration. */
  destroyFilters(): void {
    if (this.state.destroyed) return;
    this.state.destroyed = true;
    const all = this.allFilters;
    for (let i = 0; i < all.length; i++) all[i]!.onDestroy();
    while (all.length > 0) all.pop();
  }

  hasFilters(): boolean {
    return this.decoders.length > 0 || this.encoders.length > 0;
  }
}
