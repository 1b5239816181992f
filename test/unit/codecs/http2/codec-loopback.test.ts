/**
 * The HTTP/2 client codec wired to the server codec in memory (Envoy's codec_impl_test): what one
 * encodes the other decodes, including trailers, resets, GOAWAY, upgrades, and flow control with a
 * paused reader (no WINDOW_UPDATE until the reader consumes).
 */
import { describe, expect, it } from 'vitest';
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type {
  ClientConnection, HeaderMap, RequestDecoder, ResponseDecoder, ResponseEncoder, ServerConnection,
  StreamCallbacks, StreamResetReason,
} from '../../../../src/api/http-codec.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { DEFAULT_HTTP2_OPTIONS, HeaderMapImpl } from '../../../../codecs/index.js';
import type { Http2CodecOptions } from '../../../../codecs/index.js';
import { createHttp2ClientConnection } from '../../../../codecs/http2/client-connection.js';
import { createHttp2ServerConnection } from '../../../../codecs/http2/server-connection.js';
import { FakeConnection, ManualDispatcher } from '../../../support/l4-fakes.js';
import { pattern } from '../../../support/net-helpers.js';

class RecordingStreamCallbacks implements StreamCallbacks {
  readonly events: string[] = [];
  onResetStream(reason: StreamResetReason, details: string): void {
    this.events.push(`reset ${reason} ${details}`);
  }
  onAboveWriteBufferHighWatermark(): void {
    this.events.push('high');
  }
  onBelowWriteBufferLowWatermark(): void {
    this.events.push('low');
  }
}

function text(map: HeaderMap): string {
  const parts: string[] = [];
  map.forEach((n, v) => parts.push(`${n}=${v}`));
  return parts.join(' ');
}

class ServerSide implements RequestDecoder {
  headers: HeaderMap | undefined;
  trailers: HeaderMap | undefined;
  readonly body = new BufferChain();
  ended = false;
  readonly events: string[] = [];
  readonly streamCallbacks = new RecordingStreamCallbacks();
  constructor(readonly encoder: ResponseEncoder) {
    encoder.stream().addCallbacks(this.streamCallbacks);
  }
  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.headers = headers;
    this.ended = endStream;
    this.events.push(`headers${endStream ? ' ES' : ''}`);
  }
  decodeData(data: BufferInstance, endStream: boolean): void {
    this.events.push(`data ${data.length}${endStream ? ' ES' : ''}`);
    this.body.move(data);
    this.ended = endStream;
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.trailers = trailers;
    this.ended = true;
    this.events.push('trailers');
  }
}

class ClientSide implements ResponseDecoder {
  headers: HeaderMap | undefined;
  trailers: HeaderMap | undefined;
  readonly informational: string[] = [];
  readonly body = new BufferChain();
  ended = false;
  decode1xxHeaders(headers: HeaderMap): void {
    this.informational.push(text(headers));
  }
  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.headers = headers;
    this.ended = endStream;
  }
  decodeData(data: BufferInstance, endStream: boolean): void {
    this.body.move(data);
    this.ended = endStream;
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.trailers = trailers;
    this.ended = true;
  }
}

class Loopback {
  readonly dispatcher = new ManualDispatcher();
  readonly clientConn = new FakeConnection(this.dispatcher);
  readonly serverConn = new FakeConnection(this.dispatcher);
  readonly store = new StatsStore();
  readonly server: ServerConnection;
  readonly client: ClientConnection;
  readonly requests: ServerSide[] = [];
  readonly clientGoAways: number[] = [];
  readonly clientSettings: (number | undefined)[] = [];
  onRequest: ((r: ServerSide) => void) | undefined;

  constructor(serverOptions: Partial<Http2CodecOptions> = {}, clientOptions: Partial<Http2CodecOptions> = {}) {
    this.server = createHttp2ServerConnection(
      this.serverConn,
      {
        newStream: (encoder) => {
          const r = new ServerSide(encoder);
          this.requests.push(r);
          this.onRequest?.(r);
          return r;
        },
        onGoAway: () => {},
      },
      { ...DEFAULT_HTTP2_OPTIONS, ...serverOptions },
      this.store,
    );
    this.client = createHttp2ClientConnection(
      this.clientConn,
      {
        onGoAway: (code) => this.clientGoAways.push(code),
        onSettings: (s) => this.clientSettings.push(s.maxConcurrentStreams),
      },
      { ...DEFAULT_HTTP2_OPTIONS, ...clientOptions },
      this.store.createScope('cluster.up'),
    );
    this.pump();
  }

  /** Moves bytes both ways until neither side writes more. */
  pump(): void {
    for (let i = 0; i < 10_000; i++) {
      const c = this.clientConn.written.splice(0);
      const s = this.serverConn.written.splice(0);
      if (c.length === 0 && s.length === 0) return;
      if (c.length > 0) expect(this.server.dispatch(new BufferChain(Buffer.concat(c)))).toEqual({ ok: true });
      if (s.length > 0) expect(this.client.dispatch(new BufferChain(Buffer.concat(s)))).toEqual({ ok: true });
    }
    throw new Error('loopback did not settle');
  }

  request(headers: Record<string, string | string[]>, endStream: boolean): { decoder: ClientSide; encoder: ReturnType<ClientConnection['newStream']> } {
    const decoder = new ClientSide();
    const encoder = this.client.newStream(decoder);
    expect(encoder.encodeHeaders(HeaderMapImpl.fromObject(headers), endStream)).toEqual({ ok: true });
    return { decoder, encoder };
  }

  counter(name: string): number {
    return this.store.findCounter(name)?.value() ?? 0;
  }
}

const GET = { ':method': 'GET', ':scheme': 'http', ':authority': 'example.com', ':path': '/a' };

describe('HTTP/2 codec loopback', () => {
  it('exchanges headers, body and trailers both ways', () => {
    const lb = new Loopback();
    const { decoder, encoder } = lb.request({ ...GET, ':method': 'POST', 'x-req': '1', te: 'trailers' }, false);
    encoder.encodeData(new BufferChain('hello '), false);
    encoder.encodeData(new BufferChain('world'), false);
    encoder.encodeTrailers(HeaderMapImpl.fromObject({ 'x-req-trailer': 't' }));
    lb.pump();
    const r = lb.requests[0]!;
    expect(text(r.headers!)).toBe(':method=POST :scheme=http :authority=example.com :path=/a x-req=1 te=trailers');
    expect(r.body.toBuffer().toString()).toBe('hello world');
    expect(text(r.trailers!)).toBe('x-req-trailer=t');
    expect(r.encoder.stream().streamId).toBe(1);
    expect(encoder.stream().streamId).toBe(1);
    r.encoder.encode1xxHeaders(HeaderMapImpl.fromObject({ ':status': '100' }));
    r.encoder.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200', 'content-type': 'text/plain', connection: 'close', 'transfer-encoding': 'chunked' }), false);
    r.encoder.encodeData(new BufferChain('response'), false);
    r.encoder.encodeTrailers(HeaderMapImpl.fromObject({ 'grpc-status': '0' }));
    lb.pump();
    expect(decoder.informational).toEqual([':status=100']);
    // Connection-specific fields never reach the wire (RFC 9113 §8.2.2).
    expect(text(decoder.headers!)).toBe(':status=200 content-type=text/plain');
    expect(decoder.body.toBuffer().toString()).toBe('response');
    expect(text(decoder.trailers!)).toBe('grpc-status=0');
    expect(lb.server.activeStreamCount()).toBe(0);
    expect(lb.client.activeStreamCount()).toBe(0);
    expect(lb.counter('http2.trailers')).toBe(1);
    expect(lb.counter('cluster.up.http2.trailers')).toBe(1);
  });

  it('joins crumbled cookies on the server side and folds host into :authority', () => {
    const lb = new Loopback();
    lb.request({ ':method': 'GET', ':path': '/', host: 'h.example', cookie: ['a=1', 'b=2'] }, true);
    lb.pump();
    expect(text(lb.requests[0]!.headers!)).toBe(':method=GET :scheme=http :authority=h.example :path=/ cookie=a=1; b=2');
  });

  it('reports a client request missing required headers', () => {
    const lb = new Loopback();
    const encoder = lb.client.newStream(new ClientSide());
    expect(encoder.encodeHeaders(HeaderMapImpl.fromObject({ ':path': '/' }), true)).toMatchObject({ ok: false, code: 'CodecClientError' });
    const encoder2 = lb.client.newStream(new ClientSide());
    expect(encoder2.encodeHeaders(HeaderMapImpl.fromObject({ ':method': 'GET', ':path': '/' }), true)).toMatchObject({ ok: false });
  });

  it('moves a large response across window exhaustion', () => {
    const lb = new Loopback({}, { initialStreamWindowSize: 65_535, initialConnectionWindowSize: 65_535 });
    const { decoder } = lb.request(GET, true);
    lb.pump();
    const body = pattern(3 * 1024 * 1024 + 7);
    lb.requests[0]!.encoder.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200' }), false);
    lb.requests[0]!.encoder.encodeData(new BufferChain(body), true);
    lb.pump();
    expect(decoder.ended).toBe(true);
    expect(decoder.body.length).toBe(body.length);
    expect(decoder.body.toBuffer().equals(body)).toBe(true);
  });

  it('paused reader: no WINDOW_UPDATE until consumed; the writer sees its high and low watermarks', () => {
    const lb = new Loopback({ initialStreamWindowSize: 65_535, initialConnectionWindowSize: 65_535 });
    lb.onRequest = (r) => r.encoder.stream().readDisable(true);
    const { encoder } = lb.request({ ...GET, ':method': 'POST' }, false);
    const writer = new RecordingStreamCallbacks();
    encoder.stream().addCallbacks(writer);
    const body = pattern(2 * 1024 * 1024);
    encoder.encodeData(new BufferChain(body), true);
    lb.pump();
    const r = lb.requests[0]!;
    // The reader got nothing (held, unconsumed); the writer filled exactly the windows.
    expect(r.events).toEqual(['headers']);
    expect(writer.events).toEqual(['high']);
    expect(lb.clientConn.writtenBytes().length).toBe(0);
    // Re-enable: the held 65535 octets arrive, get consumed, and credit flows again.
    r.encoder.stream().readDisable(false);
    lb.pump();
    expect(r.ended).toBe(true);
    expect(r.body.toBuffer().equals(body)).toBe(true);
    expect(r.events[1]).toBe('data 65535');
    expect(writer.events).toEqual(['high', 'low']);
  });

  it('readDisable is counted', () => {
    const lb = new Loopback({ initialStreamWindowSize: 65_535, initialConnectionWindowSize: 65_535 });
    const { encoder } = lb.request({ ...GET, ':method': 'POST' }, false);
    lb.pump();
    const r = lb.requests[0]!;
    const stream = r.encoder.stream();
    stream.readDisable(true);
    stream.readDisable(true);
    encoder.encodeData(new BufferChain('abc'), false);
    lb.pump();
    stream.readDisable(false);
    lb.pump();
    expect(r.events).toEqual(['headers']);
    stream.readDisable(false);
    lb.pump();
    expect(r.events).toEqual(['headers', 'data 3']);
    // An extra enable is ignored.
    stream.readDisable(false);
    encoder.encodeData(new BufferChain('de'), true);
    lb.pump();
    expect(r.events).toEqual(['headers', 'data 3', 'data 2 ES']);
  });

  it('propagates resets both ways with Envoy reasons', () => {
    const lb = new Loopback();
    const { encoder } = lb.request({ ...GET, ':method': 'POST' }, false);
    const clientCbs = new RecordingStreamCallbacks();
    encoder.stream().addCallbacks(clientCbs);
    lb.pump();
    encoder.stream().resetStream('LocalReset');
    lb.pump();
    expect(clientCbs.events).toEqual(['reset LocalReset ']);
    expect(lb.requests[0]!.streamCallbacks.events).toEqual(['reset RemoteReset http2.remote_reset']);
    expect(lb.counter('http2.rx_reset')).toBe(1);
    expect(lb.counter('cluster.up.http2.tx_reset')).toBe(1);

    const second = lb.request({ ...GET, ':method': 'POST' }, false);
    const cbs2 = new RecordingStreamCallbacks();
    second.encoder.stream().addCallbacks(cbs2);
    lb.pump();
    lb.requests[1]!.encoder.stream().resetStream('LocalRefusedStreamReset');
    lb.pump();
    expect(cbs2.events).toEqual(['reset RemoteRefusedStreamReset http2.remote_refuse']);
  });

  it('GOAWAY from the server reaches the client callbacks once; new streams fail', () => {
    const lb = new Loopback({ maxConcurrentStreams: 7 });
    expect(lb.clientSettings).toEqual([7]);
    lb.server.shutdownNotice();
    lb.pump();
    lb.server.goAway();
    lb.pump();
    expect(lb.clientGoAways).toEqual([0]);
    const encoder = lb.client.newStream(new ClientSide());
    expect(encoder.encodeHeaders(HeaderMapImpl.fromObject(GET), true)).toMatchObject({ ok: false, code: 'CodecClientError' });
    expect(lb.counter('http2.goaway_sent')).toBe(1);
    expect(lb.counter('http2.goaway_graceful_sent')).toBe(1);
  });

  it('relays the connection write watermarks to every stream', () => {
    const lb = new Loopback();
    lb.request(GET, false);
    lb.pump();
    const r = lb.requests[0]!;
    lb.server.onUnderlyingConnectionAboveWriteBufferHighWatermark();
    // Output is held meanwhile.
    r.encoder.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200' }), true);
    expect(lb.serverConn.written).toEqual([]);
    lb.server.onUnderlyingConnectionBelowWriteBufferLowWatermark();
    expect(r.streamCallbacks.events).toEqual(['high', 'low']);
    expect(lb.serverConn.written.length).toBe(1);
  });

  it('turns an HTTP/1 upgrade into an extended CONNECT and back (RFC 8441)', () => {
    const lb = new Loopback({ allowConnect: true });
    const { decoder } = lb.request({ ...GET, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' }, false);
    lb.pump();
    const r = lb.requests[0]!;
    expect(text(r.headers!)).toBe(':method=CONNECT :scheme=http :authority=example.com :path=/a :protocol=websocket sec-websocket-version=13');
    r.encoder.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '101', upgrade: 'websocket', connection: 'upgrade' }), false);
    lb.pump();
    expect(text(decoder.headers!)).toBe(':status=101 connection=upgrade upgrade=websocket');
  });
});

describe('HTTP/2 codec connection timers and errors', () => {
  function lone(extra: Partial<Http2CodecOptions> = {}): { conn: FakeConnection; codec: ServerConnection; disp: ManualDispatcher; store: StatsStore } {
    const disp = new ManualDispatcher();
    const conn = new FakeConnection(disp);
    const store = new StatsStore();
    const options = { ...DEFAULT_HTTP2_OPTIONS, ...extra };
    const codec = createHttp2ServerConnection(conn, { newStream: () => new ServerSide(undefined as never), onGoAway: () => {} }, options, store);
    return { conn, codec, disp, store };
  }

  it('dispatch returns a protocol error after sending GOAWAY', () => {
    const { conn, codec } = lone();
    conn.written.length = 0;
    const status = codec.dispatch(new BufferChain('GET / HTTP/1.1\r\n\r\n'));
    expect(status).toMatchObject({ ok: false, code: 'CodecProtocolError' });
    const goaway = conn.writtenBytes();
    expect(goaway[3]).toBe(0x7);
    expect(goaway.readUInt32BE(9 + 4)).toBe(0x1);
  });

  it('SETTINGS_TIMEOUT: GOAWAY and close when our SETTINGS are not acknowledged', () => {
    const { conn, disp, store } = lone({ settingsTimeoutMs: 1000 });
    conn.written.length = 0;
    disp.advance(999);
    expect(conn.closes).toEqual([]);
    disp.advance(1);
    expect(conn.writtenBytes().readUInt32BE(9 + 4)).toBe(0x4);
    expect(conn.closes).toEqual([{ type: 'FlushWrite', details: 'http2:protocol_error' }]);
    expect(store.findCounter('http2.settings_timeout')?.value()).toBe(1);
  });

  it('keepalive: PING every interval, close when no frame comes back in time', () => {
    const { conn, disp, store, codec } = lone({ settingsTimeoutMs: 0, connectionKeepalive: { intervalMs: 1000, timeoutMs: 500, intervalJitterPercent: 0, connectionIdleIntervalMs: 0 } });
    conn.written.length = 0;
    disp.advance(1000);
    const ping = conn.writtenBytes();
    expect(ping.subarray(0, 9).toString('hex')).toBe('000008060000000000');
    // The ACK re-arms the interval.
    const ack = Buffer.from(ping);
    ack[4] = 1;
    codec.dispatch(new BufferChain(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from('000000040000000000', 'hex'), ack])));
    disp.advance(1499);
    expect(conn.closes).toEqual([]);
    disp.advance(501);
    expect(conn.closes).toEqual([{ type: 'NoFlush', details: 'http2_ping_timeout' }]);
    expect(store.findCounter('http2.keepalive_timeout')?.value()).toBe(1);
  });

  it('an outbound flood closes the connection at once with BufferFloodError', () => {
    const { conn, codec, store } = lone();
    codec.onUnderlyingConnectionAboveWriteBufferHighWatermark();
    const ping = Buffer.from('000008060000000000' + '00'.repeat(8), 'hex');
    const preface = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from('000000040000000000', 'hex')]);
    expect(codec.dispatch(new BufferChain(Buffer.concat([preface, ...Array.from({ length: 1002 }, () => ping)])))).toMatchObject({
      ok: false, code: 'BufferFloodError',
    });
    expect(conn.closes).toEqual([{ type: 'NoFlush', details: 'http2:outbound_control_flood' }]);
    expect(store.findCounter('http2.outbound_control_flood')?.value()).toBe(1);
  });
});

describe('HTTP/2 codec loopback: CONNECT_ERROR (RFC 9113 §8.5)', () => {
  it('sends ConnectError as RST_STREAM CONNECT_ERROR and reads it back as ConnectError, both ways', () => {
    const lb = new Loopback({ allowConnect: true });
    const tunnel = { ':method': 'CONNECT', ':authority': 'example.com:443' };
    const first = lb.request(tunnel, false);
    const clientCbs = new RecordingStreamCallbacks();
    first.encoder.stream().addCallbacks(clientCbs);
    lb.pump();
    lb.requests[0]!.encoder.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200' }), false);
    lb.pump();
    expect(text(first.decoder.headers!)).toBe(':status=200');
    const sent: Buffer[] = [];
    const written = lb.serverConn.written;
    lb.requests[0]!.encoder.stream().resetStream('ConnectError');
    sent.push(...written);
    // RST_STREAM: length 4, type 0x3, flags 0, stream 1, error code 0xa.
    expect(Buffer.concat(sent).toString('hex')).toBe('000004030000000001' + '0000000a');
    lb.pump();
    expect(clientCbs.events).toEqual(['reset ConnectError http2.remote_reset']);

    const second = lb.request(tunnel, false);
    lb.pump();
    second.encoder.stream().resetStream('ConnectError');
    lb.pump();
    expect(lb.requests[1]!.streamCallbacks.events).toEqual(['reset ConnectError http2.remote_reset']);
  });
});
