import { describe, expect, it } from 'vitest';
import {
  framingErrorStatus,
  validateRequestFraming,
  validateResponseFraming,
  type FramingError,
} from '../../../../codecs/http1/header-validation.js';
import { HeaderMapImpl } from '../../../../codecs/headers.js';

type H = ReadonlyArray<readonly [string, string]>;
const host: H = [['Host', 'example.com']];

describe('validateRequestFraming', () => {
  const cases: ReadonlyArray<readonly [string, string, number, H, FramingError | null]> = [
    ['plain GET', 'GET', 1, host, null],
    ['identical duplicate Content-Length', 'POST', 1, [...host, ['Content-Length', '5'], ['content-length', ' 5 ']], null],
    ['identical Content-Length list, leading zeros', 'POST', 1, [...host, ['Content-Length', '5, 005']], null],
    ['differing duplicate Content-Length', 'POST', 1, [...host, ['Content-Length', '5'], ['Content-Length', '6']],
      'http1.content_length_conflict'],
    ['differing Content-Length list', 'POST', 1, [...host, ['Content-Length', '5, 6']], 'http1.content_length_conflict'],
    ['non-numeric Content-Length', 'POST', 1, [...host, ['Content-Length', '5x']], 'http1.content_length_invalid'],
    ['empty Content-Length', 'POST', 1, [...host, ['Content-Length', '']], 'http1.content_length_invalid'],
    ['Content-Length list with an empty element', 'POST', 1, [...host, ['Content-Length', '5,']],
      'http1.content_length_invalid'],
    ['signed Content-Length', 'POST', 1, [...host, ['Content-Length', '+5']], 'http1.content_length_invalid'],
    ['chunked', 'POST', 1, [...host, ['Transfer-Encoding', 'chunked']], null],
    ['Chunked, any case, with OWS', 'POST', 1, [...host, ['TRANSFER-ENCODING', ' Chunked\t']], null],
    ['Content-Length with Transfer-Encoding', 'POST', 1, [...host, ['Content-Length', '3'], ['Transfer-Encoding', 'chunked']],
      'http1.content_length_and_chunked_not_allowed'],
    ['Transfer-Encoding in HTTP/1.0', 'POST', 0, [...host, ['Transfer-Encoding', 'chunked']],
      'http1.transfer_encoding_http10'],
    ['empty Transfer-Encoding (llhttp ignores it)', 'POST', 1, [...host, ['Transfer-Encoding', '']],
      'http1.invalid_transfer_encoding'],
    ['Transfer-Encoding of commas only', 'POST', 1, [...host, ['Transfer-Encoding', ' , ']], 'http1.invalid_transfer_encoding'],
    ['gzip (chunked not final)', 'POST', 1, [...host, ['Transfer-Encoding', 'gzip']], 'http1.invalid_transfer_encoding'],
    ['chunked, gzip', 'POST', 1, [...host, ['Transfer-Encoding', 'chunked, gzip']], 'http1.invalid_transfer_encoding'],
    ['chunked twice over two fields', 'POST', 1,
      [...host, ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'chunked']], 'http1.invalid_transfer_encoding'],
    ['gzip, chunked (a coding sluice does not decode)', 'POST', 1, [...host, ['Transfer-Encoding', 'gzip, chunked']],
      'http1.transfer_encoding_not_implemented'],
    ['coding with parameters', 'POST', 1, [...host, ['Transfer-Encoding', 'x;q="a b", chunked']],
      'http1.transfer_encoding_not_implemented'],
    ['malformed coding', 'POST', 1, [...host, ['Transfer-Encoding', 'gz ip, chunked']], 'http1.invalid_transfer_encoding'],
    ['CONNECT', 'CONNECT', 1, [['Host', 'a.example:443']], null],
    ['CONNECT with Content-Length: 0', 'CONNECT', 1, [['Host', 'a.example:443'], ['Content-Length', '0']], null],
    ['CONNECT with a body', 'CONNECT', 1, [['Host', 'a.example:443'], ['Content-Length', '5']], 'http1.connect_with_body'],
    ['CONNECT chunked', 'CONNECT', 1, [['Host', 'a.example:443'], ['Transfer-Encoding', 'chunked']],
      'http1.connect_with_body'],
    ['HTTP/1.1 without Host', 'GET', 1, [], 'http1.missing_host'],
    ['HTTP/1.0 without Host', 'GET', 0, [], null],
    ['two Host fields', 'GET', 1, [['Host', 'a'], ['host', 'a']], 'http1.multiple_host'],
    ['two Host fields on HTTP/1.0', 'GET', 0, [['Host', 'a'], ['host', 'b']], 'http1.multiple_host'],
    ['empty Host', 'GET', 1, [['Host', '']], null],
    ['Host with port', 'GET', 1, [['Host', 'a.example:8080']], null],
    ['IPv6 Host', 'GET', 1, [['Host', '[::1]:443']], null],
    ['Host with userinfo', 'GET', 1, [['Host', 'user@a.example']], 'http1.invalid_host'],
    ['Host with a path', 'GET', 1, [['Host', 'a.example/x']], 'http1.invalid_host'],
    ['Host with a space', 'GET', 1, [['Host', 'a b']], 'http1.invalid_host'],
    ['Host with a bad port', 'GET', 1, [['Host', 'a:8x']], 'http1.invalid_host'],
  ];
  for (const [name, method, minor, headers, expected] of cases) {
    it(name, () => {
      expect(validateRequestFraming(method, minor, headers)).toBe(expected);
    });
  }

  it('maps errors to the status the server answers with', () => {
    expect(framingErrorStatus('http1.transfer_encoding_not_implemented')).toBe(501);
    expect(framingErrorStatus('http1.content_length_conflict')).toBe(400);
  });
});

describe('validateResponseFraming', () => {
  const cases: ReadonlyArray<readonly [string, number, number, H, FramingError | null]> = [
    ['200 with Content-Length', 200, 1, [['Content-Length', '2']], null],
    ['200 chunked', 200, 1, [['Transfer-Encoding', 'chunked']], null],
    ['200 gzip until close', 200, 1, [['Transfer-Encoding', 'gzip']], 'http1.transfer_encoding_not_implemented'],
    ['200 chunked, gzip', 200, 1, [['Transfer-Encoding', 'chunked, gzip']], 'http1.invalid_transfer_encoding'],
    ['HTTP/1.0 chunked', 200, 0, [['Transfer-Encoding', 'chunked']], 'http1.transfer_encoding_http10'],
    ['differing Content-Length', 200, 1, [['Content-Length', '1'], ['Content-Length', '2']], 'http1.content_length_conflict'],
    ['Content-Length and Transfer-Encoding', 200, 1, [['Content-Length', '1'], ['Transfer-Encoding', 'chunked']],
      'http1.content_length_and_chunked_not_allowed'],
    ['204 with Content-Length: 0', 204, 1, [['Content-Length', '0']], null],
    ['204 with Content-Length: 5', 204, 1, [['Content-Length', '5']], 'http1.content_length_not_allowed'],
    ['100 with Transfer-Encoding', 100, 1, [['Transfer-Encoding', 'chunked']], 'http1.transfer_encoding_not_allowed'],
    ['304 with Content-Length (the selected representation)', 304, 1, [['Content-Length', '5']], null],
  ];
  for (const [name, status, minor, headers, expected] of cases) {
    it(name, () => {
      expect(validateResponseFraming(status, minor, headers)).toBe(expected);
    });
  }
});

describe('framing checks over the codecs\' own header maps (flat-list path)', () => {
  const map = (pairs: H): HeaderMapImpl => HeaderMapImpl.fromPairs(pairs);
  const cases: ReadonlyArray<readonly [string, H, FramingError | null]> = [
    ['plain length', [['content-length', '13']], null],
    ['zero', [['content-length', '0']], null],
    ['leading zeros equal to a plain duplicate', [['content-length', '005'], ['content-length', '5']], null],
    ['plain duplicates that differ', [['content-length', '5'], ['content-length', '6']], 'http1.content_length_conflict'],
    ['a list', [['content-length', '5, 5']], null],
    ['not digits', [['content-length', '5x']], 'http1.content_length_invalid'],
    ['seventeen digits', [['content-length', '12345678901234567']], null],
    ['chunked with a length', [['content-length', '5'], ['transfer-encoding', 'chunked']], 'http1.content_length_and_chunked_not_allowed'],
  ];
  for (const [name, pairs, expected] of cases) {
    it(name, () => {
      expect(validateResponseFraming(200, 1, map(pairs))).toBe(expected);
      // The same answer as over plain pairs.
      expect(validateResponseFraming(200, 1, pairs)).toBe(expected);
      expect(validateRequestFraming('POST', 1, map([...host, ...pairs]))).toBe(expected);
    });
  }
  it('Host from a map: counted and checked', () => {
    expect(validateRequestFraming('GET', 1, map([['host', 'a'], ['host', 'b']]))).toBe('http1.multiple_host');
    expect(validateRequestFraming('GET', 1, map([['host', 'a b']]))).toBe('http1.invalid_host');
    expect(validateRequestFraming('GET', 1, map([]))).toBe('http1.missing_host');
  });
});
