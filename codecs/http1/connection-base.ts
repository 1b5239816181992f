/**
 * What the two HTTP/1 codecs (server-connection.ts, client-connection.ts) share on the decode
 * side, as Envoy's Http1::ConnectionImpl is the base of its ServerConnectionImpl and
 * ClientConnectionImpl: the parser, the field and trailer span callbacks with the head-size and
 * field-count limits, batched body delivery, tunnel bytes, and the end of a received message.
 *
 * The subclass decides which stream receives (flushBody), when parsing must stop (halted), how a
 * limit failure is described (limitFailure, kept until the parse loop reads it as `failure`), and
 * how a stream is finished (finishStream).
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type { StreamDecoder, TrailerMap } from '../../src/api/http-codec.js';
import type { Connection, ConnectionCallbacks, ConnectionEvent } from '../../src/api/network.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import { HeaderMapImpl } from '../headers.js';
import { FieldCollector } from './field-collector.js';
import {
  CallbackResult,
  Parser,
  type HeadersCompleteResult,
  type ParserCallbacks,
  type ParserType,
  type SpanResult,
} from './parser.js';
import type { Http1Stream } from './stream-encoder.js';

/** The decoder of either direction, as the shared code calls it. */
interface Http1Decoder extends StreamDecoder {
  decodeHeaders(headers: HeaderMapImpl, endStream: boolean): void;
  decodeTrailers(trailers: TrailerMap): void;
}

/** A stream that receives a decoded message. */
export type DecodingStream = Http1Stream & { readonly decoder: Http1Decoder };

export abstract class Http1ConnectionBase<S extends DecodingStream, F> implements ParserCallbacks {
  readonly connection: Connection;
  protected readonly parser: Parser;
  protected readonly fields: FieldCollector;
  protected readonly maxHeaderBytes: number;
  /** Body pieces of the current parse, delivered in one decodeData per slice. */
  protected readonly body = new BufferChain();
  private readonly tunnelData = new BufferChain();
  /** Set by a parser callback that returned Error. */
  protected failure: F | null = null;
  protected inTrailers = false;
  /** A head without a body: decoded with end of stream once its message completes. */
  protected deferredHeaders: HeaderMapImpl | null = null;

  constructor(connection: Connection, type: ParserType, maxHeaderBytes: number, maxHeadersCount: number) {
    this.connection = connection;
    this.maxHeaderBytes = maxHeaderBytes;
    this.parser = new Parser(type, this);
    this.fields = new FieldCollector(maxHeadersCount);
    const events: ConnectionCallbacks = {
      onEvent: (event) => this.onConnectionEvent(event),
      // The owner relays watermarks through onUnderlyingConnection*: not twice.
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    };
    connection.addConnectionCallbacks(events);
  }

  abstract onMessageBegin(): SpanResult;
  abstract onUrl(data: Buffer, start: number, end: number): SpanResult;
  abstract onStatus(data: Buffer, start: number, end: number): SpanResult;
  abstract onHeadersComplete(): HeadersCompleteResult;
  abstract onMessageComplete(): SpanResult;
  protected abstract onConnectionEvent(event: ConnectionEvent): void;
  /** Hands the batched body to the stream it belongs to, and drains it. */
  protected abstract flushBody(): void;
  /** Parsing must stop: the codec failed or the connection is going away. */
  protected abstract halted(): boolean;
  protected abstract finishStream(s: S): void;
  /** The failure a head-size or field-count limit causes. */
  protected abstract limitFailure(details: string, message: string): F;

  // ---- ParserCallbacks shared by both directions ----

  onHeaderField(data: Buffer, start: number, end: number): SpanResult {
    return this.fields.onField(data, start, end) ? this.checkHeadSize() : this.tooManyFields();
  }

  onHeaderValue(data: Buffer, start: number, end: number): SpanResult {
    this.fields.onValue(data, start, end);
    return this.checkHeadSize();
  }

  onTrailerField(data: Buffer, start: number, end: number): SpanResult {
    if (!this.inTrailers) {
      // The body is delivered before trailers are looked at (Envoy: even if they turn out bad).
      this.flushBody();
      this.inTrailers = true;
      this.fields.reset([]);
    }
    return this.onHeaderField(data, start, end);
  }

  onTrailerValue(data: Buffer, start: number, end: number): SpanResult {
    return this.onHeaderValue(data, start, end);
  }

  onBody(data: Buffer): SpanResult {
    if (this.halted()) return CallbackResult.Pause;
    this.body.add(data);
    return CallbackResult.Success;
  }

  // ---- helpers ----

  /** A new message: its field list starts with the given pseudo-header slots. */
  protected beginMessage(head: string[]): void {
    this.fields.reset(head);
    this.inTrailers = false;
    this.deferredHeaders = null;
  }

  /** Delivers the end of the received message to `s` (remoteComplete is already set). */
  protected completeMessage(s: S): void {
    const headers = this.deferredHeaders;
    this.deferredHeaders = null;
    if (!s.finished) {
      if (headers !== null) s.decoder.decodeHeaders(headers, true);
      else if (this.inTrailers) s.decoder.decodeTrailers(new HeaderMapImpl(this.fields.list));
      else s.decoder.decodeData(this.body, true);
    }
    if (s.localComplete) this.finishStream(s);
  }

  /** Tunnel bytes after the head go to the tunnel's stream as they are; dropped once it is done. */
  protected deliverTunnel(s: S | null | undefined, data: BufferInstance): void {
    if (s === null || s === undefined || s.finished || s.remoteComplete) {
      data.drain(data.length);
      return;
    }
    const buf = this.tunnelData;
    buf.move(data);
    s.decoder.decodeData(buf, false);
    buf.drain(buf.length);
  }

  /** The peer ended a tunnel: its stream's inbound side ends. */
  protected endTunnel(s: S): void {
    s.remoteComplete = true;
    s.decoder.decodeData(new BufferChain(), true);
    if (s.localComplete) this.finishStream(s);
  }

  protected tooManyFields(): SpanResult {
    this.failure = this.limitFailure(
      'http1.too_many_headers',
      `http/1.1 protocol error: ${this.inTrailers ? 'trailers' : 'headers'} count exceeds limit`,
    );
    return CallbackResult.Error;
  }

  /** The head so far (request-target or status, names and values) against the size limit (Envoy's getHeadersSize). */
  protected checkHeadSize(): SpanResult {
    if (this.parser.headerBytes <= this.maxHeaderBytes) return CallbackResult.Success;
    this.failure = this.limitFailure(
      'http1.headers_too_large',
      `http/1.1 protocol error: ${this.inTrailers ? 'trailers' : 'headers'} size exceeds limit`,
    );
    return CallbackResult.Error;
  }
}
