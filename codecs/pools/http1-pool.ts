/**
 * Envoy's Http1::ConnPoolImpl: one stream per connection at a time, connections kept alive and
 * reused.
 *
 * A stream returns its connection to the pool when the response is complete and the request was
 * fully sent. The connection is closed instead when:
 * - the response said `connection: close` (or `proxy-connection: close`), or was HTTP/1.0 without
 *   `connection: keep-alive` (RFC 9112 §9.3), or its body ran until the close — whatever the codec
 *   reports through onGoAway — `upstream_cx_close_notify`;
 * - the peer already closed its side;
 * - the response ended before the request was fully sent (the rest of the request would be read as
 *   the next request by the upstream);
 * - the stream was reset: HTTP/1 has no way to abandon one exchange and keep the connection.
 * A connection that served max_requests_per_connection streams closes after the last one.
 *
 * The stream is given back on the next loop turn (Envoy's delayed attach, issue 2715): a server
 * that closes right after a response gets a chance to be seen closing before a pending stream is
 * sent down its connection.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type {
  CodecStatus,
  HeaderMap,
  Protocol,
  RequestEncoder,
  RequestHeaderMap,
  ResponseDecoder,
  ResponseHeaderMap,
  Stream,
  StreamCallbacks,
  StreamResetReason,
  TrailerMap,
} from '../../src/api/http-codec.js';
import type { ConnectionEvent } from '../../src/api/network.js';
import type { Counter } from '../../src/api/stats.js';
import type { Host } from '../../src/api/upstream.js';
import { HttpActiveClient, HttpConnPoolBase, type HttpPoolOptions } from './http-pool-base.js';

/** True when the comma-separated header `value` lists `token` (case-insensitive). */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(',', start);
    if (end < 0) end = value.length;
    if (value.slice(start, end).trim().toLowerCase() === token) return true;
    start = end + 1;
  }
  return false;
}

/**
 * Envoy's HeaderUtility::shouldCloseConnection for HTTP/1: the connection may not carry another
 * exchange after a message with these headers.
 */
export function shouldCloseConnection(protocol: Protocol, headers: HeaderMap): boolean {
  // RFC 9112 §9.3: an HTTP/1.0 connection persists only with `connection: keep-alive`.
  if (protocol === 'HTTP/1.0' && !hasToken(headers.get('connection'), 'keep-alive')) return true;
  if (protocol === 'HTTP/1.1' && hasToken(headers.get('connection'), 'close')) return true;
  // Not standard, but llhttp (as http-parser) honours it.
  return protocol !== 'HTTP/2' && hasToken(headers.get('proxy-connection'), 'close');
}

/**
 * The one stream of an HTTP/1 connection (Envoy's Http1 StreamWrapper): the RequestEncoder the
 * caller gets and the ResponseDecoder the codec client calls, watching both directions to decide
 * whether the connection can be reused.
 */
class StreamWrapper implements RequestEncoder, ResponseDecoder, StreamCallbacks {
  encodeComplete = false;
  decodeComplete = false;
  closeConnection = false;
  /** Given back to the client: later calls do nothing. */
  private released = false;
  private readonly inner: RequestEncoder;

  constructor(
    private readonly client: Http1ActiveClient,
    private readonly decoder: ResponseDecoder,
  ) {
    this.inner = client.codecClient.newStream(this);
    // Before the caller's: the connection is dealt with before the caller hears of a reset.
    this.inner.stream().addCallbacks(this);
  }

  // RequestEncoder

  stream(): Stream {
    return this.inner.stream();
  }

  encodeHeaders(headers: RequestHeaderMap, endStream: boolean): CodecStatus {
    const status = this.inner.encodeHeaders(headers, endStream);
    if (status.ok && endStream) this.encodeComplete = true;
    return status;
  }

  encodeData(data: BufferInstance, endStream: boolean): void {
    if (this.released) {
      data.drain(data.length);
      return;
    }
    this.inner.encodeData(data, endStream);
    if (endStream) this.encodeComplete = true;
  }

  encodeTrailers(trailers: TrailerMap): void {
    if (this.released) return;
    this.inner.encodeTrailers(trailers);
    this.encodeComplete = true;
  }

  // ResponseDecoder

  decode1xxHeaders(headers: ResponseHeaderMap): void {
    this.decoder.decode1xxHeaders(headers);
  }

  decodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    // The codec reports what it alone can see (HTTP/1.0 without keep-alive, a body delimited by
    // the close) through onGoAway, before these headers.
    this.closeConnection = !this.client.reusable || shouldCloseConnection(this.client.codecClient.protocol(), headers);
    if (this.closeConnection) this.client.closeNotify.inc();
    this.decoder.decodeHeaders(headers, endStream);
    if (endStream) this.onDecodeComplete();
  }

  decodeData(data: BufferInstance, endStream: boolean): void {
    this.decoder.decodeData(data, endStream);
    if (endStream) this.onDecodeComplete();
  }

  decodeTrailers(trailers: TrailerMap): void {
    this.decoder.decodeTrailers(trailers);
    this.onDecodeComplete();
  }

  // StreamCallbacks

  onResetStream(_reason: StreamResetReason, _details: string): void {
    if (this.released) return;
    // Nothing can be salvaged of an HTTP/1 connection whose exchange was cut short.
    this.client.codecClient.close();
    this.release();
  }

  onAboveWriteBufferHighWatermark(): void {}

  onBelowWriteBufferLowWatermark(): void {}

  private onDecodeComplete(): void {
    if (this.released) return;
    this.decodeComplete = true;
    const codecClient = this.client.codecClient;
    // A response before the whole request was sent, a `connection: close`, or a peer that closed:
    // the connection cannot carry another request.
    if (!this.encodeComplete || this.closeConnection || !this.client.reusable || codecClient.remoteClosed) {
      codecClient.close();
    }
    this.release();
  }

  private release(): void {
    this.released = true;
    this.client.onStreamDone(this);
  }
}

export class Http1ActiveClient extends HttpActiveClient {
  readonly closeNotify: Counter;
  /** False once the codec said the connection ends after the current exchange. */
  reusable = true;
  private streamWrapper: StreamWrapper | undefined;

  constructor(private readonly pool: Http1ConnPoolImpl) {
    // One stream at a time (no pipelining).
    super(pool.host, pool.codecFactory, 'http1', pool.host.cluster.maxRequestsPerConnection, 1);
    const scope = pool.host.cluster.statsScope;
    this.closeNotify = scope.counter('upstream_cx_close_notify');
    scope.counter('upstream_cx_http1_total').inc();
  }

  newStreamEncoder(decoder: ResponseDecoder): RequestEncoder {
    const wrapper = new StreamWrapper(this, decoder);
    this.streamWrapper = wrapper;
    return wrapper;
  }

  numActiveStreams(): number {
    return this.streamWrapper !== undefined ? 1 : 0;
  }

  closingWithIncompleteStream(): boolean {
    return this.streamWrapper !== undefined && !this.streamWrapper.decodeComplete;
  }

  onEvent(event: ConnectionEvent): void {
    this.pool.onConnectionEvent(this, event, event === 'Connected' ? '' : this.codecClient.connectionFailureReason());
  }

  /**
   * The codec found the connection cannot carry another exchange (`connection: close`, HTTP/1.0
   * without keep-alive, a read-until-close body, a response that beat its request).
   */
  onGoAway(_errorCode: number): void {
    this.reusable = false;
    if (this.streamWrapper === undefined && this.state !== 'Closed') this.close();
  }

  /** @internal The stream ended (complete or reset); any close was reported before this. */
  onStreamDone(wrapper: StreamWrapper): void {
    if (this.streamWrapper !== wrapper) return;
    this.streamWrapper = undefined;
    this.pool.onStreamClosed(this, true);
  }
}

/** Envoy's HTTP/1 connection pool for one host. */
export class Http1ConnPoolImpl extends HttpConnPoolBase<Http1ActiveClient> {
  readonly protocol = 'http1' as const;

  constructor(host: Host, options: HttpPoolOptions) {
    super(host, options);
  }

  protected instantiateActiveClient(): Http1ActiveClient {
    return new Http1ActiveClient(this);
  }
}
