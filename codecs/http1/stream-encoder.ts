/**
 * HTTP/1 stream encoding shared by the server and client connections (Envoy's StreamEncoderImpl,
 * ResponseEncoderImpl and RequestEncoderImpl in source/common/http/http1/codec_impl.cc).
 *
 * A stream is the api's Stream plus one direction of encoding: the response on the server side,
 * the request on the client side. encodeHeaders chooses the body framing once (RFC 9112 §6):
 * - a Content-Length from the caller: the body goes out as is;
 * - no body possible (1xx, 204, 304, the response to HEAD): body bytes are dropped;
 * - a message that ends with its headers: `content-length: 0` is added (not to 204/304/1xx, a
 *   response to HEAD, nor a request whose method has no body: Envoy's requestShouldHaveNoBody);
 * - a tunnel (101, a 2xx to CONNECT, a CONNECT or Upgrade request): raw bytes, no framing;
 * - a response to HTTP/1.0: read-until-close, and the connection closes after it;
 * - anything else: `transfer-encoding: chunked`, with trailers as chunked trailers (RFC 9112
 *   §7.1.2). Trailers of a message that is not chunked are dropped.
 * A `transfer-encoding` header from the caller is never copied: the codec owns framing.
 *
 * Every encode call is one Connection.write of one BufferChain (the connection's output buffer,
 * which the write drains, as Envoy's output_buffer_): the head, a chunk header, the payload slices
 * (moved, never copied), CRLF and the last chunk travel together. A Content-Length or tunnel body
 * is handed to the connection as the caller's own buffer. The head's field list is the map's own
 * array unless the codec must add or drop a field.
 *
 * Watermarks: the owner relays the network connection's write-buffer watermarks to its open
 * streams (onAboveHighWatermark / onBelowLowWatermark); a callback added while the connection is
 * above its high mark hears about it at once (Envoy's StreamCallbackHelper). readDisable is counted
 * per stream and given back in full when the stream is done, so a stream can never leave its
 * connection read-disabled.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type {
  CodecStatus,
  HeaderMap,
  RequestEncoder,
  RequestHeaderMap,
  ResponseEncoder,
  ResponseHeaderMap,
  Stream,
  StreamCallbacks,
  StreamResetReason,
  TrailerMap,
} from '../../src/api/http-codec.js';
import type { Connection } from '../../src/api/network.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import { HeaderMapImpl } from '../headers.js';
import {
  CHUNK_END,
  LAST_CHUNK,
  encodeChunkHeader,
  encodeLastChunk,
  encodeRequestHead,
  encodeResponseHead,
  isEncodeError,
  type EncodeError,
} from './encoder.js';
import { hasToken, scanFields } from './field-collector.js';

export const CODEC_OK: CodecStatus = { ok: true };

/** How the body of the message being encoded goes on the wire. */
type BodyFraming = 'chunked' | 'identity' | 'none';

/** What a stream needs from the connection that owns it. */
export interface Http1StreamOwner {
  readonly connection: Connection;
  /**
   * The connection's output buffer (Envoy's output_buffer_): each encode call fills it and hands
   * it to Connection.write, which drains it, so one BufferChain serves every write.
   */
  readonly outputBuffer: BufferChain;
  /** The stream wrote the last byte of its message. */
  onEncodeComplete(stream: Http1Stream): void;
  /** The stream's user called resetStream(), or the stream could not encode its head. */
  onLocalReset(stream: Http1Stream, reason: StreamResetReason, details: string): void;
}

export interface ServerStreamOwner extends Http1StreamOwner {
  /** goAway() or shutdownNotice() was called: responses carry `connection: close`. */
  drainRequested(): boolean;
}

export interface ClientStreamOwner extends Http1StreamOwner {
  /**
   * Claims the wire for this request: null, or why not (another request is still being encoded,
   * the connection is gone).
   */
  beginRequest(stream: Http1Stream): string | null;
}

/** The api Stream of one HTTP/1 exchange, and the encoding of its outbound message. */
export abstract class Http1Stream implements Stream {
  /** The message head went out. */
  headersEncoded = false;
  /** The whole outbound message went out. */
  localComplete = false;
  /** The whole inbound message was received. */
  remoteComplete = false;
  /** Done (both directions complete, or reset): no callback runs and nothing is written after. */
  finished = false;
  /** The outbound body is read-until-close (an HTTP/1.0 response without a length). */
  closeDelimited = false;
  protected framing: BodyFraming = 'identity';
  private readonly callbacks: StreamCallbacks[] = [];
  private readDisables = 0;
  private readsReleased = false;
  private highWatermarks: number;

  constructor(
    protected readonly owner: Http1StreamOwner,
    readonly streamId: number,
    aboveHighWatermark: boolean,
  ) {
    this.highWatermarks = aboveHighWatermark ? 1 : 0;
  }

  stream(): Stream {
    return this;
  }

  addCallbacks(cb: StreamCallbacks): void {
    this.callbacks.push(cb);
    for (let i = 0; i < this.highWatermarks; i++) cb.onAboveWriteBufferHighWatermark();
  }

  removeCallbacks(cb: StreamCallbacks): void {
    const cbs = this.callbacks;
    const i = cbs.indexOf(cb);
    if (i < 0) return;
    // In place: splice would allocate the array of removed elements.
    for (let j = i + 1; j < cbs.length; j++) cbs[j - 1] = cbs[j]!;
    cbs.pop();
  }

  /** HTTP/1 cannot abort one message and keep the connection: the owner closes it. */
  resetStream(reason: StreamResetReason): void {
    if (this.finished) return;
    this.owner.onLocalReset(this, reason, '');
  }

  /** Counted; reaches the connection (HTTP/1 pauses the socket). Ignored once the stream is done. */
  readDisable(disable: boolean): void {
    if (this.readsReleased) return;
    if (disable) {
      this.readDisables++;
    } else {
      if (this.readDisables === 0) return;
      this.readDisables--;
    }
    this.owner.connection.readDisable(disable);
  }

  bufferLimit(): number {
    return this.owner.connection.bufferLimit();
  }

  /** Gives back every readDisable(true) this stream made; later calls are ignored. */
  releaseReads(): void {
    this.readsReleased = true;
    const conn = this.owner.connection;
    for (; this.readDisables > 0; this.readDisables--) conn.readDisable(false);
  }

  onAboveHighWatermark(): void {
    if (this.finished) return;
    this.highWatermarks++;
    for (const cb of this.callbacks.slice()) {
      if (this.callbacks.includes(cb)) cb.onAboveWriteBufferHighWatermark();
    }
  }

  onBelowLowWatermark(): void {
    if (this.finished || this.highWatermarks === 0) return;
    this.highWatermarks--;
    for (const cb of this.callbacks.slice()) {
      if (this.callbacks.includes(cb)) cb.onBelowWriteBufferLowWatermark();
    }
  }

  /** Ends the stream with a reset: its callbacks hear `reason` once; nothing else follows. */
  reset(reason: StreamResetReason, details: string): void {
    if (this.finished) return;
    this.finished = true;
    this.releaseReads();
    for (const cb of this.callbacks.slice()) {
      if (this.callbacks.includes(cb)) cb.onResetStream(reason, details);
    }
  }

  /** Both directions are complete. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.releaseReads();
  }

  encodeData(data: BufferInstance, endStream: boolean): void {
    if (this.finished || this.localComplete || !this.headersEncoded) {
      data.drain(data.length);
      return;
    }
    const n = data.length;
    if (this.framing === 'chunked') {
      if (n > 0 || endStream) {
        const out = this.owner.outputBuffer;
        if (n > 0) {
          out.add(encodeChunkHeader(n));
          out.move(data);
          out.add(CHUNK_END);
        }
        if (endStream) out.add(LAST_CHUNK);
        this.owner.connection.write(out, false);
      }
    } else if (this.framing === 'identity') {
      if (n > 0) this.owner.connection.write(data, false);
    } else {
      data.drain(n);
    }
    if (endStream) this.endEncode();
  }

  encodeTrailers(trailers: TrailerMap): void {
    if (this.finished || this.localComplete || !this.headersEncoded) return;
    if (this.framing === 'chunked') {
      // RFC 9112 §7.1.2: trailers exist only in the chunked coding. Invalid ones are dropped
      // rather than risking a broken last chunk.
      const block = encodeLastChunk(entriesOf(trailers));
      this.writeBuffer(isEncodeError(block) ? LAST_CHUNK : block);
    }
    this.endEncode();
  }

  /** Writes a message head; with `endStream` the message is complete. */
  protected writeHead(head: Buffer, endStream: boolean): void {
    this.headersEncoded = true;
    this.writeBuffer(head);
    if (endStream) this.endEncode();
  }

  protected writeBuffer(bytes: Buffer): void {
    const out = this.owner.outputBuffer;
    out.add(bytes);
    this.owner.connection.write(out, false);
  }

  private endEncode(): void {
    this.localComplete = true;
    this.owner.onEncodeComplete(this);
  }
}

/** The response side of a server stream (Envoy's ResponseEncoderImpl). */
export class ResponseEncoderImpl extends Http1Stream implements ResponseEncoder {
  /** The request asked for 100-continue and no response has been sent yet. */
  expectsContinue = false;
  // Facts about the request, set by the server connection when its head is parsed.
  headRequest = false;
  connectRequest = false;
  /** The request asked for a tunnel: CONNECT, or an Upgrade the codec honours. */
  tunnelRequest = false;
  http10 = false;
  /** RFC 9112 §9.3: HTTP/1.1 without `close`, HTTP/1.0 with `keep-alive`. */
  requestKeepAlive = true;
  /** The connection must close after this response whatever the headers say (codec errors). */
  forceClose = false;
  /** Decided by encodeHeaders: the connection closes once this response is out. */
  closeAfter = false;
  /** The response switched the connection to a tunnel (101, or a 2xx to CONNECT). */
  tunnel = false;

  constructor(owner: ServerStreamOwner, streamId: number, aboveHighWatermark: boolean) {
    super(owner, streamId, aboveHighWatermark);
  }

  /**
   * Writes an interim response (`HTTP/1.1 100 Continue\r\n\r\n`). Nothing is sent to an HTTP/1.0
   * client (RFC 9110 §15.2) or after the final response began.
   */
  encode1xxHeaders(headers: ResponseHeaderMap): void {
    if (this.finished || this.headersEncoded) return;
    this.expectsContinue = false;
    if (this.http10) return;
    const status = statusOf(headers);
    if (status < 100 || status > 199 || status === 101) return;
    const raw = entriesOf(headers);
    const f = scanFields(raw);
    const head = encodeResponseHead(status, f.transferEncoding ? copyFields(raw, [], false, false) : raw);
    if (isEncodeError(head)) return;
    this.writeBuffer(head);
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.finished || this.headersEncoded) return;
    this.expectsContinue = false;
    const status = statusOf(headers);
    if (status === 0) {
      this.owner.onLocalReset(this, 'LocalReset', 'http1.invalid_response_status');
      return;
    }
    const raw = entriesOf(headers);
    const f = scanFields(raw);
    const tunnel = status === 101 || (this.connectRequest && status >= 200 && status < 300);
    let addLength = false;
    let addChunked = false;
    if (tunnel) {
      this.framing = 'identity';
    } else if (this.headRequest || status < 200 || status === 204 || status === 304) {
      this.framing = 'none';
      // Envoy: a HEAD response that would stream without a length says chunked, sends no body.
      if (this.headRequest && !endStream && !f.contentLength && !this.http10 && status >= 200 && status !== 204 && status !== 304) {
        addChunked = true;
      }
    } else if (f.contentLength) {
      this.framing = 'identity';
    } else if (endStream) {
      this.framing = 'identity';
      addLength = true;
    } else if (this.http10) {
      // RFC 9112 §6.3: HTTP/1.0 has no chunked coding; the close ends the body.
      this.framing = 'identity';
      this.closeDelimited = true;
    } else {
      this.framing = 'chunked';
      addChunked = true;
    }
    const close =
      tunnel ||
      this.forceClose ||
      this.closeDelimited ||
      !this.requestKeepAlive ||
      (this.tunnelRequest && !tunnel) ||
      (this.owner as ServerStreamOwner).drainRequested() ||
      hasToken(f.connection, 'close');
    this.closeAfter = close;
    this.tunnel = tunnel;
    // The end of a tunnel closes the connection without announcing it (Envoy: no `connection:
    // close` on upgrade or CONNECT responses).
    let connection: string | undefined;
    if (close && !tunnel) {
      if (!hasToken(f.connection, 'close')) connection = 'close';
    } else if (!close && this.http10 && !hasToken(f.connection, 'keep-alive')) {
      connection = 'keep-alive';
    }
    let list = raw;
    if (addLength || addChunked || connection !== undefined || f.transferEncoding) {
      // A field list of our own only when the caller's needs changing (the common response goes
      // out from the map's own array).
      const out = copyFields(raw, [], false, connection !== undefined);
      if (addLength) out.push('content-length', '0');
      if (addChunked) out.push('transfer-encoding', 'chunked');
      if (connection !== undefined) out.push('connection', connection);
      list = out;
    }
    const head = encodeResponseHead(status, list);
    if (isEncodeError(head)) {
      this.owner.onLocalReset(this, 'LocalReset', `http1.invalid_response_headers:${describe(head)}`);
      return;
    }
    // Envoy answers an HTTP/1.0 client with an HTTP/1.0 status line. The head is a fresh Buffer.
    if (this.http10) head[7] = 0x30;
    this.writeHead(head, endStream);
  }

  /** The codec's own error response (when the decoder has no sendLocalReply). */
  sendLocalError(status: number, reason: string): void {
    const body = Buffer.from(reason, 'latin1');
    this.forceClose = true;
    const headers = new HeaderMapImpl([
      ':status', String(status),
      'content-length', String(body.length),
      'content-type', 'text/plain',
    ]);
    this.encodeHeaders(headers, false);
    this.encodeData(new BufferChain(body), true);
  }
}

/** The request side of a client stream (Envoy's RequestEncoderImpl). */
export class RequestEncoderImpl extends Http1Stream implements RequestEncoder {
  headRequest = false;
  connectRequest = false;
  upgradeRequest = false;
  /** The request carried `connection: close`. */
  closeRequested = false;

  constructor(owner: ClientStreamOwner, streamId: number, aboveHighWatermark: boolean) {
    super(owner, streamId, aboveHighWatermark);
  }

  /**
   * Writes the request head. `:authority` becomes the first field, `host` (RFC 9112 §3.2); CONNECT
   * uses the authority-form target. Fails (nothing written) when a required pseudo-header is
   * missing, a field cannot be encoded, or another request is still on the wire.
   */
  encodeHeaders(headers: RequestHeaderMap, endStream: boolean): CodecStatus {
    if (this.finished) return clientError('the stream was reset');
    if (this.headersEncoded) return clientError('request headers were already encoded');
    const method = headers.get(':method');
    if (method === undefined || method === '') return clientError('missing required header: :method');
    const connect = method === 'CONNECT';
    const path = headers.get(':path');
    if (!connect && (path === undefined || path === '')) return clientError('missing required header: :path');
    const host = headers.get(':authority') ?? headers.get('host');
    if (host === undefined || host === '') return clientError('missing required header: :authority');
    const raw = entriesOf(headers);
    const f = scanFields(raw);
    const out = copyFields(raw, ['host', host], true, false);
    const upgrade = !connect && f.upgrade !== undefined && hasToken(f.connection, 'upgrade');
    if (connect || upgrade) {
      // Envoy disables chunking for tunnels: what follows the head is the tunnel's bytes.
      this.framing = 'identity';
    } else if (f.contentLength) {
      this.framing = 'identity';
    } else if (endStream) {
      this.framing = 'identity';
      if (!BODILESS_METHODS.has(method)) out.push('content-length', '0');
    } else {
      this.framing = 'chunked';
      out.push('transfer-encoding', 'chunked');
    }
    const head = encodeRequestHead(method, connect ? host : path!, out);
    if (isEncodeError(head)) return clientError(`invalid request head: ${describe(head)}`);
    const refused = (this.owner as ClientStreamOwner).beginRequest(this);
    if (refused !== null) return clientError(refused);
    this.headRequest = method === 'HEAD';
    this.connectRequest = connect;
    this.upgradeRequest = upgrade;
    this.closeRequested = hasToken(f.connection, 'close');
    this.writeHead(head, endStream);
    return CODEC_OK;
  }
}

/** Envoy's HeaderUtility::requestShouldHaveNoBody: no `content-length: 0` for these. */
const BODILESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'DELETE', 'TRACE', 'CONNECT']);

function clientError(message: string): CodecStatus {
  return { ok: false, code: 'CodecClientError', message };
}

function describe(e: EncodeError): string {
  return e.name === undefined ? e.error : `${e.error}(${e.name})`;
}

/** The `:status` of a response as an integer in 100..999, or 0. */
function statusOf(headers: HeaderMap): number {
  const s = headers.get(':status');
  if (s === undefined || s.length !== 3) return 0;
  const n = Number(s);
  return Number.isInteger(n) && n >= 100 ? n : 0;
}

/** The flat [name, value, ...] list of a map: HeaderMapImpl's own array, else a copy. */
function entriesOf(headers: HeaderMap): readonly string[] {
  if (headers instanceof HeaderMapImpl) return headers.raw();
  const out: string[] = [];
  headers.forEach((name, value) => {
    out.push(name, value);
  });
  return out;
}

/**
 * Appends the regular fields of `raw` to `out` in order, leaving out pseudo-headers and
 * `transfer-encoding` (the codec frames the body itself), and on request `host` (the request's
 * authority goes first, as host) and `connection` (replaced by the caller).
 */
function copyFields(raw: readonly string[], out: string[], dropHost: boolean, dropConnection: boolean): string[] {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    if (name.length === 17 && name === 'transfer-encoding') continue;
    if (dropHost && name.length === 4 && name === 'host') continue;
    if (dropConnection && name.length === 10 && name === 'connection') continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}
