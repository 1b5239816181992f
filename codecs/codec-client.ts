/**
 * Envoy's Http::CodecClient: one upstream network connection plus the client codec that speaks
 * HTTP/1 or HTTP/2 over it. It is the connection's only read filter (every received chunk goes to
 * codec.dispatch), tracks the requests in flight, and turns connection events into stream events:
 *
 * - A request is complete when its response is complete and, on HTTP/2, its request was fully
 *   sent too (HTTP/1 cannot half-close after a response, so there the response alone decides).
 *   Completion is signalled before the last response callback reaches the user (Envoy's
 *   onPreDecodeComplete), so a pool can reuse the capacity at once.
 * - A close resets every request still in flight: ConnectionFailure if the connection never
 *   connected, ProtocolError after a codec error, else ConnectionTermination. The owner (the pool's
 *   client) hears of the close *before* those resets, so a retry started from a reset callback
 *   cannot be handed this dying connection.
 * - HTTP/1 can delimit a response by closing (RFC 9112 §6.3 item 8): on a remote close with a
 *   request in flight the codec is told about the end of input (an empty dispatch, Envoy's
 *   convention) before the requests are reset.
 * - A codec error (dispatch status not ok) closes the connection without flushing and counts
 *   `upstream_cx_protocol_error`, except a 408 sent on a connection with no request in flight
 *   (servers time out idle keep-alive connections that way).
 * - GOAWAY and SETTINGS from the codec are relayed to the owner; connection watermarks to the codec.
 *
 * The encoder handed out by newStream() wraps the codec's: its stream() is the request itself,
 * which keeps its own callback list, so the owner's bookkeeping always runs before the user's
 * reset callback and a request is reset at most once, whatever the codec does on a close.
 */
import type { BufferInstance } from '../src/api/buffer.js';
import type {
  ClientConnection as ClientCodec,
  CodecConnectionCallbacks,
  CodecStatus,
  Protocol,
  RequestEncoder,
  RequestHeaderMap,
  ResponseDecoder,
  ResponseHeaderMap,
  Stream,
  StreamCallbacks,
  StreamResetReason,
  TrailerMap,
} from '../src/api/http-codec.js';
import type {
  ClientConnection as NetworkClientConnection,
  Connection,
  ConnectionCallbacks,
  ConnectionEvent,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
} from '../src/api/network.js';
import type { Counter, Scope } from '../src/api/stats.js';
import type { HostDescription } from '../src/api/upstream.js';
import { BufferChain } from '../src/common/buffer-chain.js';
import { IntrusiveList, type ListNode } from '../src/common/intrusive-list.js';
import type { CodecKind } from './codec-detect.js';
import {
  DEFAULT_HTTP1_OPTIONS,
  DEFAULT_HTTP2_OPTIONS,
  type Http1CodecOptions,
  type Http2CodecOptions,
} from './codec-options.js';

/** The options both client codecs take (each reads its own half). */
export interface ClientCodecOptions {
  readonly http1: Http1CodecOptions;
  readonly http2: Http2CodecOptions;
}

/**
 * Makes the client codec of `kind` over `connection` (codecs/index.ts's createClientCodec). The
 * codec writes to the connection itself; its stats go under `scope` (`http1.*` / `http2.*`).
 */
export type ClientCodecFactory = (
  kind: CodecKind,
  connection: Connection,
  callbacks: CodecConnectionCallbacks,
  options: ClientCodecOptions,
  scope: Scope,
) => ClientCodec;

/** What the owner of a codec client (a pool's client) hears (Envoy's CodecClientCallbacks). */
export interface CodecClientCallbacks {
  /** Connected, or the close: a close is reported before the requests in flight are reset. */
  onEvent(event: ConnectionEvent): void;
  /** A request was reset; onStreamDestroy follows. */
  onStreamReset?(reason: StreamResetReason): void;
  /** A request left the client (complete, or reset); numActiveRequests() already excludes it. */
  onStreamDestroy?(): void;
  /** The peer sent GOAWAY (HTTP/2). */
  onGoAway?(errorCode: number): void;
  /** The peer sent SETTINGS (HTTP/2). */
  onSettings?(settings: { readonly maxConcurrentStreams?: number }): void;
}

export interface CodecClientOptions {
  readonly type: CodecKind;
  /** Unconnected; the codec client owns it from here on. */
  readonly connection: NetworkClientConnection;
  /** The upstream host: its cluster gives the stats scope and the codec options. */
  readonly host: HostDescription;
  readonly codecFactory: ClientCodecFactory;
  /** Default: DEFAULT_HTTP1_OPTIONS and DEFAULT_HTTP2_OPTIONS with the cluster's http2Options. */
  readonly codecOptions?: ClientCodecOptions;
}

/** `http2_protocol_options` of a cluster over the codec defaults (only known keys of the right type). */
export function clientCodecOptionsFor(http2Options: Readonly<Record<string, unknown>> | undefined): ClientCodecOptions {
  if (http2Options === undefined) return { http1: DEFAULT_HTTP1_OPTIONS, http2: DEFAULT_HTTP2_OPTIONS };
  const merged: Record<string, unknown> = { ...DEFAULT_HTTP2_OPTIONS };
  for (const key of Object.keys(DEFAULT_HTTP2_OPTIONS)) {
    const v = http2Options[key];
    if (v !== undefined && typeof v === typeof merged[key]) merged[key] = v;
  }
  // The optional ones (no default to compare the type with).
  const keepalive = http2Options['connectionKeepalive'];
  if (typeof keepalive === 'object' && keepalive !== null) merged['connectionKeepalive'] = keepalive;
  const settingsTimeout = http2Options['settingsTimeoutMs'];
  if (typeof settingsTimeout === 'number') merged['settingsTimeoutMs'] = settingsTimeout;
  return { http1: DEFAULT_HTTP1_OPTIONS, http2: merged as unknown as Http2CodecOptions };
}

/** Envoy's "don't count 408 responses where we have no active requests as protocol errors". */
function isIdleRequestTimeout(status: CodecStatus, activeRequests: number): boolean {
  return !status.ok && status.code === 'PrematureResponseError' && activeRequests === 0 && /\b408\b/.test(status.message);
}

/**
 * One request in flight (Envoy's CodecClient::ActiveRequest). It is the RequestEncoder and the
 * Stream the user sees, and the ResponseDecoder and StreamCallbacks the codec sees.
 */
class ActiveRequest implements RequestEncoder, Stream, ResponseDecoder, StreamCallbacks, ListNode<ActiveRequest> {
  listPrev: ActiveRequest | undefined;
  listNext: ActiveRequest | undefined;
  listOwner: IntrusiveList<ActiveRequest> | undefined;

  encodeComplete = false;
  decodeComplete = false;
  /** Out of the client (complete or reset): nothing more is reported. */
  done = false;
  private encoder!: RequestEncoder;
  private codecStream!: Stream;
  private callbacks: Array<StreamCallbacks | undefined> = [];
  private iterating = 0;
  private callbacksRemoved = false;
  /** High-watermark notices from the codec not yet matched by a low one. */
  private aboveHigh = 0;

  constructor(
    private readonly parent: CodecClient,
    private readonly decoder: ResponseDecoder,
    /** HTTP/2 may go on sending after the response; HTTP/1 cannot (Envoy's wait_encode_complete). */
    private readonly waitEncodeComplete: boolean,
  ) {}

  setEncoder(encoder: RequestEncoder): void {
    this.encoder = encoder;
    this.codecStream = encoder.stream();
    this.codecStream.addCallbacks(this);
  }

  // RequestEncoder

  stream(): Stream {
    return this;
  }

  encodeHeaders(headers: RequestHeaderMap, endStream: boolean): CodecStatus {
    const status = this.encoder.encodeHeaders(headers, endStream);
    if (status.ok && endStream) this.onEncodeComplete();
    return status;
  }

  encodeData(data: BufferInstance, endStream: boolean): void {
    this.encoder.encodeData(data, endStream);
    if (endStream) this.onEncodeComplete();
  }

  encodeTrailers(trailers: TrailerMap): void {
    this.encoder.encodeTrailers(trailers);
    this.onEncodeComplete();
  }

  // Stream

  get streamId(): number {
    return this.codecStream.streamId;
  }

  addCallbacks(cb: StreamCallbacks): void {
    this.callbacks.push(cb);
    // A late subscriber learns the current state: one high mark per source still above.
    for (let i = 0; i < this.aboveHigh; i++) cb.onAboveWriteBufferHighWatermark();
  }

  removeCallbacks(cb: StreamCallbacks): void {
    const i = this.callbacks.indexOf(cb);
    if (i < 0) return;
    if (this.iterating > 0) {
      this.callbacks[i] = undefined;
      this.callbacksRemoved = true;
    } else {
      // In place: splice would allocate the array of removed elements.
      const cbs = this.callbacks;
      for (let j = i + 1; j < cbs.length; j++) cbs[j - 1] = cbs[j];
      cbs.pop();
    }
  }

  resetStream(reason: StreamResetReason): void {
    if (this.done) return;
    this.codecStream.resetStream(reason);
    // A codec that resets without calling back (or whose connection is gone) still ends it here.
    if (!this.done) this.onResetStream(reason, '');
  }

  readDisable(disable: boolean): void {
    // Always forwarded, even once done: a user balances its own calls after the response ends.
    this.codecStream.readDisable(disable);
  }

  bufferLimit(): number {
    return this.codecStream.bufferLimit();
  }

  // ResponseDecoder (called by the codec)

  decode1xxHeaders(headers: ResponseHeaderMap): void {
    this.decoder.decode1xxHeaders(headers);
  }

  decodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    if (endStream) this.onPreDecodeComplete();
    this.decoder.decodeHeaders(headers, endStream);
  }

  decodeData(data: BufferInstance, endStream: boolean): void {
    if (endStream) this.onPreDecodeComplete();
    this.decoder.decodeData(data, endStream);
  }

  decodeTrailers(trailers: TrailerMap): void {
    this.onPreDecodeComplete();
    this.decoder.decodeTrailers(trailers);
  }

  // StreamCallbacks (registered on the codec's stream)

  onResetStream(reason: StreamResetReason, details: string): void {
    if (this.done) return;
    this.done = true;
    this.parent.onRequestReset(this, reason);
    this.each((cb) => cb.onResetStream(reason, details));
  }

  onAboveWriteBufferHighWatermark(): void {
    this.aboveHigh++;
    this.each((cb) => cb.onAboveWriteBufferHighWatermark());
  }

  onBelowWriteBufferLowWatermark(): void {
    if (this.aboveHigh === 0) return;
    this.aboveHigh--;
    this.each((cb) => cb.onBelowWriteBufferLowWatermark());
  }

  private onEncodeComplete(): void {
    if (this.encodeComplete) return;
    this.encodeComplete = true;
    if (this.decodeComplete && !this.done) this.complete();
  }

  private onPreDecodeComplete(): void {
    this.decodeComplete = true;
    if (this.done) return;
    if (this.encodeComplete || !this.waitEncodeComplete) this.complete();
  }

  /** Both directions are done: a later reset from the codec is not reported (Envoy's completeRequest). */
  private complete(): void {
    this.done = true;
    this.codecStream.removeCallbacks(this);
    this.parent.onRequestComplete(this);
  }

  private each(fn: (cb: StreamCallbacks) => void): void {
    this.iterating++;
    try {
      const cbs = this.callbacks;
      for (let i = 0; i < cbs.length; i++) {
        const cb = cbs[i];
        if (cb !== undefined) fn(cb);
      }
    } finally {
      if (--this.iterating === 0 && this.callbacksRemoved) {
        this.callbacksRemoved = false;
        this.callbacks = this.callbacks.filter((cb) => cb !== undefined);
      }
    }
  }
}

export class CodecClient implements ConnectionCallbacks, ReadFilter, CodecConnectionCallbacks {
  readonly type: CodecKind;
  readonly connection: NetworkClientConnection;
  private readonly codec: ClientCodec;
  private readonly activeRequests = new IntrusiveList<ActiveRequest>();
  private readonly protocolErrors: Counter;
  private callbacks: CodecClientCallbacks | undefined;
  private connectedFlag = false;
  private remoteClosedFlag = false;
  private protocolError = false;
  private closed = false;

  constructor(opts: CodecClientOptions) {
    this.type = opts.type;
    this.connection = opts.connection;
    const cluster = opts.host.cluster;
    this.protocolErrors = cluster.statsScope.counter('upstream_cx_protocol_error');
    // First in line for connection events, so this client resets its requests before anyone else
    // (a codec that also watches the connection included) sees the close.
    this.connection.addConnectionCallbacks(this);
    this.connection.addReadFilter(this);
    this.connection.noDelay(true);
    const options = opts.codecOptions ?? clientCodecOptionsFor(cluster.http2Options);
    this.codec = opts.codecFactory(opts.type, this.connection, this, options, cluster.statsScope);
  }

  /** The owner's callbacks (one owner). */
  setCodecClientCallbacks(cb: CodecClientCallbacks): void {
    this.callbacks = cb;
  }

  /** Starts connecting; 'Connected' or a close follows through the owner's onEvent. */
  connect(): void {
    if (!this.connection.connecting() && this.connection.state() === 'Open') {
      // Handed an already connected connection.
      this.connectedFlag = true;
      return;
    }
    this.connection.connect();
  }

  /**
   * Opens a request whose response goes to `decoder`. The encoder's stream() is the request: add
   * stream callbacks there.
   */
  newStream(decoder: ResponseDecoder): RequestEncoder {
    const request = new ActiveRequest(this, decoder, this.type === 'http2');
    this.activeRequests.pushFront(request);
    request.setEncoder(this.codec.newStream(request));
    if (this.closed) {
      // Too late: the request fails once its owner had the chance to subscribe.
      this.connection.dispatcher().post(() => request.onResetStream(this.closeResetReason(), this.connectionFailureReason()));
    }
    return request;
  }

  /** NoFlush by default: whatever is queued is of no use once the client gives up on it. */
  close(type: 'NoFlush' | 'FlushWrite' | 'Abort' = 'NoFlush'): void {
    this.connection.close(type);
  }

  /** Sends GOAWAY (HTTP/2); HTTP/1 codecs mark the connection to close. */
  goAway(): void {
    this.codec.goAway();
  }

  numActiveRequests(): number {
    return this.activeRequests.size;
  }

  /** No request in flight. */
  isIdle(): boolean {
    return this.activeRequests.isEmpty();
  }

  /** The peer closed the connection (or reset it). */
  get remoteClosed(): boolean {
    return this.remoteClosedFlag;
  }

  get connected(): boolean {
    return this.connectedFlag;
  }

  get id(): number {
    return this.connection.id;
  }

  protocol(): Protocol {
    return this.codec.protocol();
  }

  /** Why the connection failed or was closed locally ('' when neither). */
  connectionFailureReason(): string {
    const c = this.connection as NetworkClientConnection & { transportFailureReason?: () => string };
    const reason = c.transportFailureReason?.() ?? '';
    return reason !== '' ? reason : this.connection.localCloseReason();
  }

  // ReadFilter

  initializeReadFilterCallbacks(_cb: ReadFilterCallbacks): void {}

  onNewConnection(): FilterStatus {
    return 'Continue';
  }

  onData(data: BufferInstance, _endStream: boolean): FilterStatus {
    this.dispatch(data);
    return 'StopIteration';
  }

  // ConnectionCallbacks

  onEvent(event: ConnectionEvent): void {
    if (event === 'Connected') {
      this.connectedFlag = true;
      this.callbacks?.onEvent(event);
      return;
    }
    if (this.closed) return;
    this.closed = true;
    if (event === 'RemoteClose') this.remoteClosedFlag = true;
    try {
      this.callbacks?.onEvent(event);
    } finally {
      // Whatever the owner did, no request may be left waiting on a closed connection.
      if (this.type === 'http1' && event === 'RemoteClose' && !this.activeRequests.isEmpty()) this.dispatch(new BufferChain());
      const reason = this.closeResetReason();
      const details = this.connectionFailureReason();
      for (let r = this.activeRequests.front(); r !== undefined; r = this.activeRequests.front()) {
        r.onResetStream(reason, details);
      }
    }
  }

  onAboveWriteBufferHighWatermark(): void {
    this.codec.onUnderlyingConnectionAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.codec.onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }

  // CodecConnectionCallbacks

  onGoAway(errorCode: number): void {
    this.callbacks?.onGoAway?.(errorCode);
  }

  onSettings(settings: { readonly maxConcurrentStreams?: number }): void {
    this.callbacks?.onSettings?.(settings);
  }

  // From ActiveRequest

  /** @internal */
  onRequestComplete(request: ActiveRequest): void {
    this.activeRequests.remove(request);
    this.callbacks?.onStreamDestroy?.();
  }

  /** @internal */
  onRequestReset(request: ActiveRequest, reason: StreamResetReason): void {
    this.activeRequests.remove(request);
    this.callbacks?.onStreamReset?.(reason);
    this.callbacks?.onStreamDestroy?.();
  }

  /** Why requests end with the connection (Envoy's CodecClient::onEvent). */
  private closeResetReason(): StreamResetReason {
    if (!this.connectedFlag) return 'ConnectionFailure';
    return this.protocolError ? 'ProtocolError' : 'ConnectionTermination';
  }

  private dispatch(data: BufferInstance): void {
    const status = this.codec.dispatch(data);
    if (status.ok) return;
    if (!isIdleRequestTimeout(status, this.activeRequests.size)) {
      this.protocolErrors.inc();
      this.protocolError = true;
    }
    this.close();
  }
}
