import { describe, expect, it } from 'vitest';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { RecordingDecoder, merged } from '../../../support/recording-decoder.js';
import { OK_RESPONSE, PROTOCOL_ERROR, data, errorResponse, headers, respond, setup } from './server-connection-harness.js';

describe('http1 server codec: request decoding', () => {
  it('decodes a GET as one decodeHeaders with end of stream, pseudo-headers first', () => {
    const t = setup();
    t.conn.receive('GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n');
    expect(t.log).toEqual(['#1 headers end :method=GET :path=/a?b=1 :authority=example.com :scheme=http user-agent=t accept=*/*']);
    expect(t.conn.readBuffer.length).toBe(0);
    expect(t.codec.protocol()).toBe('HTTP/1.1');
    expect(t.codec.activeStreamCount()).toBe(1);
    expect(t.cb.stream(1).encoder.stream().streamId).toBe(1);
    expect(t.statuses).toEqual([{ ok: true }]);
  });

  it('decodes a Content-Length body as data, then an empty end of stream', () => {
    const t = setup();
    t.conn.receive('POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello');
    expect(t.log).toEqual([
      '#1 headers :method=POST :path=/u :authority=h :scheme=http content-length=5',
      '#1 data "hello"',
      '#1 data end ""',
    ]);
  });

  it('decodes a chunked body and its trailers', () => {
    const t = setup();
    t.conn.receive('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5;ext=1\r\ndefgh\r\n0\r\nX-Sum: 9\r\nX-B: b \r\n\r\n');
    expect(t.log).toEqual([
      '#1 headers :method=POST :path=/ :authority=h :scheme=http transfer-encoding=chunked',
      '#1 data "abcdefgh"',
      '#1 trailers x-sum=9 x-b=b',
    ]);
  });

  it('ends a chunked body without trailers with an empty end of stream', () => {
    const t = setup();
    t.conn.receive('PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n');
    expect(t.log.slice(1)).toEqual(['#1 data "hi"', '#1 data end ""']);
  });

  it('gives the same trace whatever the split of the input', () => {
    const inputs = [
      'GET /x HTTP/1.1\r\nHost: h\r\nA: 1\r\nA: 2\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789',
      'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n',
      'GET http://example.com:8080/p?q HTTP/1.1\r\nHost: ignored\r\n\r\n',
    ];
    for (const input of inputs) {
      const whole = setup();
      whole.conn.receive(input);
      const expected = merged(whole.log);
      expect(expected.length).toBeGreaterThan(0);
      for (let i = 1; i < input.length; i++) {
        const t = setup();
        t.conn.receive(input.slice(0, i));
        t.conn.receive(input.slice(i));
        expect(merged(t.log), `split at ${i} of ${JSON.stringify(input)}`).toEqual(expected);
      }
    }
  });

  it('lowercases names, keeps duplicates in order, trims OWS but not obs-text', () => {
    const t = setup();
    t.conn.receive('GET / HTTP/1.1\r\nHost: h\r\nX-Mixed-Case:   v a l \t\r\nSet: 1\r\nset: 2\r\nX-Latin: caf\xe9\xa0\r\nEmpty:\r\n\r\n');
    const h = t.cb.stream(1).decoder.headers!;
    expect(h.get('x-mixed-case')).toBe('v a l');
    expect(h.getAll('set')).toEqual(['1', '2']);
    expect(h.get('x-latin')).toBe('caf\xe9\xa0');
    expect(h.get('empty')).toBe('');
    expect(h.has('host')).toBe(false);
  });

  it('delivers body bytes as views of the received buffer (zero copy)', () => {
    const t = setup();
    const input = Buffer.from('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody', 'latin1');
    t.conn.receive(input);
    const slices = t.cb.stream(1).decoder.slices;
    expect(slices.map((s) => s.toString('latin1'))).toEqual(['body']);
    expect(slices[0]!.buffer).toBe(input.buffer);
  });

  it('uses :scheme https on a TLS connection', () => {
    const t = setup({}, { ssl: true });
    t.conn.receive('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(t.log).toEqual(['#1 headers end :method=GET :path=/ :authority=h :scheme=https']);
  });

  it('maps absolute-form to :path and :authority, ignoring Host (RFC 9112 §3.2.2)', () => {
    const t = setup();
    t.conn.receive('GET http://Example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n');
    expect(t.log).toEqual(['#1 headers end :method=GET :path=/p?q=1 :authority=Example.com:8080 :scheme=http']);
    const u = setup();
    u.conn.receive('GET HTTPS://h?x HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(u.log).toEqual(['#1 headers end :method=GET :path=/?x :authority=h :scheme=https']);
  });

  it('passes the asterisk-form of OPTIONS through', () => {
    const t = setup();
    t.conn.receive('OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(t.log).toEqual(['#1 headers end :method=OPTIONS :path=* :authority=h :scheme=http']);
  });

  it('decodes an HTTP/1.0 request, without Host or with the configured default', () => {
    const t = setup();
    t.conn.receive('GET / HTTP/1.0\r\n\r\n');
    expect(t.log).toEqual(['#1 headers end :method=GET :path=/ :scheme=http']);
    expect(t.codec.protocol()).toBe('HTTP/1.0');
    const d = setup({ defaultHostForHttp10: 'default.local' });
    d.conn.receive('GET / HTTP/1.0\r\n\r\n');
    expect(d.log).toEqual(['#1 headers end :method=GET :path=/ :authority=default.local :scheme=http']);
    const h = setup({ defaultHostForHttp10: 'default.local' });
    h.conn.receive('GET / HTTP/1.0\r\nHost: given\r\n\r\n');
    expect(h.log).toEqual(['#1 headers end :method=GET :path=/ :authority=given :scheme=http']);
  });

  it('answers HTTP/1.0 with 426 when it is not accepted', () => {
    const t = setup({ acceptHttp10: false });
    t.conn.receive('GET / HTTP/1.0\r\n\r\n');
    expect(t.conn.written()).toBe(errorResponse(426, 'Upgrade Required'));
    expect(t.log).toEqual(['#1 reset ProtocolError low_version']);
    expect(t.statuses).toEqual([PROTOCOL_ERROR('Upgrade required for HTTP/1.0')]);
  });
});

describe('http1 server codec: response encoding', () => {
  function requested(req = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n') {
    const t = setup();
    t.conn.receive(req);
    return { ...t, encoder: t.cb.stream(1).encoder };
  }

  it('writes a Content-Length response as it is, one write per encode call', () => {
    const t = requested();
    respond(t.encoder, 'ok');
    expect(t.conn.writes.map((b) => b.toString('latin1'))).toEqual(['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n', 'ok']);
    expect(t.codec.activeStreamCount()).toBe(0);
    t.disp.runPosted();
    expect(t.conn.closes).toEqual([]);
  });

  it('chunks a response without a length, with trailers as chunked trailers', () => {
    const t = requested();
    t.encoder.encodeHeaders(headers({ ':status': '200', 'content-type': 'text/plain' }), false);
    t.encoder.encodeData(data('hello'), false);
    t.encoder.encodeData(data(''), false);
    t.encoder.encodeData(data('world!'), false);
    t.encoder.encodeTrailers(headers({ 'x-checksum': 'abc' }));
    expect(t.conn.writes.map((b) => b.toString('latin1'))).toEqual([
      'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n',
      '5\r\nhello\r\n',
      '6\r\nworld!\r\n',
      '0\r\nx-checksum: abc\r\n\r\n',
    ]);
  });

  it('ends a chunked body with its last chunk in the same write', () => {
    const t = requested();
    t.encoder.encodeHeaders(headers({ ':status': '200' }), false);
    t.encoder.encodeData(data('abc'), true);
    expect(t.conn.writes.map((b) => b.toString('latin1'))).toEqual(['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', '3\r\nabc\r\n0\r\n\r\n']);
    expect(t.conn.writeSlices).toEqual([1, 4]);
  });

  it('drops trailers of a response that is not chunked', () => {
    const t = requested();
    t.encoder.encodeHeaders(headers({ ':status': '200', 'content-length': '1' }), false);
    t.encoder.encodeData(data('x'), false);
    t.encoder.encodeTrailers(headers({ 'x-t': '1' }));
    expect(t.conn.written()).toBe('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx');
    expect(t.codec.activeStreamCount()).toBe(0);
  });

  it('adds content-length: 0 to a headers-only response, not to 204 or 304', () => {
    const a = requested();
    a.encoder.encodeHeaders(headers({ ':status': '200' }), true);
    expect(a.conn.written()).toBe('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    const b = requested();
    b.encoder.encodeHeaders(headers({ ':status': '204' }), true);
    expect(b.conn.written()).toBe('HTTP/1.1 204 No Content\r\n\r\n');
    const c = requested();
    c.encoder.encodeHeaders(headers({ ':status': '304', etag: '"x"' }), true);
    expect(c.conn.written()).toBe('HTTP/1.1 304 Not Modified\r\netag: "x"\r\n\r\n');
  });

  it('never sends a body with 204 or 304', () => {
    const t = requested();
    t.encoder.encodeHeaders(headers({ ':status': '204' }), false);
    t.encoder.encodeData(data('nope'), true);
    expect(t.conn.written()).toBe('HTTP/1.1 204 No Content\r\n\r\n');
    expect(t.codec.activeStreamCount()).toBe(0);
  });

  it('sends no body in a response to HEAD', () => {
    const a = requested('HEAD / HTTP/1.1\r\nHost: h\r\n\r\n');
    a.encoder.encodeHeaders(headers({ ':status': '200', 'content-length': '42' }), false);
    a.encoder.encodeData(data('x'.repeat(42)), true);
    expect(a.conn.written()).toBe('HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n');
    const b = requested('HEAD / HTTP/1.1\r\nHost: h\r\n\r\n');
    b.encoder.encodeHeaders(headers({ ':status': '200' }), true);
    expect(b.conn.written()).toBe('HTTP/1.1 200 OK\r\n\r\n');
    // Envoy: a HEAD response that would stream says chunked, and still sends no body.
    const c = requested('HEAD / HTTP/1.1\r\nHost: h\r\n\r\n');
    c.encoder.encodeHeaders(headers({ ':status': '200' }), false);
    c.encoder.encodeData(data('body'), true);
    expect(c.conn.written()).toBe('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
  });

  it('frames the body itself: a caller\'s transfer-encoding is not copied', () => {
    const t = requested();
    t.encoder.encodeHeaders(headers({ ':status': '200', 'transfer-encoding': 'gzip' }), false);
    t.encoder.encodeData(data('z'), true);
    expect(t.conn.written()).toBe('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n');
  });

  it('writes 100 Continue for Expect: 100-continue; the header stays for the HCM to remove', () => {
    const t = requested('POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n');
    expect(t.encoder.expectsContinue).toBe(true);
    expect(t.cb.stream(1).decoder.headers!.get('expect')).toBe('100-Continue');
    t.encoder.encode1xxHeaders(headers({ ':status': '100' }));
    expect(t.conn.written()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    expect(t.encoder.expectsContinue).toBe(false);
    t.conn.receive('hello');
    expect(t.log.slice(1)).toEqual(['#1 data "hello"', '#1 data end ""']);
    t.conn.clearWrites();
    respond(t.encoder);
    expect(t.conn.written()).toBe(OK_RESPONSE);
  });

  it('sends no 1xx to an HTTP/1.0 client (RFC 9110 §15.2)', () => {
    const t = requested('POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n');
    expect(t.encoder.expectsContinue).toBe(false);
    t.encoder.encode1xxHeaders(headers({ ':status': '100' }));
    expect(t.conn.written()).toBe('');
  });

  it('answers HTTP/1.0 in kind, framed by the close when there is no length', () => {
    const t = requested('GET / HTTP/1.0\r\n\r\n');
    t.encoder.encodeHeaders(headers({ ':status': '200' }), false);
    t.encoder.encodeData(data('all of it'), true);
    expect(t.conn.written()).toBe('HTTP/1.0 200 OK\r\nconnection: close\r\n\r\nall of it');
    expect(t.conn.closes).toEqual([]);
    t.disp.runPosted();
    expect(t.conn.closes).toEqual([{ type: 'FlushWrite', details: 'http1.close_after_response' }]);
  });

  it('keeps an HTTP/1.0 keep-alive connection open when the response has a length', () => {
    const t = requested('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    respond(t.encoder);
    expect(t.conn.written()).toBe('HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
    t.disp.runPosted();
    expect(t.conn.closes).toEqual([]);
    t.conn.receive('GET /2 HTTP/1.0\r\n\r\n');
    expect(t.log).toHaveLength(2);
  });

  it('closes after the response when the request said close', () => {
    const t = requested('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(t.cb.goAways).toBe(1);
    respond(t.encoder);
    expect(t.conn.written()).toBe('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    t.disp.runPosted();
    expect(t.conn.closes).toEqual([{ type: 'FlushWrite', details: 'http1.close_after_response' }]);
  });

  it('says connection: close after goAway() and closes after the response', () => {
    const t = requested();
    t.codec.goAway();
    t.encoder.encodeHeaders(headers({ ':status': '200', connection: 'keep-alive', 'content-length': '0' }), true);
    expect(t.conn.written()).toBe('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    t.disp.runPosted();
    expect(t.conn.closes).toEqual([{ type: 'FlushWrite', details: 'http1.close_after_response' }]);
  });

  it('closes after the response when goAway() comes after its head went out', () => {
    const t = requested();
    t.encoder.encodeHeaders(headers({ ':status': '200', 'content-length': '2' }), false);
    t.codec.goAway();
    t.encoder.encodeData(data('ok'), true);
    expect(t.conn.written()).toBe(OK_RESPONSE);
    t.disp.runPosted();
    expect(t.conn.closes).toEqual([{ type: 'FlushWrite', details: 'http1.close_after_response' }]);
  });

  it('lingers (FlushWriteAndDelay) when a closing response beats its request', () => {
    const t = requested('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\npart');
    t.encoder.encodeHeaders(headers({ ':status': '413', connection: 'close' }), true);
    expect(t.conn.written()).toBe('HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    t.conn.receive('more body');
    expect(t.log).toEqual([
      '#1 headers :method=POST :path=/ :authority=h :scheme=http content-length=100',
      '#1 data "part"',
    ]);
    t.disp.runPosted();
    expect(t.conn.closes).toEqual([{ type: 'FlushWriteAndDelay', details: 'http1.close_after_response' }]);
  });

  it('refuses a head it cannot encode: the stream is reset and the connection closed', () => {
    const t = requested();
    t.encoder.encodeHeaders(headers({ ':status': '200', 'x-bad': 'a\r\nset-cookie: x' }), true);
    expect(t.conn.written()).toBe('');
    expect(t.log.slice(1)).toEqual(['#1 reset LocalReset http1.invalid_response_headers:invalid_header_value(x-bad)']);
    expect(t.conn.closes).toEqual([{ type: 'NoFlush', details: 'http1.invalid_response_headers:invalid_header_value(x-bad)' }]);
  });
});

describe('http1 server codec: pipelining', () => {
  it('holds a pipelined request in the read buffer until the response is done', () => {
    const t = setup();
    const second = 'GET /2 HTTP/1.1\r\nHost: h\r\n\r\n';
    t.conn.receive(`GET /1 HTTP/1.1\r\nHost: h\r\n\r\n${second}`);
    expect(t.log).toEqual(['#1 headers end :method=GET :path=/1 :authority=h :scheme=http']);
    expect(t.conn.readBuffer.toString('latin1')).toBe(second);
    expect(t.conn.readDisableCount).toBe(1);
    respond(t.cb.stream(1).encoder);
    expect(t.conn.readDisableCount).toBe(0);
    expect(t.log).toHaveLength(1);
    t.disp.runPosted();
    expect(t.log).toEqual([
      '#1 headers end :method=GET :path=/1 :authority=h :scheme=http',
      '#2 headers end :method=GET :path=/2 :authority=h :scheme=http',
    ]);
    expect(t.conn.readBuffer.length).toBe(0);
    respond(t.cb.stream(2).encoder, 'two');
    expect(t.conn.written()).toBe(`${OK_RESPONSE}HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo`);
    expect(t.cb.stream(2).encoder.stream().streamId).toBe(2);
  });

  it('does not parse a request that arrives while the previous response is in progress', () => {
    const t = setup();
    t.conn.receive('POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx');
    expect(t.conn.readDisableCount).toBe(0);
    t.cb.stream(1).encoder.encodeHeaders(headers({ ':status': '200' }), false);
    t.conn.receive('GET /2 HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(t.log).toHaveLength(3);
    expect(t.conn.readDisableCount).toBe(1);
    t.cb.stream(1).encoder.encodeData(data('done'), true);
    expect(t.conn.readDisableCount).toBe(0);
    t.disp.runPosted();
    expect(t.log.slice(3)).toEqual(['#2 headers end :method=GET :path=/2 :authority=h :scheme=http']);
  });

  it('goes straight on when the response finished before the request was read (redispatch)', () => {
    const t = setup();
    t.cb.decoderFactory = (log, prefix, encoder) => {
      const d = new RecordingDecoder(log, prefix);
      const decodeHeaders = d.decodeHeaders.bind(d);
      d.decodeHeaders = (h, end) => {
        decodeHeaders(h, end);
        encoder.encodeHeaders(headers({ ':status': '204' }), true);
      };
      return d;
    };
    t.conn.receive('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(t.log.map((l) => l.split(' ')[4])).toEqual([':path=/1', ':path=/2', ':path=/3']);
    expect(t.conn.written()).toBe('HTTP/1.1 204 No Content\r\n\r\n'.repeat(3));
    expect(t.conn.readDisableCount).toBe(0);
  });

  it('parses nothing after a request that asked to close', () => {
    const t = setup();
    t.conn.receive('GET /1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n');
    respond(t.cb.stream(1).encoder);
    t.disp.runPosted();
    expect(t.log).toHaveLength(1);
    expect(t.conn.state()).toBe('Closed');
  });

  it('strips an h2c upgrade and goes on with HTTP/1 (Envoy)', () => {
    const t = setup();
    t.conn.receive(
      'GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nX: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n',
    );
    expect(t.log).toEqual(['#1 headers end :method=GET :path=/ :authority=h :scheme=http x=1']);
    respond(t.cb.stream(1).encoder);
    t.disp.runPosted();
    expect(t.log.slice(1)).toEqual(['#2 headers end :method=GET :path=/2 :authority=h :scheme=http']);
    expect(t.conn.written()).toBe(OK_RESPONSE);
  });
});

describe('http1 server codec: tunnels', () => {
  it('Upgrade: after the head, bytes flow raw both ways; the end closes the connection', () => {
    const t = setup();
    t.conn.receive('GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello');
    expect(t.log).toEqual([
      '#1 headers :method=GET :path=/chat :authority=h :scheme=http connection=Upgrade upgrade=websocket',
      `#1 data ${JSON.stringify('\x81\x05hello')}`,
    ]);
    t.conn.receive('GET / HTTP/1.1\r\n');
    expect(t.log.slice(2)).toEqual(['#1 data "GET / HTTP/1.1\\r\\n"']);
    const e = t.cb.stream(1).encoder;
    e.encodeHeaders(headers({ ':status': '101', connection: 'Upgrade', upgrade: 'websocket' }), false);
    e.encodeData(data('\x81\x02hi'), false);
    expect(t.conn.written()).toBe('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n\x81\x02hi');
    expect(t.codec.dispatch(new BufferChain())).toEqual({ ok: true });
    expect(t.log.slice(3)).toEqual(['#1 data end ""']);
    e.encodeData(data(''), true);
    t.disp.runPosted();
    expect(t.conn.closes).toEqual([{ type: 'FlushWrite', details: 'http1.close_after_response' }]);
  });

  it('CONNECT: :authority from the target, a 200 without framing, then raw bytes', () => {
    const t = setup();
    t.conn.receive('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01');
    expect(t.log).toEqual(['#1 headers :method=CONNECT :authority=example.com:443', `#1 data ${JSON.stringify('\x16\x03\x01')}`]);
    const e = t.cb.stream(1).encoder;
    e.encodeHeaders(headers({ ':status': '200' }), false);
    e.encodeData(data('\x16\x03\x03'), false);
    expect(t.conn.written()).toBe('HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03');
  });

  it('a declined upgrade is a normal response, and the connection closes (lingering) after it', () => {
    const t = setup();
    t.conn.receive('GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
    t.cb.stream(1).encoder.encodeHeaders(headers({ ':status': '403' }), true);
    expect(t.conn.written()).toBe('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    t.disp.runPosted();
    // The client may already be sending tunnel bytes: linger so it reads the answer.
    expect(t.conn.closes).toEqual([{ type: 'FlushWriteAndDelay', details: 'http1.close_after_response' }]);
  });
});

describe('http1 server codec: stream lifecycle', () => {
  it('resets the stream when the peer closes mid-request', () => {
    const t = setup();
    t.conn.receive('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc');
    t.conn.remoteClose();
    expect(t.log.slice(-1)).toEqual(['#1 reset ConnectionTermination']);
    expect(t.codec.activeStreamCount()).toBe(0);
  });

  it('resets the stream at end of input mid-request (half-close)', () => {
    const t = setup();
    t.conn.receive('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc');
    expect(t.codec.dispatch(new BufferChain())).toEqual({ ok: true });
    expect(t.log.slice(-1)).toEqual(['#1 reset ConnectionTermination http1.remote_end_mid_request']);
  });

  it('resetStream closes the connection and tells the stream callbacks', () => {
    const t = setup();
    t.conn.receive('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    t.cb.stream(1).encoder.stream().resetStream('LocalReset');
    expect(t.log.slice(-1)).toEqual(['#1 reset LocalReset']);
    expect(t.conn.closes).toEqual([{ type: 'NoFlush', details: 'http1.stream_reset' }]);
  });

  it('aborts (RST) when a reset cuts a read-until-close body', () => {
    const t = setup();
    t.conn.receive('GET / HTTP/1.0\r\n\r\n');
    const e = t.cb.stream(1).encoder;
    e.encodeHeaders(headers({ ':status': '200' }), false);
    e.encodeData(data('part'), false);
    e.stream().resetStream('LocalReset');
    expect(t.conn.closes).toEqual([{ type: 'Abort', details: 'http1.stream_reset' }]);
  });

  it('counts readDisable per stream and gives it all back when the stream is done', () => {
    const t = setup();
    t.conn.receive('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n');
    const s = t.cb.stream(1).encoder.stream();
    s.readDisable(true);
    s.readDisable(true);
    s.readDisable(false);
    s.readDisable(true);
    expect(t.conn.readDisableCount).toBe(2);
    t.conn.receive('ab');
    respond(t.cb.stream(1).encoder);
    expect(t.conn.readDisableCount).toBe(0);
    s.readDisable(true);
    expect(t.conn.readDisableCount).toBe(0);
    expect(s.bufferLimit()).toBe(1 << 20);
  });

  it('relays write watermarks to the active stream; a new stream starts above', () => {
    const t = setup();
    t.conn.receive('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    t.codec.onUnderlyingConnectionAboveWriteBufferHighWatermark();
    t.codec.onUnderlyingConnectionBelowWriteBufferLowWatermark();
    t.codec.onUnderlyingConnectionAboveWriteBufferHighWatermark();
    expect(t.log.slice(1)).toEqual(['#1 above-high', '#1 below-low', '#1 above-high']);
    respond(t.cb.stream(1).encoder);
    t.conn.receive('GET /2 HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(t.log.slice(4)).toEqual(['#2 above-high', '#2 headers end :method=GET :path=/2 :authority=h :scheme=http']);
    t.codec.onUnderlyingConnectionBelowWriteBufferLowWatermark();
    expect(t.log.slice(6)).toEqual(['#2 below-low']);
  });

  it('ignores bytes once the connection is closing', () => {
    const t = setup();
    t.conn.receive('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    t.codec.goAway();
    respond(t.cb.stream(1).encoder);
    const buf = new BufferChain('GET /2 HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(t.codec.dispatch(buf)).toEqual({ ok: true });
    expect(buf.length).toBe(0);
    expect(t.log).toHaveLength(1);
  });
});
