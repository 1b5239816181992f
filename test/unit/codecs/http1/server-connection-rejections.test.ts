import { describe, expect, it } from 'vitest';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { RecordingDecoder } from '../../../support/recording-decoder.js';
import { BAD_REQUEST, PROTOCOL_ERROR, TOO_LARGE, errorResponse, headers, setup } from './server-connection-harness.js';

describe('http1 server codec: header limits (431)', () => {
  it('accepts a head of exactly max_request_headers_kb and rejects one byte more', () => {
    // Counted: request-target + names + values. 1 + 4 + 1 + 1 + 1017 = 1024.
    const ok = setup({ maxHeadersKb: 1 });
    ok.conn.receive(`GET / HTTP/1.1\r\nHost: h\r\nX: ${'v'.repeat(1017)}\r\n\r\n`);
    expect(ok.log).toHaveLength(1);
    const big = setup({ maxHeadersKb: 1 });
    big.conn.receive(`GET / HTTP/1.1\r\nHost: h\r\nX: ${'v'.repeat(1018)}\r\n\r\n`);
    expect(big.conn.written()).toBe(TOO_LARGE);
    expect(big.log).toEqual(['#1 reset ProtocolError http1.headers_too_large']);
    expect(big.conn.closes).toEqual([{ type: 'FlushWriteAndDelay', details: 'http1.headers_too_large' }]);
    expect(big.statuses).toEqual([PROTOCOL_ERROR('http/1.1 protocol error: headers size exceeds limit')]);
  });

  it('cuts a huge field while it is still arriving (the default 60 KiB)', () => {
    const t = setup();
    t.conn.receive('GET / HTTP/1.1\r\nHost: h\r\nX-Big: ');
    t.conn.receive('a'.repeat(61 * 1024));
    // No end of line yet, no end of head: rejected on the size alone.
    expect(t.conn.written()).toBe(TOO_LARGE);
    expect(t.conn.state()).toBe('Closed');
  });

  it('accepts max_headers_count fields and rejects one more', () => {
    const fields = (n: number): string => Array.from({ length: n }, (_, i) => `F${i}: ${i}\r\n`).join('');
    const ok = setup();
    ok.conn.receive(`GET / HTTP/1.1\r\nHost: h\r\n${fields(99)}\r\n`);
    expect(ok.cb.stream(1).decoder.headers!.size).toBe(99 + 4);
    const many = setup();
    many.conn.receive(`GET / HTTP/1.1\r\nHost: h\r\n${fields(100)}\r\n`);
    expect(many.conn.written()).toBe(TOO_LARGE);
    expect(many.log).toEqual(['#1 reset ProtocolError http1.too_many_headers']);
    expect(many.statuses).toEqual([PROTOCOL_ERROR('http/1.1 protocol error: headers count exceeds limit')]);
  });

  it('applies the count limit to trailers as well', () => {
    const t = setup({ maxHeadersCount: 2 });
    t.conn.receive('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n');
    expect(t.log).toEqual([
      '#1 headers :method=POST :path=/ :authority=h :scheme=http transfer-encoding=chunked',
      '#1 data "a"',
      '#1 reset ProtocolError http1.too_many_headers',
    ]);
    expect(t.conn.written()).toBe(TOO_LARGE);
    expect(t.statuses).toEqual([PROTOCOL_ERROR('http/1.1 protocol error: trailers count exceeds limit')]);
  });
});

/** [name, request, details, codec message]: each gets an exact 400 and the decoder sees no headers. */
const HEAD_REJECTIONS: ReadonlyArray<readonly [string, string, string, string]> = [
  ['Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'http1.content_length_and_chunked_not_allowed', 'http/1.1 protocol error: HPE_INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding and Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
    'http1.content_length_and_chunked_not_allowed', 'http/1.1 protocol error: HPE_INVALID_CONTENT_LENGTH'],
  ['differing duplicate Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'http1.codec_error', 'http/1.1 protocol error: HPE_UNEXPECTED_CONTENT_LENGTH'],
  ['Transfer-Encoding whose last coding is not chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    'http1.invalid_transfer_encoding', 'http/1.1 protocol error: HPE_INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding: gzip', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n',
    'http1.invalid_transfer_encoding', 'http/1.1 protocol error: HPE_INVALID_TRANSFER_ENCODING'],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_INVALID_HEADER_TOKEN'],
  ['bare LF after the request line', 'GET / HTTP/1.1\nHost: h\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_INVALID_VERSION'],
  ['bare LF after a field', 'GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_CR_EXPECTED'],
  ['bare CR after a field', 'GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_LF_EXPECTED'],
  ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_INVALID_HEADER_TOKEN'],
  ['NUL in a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n', 'http1.invalid_characters', 'http/1.1 protocol error: HPE_INVALID_HEADER_TOKEN'],
  ['CR in a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_LF_EXPECTED'],
  ['LF in a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_CR_EXPECTED'],
  ['missing Host on HTTP/1.1', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 'http1.missing_host', 'http/1.1 protocol error: http1.missing_host'],
  ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'http1.multiple_host', 'http/1.1 protocol error: http1.multiple_host'],
  ['a Host with a path', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 'http1.invalid_host', 'http/1.1 protocol error: http1.invalid_host'],
  ['CONNECT with a body', 'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 2\r\n\r\nab', 'http1.connect_with_body', 'http/1.1 protocol error: http1.connect_with_body'],
  ['CONNECT to a target without a port', 'CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n', 'http1.invalid_url', 'http/1.1 protocol error: invalid url in request line'],
  ['absolute-form with userinfo', 'GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n', 'http1.invalid_url', 'http/1.1 protocol error: invalid url in request line'],
  ['absolute-form of another scheme', 'GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n', 'http1.invalid_scheme', 'http/1.1 protocol error: invalid scheme'],
  ['a target that is no form at all', 'GET index.html HTTP/1.1\r\nHost: h\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_INVALID_URL'],
  ['an unknown method', 'BREW / HTTP/1.1\r\nHost: h\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_INVALID_METHOD'],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: h\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_INVALID_VERSION'],
  ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'http1.codec_error', 'http/1.1 protocol error: HPE_PAUSED_H2_UPGRADE'],
];

describe('http1 server codec: rejections', () => {
  for (const [name, request, details, message] of HEAD_REJECTIONS) {
    it(`${name}: 400, closed, the decoder never saw headers`, () => {
      const t = setup();
      t.conn.receive(request);
      expect(t.conn.written()).toBe(BAD_REQUEST);
      expect(t.log).toEqual([`#1 reset ProtocolError ${details}`]);
      expect(t.conn.closes).toEqual([{ type: 'FlushWriteAndDelay', details }]);
      expect(t.statuses).toEqual([PROTOCOL_ERROR(message)]);
      // The codec stays failed.
      expect(t.codec.dispatch(new BufferChain('GET / HTTP/1.1\r\nHost: h\r\n\r\n'))).toEqual(PROTOCOL_ERROR(message));
    });
  }

  it('answers a coding it does not implement with 501 (RFC 9112 §6.1)', () => {
    const t = setup();
    t.conn.receive('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n');
    expect(t.conn.written()).toBe(errorResponse(501, 'Not Implemented'));
    expect(t.log).toEqual(['#1 reset ProtocolError http1.transfer_encoding_not_implemented']);
  });

  it('an invalid chunk size after the head: 400 and the stream reset', () => {
    const t = setup();
    t.conn.receive('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    expect(t.log).toEqual([
      '#1 headers :method=POST :path=/ :authority=h :scheme=http transfer-encoding=chunked',
      '#1 reset ProtocolError http1.codec_error',
    ]);
    expect(t.conn.written()).toBe(BAD_REQUEST);
    expect(t.statuses).toEqual([PROTOCOL_ERROR('http/1.1 protocol error: HPE_INVALID_CHUNK_SIZE')]);
  });

  it('a body error after the response started: no second response, the stream is reset', () => {
    const t = setup();
    t.conn.receive('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n');
    t.cb.stream(1).encoder.encodeHeaders(headers({ ':status': '200' }), false);
    t.conn.clearWrites();
    t.conn.receive('1\r\nbX\r\n');
    expect(t.conn.written()).toBe('');
    expect(t.log.slice(-1)).toEqual(['#1 reset ProtocolError http1.codec_error']);
    expect(t.conn.state()).toBe('Closed');
  });

  it('uses the decoder\'s sendLocalReply when it has one (Envoy\'s sendProtocolError)', () => {
    const t = setup();
    const replies: string[] = [];
    t.cb.decoderFactory = (log, prefix, encoder) => {
      const d = new RecordingDecoder(log, prefix) as RecordingDecoder & { sendLocalReply(c: number, b: string, det: string): void };
      d.sendLocalReply = (code, body, det) => {
        replies.push(`${code} ${body} ${det}`);
        encoder.encodeHeaders(headers({ ':status': String(code), server: 'sluice' }), true);
      };
      return d;
    };
    t.conn.receive('GET / HTTP/1.1\r\nHost: h\r\nX: a\x00\r\n\r\n');
    expect(replies).toEqual(['400 Bad Request http1.invalid_characters']);
    expect(t.conn.written()).toBe('HTTP/1.1 400 Bad Request\r\nserver: sluice\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
});
