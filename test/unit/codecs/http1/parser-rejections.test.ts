import { describe, expect, it } from 'vitest';
import type { ParserType } from '../../../../codecs/http1/parser.js';
import { bytes, expectRejectedAtEverySplit, trace } from './trace-harness.js';

/**
 * Every input must be rejected with exactly this result, fed whole, split at every offset and one
 * byte at a time. `@n` is the absolute offset where the parser stopped.
 */
const rejections: ReadonlyArray<readonly [string, ParserType, string, string]> = [
  // Framing (RFC 9112 §6): request smuggling vectors.
  ['Content-Length then Transfer-Encoding', 'request',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'INVALID_TRANSFER_ENCODING "Transfer-Encoding can\'t be present with Content-Length" @63'],
  ['Transfer-Encoding then Content-Length', 'request',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
    'INVALID_CONTENT_LENGTH "Content-Length can\'t be present with Transfer-Encoding" @69'],
  ['Content-Length with Transfer-Encoding in a response', 'response',
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'INVALID_TRANSFER_ENCODING "Transfer-Encoding can\'t be present with Content-Length" @54'],
  ['differing duplicate Content-Length', 'request',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'UNEXPECTED_CONTENT_LENGTH "Duplicate Content-Length" @61'],
  ['identical duplicate Content-Length (llhttp rejects these too)', 'request',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
    'UNEXPECTED_CONTENT_LENGTH "Duplicate Content-Length" @61'],
  ['Content-Length list', 'request', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello',
    'INVALID_CONTENT_LENGTH "Invalid character in Content-Length" @43'],
  ['negative Content-Length', 'request', 'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
    'INVALID_CONTENT_LENGTH "Invalid character in Content-Length" @33'],
  ['empty Content-Length', 'request', 'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n',
    'INVALID_CONTENT_LENGTH "Empty Content-Length" @34'],
  ['Content-Length overflow', 'request', 'POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n',
    'INVALID_CONTENT_LENGTH "Content-Length overflow" @53'],
  ['Transfer-Encoding: gzip in a request (rejected before the head is handed out)', 'request',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nxx',
    'INVALID_TRANSFER_ENCODING "Request has invalid `Transfer-Encoding`" @53'],
  ['Transfer-Encoding: identity in a request', 'request',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n',
    'INVALID_TRANSFER_ENCODING "Request has invalid `Transfer-Encoding`" @57'],
  ['Transfer-Encoding: chunked, gzip', 'request', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    'INVALID_TRANSFER_ENCODING "Invalid `Transfer-Encoding` header value" @53'],
  ['chunked applied twice', 'request',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'INVALID_TRANSFER_ENCODING "Invalid `Transfer-Encoding` header value" @74'],
  ['Transfer-Encoding in an HTTP/1.0 request', 'request',
    'POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'TRANSFER_ENCODING_HTTP10 "Transfer-Encoding in an HTTP/1.0 message" @56'],
  ['Transfer-Encoding in an HTTP/1.0 response', 'response', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'TRANSFER_ENCODING_HTTP10 "Transfer-Encoding in an HTTP/1.0 message" @47'],
  ['Content-Length in the trailers', 'request',
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n',
    'INVALID_CONTENT_LENGTH "Content-Length can\'t be present with Transfer-Encoding" @65'],
  // Chunks (RFC 9112 §7.1).
  ['chunk size zz', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'INVALID_CHUNK_SIZE "Invalid character in chunk size" @47'],
  ['chunk size 0x3', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n',
    'INVALID_CHUNK_SIZE "Invalid character in chunk size" @48'],
  ['negative chunk size', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n',
    'INVALID_CHUNK_SIZE "Invalid character in chunk size" @47'],
  ['chunk size overflow', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n',
    'INVALID_CHUNK_SIZE "Chunk size overflow" @64'],
  ['space after chunk size', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n',
    'INVALID_CHUNK_SIZE "Invalid character in chunk size" @49'],
  ['control character in a chunk extension', 'request',
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n',
    'STRICT "Invalid character in chunk extensions value" @52'],
  ['chunk longer than its size', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n',
    'STRICT "Expected LF after chunk data" @53'],
  // Line endings and folding (RFC 9112 §2.2, §5.2).
  ['obs-fold', 'request', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n',
    'INVALID_HEADER_TOKEN "Unexpected whitespace after header value" @31'],
  ['obs-fold with a tab', 'request', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n',
    'INVALID_HEADER_TOKEN "Unexpected whitespace after header value" @31'],
  ['bare LF after the request line', 'request', 'GET / HTTP/1.1\nHost: h\r\n\r\n',
    'INVALID_VERSION "Expected CRLF after version" @15'],
  ['bare LF after a header', 'request', 'GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n',
    'CR_EXPECTED "Missing expected CR after header value" @23'],
  ['bare LF ending the head', 'request', 'GET / HTTP/1.1\r\nHost: h\r\n\n',
    'INVALID_HEADER_TOKEN "Invalid header field char" @26'],
  ['bare CR after a header', 'request', 'GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n',
    'LF_EXPECTED "Missing expected LF after header value" @24'],
  ['bare CR ending the head', 'request', 'GET / HTTP/1.1\r\nHost: h\r\n\rX',
    'STRICT "Expected LF after headers" @26'],
  ['bare LF after the status line', 'response', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n',
    'CR_EXPECTED "Missing expected CR after response line" @16'],
  ['bare LF after a chunk size', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n',
    'CR_EXPECTED "Missing expected CR after chunk size" @49'],
  ['bare LF after chunk data', 'request', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n',
    'CR_EXPECTED "Missing expected CR after chunk data" @54'],
  // Field syntax (RFC 9110 §5.5, RFC 9112 §5.1).
  ['space before the colon', 'request', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 'INVALID_HEADER_TOKEN "Invalid header token" @20'],
  ['tab before the colon', 'request', 'GET / HTTP/1.1\r\nHost\t: h\r\n\r\n', 'INVALID_HEADER_TOKEN "Invalid header token" @20'],
  ['NUL in a value', 'request', 'GET / HTTP/1.1\r\nHost: h\x00x\r\n\r\n', 'INVALID_HEADER_TOKEN "Invalid header value char" @23'],
  ['CR in a value', 'request', 'GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n', 'LF_EXPECTED "Missing expected LF after header value" @24'],
  ['LF in a value', 'request', 'GET / HTTP/1.1\r\nHost: h\nx\r\n\r\n', 'CR_EXPECTED "Missing expected CR after header value" @23'],
  ['DEL in a value', 'request', 'GET / HTTP/1.1\r\nHost: h\x7fx\r\n\r\n', 'INVALID_HEADER_TOKEN "Invalid header value char" @23'],
  ['non-token name', 'request', 'GET / HTTP/1.1\r\nHo"st: h\r\n\r\n', 'INVALID_HEADER_TOKEN "Invalid header token" @18'],
  ['empty name', 'request', 'GET / HTTP/1.1\r\n: h\r\n\r\n', 'INVALID_HEADER_TOKEN "Invalid header token" @16'],
  ['whitespace before the first header', 'request', 'GET / HTTP/1.1\r\n Host: h\r\n\r\n',
    'UNEXPECTED_SPACE "Unexpected space after start line" @17'],
  // Start line (RFC 9112 §3, §4).
  ['lowercase method', 'request', 'get / HTTP/1.1\r\n\r\n', 'INVALID_METHOD "Invalid method encountered" @0'],
  ['method llhttp does not know', 'request', 'BREW / HTTP/1.1\r\n\r\n', 'INVALID_METHOD "Invalid method encountered" @1'],
  ['RTSP method over HTTP', 'request', 'DESCRIBE / HTTP/1.1\r\n\r\n', 'INVALID_CONSTANT "Invalid method for HTTP/x.x request" @15'],
  ['tab after the method', 'request', 'GET\t/ HTTP/1.1\r\n\r\n', 'INVALID_METHOD "Expected space after method" @3'],
  ['space inside the target', 'request', 'GET /a b HTTP/1.1\r\n\r\n', 'INVALID_CONSTANT "Expected HTTP/, RTSP/ or ICE/" @7'],
  ['control character in the target', 'request', 'GET /a\x01 HTTP/1.1\r\n\r\n', 'INVALID_URL "Invalid char in url path" @6'],
  ['HTTP/1.2', 'request', 'GET / HTTP/1.2\r\n\r\n', 'INVALID_VERSION "Invalid HTTP version" @14'],
  ['HTTP/2.0 request line', 'request', 'GET / HTTP/2.0\r\n\r\n', 'UNSUPPORTED_VERSION "HTTP/2.0 is not supported" @18'],
  ['HTTP/0.9 request line', 'request', 'GET / HTTP/0.9\r\n\r\n', 'UNSUPPORTED_VERSION "HTTP/0.9 is not supported" @18'],
  ['HTTP/0.9 simple request', 'request', 'GET /\r\n\r\n', 'UNSUPPORTED_VERSION "HTTP/0.9 is not supported" @9'],
  ['lowercase protocol', 'request', 'GET / http/1.1\r\n\r\n', 'INVALID_CONSTANT "Expected HTTP/, RTSP/ or ICE/" @6'],
  ['space after the version', 'request', 'GET / HTTP/1.1 \r\n\r\n', 'INVALID_VERSION "Expected CRLF after version" @14'],
  ['RTSP request', 'request', 'GET / RTSP/1.0\r\n\r\n', 'INVALID_PROTOCOL "Expected HTTP/ after the request-target" @6'],
  ['RTSP request after two spaces', 'request', 'GET /  RTSP/1.0\r\n\r\n',
    'INVALID_PROTOCOL "Expected HTTP/ after the request-target" @7'],
  ['ICE request', 'request', 'SOURCE / ICE/1.0\r\n\r\n', 'INVALID_PROTOCOL "Expected HTTP/ after the request-target" @9'],
  ['RTSP response', 'response', 'RTSP/1.0 200 OK\r\n\r\n', 'INVALID_PROTOCOL "Expected HTTP/ at the start of the status line" @0'],
  ['RTSP response after empty lines', 'response', '\r\n\r\nRTSP/1.0 200 OK\r\n\r\n',
    'INVALID_PROTOCOL "Expected HTTP/ at the start of the status line" @4'],
  ['ICE response after a good one', 'response', 'HTTP/1.1 204 No Content\r\n\r\nICE/1.0 200 OK\r\n\r\n',
    'INVALID_PROTOCOL "Expected HTTP/ at the start of the status line" @27'],
  ['HTTP/2.0 status line', 'response', 'HTTP/2.0 200 OK\r\n\r\n', 'UNSUPPORTED_VERSION "HTTP/2.0 is not supported" @19'],
  ['two-digit status', 'response', 'HTTP/1.1 20 OK\r\n\r\n', 'INVALID_STATUS "Invalid status code" @11'],
  ['status 099', 'response', 'HTTP/1.1 099 X\r\n\r\n', 'STATUS_OUT_OF_RANGE "Status code 99 is outside 100..599" @18'],
  ['status 600', 'response', 'HTTP/1.1 600 X\r\n\r\n', 'STATUS_OUT_OF_RANGE "Status code 600 is outside 100..599" @18'],
  ['NUL in the reason phrase', 'response', 'HTTP/1.1 200 O\x00K\r\n\r\n',
    'INVALID_REASON_PHRASE "Invalid character in reason phrase" @14'],
  ['DEL in the reason phrase', 'response', 'HTTP/1.1 200 O\x7fK\r\n\r\n',
    'INVALID_REASON_PHRASE "Invalid character in reason phrase" @14'],
  // Connection level.
  ['data after Connection: close', 'request', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n',
    'CLOSED_CONNECTION "Data after `Connection: close`" @38'],
  ['HTTP/2 preface on an HTTP/1 connection', 'request', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'PAUSED_H2_UPGRADE "Pause on PRI/Upgrade" @24'],
  ['TLS bytes after a request', 'request', 'GET / HTTP/1.1\r\n\r\n\x16\x03\x01', 'INVALID_METHOD "Invalid method encountered" @18'],
];

describe('http1 parser rejects (strict llhttp plus sluice checks)', () => {
  for (const [name, type, input, end] of rejections) {
    it(name, () => {
      expectRejectedAtEverySplit(type, input, `error ${end}`);
    });
  }

  it('accepts what these rejections are near misses of', () => {
    for (const [type, input] of [
      ['request', 'POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n'],
      ['request', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
      ['request', 'POST / HTTP/1.1\r\nContent-Length: 01\r\n\r\nx'],
      ['request', 'GET / HTTP/1.1\r\nX: a\tb \xff\r\n\r\n'],
      ['request', 'SOURCE / HTTP/1.1\r\n\r\n'],
      ['response', 'HTTP/1.1 599 Custom\r\nContent-Length: 0\r\n\r\n'],
      ['response', 'HTTP/1.1 200 O\tK \xe9\r\nContent-Length: 0\r\n\r\n'],
    ] as const) {
      expect(trace(type, [bytes(input)]).end, input).toBe('ok');
    }
  });

  it('a truncated head is reported at EOF', () => {
    expect(trace('request', [bytes('GET / HTTP/1.1\r\nHost: h')], { finish: true }).end).toBe(
      'finish error INVALID_EOF_STATE "Invalid EOF state"',
    );
  });
});
