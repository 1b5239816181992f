/**
 * The upstream HTTP/2 codec (Envoy's Http2::ClientConnectionImpl): a session in the client
 * perspective adapted to the api's ClientConnection. newStream() returns a ClientStream (the api
 * Stream and RequestEncoder); its stream id is assigned when the request headers go out.
 *
 * Requests are translated for the wire: `host` becomes `:authority`, `:scheme` defaults to the
 * transport's, classic CONNECT carries only `:method` and `:authority` (RFC 9113 §8.5), and an
 * HTTP/1 Upgrade becomes an extended CONNECT with `:protocol` (RFC 8441), whose 200 is handed back
 * as a 101 with the upgrade headers, as Envoy does.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type {
  ClientConnection, CodecConnectionCallbacks, CodecStatus, HeaderMap, RequestEncoder, RequestHeaderMap,
  ResponseDecoder, ResponseHeaderMap, Stream, StreamResetReason,
} from '../../src/api/http-codec.js';
import type { Connection } from '../../src/api/network.js';
import type { Scope } from '../../src/api/stats.js';
import type { Http2CodecOptions } from '../codec-options.js';
import { Http2ConnectionBase } from './codec-connection.js';
import { Http2StreamBase, appendRegularFields, neverIndexedOf } from './codec-stream.js';
import { ErrorCode } from './frame.js';
import type { HeaderField } from './hpack.js';
import type { HeadersCategory, StreamCloseReason } from './session.js';

const OK: CodecStatus = Object.freeze({ ok: true });

function clientError(message: string): CodecStatus {
  return { ok: false, code: 'CodecClientError', message };
}

function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.toLowerCase().split(',').some((t) => t.trim() === token);
}

class ClientStream extends Http2StreamBase implements RequestEncoder {
  /** The HTTP/1 upgrade this request was turned into an extended CONNECT for. */
  private upgrade: string | undefined;

  constructor(
    private readonly connectionOwner: Http2ClientConnection,
    readonly decoder: ResponseDecoder,
    limit: number,
  ) {
    super(connectionOwner, limit, false);
  }

  stream(): Stream {
    return this;
  }

  encodeHeaders(headers: RequestHeaderMap, endStream: boolean): CodecStatus {
    if (this.id !== 0 || this.resetDone) return clientError('request headers already sent');
    const fields = this.requestFields(headers);
    if (typeof fields === 'string') return clientError(fields);
    const r = this.owner.session.submitRequest(fields, endStream, neverIndexedOf(headers));
    if (typeof r !== 'number') return clientError(`http2: cannot open a stream (${r.error})`);
    this.id = r;
    this.connectionOwner.register(this);
    return OK;
  }

  /** The wire form of a request, or what is missing (Envoy's checkRequiredRequestHeaders). */
  private requestFields(headers: RequestHeaderMap): HeaderField[] | string {
    let method = headers.get(':method');
    const authority = headers.get(':authority') ?? headers.get('host');
    if (method === undefined || method === '') return 'missing required header: :method';
    if (authority === undefined || authority === '') return 'missing required header: :authority';
    let protocol = headers.get(':protocol');
    if (protocol === undefined && hasToken(headers.get('connection'), 'upgrade') && headers.has('upgrade')) {
      this.upgrade = headers.get('upgrade')!;
      protocol = this.upgrade.toLowerCase();
      method = 'CONNECT';
    }
    const out: HeaderField[] = [[':method', method]];
    if (method === 'CONNECT' && protocol === undefined) {
      out.push([':authority', authority]);
    } else {
      const path = headers.get(':path');
      if (path === undefined || path === '') return 'missing required header: :path';
      const scheme = headers.get(':scheme') ?? (this.connectionOwner.connection.ssl() ? 'https' : 'http');
      out.push([':scheme', scheme], [':authority', authority], [':path', path]);
      if (protocol !== undefined) out.push([':protocol', protocol]);
    }
    const start = out.length;
    appendRegularFields(out, headers);
    if (this.upgrade !== undefined) {
      // RFC 8441 §4: no body framing from HTTP/1 on the CONNECT.
      for (let i = out.length - 1; i >= start; i--) if (out[i]![0] === 'content-length' && out[i]![1] === '0') out.splice(i, 1);
    }
    return out;
  }

  /** An extended CONNECT accepted (200) is an HTTP/1 101 to the rest of the proxy. */
  responseHeaders(map: ResponseHeaderMap): ResponseHeaderMap {
    if (this.upgrade !== undefined && map.get(':status') === '200') {
      map.set(':status', '101');
      map.set('connection', 'upgrade');
      map.set('upgrade', this.upgrade);
    }
    return map;
  }

  protected decodeData(data: BufferInstance, endStream: boolean): void {
    this.decoder.decodeData(data, endStream);
  }

  protected decodeTrailers(trailers: HeaderMap): void {
    this.decoder.decodeTrailers(trailers);
  }
}

export class Http2ClientConnection extends Http2ConnectionBase implements ClientConnection {
  constructor(
    connection: Connection,
    callbacks: CodecConnectionCallbacks,
    options: Http2CodecOptions,
    scope: Scope,
  ) {
    super(connection, callbacks, options, scope, 'client');
  }

  newStream(decoder: ResponseDecoder): RequestEncoder {
    // connection_idle_interval: probe a connection that has been quiet before trusting it.
    this.keepalive?.beforeNewStream();
    return new ClientStream(this, decoder, this.connection.bufferLimit());
  }

  /** A stream got its id (its request headers went out). */
  register(stream: Http2StreamBase): void {
    this.streams.set(stream.streamId, stream);
  }

  protected onBeginHeaders(_id: number, _category: HeadersCategory): void {
    // The stream exists since its request went out; its builder collects the fields.
  }

  protected onHeadersComplete(id: number, category: HeadersCategory, endStream: boolean): void {
    const stream = this.streams.get(id) as ClientStream | undefined;
    if (stream === undefined) return;
    const map = stream.builder.finish();
    if (category === 'informational') stream.decoder.decode1xxHeaders(map);
    else if (category === 'trailers') stream.onTrailers(map);
    else stream.decoder.decodeHeaders(stream.responseHeaders(map), endStream);
  }

  protected resetReason(code: number, reason: StreamCloseReason): { reason: StreamResetReason; details: string } {
    if (reason === 'protocol_error') return { reason: 'ProtocolError', details: 'upstream_http2_protocol_error' };
    if (code === ErrorCode.REFUSED_STREAM) return { reason: 'RemoteRefusedStreamReset', details: 'http2.remote_refuse' };
    // RFC 9113 §8.5: the peer's CONNECT tunnel lost its TCP connection (Envoy's ConnectError).
    if (code === ErrorCode.CONNECT_ERROR) return { reason: 'ConnectError', details: 'http2.remote_reset' };
    return { reason: 'RemoteReset', details: 'http2.remote_reset' };
  }
}

/** Creates the upstream HTTP/2 codec for `connection` (queues the preface and SETTINGS at once). */
export function createHttp2ClientConnection(
  connection: Connection,
  callbacks: CodecConnectionCallbacks,
  options: Http2CodecOptions,
  scope: Scope,
): ClientConnection {
  return new Http2ClientConnection(connection, callbacks, options, scope);
}

