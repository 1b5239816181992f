import { describe, expect, it } from 'vitest';
import {
  CHUNK_END,
  encodeChunkHeader,
  encodeLastChunk,
  encodeRequestHead,
  encodeResponseHead,
  frameChunk,
  isEncodeError,
  LAST_CHUNK,
  type EncodeError,
} from '../../../../codecs/http1/encoder.js';
import { CallbackResult, Parser, type SpanResult } from '../../../../codecs/http1/parser.js';

function latin1(r: Buffer | EncodeError): string {
  if (isEncodeError(r)) throw new Error(`unexpected ${JSON.stringify(r)}`);
  return r.toString('latin1');
}

describe('http1 encoder: heads', () => {
  it('request head from pairs, pseudo-headers skipped', () => {
    const head = encodeRequestHead('GET', '/a?b=c', [
      [':authority', 'ignored'],
      ['host', 'example.com'],
      ['accept', '*/*'],
      ['x-multi', 'one'],
      ['x-multi', 'two'],
    ]);
    expect(latin1(head)).toBe(
      'GET /a?b=c HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\nx-multi: one\r\nx-multi: two\r\n\r\n',
    );
  });

  it('request head from a flat list and from a Map-like iterable give the same bytes', () => {
    const flat = [':method', 'POST', 'host', 'h', 'content-length', '3'];
    const pairs = new Map([['host', 'h'], ['content-length', '3']]);
    const expected = 'POST /up HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\n\r\n';
    expect(latin1(encodeRequestHead('POST', '/up', flat))).toBe(expected);
    expect(latin1(encodeRequestHead('POST', '/up', pairs))).toBe(expected);
  });

  it('CONNECT and OPTIONS * targets', () => {
    expect(latin1(encodeRequestHead('CONNECT', 'example.com:443', [['host', 'example.com:443']]))).toBe(
      'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n',
    );
    expect(latin1(encodeRequestHead('OPTIONS', '*', []))).toBe('OPTIONS * HTTP/1.1\r\n\r\n');
  });

  it('response heads with node:http reason phrases', () => {
    expect(latin1(encodeResponseHead(200, [[':status', '200'], ['content-length', '0']]))).toBe(
      'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n',
    );
    expect(latin1(encodeResponseHead(100, []))).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    expect(latin1(encodeResponseHead(404, []))).toBe('HTTP/1.1 404 Not Found\r\n\r\n');
    expect(latin1(encodeResponseHead(599, []))).toBe('HTTP/1.1 599 Unknown\r\n\r\n');
    expect(latin1(encodeResponseHead(200, [], 'Fine'))).toBe('HTTP/1.1 200 Fine\r\n\r\n');
  });

  it('obs-text and tabs in values are written byte for byte', () => {
    const head = encodeResponseHead(200, [['x-latin1', 'caf\xe9\tok']]);
    expect(isEncodeError(head)).toBe(false);
    expect([...(head as Buffer)]).toEqual([...Buffer.from('HTTP/1.1 200 OK\r\nx-latin1: caf\xe9\tok\r\n\r\n', 'latin1')]);
    expect((head as Buffer).indexOf(0xe9)).toBe(30);
  });

  it('rejects what would inject or corrupt a line, naming the field', () => {
    const cases: ReadonlyArray<readonly [Buffer | EncodeError, EncodeError]> = [
      [encodeResponseHead(200, [['x', 'a\r\nset-cookie: evil']]), { error: 'invalid_header_value', name: 'x' }],
      [encodeResponseHead(200, [['x', 'a\nb']]), { error: 'invalid_header_value', name: 'x' }],
      [encodeResponseHead(200, [['x', 'a\rb']]), { error: 'invalid_header_value', name: 'x' }],
      [encodeResponseHead(200, [['x', 'a\0b']]), { error: 'invalid_header_value', name: 'x' }],
      [encodeResponseHead(200, [['x', '\u010d\u010a']]), { error: 'invalid_header_value', name: 'x' }],
      [encodeResponseHead(200, [['bad name', 'v']]), { error: 'invalid_header_name', name: 'bad name' }],
      [encodeResponseHead(200, [['', 'v']]), { error: 'invalid_header_name', name: '' }],
      [encodeResponseHead(200, [['x:y', 'v']]), { error: 'invalid_header_name', name: 'x:y' }],
      [encodeResponseHead(200, [], 'OK\r\nx: y'), { error: 'invalid_reason_phrase' }],
      [encodeResponseHead(99, []), { error: 'invalid_status' }],
      [encodeResponseHead(200.5, []), { error: 'invalid_status' }],
      [encodeRequestHead('GET /x', '/', []), { error: 'invalid_method' }],
      [encodeRequestHead('GET', '/a b', []), { error: 'invalid_path' }],
      [encodeRequestHead('GET', '', []), { error: 'invalid_path' }],
      [encodeRequestHead('GET', '/\xe9', []), { error: 'invalid_path' }],
      [encodeRequestHead('GET', '/', ['host', 'h', 'x', 'a\r\nb']), { error: 'invalid_header_value', name: 'x' }],
    ];
    for (const [got, expected] of cases) expect(got).toEqual(expected);
  });

  it('checks every character against its class: DEL and controls out, HTAB and obs-text in', () => {
    const cases: ReadonlyArray<readonly [Buffer | EncodeError, EncodeError]> = [
      [encodeResponseHead(200, [['x', 'a\x7fb']]), { error: 'invalid_header_value', name: 'x' }],
      [encodeResponseHead(200, [['x', '\x1f']]), { error: 'invalid_header_value', name: 'x' }],
      [encodeResponseHead(200, [['x\x7f', 'v']]), { error: 'invalid_header_name', name: 'x\x7f' }],
      [encodeResponseHead(200, [['x\xe9', 'v']]), { error: 'invalid_header_name', name: 'x\xe9' }],
      [encodeRequestHead('G\xe9T', '/', []), { error: 'invalid_method' }],
      [encodeRequestHead('GET', '/\x7f', []), { error: 'invalid_path' }],
    ];
    for (const [got, expected] of cases) expect(got).toEqual(expected);
    const ok = encodeResponseHead(200, [["!#$%&'*+-.^_`|~09azAZ", '\t \x80\xff~']]);
    expect(isEncodeError(ok)).toBe(false);
    expect((ok as Buffer).toString('latin1')).toBe("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09azAZ: \t \x80\xff~\r\n\r\n");
  });
});

/** Pairs as the flat [name, value, ...] list HeaderMapImpl.raw() gives (the slab writer's input). */
function flat(pairs: ReadonlyArray<readonly [string, string]>): string[] {
  return pairs.flatMap(([n, v]) => [n, v]);
}

describe('http1 encoder: heads from flat lists (written into the shared slab)', () => {
  it('give the same bytes as the string path, for requests and responses', () => {
    const fields: Array<[string, string]> = [
      ['host', 'example.com'],
      ['x-latin1', 'caf\xe9\tok'],
      ["!#$%&'*+-.^_`|~09azAZ", '\t \x80\xff~'],
      ['empty', ''],
    ];
    const req = encodeRequestHead('PATCH', '/p?q=1', flat([[':path', '/x'], ...fields]));
    expect(latin1(req)).toBe(
      "PATCH /p?q=1 HTTP/1.1\r\nhost: example.com\r\nx-latin1: caf\xe9\tok\r\n!#$%&'*+-.^_`|~09azAZ: \t \x80\xff~\r\nempty: \r\n\r\n",
    );
    expect(latin1(req)).toBe(latin1(encodeRequestHead('PATCH', '/p?q=1', fields)));
    for (const status of [100, 200, 204, 404, 599, 999]) {
      const res = encodeResponseHead(status, flat([[':status', String(status)], ...fields]));
      expect(latin1(res)).toBe(latin1(encodeResponseHead(status, fields)));
    }
    expect(latin1(encodeResponseHead(302, ['location', '/a'], 'Moved'))).toBe('HTTP/1.1 302 Moved\r\nlocation: /a\r\n\r\n');
  });

  it('reject the same characters, naming the same field', () => {
    const bad: Array<readonly [ReadonlyArray<readonly [string, string]>, EncodeError]> = [
      [[['x', 'a\r\nset-cookie: evil']], { error: 'invalid_header_value', name: 'x' }],
      [[['x', 'a\nb']], { error: 'invalid_header_value', name: 'x' }],
      [[['x', 'a\0b']], { error: 'invalid_header_value', name: 'x' }],
      [[['x', 'a\x7fb']], { error: 'invalid_header_value', name: 'x' }],
      [[['ok', 'v'], ['x', '\u010d\u010a']], { error: 'invalid_header_value', name: 'x' }],
      [[['bad name', 'v']], { error: 'invalid_header_name', name: 'bad name' }],
      [[['', 'v']], { error: 'invalid_header_name', name: '' }],
      [[['x\xe9', 'v']], { error: 'invalid_header_name', name: 'x\xe9' }],
    ];
    for (const [fields, expected] of bad) {
      expect(encodeResponseHead(200, flat(fields))).toEqual(expected);
      expect(encodeRequestHead('GET', '/', flat(fields))).toEqual(expected);
    }
    expect(encodeRequestHead('G\xe9T', '/', [])).toEqual({ error: 'invalid_method' });
    expect(encodeRequestHead('GET', '/a b', ['host', 'h'])).toEqual({ error: 'invalid_path' });
    expect(encodeRequestHead('GET', '', ['host', 'h'])).toEqual({ error: 'invalid_path' });
  });

  it('heads handed out stay intact while later ones fill and replace the slab', () => {
    const heads: Array<[Buffer, string]> = [];
    for (let i = 0; i < 600; i++) {
      const value = `v${i}-`.padEnd(100 + (i % 200), String.fromCharCode(97 + (i % 26)));
      const fields = ['x-n', String(i), 'x-v', value];
      const expected = `HTTP/1.1 200 OK\r\nx-n: ${i}\r\nx-v: ${value}\r\n\r\n`;
      const head = encodeResponseHead(200, fields);
      if (isEncodeError(head)) throw new Error('unexpected encode error');
      heads.push([head, expected]);
      // A refused head in between leaves nothing behind.
      expect(encodeResponseHead(200, ['x', 'bad\r\n'])).toEqual({ error: 'invalid_header_value', name: 'x' });
    }
    const total = heads.reduce((n, [h]) => n + h.length, 0);
    expect(total).toBeGreaterThan(8 * 8 * 1024);
    for (const [head, expected] of heads) expect(head.toString('latin1')).toBe(expected);
  });

  it('heads above 2 KiB are written exactly (through one string), and the slab goes on after them', () => {
    for (const size of [2 * 1024, 3 * 1024, 20 * 1024]) {
      const big = 'c'.repeat(size);
      const head = encodeRequestHead('GET', '/', ['host', 'h', 'cookie', big]);
      expect(latin1(head)).toBe(`GET / HTTP/1.1\r\nhost: h\r\ncookie: ${big}\r\n\r\n`);
      const next = encodeRequestHead('GET', '/n', ['host', 'h']);
      expect(latin1(next)).toBe('GET /n HTTP/1.1\r\nhost: h\r\n\r\n');
    }
  });
});

describe('http1 encoder: chunks', () => {
  it('frames a chunk without copying the payload', () => {
    const payload = Buffer.from('hello world');
    const [head, body, end] = frameChunk(payload);
    expect(head.toString('latin1')).toBe('b\r\n');
    expect(body).toBe(payload);
    expect(end).toBe(CHUNK_END);
    expect(CHUNK_END.toString('latin1')).toBe('\r\n');
  });

  it('chunk sizes are lowercase hex without leading zeros', () => {
    expect(encodeChunkHeader(1).toString('latin1')).toBe('1\r\n');
    expect(encodeChunkHeader(16).toString('latin1')).toBe('10\r\n');
    expect(encodeChunkHeader(65536).toString('latin1')).toBe('10000\r\n');
    expect(encodeChunkHeader(0xabcdef).toString('latin1')).toBe('abcdef\r\n');
  });

  it('a zero or fractional chunk size is a programming error', () => {
    expect(() => encodeChunkHeader(0)).toThrow(RangeError);
    expect(() => encodeChunkHeader(1.5)).toThrow(RangeError);
  });

  it('last chunk, with and without trailers', () => {
    expect(LAST_CHUNK.toString('latin1')).toBe('0\r\n\r\n');
    expect(encodeLastChunk()).toBe(LAST_CHUNK);
    expect(encodeLastChunk([])).toBe(LAST_CHUNK);
    expect(encodeLastChunk([[':status', '200']])).toBe(LAST_CHUNK);
    expect(latin1(encodeLastChunk([['grpc-status', '0'], ['grpc-message', 'ok']]))).toBe(
      '0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n',
    );
    expect(encodeLastChunk([['x', 'a\r\nb']])).toEqual({ error: 'invalid_header_value', name: 'x' });
  });
});

describe('http1 encoder output parses back (loopback through the parser)', () => {
  it('a chunked request with trailers', () => {
    const head = encodeRequestHead('POST', '/p', [['host', 'h'], ['transfer-encoding', 'chunked']]) as Buffer;
    const wire = Buffer.concat([
      head,
      ...frameChunk(Buffer.from('abc')),
      ...frameChunk(Buffer.alloc(20, 0x78)),
      encodeLastChunk([['x-checksum', '42']]) as Buffer,
    ]);
    const seen: string[] = [];
    const rec = (kind: string) => (d: Buffer, s: number, e: number): SpanResult => {
      seen.push(`${kind}:${d.toString('latin1', s, e)}`);
      return CallbackResult.Success;
    };
    const p = new Parser('request', {
      onMessageBegin: () => CallbackResult.Success,
      onUrl: rec('url'),
      onStatus: rec('status'),
      onHeaderField: rec('field'),
      onHeaderValue: rec('value'),
      onHeadersComplete: () => CallbackResult.Success,
      onBody: (d) => rec('body')(d, 0, d.length),
      onTrailerField: rec('trailer-field'),
      onTrailerValue: rec('trailer-value'),
      onMessageComplete: () => (seen.push('complete'), CallbackResult.Success),
    });
    expect(p.execute(wire)).toEqual({ status: 'ok', consumed: wire.length });
    expect(seen).toEqual([
      'url:/p', 'field:host', 'value:h', 'field:transfer-encoding', 'value:chunked',
      'body:abc', `body:${'x'.repeat(20)}`, 'trailer-field:x-checksum', 'trailer-value:42', 'complete',
    ]);
    p.destroy();
  });
});
