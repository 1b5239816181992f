/**
 * The downstream HTTP/2 codec (Envoy's Http2::ServerConnectionImpl): a session in the server
 * perspective adapted to the api's ServerConnection. Each request header block that passes the
 * session's checks becomes a ServerStream (the api Stream and ResponseEncoder) whose
 * RequestDecoder comes from ServerConnectionCallbacks.newStream. Malformed requests never reach
 * the decoder: the session resets them (RST_STREAM PROTOCOL_ERROR, `http2.rx_messaging_error`).
 *
 * Header maps: `:authority` stays a pseudo-header (a `host` field becomes `:authority` when that
 * is missing, and is dropped otherwise), and crumbled `cookie` fields are joined with "; " as
 * Envoy does, so the map has one cookie header for HTTP/1 upstreams.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type {
  HeaderMap, RequestDecoder, ResponseEncoder, ResponseHeaderMap, ServerConnection,
  ServerConnectionCallbacks, Stream, StreamResetReason,
} from '../../src/api/http-codec.js';
import type { Connection } from '../../src/api/network.js';
import type { Scope } from '../../src/api/stats.js';
import type { Http2CodecOptions } from '../codec-options.js';
import { Http2ConnectionBase } from './codec-connection.js';
import { Http2StreamBase, appendRegularFields, neverIndexedOf } from './codec-stream.js';
import type { StreamOwner } from './codec-stream.js';
import { ErrorCode } from './frame.js';
import type { HeaderField } from './hpack.js';
import type { HeadersCategory, StreamCloseReason } from './session.js';

/** Response fields for the wire: `:status` then the regular fields. */
function responseFields(headers: ResponseHeaderMap, extendedConnect: boolean): HeaderField[] {
  let status = headers.get(':status') ?? '500';
  // RFC 8441 §5: an accepted extended CONNECT is a 200, where HTTP/1 says 101.
  if (extendedConnect && status === '101') status = '200';
  const out: HeaderField[] = [[':status', status]];
  appendRegularFields(out, headers);
  return out;
}

class ServerStream extends Http2StreamBase implements ResponseEncoder {
  decoder: RequestDecoder | undefined;
  extendedConnect = false;

  constructor(owner: StreamOwner, id: number, limit: number) {
    super(owner, limit, true);
    this.id = id;
  }

  stream(): Stream {
    return this;
  }

  encode1xxHeaders(headers: ResponseHeaderMap): void {
    if (this.closed) return;
    this.owner.session.submitResponse(this.id, responseFields(headers, false), false);
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.closed) return;
    this.owner.session.submitResponse(this.id, responseFields(headers, this.extendedConnect), endStream, neverIndexedOf(headers));
  }

  protected decodeData(data: BufferInstance, endStream: boolean): void {
    this.decoder?.decodeData(data, endStream);
  }

  protected decodeTrailers(trailers: HeaderMap): void {
    this.decoder?.decodeTrailers(trailers);
  }
}

export class Http2ServerConnection extends Http2ConnectionBase implements ServerConnection {
  constructor(
    connection: Connection,
    private readonly callbacks: ServerConnectionCallbacks,
    options: Http2CodecOptions,
    scope: Scope,
  ) {
    super(connection, callbacks, options, scope, 'server');
  }

  protected onBeginHeaders(id: number, category: HeadersCategory): void {
    if (category !== 'request') return;
    const stream = new ServerStream(this, id, this.connection.bufferLimit());
    this.streams.set(id, stream);
    stream.decoder = this.callbacks.newStream(stream);
  }

  protected onHeadersComplete(id: number, category: HeadersCategory, endStream: boolean): void {
    const stream = this.streams.get(id) as ServerStream | undefined;
    if (stream === undefined) return;
    const map = stream.builder.finish();
    if (category === 'trailers') {
      stream.onTrailers(map);
      return;
    }
    stream.extendedConnect = map.get(':method') === 'CONNECT' && map.has(':protocol');
    stream.decoder?.decodeHeaders(map, endStream);
  }

  protected resetReason(code: number, reason: StreamCloseReason): { reason: StreamResetReason; details: string } {
    if (reason === 'protocol_error') {
      return { reason: 'ProtocolError', details: code === ErrorCode.PROTOCOL_ERROR ? 'http2.violation.of.messaging.rule' : 'http2.invalid.frame' };
    }
    if (code === ErrorCode.REFUSED_STREAM) return { reason: 'RemoteRefusedStreamReset', details: 'http2.remote_refuse' };
    // RFC 9113 §8.5: the peer's CONNECT tunnel lost its TCP connection (Envoy's ConnectError).
    if (code === ErrorCode.CONNECT_ERROR) return { reason: 'ConnectError', details: 'http2.remote_reset' };
    return { reason: 'RemoteReset', details: 'http2.remote_reset' };
  }
}

/** Creates the downstream HTTP/2 codec for `connection` (sends our SETTINGS at once). */
export function createHttp2ServerConnection(
  connection: Connection,
  callbacks: ServerConnectionCallbacks,
  options: Http2CodecOptions,
  scope: Scope,
): ServerConnection {
  return new Http2ServerConnection(connection, callbacks, options, scope);
}
