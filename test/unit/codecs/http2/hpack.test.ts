import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../codecs/http2/frame.js';
import { HpackDecoder, HpackEncoder } from '../../../../codecs/http2/hpack.js';
import type { HeaderField, HpackDecodeResult } from '../../../../codecs/http2/hpack.js';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** RFC 7541 Appendix C: [name, block hex, headers, dynamic table size after]. */
type Example = [string, string, HeaderField[], number];

const C3: Example[] = [
  ['C.3.1', '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']], 57],
  ['C.3.2', '8286 84be 5808 6e6f 2d63 6163 6865',
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']], 110],
  ['C.3.3', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']], 164],
];

const C4: Example[] = [
  ['C.4.1', '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', C3[0]![2], 57],
  ['C.4.2', '8286 84be 5886 a8eb 1064 9cbf', C3[1]![2], 110],
  ['C.4.3', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', C3[2]![2], 164],
];

const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const C5: Example[] = [
  ['C.5.1',
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']], 222],
  ['C.5.2', '4803 3330 37c1 c0bf',
    [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']], 222],
  ['C.5.3',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', 'https://www.example.com'], ['content-encoding', 'gzip'], ['set-cookie', cookie]], 215],
];

const C6: Example[] = [
  ['C.6.1',
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    C5[0]![2], 222],
  ['C.6.2', '4883 640e ffc1 c0bf', C5[1]![2], 222],
  ['C.6.3',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    C5[2]![2], 215],
];

function expectHeaders(r: HpackDecodeResult, headers: HeaderField[]): void {
  expect(r).toMatchObject({ kind: 'headers', headers });
}

describe('HpackDecoder: RFC 7541 Appendix C', () => {
  it.each([
    ['C.3 requests without Huffman', C3, 4096],
    ['C.4 requests with Huffman', C4, 4096],
    ['C.5 responses without Huffman, table size 256', C5, 256],
    ['C.6 responses with Huffman, table size 256', C6, 256],
  ] as const)('%s', (_name, examples, tableSize) => {
    const decoder = new HpackDecoder({ maxTableSize: tableSize });
    for (const [, hex, headers, size] of examples) {
      expectHeaders(decoder.decode(h(hex)), headers);
      expect(decoder.dynamicTableSize).toBe(size);
    }
  });

  it.each([
    ['C.2.1 literal with indexing', '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', [['custom-key', 'custom-header']], 55],
    ['C.2.2 literal without indexing', '040c 2f73 616d 706c 652f 7061 7468', [[':path', '/sample/path']], 0],
    ['C.2.3 literal never indexed', '1008 7061 7373 776f 7264 0673 6563 7265 74', [['password', 'secret']], 0],
    ['C.2.4 indexed', '82', [[':method', 'GET']], 0],
  ] as [string, string, HeaderField[], number][])('%s', (_name, hex, headers, size) => {
    const decoder = new HpackDecoder();
    const r = decoder.decode(h(hex));
    expectHeaders(r, headers);
    expect(decoder.dynamicTableSize).toBe(size);
  });

  it('reports never-indexed names', () => {
    const r = new HpackDecoder().decode(h('1008 7061 7373 776f 7264 0673 6563 7265 74 82'));
    expect(r.kind === 'headers' && [...(r.neverIndexed ?? [])]).toEqual(['password']);
    const plain = new HpackDecoder().decode(h('82'));
    expect(plain.kind === 'headers' && plain.neverIndexed).toBeUndefined();
  });

  it('decodes a block given as fragments split at every offset (C.4.3, C.6.1)', () => {
    for (const [examples, tableSize, index] of [[C4, 4096, 2], [C6, 256, 0]] as const) {
      const block = h(examples[index]![1]);
      for (let i = 0; i <= block.length; i++) {
        for (let j = i; j <= block.length; j += 5) {
          const decoder = new HpackDecoder({ maxTableSize: tableSize });
          for (let k = 0; k < index; k++) decoder.decode(h(examples[k]![1]));
          const r = decoder.decode([block.subarray(0, i), block.subarray(i, j), block.subarray(j)]);
          expectHeaders(r, examples[index]![2]);
        }
      }
    }
  });
});

describe('HpackDecoder: RFC 7541 violations are COMPRESSION_ERROR', () => {
  const cases: [string, string, ((d: HpackDecoder) => void)?][] = [
    ['indexed field with index 0', '80'],
    ['indexed field past the static table (empty dynamic table)', 'be'],
    ['indexed field far out of range', 'ff ff 0f'],
    ['literal with a name index out of range', '7f 00 01 61'],
    ['never-indexed literal with a name index out of range', '1f 2f 01 61'],
    ['size update above SETTINGS_HEADER_TABLE_SIZE', '3f e2 1f'],
    ['size update above a lowered SETTINGS_HEADER_TABLE_SIZE', '3f e2 07', (d) => d.setMaxTableSize(1024)],
    ['size update after a field', '82 20'],
    ['size update after a literal field', '00 01 61 01 62 20'],
    ['missing size update after SETTINGS_HEADER_TABLE_SIZE went down', '82', (d) => d.setMaxTableSize(1024)],
    ['empty block when a size update is due', '', (d) => d.setMaxTableSize(0)],
    ['size update above the smallest pending limit', '3f e1 1f 82', (d) => { d.setMaxTableSize(1024); d.setMaxTableSize(4096); }],
    ['Huffman padding not all ones', '00 81 1f 81 18'],
    ['Huffman padding longer than 7 bits', '00 81 1f 82 1f ff'],
    ['Huffman string holding EOS', '00 81 1f 84 ff ff ff ff'],
    ['Huffman name holding EOS', '00 84 ff ff ff ff 01 61'],
    ['integer overflow (5 continuation octets)', 'ff ff ff ff ff 0f'],
    ['integer overflow in a string length', '00 7f ff ff ff ff 0f'],
    ['integer cut off at the end of the block', 'ff 80'],
    ['string longer than the block', '00 05 61'],
    ['literal value missing', '00 01 61'],
    ['literal name missing', '40'],
    ['Huffman string longer than the block', '00 85 1f'],
  ];

  it.each(cases)('%s', (_name, hex, setup) => {
    const decoder = new HpackDecoder();
    setup?.(decoder);
    const r = decoder.decode(h(hex));
    expect(r).toMatchObject({ kind: 'connection', code: ErrorCode.COMPRESSION_ERROR });
    // The decoder is dead afterwards (the connection is going away).
    expect(decoder.decode(h('82'))).toBe(r);
  });

  it('accepts the size updates a lowered limit requires', () => {
    const decoder = new HpackDecoder();
    decoder.decode(h('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    expect(decoder.dynamicTableSize).toBe(55);
    decoder.setMaxTableSize(0);
    decoder.setMaxTableSize(4096);
    // First update no larger than the smallest limit (0), then up to the final one.
    expectHeaders(decoder.decode(h('20 3f e1 1f 82')), [[':method', 'GET']]);
    expect(decoder.dynamicTableSize).toBe(0);
    expect(decoder.dynamicTableMaxSize).toBe(4096);
    // Nothing is owed any more.
    expectHeaders(decoder.decode(h('82')), [[':method', 'GET']]);
  });

  it('does not require an update when the table already fits the lowered limit', () => {
    const decoder = new HpackDecoder();
    expectHeaders(decoder.decode(h('3f e1 07 82')), [[':method', 'GET']]);
    expect(decoder.dynamicTableMaxSize).toBe(1024);
    decoder.setMaxTableSize(2048);
    expectHeaders(decoder.decode(h('82')), [[':method', 'GET']]);
  });

  it('accepts two size updates at the start of a block', () => {
    expectHeaders(new HpackDecoder().decode(h('20 3f e1 1f 82')), [[':method', 'GET']]);
  });

  it('accepts valid Huffman strings with up to 7 bits of padding', () => {
    // 'a' = 00011 + 111 padding.
    expectHeaders(new HpackDecoder().decode(h('00 81 1f 81 1f')), [['a', 'a']]);
  });
});

describe('HpackDecoder: header list limits', () => {
  const block = (fields: HeaderField[]): Buffer => new HpackEncoder({ huffman: 'never' }).encode(fields);

  it('accepts a list exactly at the size limit and rejects one octet more', () => {
    // 'a' + 'b'.repeat(67) + 32 = 100.
    const fields: HeaderField[] = [['a', 'b'.repeat(67)]];
    expect(new HpackDecoder({ maxHeaderListSize: 100 }).decode(block(fields))).toMatchObject({ kind: 'headers', size: 100 });
    expect(new HpackDecoder({ maxHeaderListSize: 99 }).decode(block(fields))).toEqual({
      kind: 'header-list-too-large', limit: 'size', size: 100, count: 1,
    });
  });

  it('limits the number of fields', () => {
    const fields: HeaderField[] = [['a', '1'], ['b', '2'], ['c', '3']];
    expect(new HpackDecoder({ maxHeaderCount: 3 }).decode(block(fields))).toMatchObject({ kind: 'headers' });
    expect(new HpackDecoder({ maxHeaderCount: 2 }).decode(block(fields))).toMatchObject({
      kind: 'header-list-too-large', limit: 'count', count: 3,
    });
  });

  it('keeps decoding past the limit so the dynamic table stays in sync', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder({ maxHeaderListSize: 200 });
    const big: HeaderField[] = [['x-a', 'a'.repeat(60)], ['x-b', 'b'.repeat(60)], ['x-c', 'c'.repeat(60)]];
    const r1 = decoder.decode(encoder.encode(big));
    expect(r1).toMatchObject({ kind: 'header-list-too-large', limit: 'size', count: 3 });
    expect(decoder.dynamicTableSize).toBe(encoder.dynamicTableSize);
    // The next block refers to all three entries by index.
    const second = encoder.encode([['x-c', 'c'.repeat(60)], ['x-a', 'a'.repeat(60)]]);
    expect(second.length).toBe(2);
    expectHeaders(decoder.decode(second), [['x-c', 'c'.repeat(60)], ['x-a', 'a'.repeat(60)]]);
  });

  it('limits can change between blocks', () => {
    const decoder = new HpackDecoder();
    decoder.setHeaderListLimits(40, 10);
    expect(decoder.decode(h('82 82'))).toMatchObject({ kind: 'header-list-too-large', size: 84 });
    decoder.setHeaderListLimits(1000, 10);
    expect(decoder.decode(h('82 82'))).toMatchObject({ kind: 'headers', size: 84 });
  });
});

describe('HpackEncoder', () => {
  it('reproduces RFC 7541 C.3 (no Huffman) and C.4 (Huffman) exactly', () => {
    for (const [examples, huffman] of [[C3, 'never'], [C4, 'auto']] as const) {
      const encoder = new HpackEncoder({ huffman });
      for (const [, hex, headers, size] of examples) {
        expect(encoder.encode(headers).toString('hex')).toBe(h(hex).toString('hex'));
        expect(encoder.dynamicTableSize).toBe(size);
      }
    }
  });

  it('sends credentials and short cookies as never indexed, and forwards never-indexed names', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const headers: HeaderField[] = [
      ['authorization', 'Bearer secret'],
      ['proxy-authorization', 'Basic xyz'],
      ['cookie', 'a=b'],
      ['cookie', 'long-cookie-value-is-indexed=1'],
      ['x-secret', 'v'],
    ];
    const r = decoder.decode(encoder.encode(headers, new Set(['x-secret'])));
    expect(r).toMatchObject({ kind: 'headers', headers });
    expect(r.kind === 'headers' && [...(r.neverIndexed ?? [])].sort()).toEqual(
      ['authorization', 'cookie', 'proxy-authorization', 'x-secret'],
    );
    // Only the long cookie went into the table.
    expect(encoder.dynamicTableSize).toBe('cookie'.length + 30 + 32);
    expect(decoder.dynamicTableSize).toBe(encoder.dynamicTableSize);
  });

  it('does not index :path, content-length, set-cookie and the like, nor oversized entries', () => {
    const encoder = new HpackEncoder({ maxTableSize: 256 });
    encoder.encode([
      [':path', '/x'], ['content-length', '10'], ['set-cookie', 'a=b'], ['location', '/y'],
      ['etag', '"1"'], ['age', '3'], ['x-big', 'v'.repeat(200)],
    ]);
    expect(encoder.dynamicTableSize).toBe(0);
  });

  it('useDynamicTable: false makes blocks self-contained', () => {
    const encoder = new HpackEncoder({ useDynamicTable: false });
    const fields: HeaderField[] = [[':method', 'GET'], ['x-a', 'b']];
    const first = encoder.encode(fields);
    expect(encoder.encode(fields).equals(first)).toBe(true);
    expect(encoder.dynamicTableSize).toBe(0);
    expectHeaders(new HpackDecoder().decode(first), fields);
  });

  it('signals a lowered peer table size at the start of the next block', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    decoder.decode(encoder.encode([['x-a', 'a']]));
    expect(encoder.dynamicTableSize).toBe(36);
    encoder.setPeerMaxTableSize(0);
    decoder.setMaxTableSize(0);
    const block = encoder.encode([[':method', 'GET']]);
    expect(block.toString('hex')).toBe('2082');
    expectHeaders(decoder.decode(block), [[':method', 'GET']]);
    expect(encoder.dynamicTableSize).toBe(0);
  });

  it('signals the smallest then the final size after several changes', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    encoder.setPeerMaxTableSize(100);
    encoder.setPeerMaxTableSize(200);
    decoder.setMaxTableSize(100);
    decoder.setMaxTableSize(200);
    const block = encoder.encode([[':method', 'GET']]);
    // 100 = 31 + 69; 200 = 31 + 169 (0xa9 0x01).
    expect(block.toString('hex')).toBe('3f45' + '3fa901' + '82');
    expectHeaders(decoder.decode(block), [[':method', 'GET']]);
    expect(encoder.dynamicTableMaxSize).toBe(200);
    expect(decoder.dynamicTableMaxSize).toBe(200);
  });

  it('caps the table at its own maximum and sends nothing when the size does not change', () => {
    const encoder = new HpackEncoder({ maxTableSize: 4096 });
    encoder.setPeerMaxTableSize(65536);
    expect(encoder.encode([[':method', 'GET']]).toString('hex')).toBe('82');
    const small = new HpackEncoder({ maxTableSize: 128 });
    // The peer's decoder starts at 4096: the first block says 128.
    expect(small.encode([[':method', 'GET']]).toString('hex')).toBe('3f61' + '82');
  });

  it('round-trips random header lists with any octet values through a shared table', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const str = (len: number, alphabet: number): string =>
      String.fromCharCode(...Array.from({ length: len }, () => (alphabet === 256 ? rand(256) : 97 + rand(alphabet))));
    const encoder = new HpackEncoder({ maxTableSize: 512 });
    const decoder = new HpackDecoder({ maxTableSize: 512, maxHeaderListSize: 1 << 20 });
    encoder.setPeerMaxTableSize(512);
    for (let round = 0; round < 300; round++) {
      const fields: HeaderField[] = [];
      const n = rand(12);
      for (let i = 0; i < n; i++) {
        fields.push([`x-${str(1 + rand(6), 4)}`, str(rand(40), rand(2) === 0 ? 256 : 6)]);
      }
      if (round === 150) {
        encoder.setPeerMaxTableSize(64);
        decoder.setMaxTableSize(64);
      }
      expectHeaders(decoder.decode(encoder.encode(fields)), fields);
      expect(decoder.dynamicTableSize).toBe(encoder.dynamicTableSize);
    }
  });

  it('handles header names that are Object.prototype keys', () => {
    const fields: HeaderField[] = [['constructor', 'x'], ['__proto__', 'y'], ['accept-charset', 'toString']];
    expectHeaders(new HpackDecoder().decode(new HpackEncoder().encode(fields)), fields);
  });

  it('encodes an empty list as an empty block', () => {
    expect(new HpackEncoder().encode([]).length).toBe(0);
  });
});
