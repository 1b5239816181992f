/**
 * One attempt of a request against one upstream host (Envoy's Router::UpstreamRequest). The pool
 * counts the host's active requests (Host.onRequestStart/End) while the stream exists, as Envoy's
 * pool does, so this class does not. It waits
 * for a stream from the connection pool (holding the Cancellable meanwhile, and buffering request
 * body under a watermark), sends the request, relays the response to the router, and relays flow
 * control both ways:
 * - the upstream stream's send buffer above its high mark read-disables the downstream (through
 *   the router's decoder callbacks), and so does the pre-connect body buffer;
 * - the downstream connection's write buffer above its high mark read-disables the upstream stream,
 *   deferred until the response has started (before that nothing flows downstream anyway).
 * Every read-disable it causes is undone when the attempt ends.
 */
import type { BufferInstance } from '../../../src/api/buffer.js';
import type { Timer } from '../../../src/api/dispatcher.js';
import type {
  Protocol,
  RequestEncoder,
  RequestHeaderMap,
  ResponseDecoder,
  ResponseHeaderMap,
  StreamCallbacks,
  StreamResetReason,
  TrailerMap,
} from '../../../src/api/http-codec.js';
import type { DownstreamWatermarkCallbacks, StreamDecoderFilterCallbacks } from '../../../src/api/http-filter.js';
import type { Cancellable, Host, HttpConnPool, HttpPoolCallbacks, PoolFailureReason } from '../../../src/api/upstream.js';
import { WatermarkBuffer } from '../../../src/common/watermark-buffer.js';
import type { UpstreamResetReason } from '../../../src/router/retry-state.js';

/** What an attempt reports to, and reads from, the router. */
export interface UpstreamRequestParent {
  readonly callbacks: StreamDecoderFilterCallbacks;
  /** Response headers (or a 1xx) went downstream: no retry any more, watermarks apply. */
  downstreamResponseStarted(): boolean;
  /** The whole downstream request has been received. */
  downstreamEndStream(): boolean;
  perTryTimeoutMs(): number;
  /** The pool gave a stream; called before the request headers are encoded (host rewrite). */
  onUpstreamPoolReady(request: UpstreamRequest, host: Host, protocol: Protocol): void;
  onUpstream1xxHeaders(headers: ResponseHeaderMap, request: UpstreamRequest): void;
  onUpstreamHeaders(status: number, headers: ResponseHeaderMap, request: UpstreamRequest, endStream: boolean): void;
  onUpstreamData(data: BufferInstance, request: UpstreamRequest, endStream: boolean): void;
  onUpstreamTrailers(trailers: TrailerMap, request: UpstreamRequest): void;
  onUpstreamReset(reason: UpstreamResetReason, transportFailureReason: string, request: UpstreamRequest): void;
  onPerTryTimeout(request: UpstreamRequest): void;
  /** The codec refused the request headers (e.g. a filter removed a required one). */
  onUpstreamEncodeHeadersFailed(message: string, request: UpstreamRequest): void;
}

function poolFailureToReset(reason: PoolFailureReason): UpstreamResetReason {
  switch (reason) {
    case 'Overflow':
      return 'Overflow';
    case 'LocalConnectionFailure':
      return 'LocalConnectionFailure';
    case 'RemoteConnectionFailure':
      return 'RemoteConnectionFailure';
    case 'Timeout':
      return 'ConnectionTimeout';
  }
}

export class UpstreamRequest implements ResponseDecoder, HttpPoolCallbacks, StreamCallbacks {
  /** True until response headers (not 1xx) arrive or the attempt fails. */
  awaitingHeaders = true;
  /** Set when the pool's stream exists and the request is complete, if per-try waits for it. */
  createPerTryTimeoutOnRequestComplete = false;
  private cancellable: Cancellable | undefined;
  private poolCallbackRan = false;
  private encoder: RequestEncoder | undefined;
  private headersEndStream = false;
  /** Body that arrived before the stream; its end-of-stream flag; trailers likewise. */
  private pendingBody: WatermarkBuffer | undefined;
  private pendingEnd = false;
  private pendingTrailers: TrailerMap | undefined;
  private encodeComplete = false;
  private responseComplete = false;
  private perTryTimer: Timer | undefined;
  private cleanedUp = false;
  /** A response byte (1xx or final headers) arrived on this attempt. */
  private firstRxSeen = false;
  /** onDecoderFilterAboveWriteBufferHighWatermark calls not yet matched by a below call. */
  private downstreamDataDisabled = 0;
  /** Downstream-above-high notices received before the response started. */
  private deferredReadDisabling = 0;
  /** readDisable(true) calls made on the upstream stream and not yet undone. */
  private upstreamReadDisabled = 0;
  private readonly downstreamWatermarks: DownstreamWatermarkCallbacks = {
    onAboveWriteBufferHighWatermark: () => this.readDisableOrDefer(true),
    onBelowWriteBufferLowWatermark: () => this.readDisableOrDefer(false),
  };

  constructor(
    private readonly parent: UpstreamRequestParent,
    private readonly pool: HttpConnPool,
    private readonly headers: RequestHeaderMap,
    /** The limit of the body buffered while waiting for a stream (0: no watermark). */
    private readonly bufferLimit: number,
  ) {}

  /** Asks the pool for a stream; the request headers go out as soon as there is one. */
  acceptHeadersFromRouter(endStream: boolean): void {
    this.headersEndStream = endStream;
    if (endStream) this.encodeComplete = true;
    const c = this.pool.newStream(this, this);
    if (!this.poolCallbackRan) this.cancellable = c;
  }

  acceptDataFromRouter(data: BufferInstance, endStream: boolean): void {
    if (this.cleanedUp) {
      data.drain(data.length);
      return;
    }
    if (endStream) this.encodeComplete = true;
    if (this.encoder !== undefined) {
      this.encoder.encodeData(data, endStream);
      return;
    }
    this.pendingBody ??= new WatermarkBuffer(
      {
        onAboveHighWatermark: () => this.disableDataFromDownstream(),
        onBelowLowWatermark: () => this.enableDataFromDownstream(),
      },
      this.bufferLimit,
    );
    this.pendingBody.move(data);
    if (endStream) this.pendingEnd = true;
  }

  acceptTrailersFromRouter(trailers: TrailerMap): void {
    if (this.cleanedUp) return;
    this.encodeComplete = true;
    if (this.encoder !== undefined) this.encoder.encodeTrailers(trailers);
    else this.pendingTrailers = trailers;
  }

  /** Starts the per-try timer (when the stream exists and the downstream request is complete). */
  setupPerTryTimeout(): void {
    this.createPerTryTimeoutOnRequestComplete = false;
    const ms = this.parent.perTryTimeoutMs();
    if (ms <= 0 || this.perTryTimer !== undefined || this.cleanedUp) return;
    this.perTryTimer = this.parent.callbacks.dispatcher().createTimer(() => this.onPerTryTimeout());
    this.perTryTimer.enableTimer(ms);
  }

  /**
   * Abandons the attempt: cancels the pool request, or resets the stream unless the exchange
   * already finished both ways (then it is left to the pool, as onComplete does). Idempotent;
   * later codec callbacks are ignored.
   */
  resetStream(): void {
    if (this.cleanedUp) return;
    if (this.encodeComplete && this.responseComplete) {
      this.onComplete();
      return;
    }
    const encoder = this.encoder;
    const cancellable = this.cancellable;
    this.cleanup();
    if (cancellable !== undefined) cancellable.cancel('Default');
    if (encoder !== undefined) encoder.stream().resetStream('LocalReset');
  }

  /** The response is complete: give back what this attempt holds; the stream is left to the pool. */
  onComplete(): void {
    if (this.cleanedUp) return;
    const stream = this.encoder?.stream();
    for (; this.upstreamReadDisabled > 0; this.upstreamReadDisabled--) stream?.readDisable(false);
    this.cleanup();
  }

  // HttpPoolCallbacks

  onPoolReady(encoder: RequestEncoder, host: Host, protocol: Protocol): void {
    this.poolCallbackRan = true;
    this.cancellable = undefined;
    if (this.cleanedUp) {
      // Abandoned while the pool was answering: the stream must not be left open in the pool.
      encoder.stream().resetStream('LocalReset');
      return;
    }
    this.encoder = encoder;
    encoder.stream().addCallbacks(this);
    this.parent.onUpstreamPoolReady(this, host, protocol);
    if (this.cleanedUp) return;
    if (this.parent.downstreamEndStream()) this.setupPerTryTimeout();
    else this.createPerTryTimeoutOnRequestComplete = true;
    // Told the current state at once: an already-full downstream defers a read-disable.
    this.parent.callbacks.addDownstreamWatermarkCallbacks(this.downstreamWatermarks);
    const status = encoder.encodeHeaders(this.headers, this.headersEndStream);
    if (!status.ok) {
      this.parent.onUpstreamEncodeHeadersFailed(status.message, this);
      return;
    }
    if (this.cleanedUp) return;
    const body = this.pendingBody;
    if (body !== undefined && (body.length > 0 || this.pendingEnd)) {
      // Draining the buffer fires its low watermark, which re-enables the downstream.
      encoder.encodeData(body, this.pendingEnd);
      if (this.cleanedUp) return;
    }
    this.pendingBody = undefined;
    const trailers = this.pendingTrailers;
    this.pendingTrailers = undefined;
    if (trailers !== undefined) encoder.encodeTrailers(trailers);
  }

  onPoolFailure(reason: PoolFailureReason, details: string): void {
    this.poolCallbackRan = true;
    this.cancellable = undefined;
    if (this.cleanedUp) return;
    this.parent.callbacks.streamInfo().upstreamTransportFailureReason = details;
    this.awaitingHeaders = false;
    this.cleanup();
    this.parent.onUpstreamReset(poolFailureToReset(reason), details, this);
  }

  // ResponseDecoder

  decode1xxHeaders(headers: ResponseHeaderMap): void {
    if (this.cleanedUp) return;
    this.onFirstRxByte();
    this.applyDeferredReadDisable();
    this.parent.onUpstream1xxHeaders(headers, this);
  }

  decodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.cleanedUp) return;
    this.onFirstRxByte();
    const status = Number(headers.get(':status'));
    // Informational responses other than 101 do not end the wait for the final response.
    if (status >= 100 && status < 200 && status !== 101 && !endStream) return;
    this.awaitingHeaders = false;
    if (endStream) this.responseComplete = true;
    this.applyDeferredReadDisable();
    this.parent.onUpstreamHeaders(status, headers, this, endStream);
  }

  decodeData(data: BufferInstance, endStream: boolean): void {
    if (this.cleanedUp) {
      data.drain(data.length);
      return;
    }
    if (endStream) this.responseComplete = true;
    this.parent.onUpstreamData(data, this, endStream);
  }

  decodeTrailers(trailers: TrailerMap): void {
    if (this.cleanedUp) return;
    this.responseComplete = true;
    this.parent.onUpstreamTrailers(trailers, this);
  }

  /** The response began: %RESPONSE_DURATION% counts to here, for the last attempt that got one. */
  private onFirstRxByte(): void {
    if (this.firstRxSeen) return;
    this.firstRxSeen = true;
    const cb = this.parent.callbacks;
    cb.streamInfo().firstUpstreamRxMonotonic = cb.dispatcher().approximateMonotonicTime();
  }

  // StreamCallbacks of the upstream stream

  onResetStream(reason: StreamResetReason, details: string): void {
    if (this.cleanedUp) return;
    this.awaitingHeaders = false;
    // The stream is gone: nothing to re-enable on it.
    this.upstreamReadDisabled = 0;
    this.cleanup();
    this.parent.onUpstreamReset(reason, details, this);
  }

  onAboveWriteBufferHighWatermark(): void {
    if (this.cleanedUp) return;
    this.disableDataFromDownstream();
  }

  onBelowWriteBufferLowWatermark(): void {
    if (this.cleanedUp) return;
    this.enableDataFromDownstream();
  }

  private onPerTryTimeout(): void {
    // Once the response has started, only the global timeout applies (Envoy).
    if (this.cleanedUp || this.parent.downstreamResponseStarted()) return;
    this.parent.onPerTryTimeout(this);
  }

  private disableDataFromDownstream(): void {
    this.downstreamDataDisabled++;
    this.parent.callbacks.onDecoderFilterAboveWriteBufferHighWatermark();
  }

  private enableDataFromDownstream(): void {
    if (this.downstreamDataDisabled === 0) return;
    this.downstreamDataDisabled--;
    this.parent.callbacks.onDecoderFilterBelowWriteBufferLowWatermark();
  }

  private readDisableOrDefer(disable: boolean): void {
    const encoder = this.encoder;
    if (encoder === undefined || this.cleanedUp) return;
    if (disable) {
      if (this.parent.downstreamResponseStarted()) {
        this.upstreamReadDisabled++;
        encoder.stream().readDisable(true);
      } else {
        this.deferredReadDisabling++;
      }
      return;
    }
    if (this.deferredReadDisabling > 0) {
      this.deferredReadDisabling--;
      return;
    }
    if (this.upstreamReadDisabled > 0) {
      this.upstreamReadDisabled--;
      encoder.stream().readDisable(false);
    }
  }

  /** The response starts: read-disables noted while nothing flowed downstream now take effect. */
  private applyDeferredReadDisable(): void {
    const stream = this.encoder?.stream();
    if (stream === undefined) return;
    for (; this.deferredReadDisabling > 0; this.deferredReadDisabling--) {
      this.upstreamReadDisabled++;
      stream.readDisable(true);
    }
  }

  /** Stops timers, unsubscribes, and undoes the downstream read-disables this attempt caused. */
  private cleanup(): void {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    this.perTryTimer?.disableTimer();
    this.cancellable = undefined;
    if (this.encoder !== undefined) {
      this.encoder.stream().removeCallbacks(this);
      this.parent.callbacks.removeDownstreamWatermarkCallbacks(this.downstreamWatermarks);
    }
    this.pendingBody = undefined;
    this.pendingTrailers = undefined;
    for (; this.downstreamDataDisabled > 0; this.downstreamDataDisabled--) {
      this.parent.callbacks.onDecoderFilterBelowWriteBufferLowWatermark();
    }
  }
}
