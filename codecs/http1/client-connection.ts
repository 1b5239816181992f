/**
 * The upstream HTTP/1 codec (Envoy's Http1::ClientConnectionImpl in
 * source/common/http/http1/codec_impl.cc) on the llhttp parser of parser.ts.
 *
 * newStream(responseDecoder) -> RequestEncoder. Requests go out in order, one on the wire at a
 * time (a second encodeHeaders while a request is still being encoded fails with
 * CodecClientError); responses are matched to them in order through a queue. The pools use one
 * stream per connection at a time, but pipelined responses in one read are decoded correctly.
 *
 * Responses: `:status` plus the fields, lowercased, in order. 100 is decode1xxHeaders; other 1xx
 * (102, 103) are swallowed, as Envoy does by default. A response that cannot have a body (to HEAD,
 * 204, 304, `content-length: 0`) is decodeHeaders(headers, true); otherwise the body follows as
 * zero-copy decodeData slices and the end as decodeData(empty, true) or decodeTrailers. A 101 to
 * an Upgrade request, or a 2xx to CONNECT, turns the connection into a tunnel: later bytes are
 * decodeData on that stream, and EOF ends it. A response that ends with the connection
 * (read-until-close) completes at EOF: dispatch(empty buffer) as Envoy's codec client does, or the
 * RemoteClose event, which the codec watches itself.
 *
 * Reuse: `connection: close`, HTTP/1.0 without keep-alive, a read-until-close body, a response
 * that beat its request, or a declined tunnel make the connection not reusable: isReusable()
 * turns false and callbacks.onGoAway(0) fires once (the pool closes the connection after the
 * stream). A response with no request pending is a PrematureResponseError; bytes after the last
 * expected response are a protocol error (Envoy: "extraneous data after response complete").
 *
 * Errors and closes: on a protocol error every open stream is reset (ProtocolError, with the
 * details) before dispatch returns the error; the owner closes the connection. When the
 * connection closes, open streams are reset with ConnectionTermination, or ConnectionFailure if it
 * never connected. resetStream() before anything was written just drops the stream; after, it
 * closes the connection (NoFlush).
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type {
  ClientConnection,
  CodecConnectionCallbacks,
  CodecStatus,
  Protocol,
  RequestEncoder,
  ResponseDecoder,
  StreamResetReason,
} from '../../src/api/http-codec.js';
import type { Connection, ConnectionEvent } from '../../src/api/network.js';
import type { Scope } from '../../src/api/stats.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import { IntrusiveList, type ListNode } from '../../src/common/intrusive-list.js';
import type { Http1CodecOptions } from '../codec-options.js';
import { HeaderMapImpl } from '../headers.js';
import { validateResponseFraming } from './header-validation.js';
import { Http1ConnectionBase } from './connection-base.js';
import { CallbackResult, type HeadersCompleteResult, type SpanResult } from './parser.js';
import { hasToken } from './field-collector.js';
import { CODEC_OK, RequestEncoderImpl, type ClientStreamOwner, type Http1Stream } from './stream-encoder.js';

/** Envoy's MAX_RESPONSE_HEADERS_KB: responses may carry larger heads than requests. */
const MAX_RESPONSE_HEADERS_KB = 80;

type FailureCode = 'CodecProtocolError' | 'PrematureResponseError';

interface Failure {
  readonly code: FailureCode;
  readonly details: string;
  readonly message: string;
}

class ClientStream extends RequestEncoderImpl implements ListNode<ClientStream> {
  listPrev: ClientStream | undefined = undefined;
  listNext: ClientStream | undefined = undefined;
  listOwner: IntrusiveList<ClientStream> | undefined = undefined;

  constructor(
    owner: ClientStreamOwner,
    streamId: number,
    aboveHighWatermark: boolean,
    readonly decoder: ResponseDecoder,
  ) {
    super(owner, streamId, aboveHighWatermark);
  }
}

export class Http1ClientConnection
  extends Http1ConnectionBase<ClientStream, Failure>
  implements ClientConnection, ClientStreamOwner
{
  private readonly callbacks: CodecConnectionCallbacks;
  readonly outputBuffer = new BufferChain();
  /** Streams whose request head went out and whose response has not fully arrived, in wire order. */
  private readonly queue: ClientStream[] = [];
  /** Streams not finished yet (for watermark relays and resets). */
  private readonly open = new IntrusiveList<ClientStream>();
  /** The request being written (its head is out, its end is not). */
  private requestInProgress: Http1Stream | null = null;
  private tunnel: ClientStream | null = null;
  private nextStreamId = 1;
  private reusable = true;
  private goAwayRaised = false;
  private connected: boolean;
  private aboveHighWatermark = false;
  private dispatching = false;
  private closed = false;
  private error: CodecStatus | null = null;
  // The message being parsed.
  private premature = false;
  private informational = false;

  constructor(connection: Connection, callbacks: CodecConnectionCallbacks, options: Http1CodecOptions, _scope: Scope) {
    super(connection, 'response', Math.max(options.maxHeadersKb, MAX_RESPONSE_HEADERS_KB) * 1024, options.maxHeadersCount);
    this.callbacks = callbacks;
    const pending = connection as Connection & { connecting?: () => boolean };
    this.connected = connection.state() === 'Open' && !(typeof pending.connecting === 'function' && pending.connecting());
  }

  /** Whether another request may be sent on this connection once the current ones are done. */
  isReusable(): boolean {
    return this.reusable && !this.closed && this.error === null && this.tunnel === null && this.connection.state() === 'Open';
  }

  // ---- ClientConnection ----

  newStream(decoder: ResponseDecoder): RequestEncoder {
    const s = new ClientStream(this, this.nextStreamId++, this.aboveHighWatermark, decoder);
    if (this.closed || this.error !== null) {
      // Nothing can be sent any more: the stream fails as soon as its owner is listening.
      this.connection.dispatcher().post(() => s.reset(this.connected ? 'ConnectionTermination' : 'ConnectionFailure', 'http1.connection_closed'));
      return s;
    }
    this.open.pushBack(s);
    return s;
  }

  dispatch(data: BufferInstance): CodecStatus {
    if (this.error !== null) return this.error;
    if (this.dispatching) throw new Error('http1 dispatch re-entered from one of its callbacks');
    if (this.closed) {
      data.drain(data.length);
      return CODEC_OK;
    }
    // Envoy's codec client dispatches an empty buffer when the upstream closed.
    if (data.length === 0) {
      this.onRemoteEnd();
      return CODEC_OK;
    }
    if (this.tunnel !== null) {
      this.deliverTunnel(this.tunnel, data);
      return CODEC_OK;
    }
    this.dispatching = true;
    try {
      this.parse(data);
    } finally {
      this.dispatching = false;
    }
    if (this.error === null && this.premature) {
      this.fail({
        code: 'PrematureResponseError',
        details: 'http1.premature_response',
        message: 'http/1.1 protocol error: response data with no request pending',
      });
    }
    return this.error ?? CODEC_OK;
  }

  goAway(): void {
    this.reusable = false;
  }

  shutdownNotice(): void {
    this.reusable = false;
  }

  protocol(): Protocol {
    return 'HTTP/1.1';
  }

  activeStreamCount(): number {
    return this.open.size;
  }

  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void {
    this.aboveHighWatermark = true;
    for (const s of this.open.toArray()) s.onAboveHighWatermark();
  }

  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    this.aboveHighWatermark = false;
    for (const s of this.open.toArray()) s.onBelowLowWatermark();
  }

  // ---- ClientStreamOwner ----

  beginRequest(stream: Http1Stream): string | null {
    if (this.closed || this.error !== null) return 'the connection is closed';
    if (this.requestInProgress !== null && this.requestInProgress !== stream) {
      return 'another request is still being encoded on this HTTP/1 connection';
    }
    this.requestInProgress = stream;
    // Responses come back in the order the requests went out, not the order streams were made.
    this.queue.push(stream as ClientStream);
    return null;
  }

  onEncodeComplete(stream: Http1Stream): void {
    if (this.requestInProgress === stream) this.requestInProgress = null;
    if (stream.remoteComplete) this.finishStream(stream as ClientStream);
  }

  onLocalReset(stream: Http1Stream, reason: StreamResetReason, details: string): void {
    const s = stream as ClientStream;
    this.dropStream(s);
    if (this.requestInProgress === s) this.requestInProgress = null;
    const wroteNothing = !s.headersEncoded;
    s.reset(reason, details);
    // Before its head went out a stream leaves no trace on the wire; after, the framing is lost.
    if (wroteNothing) return;
    this.notReusable(false);
    if (this.connection.state() !== 'Closed') this.connection.close('NoFlush', details === '' ? 'http1.stream_reset' : details);
  }

  // ---- dispatch internals ----

  private parse(data: BufferInstance): void {
    this.parser.resume();
    while (data.length > 0 && !this.halted()) {
      const r = this.parser.execute(data.slices()[0]!);
      this.flushBody();
      data.drain(r.consumed);
      if (r.status === 'ok') continue;
      if (r.status === 'paused') {
        if (this.halted()) return;
        // A response completed; the next bytes belong to the next request's response, if any.
        if (this.queue.length > 0) {
          this.parser.resume();
          continue;
        }
        if (data.length > 0) {
          this.fail({
            code: 'CodecProtocolError',
            details: 'http1.extraneous_data',
            message: 'http/1.1 protocol error: extraneous data after response complete',
          });
        }
        return;
      }
      if (r.status === 'upgrade') {
        const t = this.tunnel;
        if (t === null) {
          this.parser.resumeAfterUpgrade();
          continue;
        }
        if (data.length > 0) this.deliverTunnel(t, data);
        return;
      }
      this.fail(
        r.errorCode === 'USER' && this.failure !== null
          ? this.failure
          : { code: 'CodecProtocolError', details: 'http1.codec_error', message: `http/1.1 protocol error: HPE_${r.errorCode}` },
      );
      return;
    }
  }

  protected halted(): boolean {
    return this.closed || this.error !== null || this.connection.state() === 'Closed';
  }

  protected flushBody(): void {
    const body = this.body;
    if (body.length === 0) return;
    const s = this.queue[0];
    if (s !== undefined && !s.finished) s.decoder.decodeData(body, false);
    body.drain(body.length);
  }

  private dropStream(s: ClientStream): void {
    // Usually the head of the queue: shift() does not allocate, splice() returns a new array.
    if (this.queue[0] === s) {
      this.queue.shift();
    } else {
      const i = this.queue.indexOf(s);
      if (i >= 0) this.queue.splice(i, 1);
    }
    this.open.remove(s);
    if (this.tunnel === s) this.tunnel = null;
  }

  protected finishStream(s: ClientStream): void {
    this.dropStream(s);
    s.finish();
  }

  private notReusable(announce: boolean): void {
    this.reusable = false;
    if (announce && !this.goAwayRaised) {
      this.goAwayRaised = true;
      this.callbacks.onGoAway(0);
    }
  }

  private fail(f: Failure): void {
    this.error = { ok: false, code: f.code, message: f.message };
    this.reusable = false;
    this.body.drain(this.body.length);
    this.resetAll('ProtocolError', f.details);
  }

  private resetAll(reason: StreamResetReason, details: string): void {
    const streams = this.open.toArray();
    this.queue.length = 0;
    this.open.clear();
    this.tunnel = null;
    this.requestInProgress = null;
    for (const s of streams) s.reset(reason, details);
  }

  /**
   * The upstream ended its side: completes a read-until-close body or a tunnel. A tunnel whose
   * connection was reset (RST: the transport failed) is not ended here: the close resets its
   * stream (ConnectionTermination), so a CONNECT_ERROR can reach the client (RFC 9113 §8.5).
   */
  private onRemoteEnd(): void {
    const t = this.tunnel;
    if (t !== null) {
      if (!t.remoteComplete && !t.finished && !this.transportFailed()) this.endTunnel(t);
      return;
    }
    this.notReusable(false);
    if (this.queue.length === 0 || this.parser.destroyed) return;
    this.parser.resume();
    this.dispatching = true;
    let truncated: boolean;
    try {
      const r = this.parser.finish();
      this.flushBody();
      truncated = r.status === 'error';
    } finally {
      this.dispatching = false;
    }
    const head = this.queue[0];
    if (truncated && head !== undefined) {
      this.dropStream(head);
      head.reset('ConnectionTermination', 'http1.response_truncated');
    }
  }

  /** The connection failed (reset, TLS error) rather than being closed cleanly (FIN). */
  private transportFailed(): boolean {
    const c = this.connection as Connection & { transportFailureReason?: () => string };
    return (c.transportFailureReason?.() ?? '') !== '';
  }

  protected onConnectionEvent(event: ConnectionEvent): void {
    if (this.closed) return;
    if (event === 'Connected') {
      this.connected = true;
      return;
    }
    if (event === 'RemoteClose' && this.error === null && !this.dispatching) this.onRemoteEnd();
    this.closed = true;
    this.reusable = false;
    this.resetAll(this.connected ? 'ConnectionTermination' : 'ConnectionFailure', '');
    this.parser.destroy();
  }

  // ---- ParserCallbacks ----

  onMessageBegin(): SpanResult {
    this.beginMessage([':status', '']);
    this.informational = false;
    if (this.queue.length === 0) this.premature = true;
    return CallbackResult.Success;
  }

  onUrl(): SpanResult {
    return CallbackResult.Success;
  }

  onStatus(): SpanResult {
    return this.checkHeadSize();
  }

  onHeadersComplete(): HeadersCompleteResult {
    if (!this.fields.finish()) return this.tooManyFields();
    const p = this.parser;
    const status = p.statusCode;
    const s = this.queue[0];
    if (this.premature || s === undefined) {
      return this.reject({
        code: 'PrematureResponseError',
        details: 'http1.premature_response',
        message: `http/1.1 protocol error: premature response (status ${status}) with no request pending`,
      });
    }
    const list = this.fields.list;
    const framing = validateResponseFraming(status, p.httpMinor, new HeaderMapImpl(list));
    if (framing !== null) {
      return this.reject({ code: 'CodecProtocolError', details: framing, message: `http/1.1 protocol error: ${framing}` });
    }
    list[1] = String(status);
    let connection: string | undefined;
    let w = 2;
    for (let r = 2; r < list.length; r += 2) {
      const name = list[r]!;
      if (name === 'connection') connection = connection === undefined ? list[r + 1] : `${connection},${list[r + 1]!}`;
      // Envoy papers over `content-length: 0` on 1xx and 204 (validation refused other values).
      if ((status < 200 || status === 204) && name === 'content-length') continue;
      list[w] = name;
      list[w + 1] = list[r + 1]!;
      w += 2;
    }
    list.length = w;
    const headers = new HeaderMapImpl(list);
    if (status < 200 && status !== 101) {
      // llhttp reports an interim response as a message of its own; its completion is swallowed.
      this.informational = true;
      if (status === 100) s.decoder.decode1xxHeaders(headers);
      return this.halted() ? CallbackResult.Pause : CallbackResult.Success;
    }
    if (status === 101) {
      if (!s.upgradeRequest) {
        return this.reject({
          code: 'CodecProtocolError',
          details: 'http1.unexpected_101',
          message: 'http/1.1 protocol error: 101 response to a request without upgrade',
        });
      }
      this.tunnel = s;
      s.decoder.decodeHeaders(headers, false);
      return this.halted() ? CallbackResult.Pause : CallbackResult.Success;
    }
    if (s.connectRequest && status < 300) {
      this.tunnel = s;
      s.decoder.decodeHeaders(headers, false);
      return this.halted() ? CallbackResult.Pause : CallbackResult.NoBodyUpgrade;
    }
    const chunked = p.isChunked;
    const length = p.contentLength;
    const noBody = s.headRequest || status === 204 || status === 304 || (!chunked && length === 0);
    const keepAlive = p.httpMinor >= 1 ? !hasToken(connection, 'close') : hasToken(connection, 'keep-alive');
    // RFC 9112 §6.3: without a length or chunked, the body runs until the connection closes.
    const readUntilClose = !noBody && !chunked && length === undefined;
    if (!keepAlive || readUntilClose || s.connectRequest || s.upgradeRequest) {
      this.notReusable(true);
      if (this.halted()) return CallbackResult.Pause;
    }
    if (noBody) {
      this.deferredHeaders = headers;
      return CallbackResult.NoBody;
    }
    s.decoder.decodeHeaders(headers, false);
    return this.halted() ? CallbackResult.Pause : CallbackResult.Success;
  }

  onMessageComplete(): SpanResult {
    if (!this.fields.finish()) return this.tooManyFields();
    if (this.informational) {
      this.informational = false;
      return CallbackResult.Success;
    }
    // A tunnel's head "completes" the message in llhttp: its bytes come next.
    if (this.tunnel !== null) return CallbackResult.Success;
    const s = this.queue[0]!;
    this.flushBody();
    this.queue.shift();
    s.remoteComplete = true;
    if (!this.parser.shouldKeepAlive) this.notReusable(true);
    // The rest of a request that lost its response cannot be framed for a next one.
    if (!s.localComplete) this.notReusable(true);
    this.completeMessage(s);
    return CallbackResult.Pause;
  }

  // ---- limits ----

  protected limitFailure(details: string, message: string): Failure {
    return { code: 'CodecProtocolError', details, message };
  }

  private reject(f: Failure): HeadersCompleteResult {
    this.failure = f;
    return CallbackResult.Error;
  }
}
