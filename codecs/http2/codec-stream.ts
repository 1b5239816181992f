/**
 * The part of an HTTP/2 codec stream shared by the server and client connections (Envoy's
 * ConnectionImpl::StreamImpl): the api Stream (callbacks, counted readDisable, reset), the
 * encoder's body and trailers, received-body backpressure and write-side watermarks.
 *
 * Backpressure (DESIGN.md): received DATA goes to the decoder at once and its octets are consumed
 * (window credit returned) right away, unless the stream is read-disabled: then it waits in a
 * per-stream pending buffer and is NOT consumed, so no WINDOW_UPDATE goes out and the peer runs
 * out of window. Re-enabling delivers the pending body (and trailers) on the next loop turn and
 * consumes it. Sending: body octets queued in the session waiting for window count against the
 * stream's buffer limit; crossing it raises onAboveWriteBufferHighWatermark on the stream's
 * callbacks (the router stops reading its upstream), falling to half raises the low mark.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type { HeaderMap, Stream, StreamCallbacks, StreamResetReason, TrailerMap } from '../../src/api/http-codec.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import { HeaderMapImpl } from '../headers.js';
import { ErrorCode } from './frame.js';
import type { HeaderField } from './hpack.js';
import type { Http2CodecStats } from './protections.js';
import type { Http2Session } from './session.js';

/** Names the peer sent as never indexed, per decoded map, to send them the same way (RFC 7541 §7.1.3). */
const NEVER_INDEXED = new WeakMap<HeaderMap, ReadonlySet<string>>();

export function neverIndexedOf(map: HeaderMap): ReadonlySet<string> | undefined {
  return NEVER_INDEXED.get(map);
}

/** RFC 9113 §8.2.2: never sent in HTTP/2. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Regular fields of `map` for the wire: lowercase already, connection-specific ones dropped. */
export function appendRegularFields(out: HeaderField[], map: HeaderMap): void {
  map.forEach((name, value) => {
    if (name.charCodeAt(0) === 58 /* ':' */ || name === 'host' || CONNECTION_SPECIFIC.has(name)) return;
    // §8.2.2: te is allowed with the value "trailers" only.
    if (name === 'te') {
      if (value.toLowerCase().split(',').some((t) => t.trim() === 'trailers')) out.push(['te', 'trailers']);
      return;
    }
    out.push([name, value]);
  });
}

/** Trailers for the wire: no pseudo-headers or connection-specific fields. */
export function trailerFields(trailers: TrailerMap): HeaderField[] {
  const out: HeaderField[] = [];
  appendRegularFields(out, trailers);
  return out;
}

/** Builds a HeaderMap from one received header block. */
export class HeaderMapBuilder {
  private map = new HeaderMapImpl();
  private cookies: string | undefined;
  private never: Set<string> | undefined;
  private host: string | undefined;

  constructor(private readonly joinCookies: boolean) {}

  add(name: string, value: string, neverIndexed: boolean): void {
    if (neverIndexed) (this.never ??= new Set()).add(name);
    if (this.joinCookies && name === 'cookie') {
      // RFC 9113 §8.2.3: crumbled cookies are joined with "; " before going to HTTP/1 semantics.
      this.cookies = this.cookies === undefined ? value : `${this.cookies}; ${value}`;
      return;
    }
    if (name === 'host') {
      this.host ??= value;
      return;
    }
    this.map.addLowercase(name, value);
  }

  /** The map: cookies joined, `host` folded into `:authority` when that is absent. */
  finish(): HeaderMapImpl {
    const map = this.map;
    if (this.host !== undefined && !map.has(':authority')) map.addLowercase(':authority', this.host);
    if (this.cookies !== undefined) map.addLowercase('cookie', this.cookies);
    if (this.never !== undefined) NEVER_INDEXED.set(map, this.never);
    this.map = new HeaderMapImpl();
    this.cookies = undefined;
    this.never = undefined;
    this.host = undefined;
    return map;
  }
}

/** What a stream needs from its connection. */
export interface StreamOwner {
  readonly session: Http2Session;
  /** `http2.pending_recv_bytes` counts what streams hold unconsumed. */
  readonly stats: Http2CodecStats;
  /** The transport is above its write high watermark (new streams start told so). */
  readonly outputBlocked: boolean;
  post(cb: () => void): void;
  onStreamDone(stream: Http2StreamBase): void;
}

export abstract class Http2StreamBase implements Stream {
  protected id = 0;
  private readonly callbacks: StreamCallbacks[] = [];
  private readDisableCount = 0;
  private pendingBody: BufferChain | undefined;
  private pendingEnd = false;
  private pendingTrailers: HeaderMap | undefined;
  private deliveryPosted = false;
  private aboveHigh = false;
  /** Reset or closed in the session: nothing more is sent. */
  protected closed = false;
  protected resetDone = false;
  readonly builder: HeaderMapBuilder;

  constructor(
    protected readonly owner: StreamOwner,
    private readonly limit: number,
    joinCookies: boolean,
  ) {
    this.builder = new HeaderMapBuilder(joinCookies);
  }

  get streamId(): number {
    return this.id;
  }

  /** The decoder's data and trailers hooks. */
  protected abstract decodeData(data: BufferInstance, endStream: boolean): void;
  protected abstract decodeTrailers(trailers: HeaderMap): void;

  // ---- Stream ----

  addCallbacks(cb: StreamCallbacks): void {
    this.callbacks.push(cb);
    // A late subscriber learns the current state: one high mark per source still above.
    if (this.aboveHigh) cb.onAboveWriteBufferHighWatermark();
    if (this.owner.outputBlocked) cb.onAboveWriteBufferHighWatermark();
  }

  removeCallbacks(cb: StreamCallbacks): void {
    const i = this.callbacks.indexOf(cb);
    if (i >= 0) this.callbacks.splice(i, 1);
  }

  bufferLimit(): number {
    return this.limit;
  }

  readDisable(disable: boolean): void {
    if (disable) {
      this.readDisableCount++;
      return;
    }
    if (this.readDisableCount === 0) return;
    this.readDisableCount--;
    if (this.readDisableCount === 0 && this.hasPending() && !this.deliveryPosted) {
      // Deliver on the next turn: readDisable(false) comes from deep inside watermark callbacks.
      this.deliveryPosted = true;
      this.owner.post(() => {
        this.deliveryPosted = false;
        this.deliverPending();
      });
    }
  }

  resetStream(reason: StreamResetReason): void {
    if (this.resetDone) return;
    this.resetDone = true;
    this.dropPending();
    if (this.id !== 0 && !this.closed) {
      this.closed = true;
      this.owner.session.submitRstStream(this.id, this.resetCode(reason));
    }
    this.runResetCallbacks(reason, '');
    this.owner.onStreamDone(this);
  }

  /**
   * The RST_STREAM code for a local reset (Envoy's reasonToReset): REFUSED_STREAM for a refusal,
   * PROTOCOL_ERROR for a protocol error, CONNECT_ERROR when a CONNECT tunnel's TCP connection
   * failed (RFC 9113 §8.5), otherwise NO_ERROR, on both sides as in Envoy (the server ending a
   * stream whose response is complete, RFC 9113 §8.1; the client giving up).
   */
  private resetCode(reason: StreamResetReason): number {
    switch (reason) {
      case 'LocalRefusedStreamReset': return ErrorCode.REFUSED_STREAM;
      case 'ProtocolError': return ErrorCode.PROTOCOL_ERROR;
      case 'ConnectError': return ErrorCode.CONNECT_ERROR;
      default: return ErrorCode.NO_ERROR;
    }
  }

  // ---- encoding ----

  encodeData(data: BufferInstance, endStream: boolean): void {
    if (this.closed || this.id === 0) {
      data.drain(data.length);
      return;
    }
    this.owner.session.submitData(this.id, data, endStream);
    this.checkWriteWatermarks();
  }

  encodeTrailers(trailers: TrailerMap): void {
    if (this.closed || this.id === 0) return;
    const fields = trailerFields(trailers);
    // Empty trailers: the stream simply ends (an empty DATA frame with END_STREAM).
    if (fields.length === 0) this.owner.session.submitData(this.id, new BufferChain(), true);
    else this.owner.session.submitTrailers(this.id, fields, neverIndexedOf(trailers));
    this.checkWriteWatermarks();
  }

  /** Called by the connection after DATA of this stream went out. */
  checkWriteWatermarks(): void {
    if (this.limit === 0) return;
    const pending = this.closed ? 0 : this.owner.session.pendingSendBytes(this.id);
    if (!this.aboveHigh && pending > this.limit) {
      this.aboveHigh = true;
      this.runHighWatermarkCallbacks();
    } else if (this.aboveHigh && pending <= Math.floor(this.limit / 2)) {
      this.aboveHigh = false;
      this.runLowWatermarkCallbacks();
    }
  }

  runHighWatermarkCallbacks(): void {
    for (const cb of this.callbacks.slice()) cb.onAboveWriteBufferHighWatermark();
  }

  runLowWatermarkCallbacks(): void {
    for (const cb of this.callbacks.slice()) cb.onBelowWriteBufferLowWatermark();
  }

  // ---- receiving ----

  /** A DATA payload from the session. */
  onData(data: Buffer, endStream: boolean): void {
    if (this.resetDone) {
      this.owner.session.consume(this.id, data.length);
      return;
    }
    if (this.readDisableCount > 0 || this.hasPending()) {
      // Held, not consumed: a private copy so that the socket chunk it views can be freed.
      if (data.length > 0) {
        (this.pendingBody ??= new BufferChain()).add(Buffer.from(data));
        this.owner.stats.pending_recv_bytes.inc(data.length);
      }
      if (endStream) this.pendingEnd = true;
      return;
    }
    this.decodeData(new BufferChain(data), endStream);
    this.owner.session.consume(this.id, data.length);
  }

  /** Trailers from the session: after any held body. */
  onTrailers(trailers: HeaderMap): void {
    if (this.resetDone) return;
    if (this.readDisableCount > 0 || this.hasPending()) {
      this.pendingTrailers = trailers;
      return;
    }
    this.decodeTrailers(trailers);
  }

  private hasPending(): boolean {
    return (this.pendingBody !== undefined && this.pendingBody.length > 0) || this.pendingEnd || this.pendingTrailers !== undefined;
  }

  private deliverPending(): void {
    if (this.readDisableCount > 0 || this.resetDone) return;
    const body = this.pendingBody;
    const n = body === undefined ? 0 : body.length;
    const end = this.pendingEnd;
    const trailers = this.pendingTrailers;
    this.pendingBody = undefined;
    this.pendingEnd = false;
    this.pendingTrailers = undefined;
    if (n > 0) this.owner.stats.pending_recv_bytes.dec(n);
    if (n > 0 || end) {
      this.decodeData(body ?? new BufferChain(), end);
      this.owner.session.consume(this.id, n);
    }
    if (trailers !== undefined && !this.resetDone) this.decodeTrailers(trailers);
  }

  /** Gives back the window of held octets (the stream is going away). */
  private dropPending(): void {
    const n = this.pendingBody?.length ?? 0;
    this.pendingBody = undefined;
    this.pendingEnd = false;
    this.pendingTrailers = undefined;
    if (n > 0) {
      this.owner.stats.pending_recv_bytes.dec(n);
      this.owner.session.consume(this.id, n);
    }
  }

  // ---- closing ----

  /** The connection closed: nothing more is sent, and held body octets are let go. */
  onTransportClosed(): void {
    this.closed = true;
    const n = this.pendingBody?.length ?? 0;
    if (n > 0) this.owner.stats.pending_recv_bytes.dec(n);
    this.pendingBody = undefined;
    this.pendingEnd = false;
    this.pendingTrailers = undefined;
  }

  /** The session closed the stream normally (both sides ended). */
  onClosed(): void {
    this.closed = true;
    if (this.aboveHigh) {
      this.aboveHigh = false;
      this.runLowWatermarkCallbacks();
    }
    this.owner.onStreamDone(this);
  }

  /** The peer (or a stream error we sent) reset the stream. */
  onRemoteReset(reason: StreamResetReason, details: string): void {
    if (this.resetDone) return;
    this.closed = true;
    this.resetDone = true;
    this.dropPending();
    this.runResetCallbacks(reason, details);
    this.owner.onStreamDone(this);
  }

  private runResetCallbacks(reason: StreamResetReason, details: string): void {
    for (const cb of this.callbacks.slice()) cb.onResetStream(reason, details);
  }
}
