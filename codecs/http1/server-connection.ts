/**
 * The downstream HTTP/1 codec (Envoy's Http1::ServerConnectionImpl in
 * source/common/http/http1/codec_impl.cc) on the llhttp parser of parser.ts.
 *
 * One parser per connection. dispatch() runs it over the slices of the connection's read buffer
 * and drains exactly what it consumed. The stream of a request is created at its first byte
 * (newStream(responseEncoder) -> RequestDecoder); its head becomes a HeaderMap with `:method`,
 * `:path` (the request-target; absolute-form `http://h/p` gives `:path /p` and `:authority h`),
 * `:authority` (from Host; HTTP/1.0 without one gets `defaultHostForHttp10` when configured, else
 * none and the HCM answers 400), `:scheme` (https on TLS) and the fields, lowercased, in order.
 * A request without body framing is decoded as decodeHeaders(headers, true) once it is complete;
 * otherwise the body follows as decodeData(zero-copy slices, false) and the end as
 * decodeData(empty, true) or decodeTrailers.
 *
 * Rejected before the decoder sees any header (RFC 9112, Envoy's http1 details): whatever strict
 * llhttp refuses, framing errors from header-validation.ts (400, or 501 for unknown codings), a
 * head over `maxHeadersKb` (checked on every piece, so a huge field is cut early) or with more than
 * `maxHeadersCount` fields (431), an HTTP/1.0 request when it is not accepted (426). The error is
 * answered through the decoder's sendLocalReply when it has one (Envoy's sendProtocolError), else
 * by the codec itself (`connection: close`, text body); if the response had already started the
 * stream is only reset. Either way the stream is then reset (ProtocolError, with the details), the
 * connection is closed with FlushWriteAndDelay, and dispatch returns CodecProtocolError from then on.
 *
 * Pipelining: the parser pauses after each request. Bytes after it stay in the read buffer, and
 * while its response is in progress they are not parsed: the connection is read-disabled (counted
 * on the stream, so it is given back when the response is done, which lets the connection
 * dispatch the rest). The caller re-dispatches when data is left and no stream is active (the HCM
 * does). `Expect: 100-continue` sets the encoder's expectsContinue and stays in the headers: the
 * HCM answers it (encode1xxHeaders) and removes the header (Envoy's proxy_100_continue: false).
 *
 * Upgrade (Connection: upgrade + Upgrade, except h2c which is stripped as Envoy does) and CONNECT
 * switch the connection to a tunnel after the head: later bytes are decodeData on that stream, and
 * the response (101 / 2xx) is followed by raw bytes. The end of a tunnel closes the connection.
 *
 * The connection closes (posted to the dispatcher, so the stream's owner finishes first) after a
 * response that the codec decided ends it: goAway()/shutdownNotice(), the request said close,
 * HTTP/1.0 without keep-alive or without a length, a tunnel. resetStream() closes it at once
 * (NoFlush; Abort when a read-until-close body was cut, so the client cannot take it as complete).
 * The codec resets its stream (ConnectionTermination) when the connection closes under it.
 */
import { STATUS_CODES } from 'node:http';
import type { BufferInstance } from '../../src/api/buffer.js';
import type {
  CodecStatus,
  Protocol,
  RequestDecoder,
  ServerConnection,
  ServerConnectionCallbacks,
  StreamResetReason,
} from '../../src/api/http-codec.js';
import type { Connection, ConnectionCloseType, ConnectionEvent } from '../../src/api/network.js';
import type { Scope } from '../../src/api/stats.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import type { Http1CodecOptions } from '../codec-options.js';
import { HeaderMapImpl } from '../headers.js';
import { framingErrorStatus, validateRequestFraming } from './header-validation.js';
import { Http1ConnectionBase } from './connection-base.js';
import { CallbackResult, type HeadersCompleteResult, type ParserErrorCode, type SpanResult } from './parser.js';
import { hasToken, scanFields, trimOws } from './field-collector.js';
import { CODEC_OK, ResponseEncoderImpl, type Http1Stream, type ServerStreamOwner } from './stream-encoder.js';

/** Why the codec rejects a request: the status it answers with and Envoy's details. */
interface Failure {
  readonly status: number;
  readonly details: string;
  readonly message: string;
}

class ServerStream extends ResponseEncoderImpl {
  decoder!: RequestDecoder;
  /** The connection was read-disabled for a pipelined request waiting behind this one. */
  held = false;
}

export class Http1ServerConnection
  extends Http1ConnectionBase<ServerStream, Failure>
  implements ServerConnection, ServerStreamOwner
{
  private readonly callbacks: ServerConnectionCallbacks;
  private readonly options: Http1CodecOptions;
  private readonly scheme: string;
  readonly outputBuffer = new BufferChain();
  private active: ServerStream | null = null;
  private nextStreamId = 1;
  private proto: Protocol = 'HTTP/1.1';
  private draining = false;
  private goAwayRaised = false;
  private aboveHighWatermark = false;
  private tunnel = false;
  private dispatching = false;
  private closed = false;
  private closeScheduled = false;
  private error: CodecStatus | null = null;
  private errorDetails = '';
  // The message being parsed.
  private url = '';
  private tunnelRequested = false;

  constructor(connection: Connection, callbacks: ServerConnectionCallbacks, options: Http1CodecOptions, _scope: Scope) {
    super(connection, 'request', options.maxHeadersKb * 1024, options.maxHeadersCount);
    this.callbacks = callbacks;
    this.options = options;
    this.scheme = connection.ssl() ? 'https' : 'http';
  }

  // ---- CodecConnection ----

  dispatch(data: BufferInstance): CodecStatus {
    if (this.error !== null) return this.error;
    if (this.dispatching) throw new Error('http1 dispatch re-entered from one of its callbacks');
    if (this.closed || this.closeScheduled) {
      data.drain(data.length);
      return CODEC_OK;
    }
    // Envoy dispatches an empty buffer at end of stream (half-close).
    if (data.length === 0) {
      this.onRemoteEnd();
      return CODEC_OK;
    }
    if (this.tunnel) {
      this.deliverTunnel(this.active, data);
      return CODEC_OK;
    }
    const busy = this.active;
    if (busy !== null && busy.remoteComplete) {
      // The next request waits until this response is out (Envoy: eager read-disable).
      this.hold(busy);
      return CODEC_OK;
    }
    this.dispatching = true;
    try {
      this.parse(data);
    } finally {
      this.dispatching = false;
    }
    if (this.error !== null) {
      this.closeAfterError();
      return this.error;
    }
    const s = this.active;
    if (s !== null && s.remoteComplete && data.length > 0) this.hold(s);
    return CODEC_OK;
  }

  goAway(): void {
    this.draining = true;
  }

  shutdownNotice(): void {
    this.draining = true;
  }

  protocol(): Protocol {
    return this.proto;
  }

  activeStreamCount(): number {
    return this.active !== null && !this.active.finished ? 1 : 0;
  }

  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void {
    this.aboveHighWatermark = true;
    this.active?.onAboveHighWatermark();
  }

  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    this.aboveHighWatermark = false;
    this.active?.onBelowLowWatermark();
  }

  // ---- ServerStreamOwner ----

  drainRequested(): boolean {
    return this.draining;
  }

  onEncodeComplete(stream: Http1Stream): void {
    const s = stream as ServerStream;
    s.releaseReads();
    // A drain that began after the response head went out still ends the connection here.
    if (s.closeAfter || this.draining) {
      // A response that beat its request: the client may still be sending, so linger.
      this.scheduleClose(s.remoteComplete || s.tunnel ? 'FlushWrite' : 'FlushWriteAndDelay');
    }
    if (s.remoteComplete || s.tunnel) this.finishStream(s);
  }

  onLocalReset(stream: Http1Stream, reason: StreamResetReason, details: string): void {
    const s = stream as ServerStream;
    // A cut read-until-close body must not end in a FIN, which would make it look complete.
    const type: ConnectionCloseType = s.headersEncoded && !s.localComplete && s.closeDelimited ? 'Abort' : 'NoFlush';
    this.closeScheduled = true;
    if (this.active === s) this.active = null;
    s.reset(reason, details);
    if (this.connection.state() !== 'Closed') this.connection.close(type, details === '' ? 'http1.stream_reset' : details);
  }

  // ---- dispatch internals ----

  private parse(data: BufferInstance): void {
    this.parser.resume();
    while (data.length > 0 && !this.halted()) {
      const r = this.parser.execute(data.slices()[0]!);
      this.flushBody();
      data.drain(r.consumed);
      if (r.status === 'ok') continue;
      if (r.status === 'paused') return;
      if (r.status === 'upgrade') {
        if (!this.tunnelRequested) {
          // An upgrade the codec declined (h2c): go on parsing HTTP/1.
          this.parser.resumeAfterUpgrade();
          continue;
        }
        this.tunnel = true;
        if (data.length > 0) this.deliverTunnel(this.active, data);
        return;
      }
      const f = r.errorCode === 'USER' && this.failure !== null ? this.failure : parserFailure(r.errorCode, r.errorReason);
      this.failure = null;
      this.fail(f);
      return;
    }
  }

  protected halted(): boolean {
    return this.closed || this.closeScheduled || this.error !== null || this.connection.state() !== 'Open';
  }

  protected flushBody(): void {
    const body = this.body;
    if (body.length === 0) return;
    const s = this.active;
    if (s !== null && !s.finished && !s.remoteComplete) s.decoder.decodeData(body, false);
    body.drain(body.length);
  }

  private hold(s: ServerStream): void {
    if (s.held) return;
    s.held = true;
    s.readDisable(true);
  }

  private newStream(): ServerStream {
    const s = new ServerStream(this, this.nextStreamId++, this.aboveHighWatermark);
    this.active = s;
    s.decoder = this.callbacks.newStream(s);
    return s;
  }

  protected finishStream(s: ServerStream): void {
    s.finish();
    if (this.active === s) this.active = null;
  }

  private scheduleClose(type: ConnectionCloseType): void {
    if (this.closeScheduled) return;
    this.closeScheduled = true;
    const conn = this.connection;
    conn.dispatcher().post(() => {
      if (conn.state() === 'Open') conn.close(type, 'http1.close_after_response');
    });
  }

  /** Answers a rejected request (Envoy's sendProtocolError) and marks the codec failed. */
  private fail(f: Failure): void {
    this.error = { ok: false, code: 'CodecProtocolError', message: f.message };
    this.errorDetails = f.details;
    this.body.drain(this.body.length);
    this.draining = true;
    let s = this.active;
    if (s === null || s.finished) s = this.newStream();
    if (s.headersEncoded) {
      if (this.active === s) this.active = null;
      s.reset('ProtocolError', f.details);
      return;
    }
    s.forceClose = true;
    const reason = STATUS_CODES[f.status] ?? 'Unknown';
    const decoder = s.decoder;
    if (decoder.sendLocalReply !== undefined) decoder.sendLocalReply(f.status, reason, f.details);
    // Whatever the decoder did, the client gets an answer before the close.
    if (!s.headersEncoded && !s.finished) s.sendLocalError(f.status, reason);
    // The request itself is dead: a decoder still listening learns why.
    if (this.active === s) this.active = null;
    s.reset('ProtocolError', f.details);
  }

  private closeAfterError(): void {
    this.closeScheduled = true;
    if (this.connection.state() === 'Open') this.connection.close('FlushWriteAndDelay', this.errorDetails);
  }

  /** End of stream from the peer (half-close): ends a tunnel, or resets a cut request. */
  private onRemoteEnd(): void {
    const s = this.active;
    if (s === null || s.finished) return;
    if (this.tunnel) {
      if (!s.remoteComplete) this.endTunnel(s);
      return;
    }
    if (!s.remoteComplete) {
      this.active = null;
      s.reset('ConnectionTermination', 'http1.remote_end_mid_request');
    }
  }

  protected onConnectionEvent(event: ConnectionEvent): void {
    if (event === 'Connected' || this.closed) return;
    this.closed = true;
    const s = this.active;
    this.active = null;
    if (s !== null && !s.finished) s.reset('ConnectionTermination', '');
    this.parser.destroy();
  }

  // ---- ParserCallbacks ----

  onMessageBegin(): SpanResult {
    this.url = '';
    // The pseudo-headers come first (HeaderMapImpl's order); their values are set at the end.
    this.beginMessage([':method', '', ':path', '', ':authority', '', ':scheme', '']);
    this.tunnelRequested = false;
    this.proto = 'HTTP/1.1';
    this.newStream();
    return this.halted() ? CallbackResult.Pause : CallbackResult.Success;
  }

  onUrl(data: Buffer, start: number, end: number): SpanResult {
    this.url += this.fields.text(data, start, end);
    return this.checkHeadSize();
  }

  /** Responses only. */
  onStatus(): SpanResult {
    return CallbackResult.Success;
  }

  onHeadersComplete(): HeadersCompleteResult {
    if (!this.fields.finish()) return this.tooManyFields();
    const p = this.parser;
    const s = this.active!;
    const method = p.method;
    const minor = p.httpMinor;
    const list = this.fields.list;
    this.proto = minor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    if (minor === 0 && !this.options.acceptHttp10) {
      return this.reject(426, 'low_version', 'Upgrade required for HTTP/1.0');
    }
    s.http10 = minor === 0;
    // After the four pseudo-header slots.
    const h = scanFields(list, 8);
    const connect = method === 'CONNECT';
    // One plain Host and no framing fields: none of validateRequestFraming's checks can fail.
    if (connect || h.contentLength || h.transferEncoding || h.hostCount !== 1 || !SIMPLE_HOST.test(h.host!)) {
      const framing = validateRequestFraming(method, minor, new HeaderMapImpl(list));
      if (framing !== null) return this.reject(framingErrorStatus(framing), framing, `http/1.1 protocol error: ${framing}`);
    }
    const url = this.url;
    let authority = h.host;
    let path = url;
    let scheme = this.scheme;
    if (connect) {
      // RFC 9110 §9.3.6: the authority-form target is what to connect to.
      if (!AUTHORITY_FORM.test(url)) return this.reject(400, 'http1.invalid_url', 'http/1.1 protocol error: invalid url in request line');
      authority = url;
    } else if (url.charCodeAt(0) !== 0x2f /* '/' */ && !(url === '*' && method === 'OPTIONS')) {
      // RFC 9112 §3.2.2: absolute-form. A proxy MUST replace Host with the target's authority.
      const abs = parseAbsoluteForm(url);
      if (abs === null) return this.reject(400, 'http1.invalid_url', 'http/1.1 protocol error: invalid url in request line');
      if (abs.scheme !== 'http' && abs.scheme !== 'https') {
        return this.reject(400, 'http1.invalid_scheme', 'http/1.1 protocol error: invalid scheme');
      }
      authority = abs.authority;
      path = abs.path;
      scheme = abs.scheme;
    }
    if (authority === undefined && minor === 0 && this.options.defaultHostForHttp10 !== '') {
      authority = this.options.defaultHostForHttp10;
    }
    const upgradeWanted = !connect && p.isUpgrade;
    const h2c = upgradeWanted && h.upgrade !== undefined && h.upgrade.toLowerCase() === 'h2c';
    this.tunnelRequested = connect || (upgradeWanted && !h2c);
    list[1] = method;
    list[3] = path;
    list[5] = authority ?? '';
    list[7] = scheme;
    // Host is now :authority; CONNECT's `content-length: 0` goes (Envoy; other lengths were
    // refused); an h2c upgrade is stripped (Envoy does not support it).
    if (h.hostCount > 0 || connect || h2c) dropFields(list, connect, h2c);
    if (connect) {
      list.splice(6, 2);
      list.splice(2, 2);
    } else if (authority === undefined) {
      list.splice(4, 2);
    }
    const headers = new HeaderMapImpl(list);
    s.headRequest = method === 'HEAD';
    s.connectRequest = connect;
    s.tunnelRequest = this.tunnelRequested;
    s.requestKeepAlive = minor >= 1 ? !hasToken(h.connection, 'close') : hasToken(h.connection, 'keep-alive');
    s.expectsContinue = minor >= 1 && h.expect !== undefined && h.expect.toLowerCase() === '100-continue';
    if (!s.requestKeepAlive && !this.goAwayRaised) {
      this.goAwayRaised = true;
      this.callbacks.onGoAway(0);
      if (this.halted()) return CallbackResult.Pause;
    }
    if (this.tunnelRequested) {
      s.decoder.decodeHeaders(headers, false);
      return this.halted() ? CallbackResult.Pause : CallbackResult.NoBodyUpgrade;
    }
    if (p.isChunked || (p.contentLength ?? 0) > 0) {
      s.decoder.decodeHeaders(headers, false);
      return this.halted() ? CallbackResult.Pause : CallbackResult.Success;
    }
    // No body: decodeHeaders(.., true) once the message is complete (Envoy's deferred end stream).
    this.deferredHeaders = headers;
    return CallbackResult.Success;
  }

  onMessageComplete(): SpanResult {
    if (!this.fields.finish()) return this.tooManyFields();
    // A tunnel's head "completes" the message in llhttp: its bytes come next, as body.
    if (this.tunnelRequested) return CallbackResult.Success;
    const s = this.active!;
    this.flushBody();
    s.remoteComplete = true;
    this.completeMessage(s);
    // One request at a time: the caller dispatches again for a pipelined one.
    return CallbackResult.Pause;
  }

  /** A head over `max_request_headers_kb` or `max_headers_count` is answered with 431. */
  protected limitFailure(details: string, message: string): Failure {
    return { status: 431, details, message };
  }

  private reject(status: number, details: string, message: string): HeadersCompleteResult {
    this.failure = { status, details, message };
    return CallbackResult.Error;
  }
}

/** Maps an llhttp error to Envoy's answer: 400 with the closest http1 detail. */
function parserFailure(code: ParserErrorCode, reason: string): Failure {
  let details = 'http1.codec_error';
  if (code === 'INVALID_HEADER_TOKEN' && reason.includes('value char')) details = 'http1.invalid_characters';
  else if ((code === 'INVALID_TRANSFER_ENCODING' || code === 'INVALID_CONTENT_LENGTH') && reason.includes("can't be present with")) {
    details = 'http1.content_length_and_chunked_not_allowed';
  } else if (code === 'INVALID_TRANSFER_ENCODING') details = 'http1.invalid_transfer_encoding';
  return { status: 400, details, message: `http/1.1 protocol error: HPE_${code}` };
}

/** Host values that the full Host grammar of header-validation.ts accepts as well. */
const SIMPLE_HOST = /^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/;

const H2C_TOKENS: ReadonlySet<string> = new Set(['upgrade', 'http2-settings']);

/** Removes, in place, Host and what CONNECT or an h2c upgrade leave out, from the regular fields. */
function dropFields(list: string[], connect: boolean, h2c: boolean): void {
  let w = 8;
  for (let r = 8; r < list.length; r += 2) {
    const name = list[r]!;
    let value = list[r + 1]!;
    if (name === 'host' || (connect && name === 'content-length')) continue;
    if (h2c && (name === 'upgrade' || name === 'http2-settings')) continue;
    if (h2c && name === 'connection') {
      value = withoutTokens(value, H2C_TOKENS);
      if (value === '') continue;
    }
    list[w] = name;
    list[w + 1] = value;
    w += 2;
  }
  // Popping the few dropped slots is cheaper than setting length (a runtime call).
  while (list.length > w) list.pop();
}

function withoutTokens(value: string, drop: ReadonlySet<string>): string {
  const kept: string[] = [];
  for (const part of value.split(',')) {
    const t = trimOws(part);
    if (t !== '' && !drop.has(t.toLowerCase())) kept.push(t);
  }
  return kept.join(',');
}

/** uri-host ":" port (RFC 9110 §9.3.6): a reg-name/IPv4 or an IP literal, and a port. */
const AUTHORITY_FORM = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+):[0-9]+$/;
/** authority without userinfo (RFC 9110 §4.2.4 forbids it in http(s) URIs). */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

/** `scheme "://" authority [path-abempty] ["?" query]`, or null when malformed. */
function parseAbsoluteForm(url: string): { scheme: string; authority: string; path: string } | null {
  const sep = url.indexOf('://');
  if (sep <= 0 || !SCHEME.test(url.slice(0, sep))) return null;
  let end = sep + 3;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x2f /* '/' */ || c === 0x3f /* '?' */ || c === 0x23 /* '#' */) break;
    end++;
  }
  const authority = url.slice(sep + 3, end);
  if (!AUTHORITY.test(authority)) return null;
  let path = url.slice(end);
  if (path.charCodeAt(0) === 0x23) return null;
  if (path === '') path = '/';
  else if (path.charCodeAt(0) === 0x3f) path = `/${path}`;
  return { scheme: url.slice(0, sep).toLowerCase(), authority, path };
}
