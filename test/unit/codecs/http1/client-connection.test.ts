import { describe, expect, it } from 'vitest';
import type { ClientConnection, CodecStatus, RequestEncoder } from '../../../../src/api/http-codec.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { DEFAULT_HTTP1_OPTIONS, DEFAULT_HTTP2_OPTIONS, HeaderMapImpl, createClientCodec } from '../../../../codecs/index.js';
import { FakeConnection, FakeDispatcher, driveCodec } from '../../../support/fake-connection.js';
import { RecordingDecoder, merged } from '../../../support/recording-decoder.js';

type Http1Client = ClientConnection & { isReusable(): boolean };

function setup(connecting = false) {
  const disp = new FakeDispatcher();
  const conn = new FakeConnection(disp);
  if (connecting) conn.connecting = () => true;
  const goAways: number[] = [];
  const codec = createClientCodec(
    'http1',
    conn,
    { onGoAway: (code) => goAways.push(code) },
    { http1: DEFAULT_HTTP1_OPTIONS, http2: DEFAULT_HTTP2_OPTIONS },
    new StatsStore(),
  ) as Http1Client;
  const statuses = driveCodec(conn, codec);
  const log: string[] = [];
  let n = 0;
  const open = (): { encoder: RequestEncoder; decoder: RecordingDecoder } => {
    const decoder = new RecordingDecoder(log, `#${++n}`);
    const encoder = codec.newStream(decoder);
    encoder.stream().addCallbacks(decoder);
    return { encoder, decoder };
  };
  return { disp, conn, codec, statuses, log, goAways, open };
}

function headers(pairs: Record<string, string>): HeaderMapImpl {
  return HeaderMapImpl.fromObject(pairs);
}

function data(s: string): BufferChain {
  return new BufferChain(Buffer.from(s, 'latin1'));
}

const GET = { ':method': 'GET', ':path': '/', ':authority': 'h', ':scheme': 'http' };

/** A client with one GET sent. */
function sent(req: Record<string, string> = GET) {
  const t = setup();
  const s = t.open();
  expect(s.encoder.encodeHeaders(headers(req), true)).toEqual({ ok: true });
  t.conn.clearWrites();
  return { ...t, ...s };
}

const clientError = (message: string): CodecStatus => ({ ok: false, code: 'CodecClientError', message });
const protocolError = (message: string): CodecStatus => ({ ok: false, code: 'CodecProtocolError', message });

describe('http1 client codec: request encoding', () => {
  it('writes a GET with host from :authority first and no content-length', () => {
    const t = setup();
    const s = t.open();
    const status = s.encoder.encodeHeaders(
      headers({ ':method': 'GET', ':path': '/p?q=1', ':authority': 'example.com', ':scheme': 'http', 'user-agent': 't', accept: '*/*' }),
      true,
    );
    expect(status).toEqual({ ok: true });
    expect(t.conn.writes.map((b) => b.toString('latin1'))).toEqual(['GET /p?q=1 HTTP/1.1\r\nhost: example.com\r\nuser-agent: t\r\naccept: */*\r\n\r\n']);
  });

  it('adds content-length: 0 to a bodyless POST', () => {
    const t = setup();
    t.open().encoder.encodeHeaders(headers({ ':method': 'POST', ':path': '/f', ':authority': 'h' }), true);
    expect(t.conn.written()).toBe('POST /f HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n');
  });

  it('chunks a streamed body, with trailers as chunked trailers', () => {
    const t = setup();
    const e = t.open().encoder;
    e.encodeHeaders(headers({ ':method': 'POST', ':path': '/u', ':authority': 'h', 'transfer-encoding': 'gzip' }), false);
    e.encodeData(data('abc'), false);
    e.encodeData(data('0123456789abcdef'), false);
    e.encodeTrailers(headers({ 'x-t': '1' }));
    expect(t.conn.writes.map((b) => b.toString('latin1'))).toEqual([
      'POST /u HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n',
      '3\r\nabc\r\n',
      '10\r\n0123456789abcdef\r\n',
      '0\r\nx-t: 1\r\n\r\n',
    ]);
  });

  it('sends a body with a content-length as it is and drops trailers', () => {
    const t = setup();
    const e = t.open().encoder;
    e.encodeHeaders(headers({ ':method': 'PUT', ':path': '/', ':authority': 'h', 'content-length': '4' }), false);
    e.encodeData(data('body'), false);
    e.encodeTrailers(headers({ 'x-t': '1' }));
    expect(t.conn.written()).toBe('PUT / HTTP/1.1\r\nhost: h\r\ncontent-length: 4\r\n\r\nbody');
  });

  it('takes host from a host field when there is no :authority, never twice', () => {
    const t = setup();
    t.open().encoder.encodeHeaders(headers({ ':method': 'GET', ':path': '/', a: '1', host: 'from-field' }), true);
    expect(t.conn.written()).toBe('GET / HTTP/1.1\r\nhost: from-field\r\na: 1\r\n\r\n');
    const u = setup();
    u.open().encoder.encodeHeaders(headers({ ':method': 'GET', ':path': '/', ':authority': 'auth', host: 'field' }), true);
    expect(u.conn.written()).toBe('GET / HTTP/1.1\r\nhost: auth\r\n\r\n');
  });

  it('refuses heads it cannot write, writing nothing', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ ':path': '/', ':authority': 'h' }, 'missing required header: :method'],
      [{ ':method': 'GET', ':authority': 'h' }, 'missing required header: :path'],
      [{ ':method': 'GET', ':path': '/' }, 'missing required header: :authority'],
      [{ ':method': 'GET', ':path': '/', ':authority': 'h', 'x-bad': 'a\r\nb: c' }, 'invalid request head: invalid_header_value(x-bad)'],
      [{ ':method': 'G T', ':path': '/', ':authority': 'h' }, 'invalid request head: invalid_method'],
    ];
    for (const [h, message] of cases) {
      const t = setup();
      expect(t.open().encoder.encodeHeaders(headers(h), true)).toEqual(clientError(message));
      expect(t.conn.writes).toEqual([]);
    }
  });

  it('writes one request at a time', () => {
    const t = setup();
    const a = t.open().encoder;
    const b = t.open().encoder;
    a.encodeHeaders(headers({ ':method': 'POST', ':path': '/a', ':authority': 'h' }), false);
    expect(b.encodeHeaders(headers(GET), true)).toEqual(clientError('another request is still being encoded on this HTTP/1 connection'));
    a.encodeData(data(''), true);
    expect(b.encodeHeaders(headers(GET), true)).toEqual({ ok: true });
    expect(b.encodeHeaders(headers(GET), true)).toEqual(clientError('request headers were already encoded'));
  });

  it('CONNECT: authority-form target, no framing, then raw bytes', () => {
    const t = setup();
    const e = t.open().encoder;
    e.encodeHeaders(headers({ ':method': 'CONNECT', ':authority': 'example.com:443' }), false);
    e.encodeData(data('\x16\x03\x01'), false);
    expect(t.conn.written()).toBe('CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n\x16\x03\x01');
  });
});

describe('http1 client codec: response decoding', () => {
  it('decodes a Content-Length response; the connection stays reusable', () => {
    const t = sent();
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello');
    expect(t.log).toEqual(['#1 headers :status=200 content-length=5 x-a=1', '#1 data "hello"', '#1 data end ""']);
    expect(t.codec.isReusable()).toBe(true);
    expect(t.codec.activeStreamCount()).toBe(0);
    expect(t.goAways).toEqual([]);
    expect(t.statuses).toEqual([{ ok: true }]);
  });

  it('decodes a chunked response with trailers', () => {
    const t = sent();
    t.conn.receive('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 1\r\n\r\n');
    expect(t.log).toEqual(['#1 headers :status=200 transfer-encoding=chunked', '#1 data "Wikipedia"', '#1 trailers x-sum=1']);
    expect(t.codec.isReusable()).toBe(true);
  });

  it('ends a read-until-close body at the remote close; the connection is not reusable', () => {
    const t = sent();
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ');
    t.conn.receive('part two');
    expect(t.goAways).toEqual([0]);
    expect(t.codec.isReusable()).toBe(false);
    t.conn.remoteClose();
    expect(t.log).toEqual([
      '#1 headers :status=200 content-type=text/plain',
      '#1 data "part one, "',
      '#1 data "part two"',
      '#1 data end ""',
    ]);
  });

  it('ends a read-until-close body at an empty dispatch (Envoy\'s end of input)', () => {
    const t = sent();
    t.conn.receive('HTTP/1.0 200 OK\r\n\r\nall');
    expect(t.codec.dispatch(new BufferChain())).toEqual({ ok: true });
    expect(t.log.slice(-1)).toEqual(['#1 data end ""']);
    expect(t.codec.activeStreamCount()).toBe(0);
  });

  it('decodes a response to HEAD as headers only, whatever its content-length', () => {
    const t = sent({ ...GET, ':method': 'HEAD' });
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
    expect(t.log).toEqual(['#1 headers end :status=200 content-length=100']);
    expect(t.codec.isReusable()).toBe(true);
    const s = t.open();
    s.encoder.encodeHeaders(headers(GET), true);
    t.conn.receive('HTTP/1.1 204 No Content\r\n\r\n');
    expect(t.log.slice(1)).toEqual(['#2 headers end :status=204']);
  });

  it('decodes 204 and 304 without a body', () => {
    const a = sent();
    a.conn.receive('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n');
    expect(a.log).toEqual(['#1 headers end :status=204']);
    const b = sent();
    b.conn.receive('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 50\r\n\r\n');
    expect(b.log).toEqual(['#1 headers end :status=304 etag="x" content-length=50']);
    expect(b.codec.isReusable()).toBe(true);
  });

  it('delivers 100 Continue, swallows other 1xx, then the response', () => {
    const t = sent();
    t.conn.receive('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect(t.log).toEqual(['#1 1xx :status=100', '#1 headers end :status=200 content-length=0']);
    expect(t.codec.isReusable()).toBe(true);
  });

  it('reports a response with no request pending as premature (with its status)', () => {
    const t = setup();
    t.conn.receive('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    expect(t.statuses).toEqual([
      { ok: false, code: 'PrematureResponseError', message: 'http/1.1 protocol error: premature response (status 408) with no request pending' },
    ]);
    const u = setup();
    u.conn.receive('HTTP/1.1 2');
    expect(u.statuses).toEqual([
      { ok: false, code: 'PrematureResponseError', message: 'http/1.1 protocol error: response data with no request pending' },
    ]);
  });

  it('reports bytes after the last expected response (Envoy: extraneous data)', () => {
    const t = sent();
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n');
    expect(t.log).toEqual(['#1 headers :status=200 content-length=1', '#1 data "x"', '#1 data end ""']);
    expect(t.statuses).toEqual([protocolError('http/1.1 protocol error: extraneous data after response complete')]);
  });

  it('decodes pipelined responses in request order', () => {
    const t = setup();
    const a = t.open();
    const b = t.open();
    a.encoder.encodeHeaders(headers({ ...GET, ':path': '/a' }), true);
    b.encoder.encodeHeaders(headers({ ...GET, ':method': 'HEAD', ':path': '/b' }), true);
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n');
    expect(t.log).toEqual(['#1 headers :status=200 content-length=1', '#1 data "a"', '#1 data end ""', '#2 headers end :status=200 content-length=9']);
    expect(t.codec.activeStreamCount()).toBe(0);
  });

  it('matches responses to requests in the order they went out, not the order of newStream', () => {
    const t = setup();
    const a = t.open();
    const b = t.open();
    b.encoder.encodeHeaders(headers({ ...GET, ':path': '/b' }), true);
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb');
    expect(b.decoder.body).toBe('b');
    expect(t.log.every((l) => l.startsWith('#2 '))).toBe(true);
    // A stream whose request was never sent has no response coming: bytes now are premature.
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect(t.statuses.slice(-1)).toEqual([
      { ok: false, code: 'PrematureResponseError', message: 'http/1.1 protocol error: premature response (status 200) with no request pending' },
    ]);
    // The codec failed: every open stream, sent or not, is reset.
    expect(a.decoder.headers).toBeUndefined();
    expect(a.decoder.reset).toBe('ProtocolError');
    expect(a.encoder.encodeHeaders(headers(GET), true)).toEqual(clientError('the stream was reset'));
  });

  it('delivers a response that comes before the request is done; the connection is not reused', () => {
    const t = setup();
    const s = t.open();
    s.encoder.encodeHeaders(headers({ ':method': 'POST', ':path': '/', ':authority': 'h' }), false);
    s.encoder.encodeData(data('part'), false);
    t.conn.receive('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n');
    expect(t.log).toEqual(['#1 headers end :status=413 content-length=0']);
    expect(t.goAways).toEqual([0]);
    expect(t.codec.isReusable()).toBe(false);
    expect(t.codec.activeStreamCount()).toBe(1);
    s.encoder.encodeData(data('rest'), true);
    expect(t.codec.activeStreamCount()).toBe(0);
  });

  it('honours connection: close and HTTP/1.0 persistence rules', () => {
    const a = sent();
    a.conn.receive('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    expect(a.goAways).toEqual([0]);
    expect(a.codec.isReusable()).toBe(false);
    const b = sent();
    b.conn.receive('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect(b.codec.isReusable()).toBe(false);
    const c = sent();
    c.conn.receive('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n');
    expect(c.codec.isReusable()).toBe(true);
    expect(c.goAways).toEqual([]);
  });

  it('gives the same trace whatever the split of the input', () => {
    const input = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nA: b\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\nT: 1\r\n\r\n';
    const whole = sent();
    whole.conn.receive(input);
    const expected = merged(whole.log);
    expect(expected).toEqual(['#1 headers :status=200 transfer-encoding=chunked a=b', '#1 data "abcd"', '#1 trailers t=1']);
    for (let i = 1; i < input.length; i++) {
      const t = sent();
      t.conn.receive(input.slice(0, i));
      t.conn.receive(input.slice(i));
      expect(merged(t.log), `split at ${i}`).toEqual(expected);
    }
  });
});

describe('http1 client codec: errors and closes', () => {
  it('resets the stream on a protocol error and returns it', () => {
    const t = sent();
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
    expect(t.log).toEqual(['#1 reset ProtocolError http1.codec_error']);
    expect(t.statuses).toEqual([protocolError('http/1.1 protocol error: HPE_UNEXPECTED_CONTENT_LENGTH')]);
    expect(t.codec.isReusable()).toBe(false);
  });

  it('rejects framing that header validation refuses (content-length on 204)', () => {
    const t = sent();
    t.conn.receive('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
    expect(t.log).toEqual(['#1 reset ProtocolError http1.content_length_not_allowed']);
    expect(t.statuses).toEqual([protocolError('http/1.1 protocol error: http1.content_length_not_allowed')]);
  });

  it('rejects a response head over 80 KiB', () => {
    const t = sent();
    t.conn.receive(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(80 * 1024)}`);
    expect(t.log).toEqual(['#1 reset ProtocolError http1.headers_too_large']);
    expect(t.statuses).toEqual([protocolError('http/1.1 protocol error: headers size exceeds limit')]);
  });

  it('resets a response cut by the close, and requests still waiting', () => {
    const t = setup();
    const a = t.open();
    const b = t.open();
    a.encoder.encodeHeaders(headers(GET), true);
    b.encoder.encodeHeaders(headers(GET), true);
    t.conn.receive('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    t.conn.remoteClose();
    expect(t.log).toEqual([
      '#1 headers :status=200 content-length=10',
      '#1 data "abc"',
      '#1 reset ConnectionTermination http1.response_truncated',
      '#2 reset ConnectionTermination',
    ]);
  });

  it('resets with ConnectionFailure when the connection never connected', () => {
    const t = setup(true);
    const s = t.open();
    s.encoder.encodeHeaders(headers(GET), true);
    t.conn.remoteClose();
    expect(t.log).toEqual(['#1 reset ConnectionFailure']);
  });

  it('a stream opened after the close is reset on the next turn', () => {
    const t = setup();
    t.conn.remoteClose();
    t.open();
    expect(t.log).toEqual([]);
    t.disp.runPosted();
    expect(t.log).toEqual(['#1 reset ConnectionTermination http1.connection_closed']);
  });

  it('resetStream before anything was written keeps the connection', () => {
    const t = setup();
    const s = t.open();
    s.encoder.stream().resetStream('LocalReset');
    expect(t.log).toEqual(['#1 reset LocalReset']);
    expect(t.conn.closes).toEqual([]);
    expect(t.codec.isReusable()).toBe(true);
    expect(t.codec.activeStreamCount()).toBe(0);
  });

  it('resetStream after the head closes the connection; other streams hear the close', () => {
    const t = setup();
    const a = t.open();
    const b = t.open();
    a.encoder.encodeHeaders(headers(GET), true);
    b.encoder.encodeHeaders(headers(GET), true);
    a.encoder.stream().resetStream('LocalReset');
    expect(t.conn.closes).toEqual([{ type: 'NoFlush', details: 'http1.stream_reset' }]);
    expect(t.log).toEqual(['#1 reset LocalReset', '#2 reset ConnectionTermination']);
  });
});

describe('http1 client codec: tunnels', () => {
  it('101 to an Upgrade request: raw bytes both ways, the end of input ends the tunnel', () => {
    const t = setup();
    const s = t.open();
    s.encoder.encodeHeaders(headers({ ...GET, connection: 'Upgrade', upgrade: 'websocket' }), false);
    expect(t.conn.written()).toBe('GET / HTTP/1.1\r\nhost: h\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n');
    t.conn.receive('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe1');
    t.conn.receive('HTTP/1.1 200 OK\r\n');
    s.encoder.encodeData(data('up'), false);
    expect(t.conn.written()).toContain('\r\n\r\nup');
    expect(t.codec.dispatch(new BufferChain())).toEqual({ ok: true });
    expect(t.log).toEqual([
      '#1 headers :status=101 connection=Upgrade upgrade=websocket',
      '#1 data "frame1"',
      '#1 data "HTTP/1.1 200 OK\\r\\n"',
      '#1 data end ""',
    ]);
    expect(t.codec.isReusable()).toBe(false);
  });

  it('a 2xx to CONNECT opens a tunnel', () => {
    const t = setup();
    const s = t.open();
    s.encoder.encodeHeaders(headers({ ':method': 'CONNECT', ':authority': 'example.com:443' }), false);
    t.conn.receive('HTTP/1.1 200 Connection established\r\n\r\nserver hello');
    expect(t.log).toEqual(['#1 headers :status=200', '#1 data "server hello"']);
  });

  it('a 101 to a request that did not ask for it is a protocol error', () => {
    const t = sent();
    t.conn.receive('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(t.log).toEqual(['#1 reset ProtocolError http1.unexpected_101']);
    expect(t.statuses).toEqual([protocolError('http/1.1 protocol error: 101 response to a request without upgrade')]);
  });
});

describe('http1 client codec: flow control', () => {
  it('counts readDisable per stream and gives it back when the stream is done', () => {
    const t = sent();
    const stream = t.encoder.stream();
    stream.readDisable(true);
    stream.readDisable(true);
    stream.readDisable(false);
    stream.readDisable(true);
    expect(t.conn.readDisableCount).toBe(2);
    // What the connection had already read before pausing still reaches the codec.
    expect(t.codec.dispatch(new BufferChain('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'))).toEqual({ ok: true });
    expect(t.log).toEqual(['#1 headers end :status=200 content-length=0']);
    expect(t.codec.activeStreamCount()).toBe(0);
    expect(t.conn.readDisableCount).toBe(0);
    stream.readDisable(true);
    expect(t.conn.readDisableCount).toBe(0);
  });

  it('relays write watermarks to open streams; a new stream starts above', () => {
    const t = setup();
    const a = t.open();
    t.codec.onUnderlyingConnectionAboveWriteBufferHighWatermark();
    const b = t.open();
    t.codec.onUnderlyingConnectionBelowWriteBufferLowWatermark();
    expect(t.log).toEqual(['#1 above-high', '#2 above-high', '#1 below-low', '#2 below-low']);
    expect(a.encoder.stream().streamId).toBe(1);
    expect(b.encoder.stream().streamId).toBe(2);
  });
});
