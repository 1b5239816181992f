import { describe, expect, it } from 'vitest';
import {
  CLIENT_PREFACE,
  ErrorCode,
  Flag,
  FrameType,
  SettingId,
} from '../../../../codecs/http2/frame.js';
import type { Frame, HeadersFrame, PushPromiseFrame } from '../../../../codecs/http2/frame.js';
import {
  FrameReader,
  HeaderBlockAssembler,
  PrefaceMatcher,
} from '../../../../codecs/http2/frame-reader.js';
import type { FrameReaderOptions, ReadResult } from '../../../../codecs/http2/frame-reader.js';
import {
  encodeContinuation,
  encodeData,
  encodeFrame,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodePriority,
  encodePushPromise,
  encodeRawFrame,
  encodeRstStream,
  encodeSettings,
  encodeSettingsAck,
  encodeWindowUpdate,
} from '../../../../codecs/http2/frame-writer.js';
import { HpackDecoder } from '../../../../codecs/http2/hpack.js';
import { frames, toBytes } from '../../../support/h2-frames.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Feeds `chunks` one by one, draining after each; returns everything read. */
function readAll(chunks: readonly Buffer[], options?: FrameReaderOptions): ReadResult[] {
  const reader = new FrameReader(options);
  const out: ReadResult[] = [];
  for (const c of chunks) {
    reader.push(c);
    for (let r = reader.next(); r !== undefined; r = reader.next()) {
      out.push(r);
      if (r.kind === 'connection') return out;
    }
  }
  return out;
}

/** [name, wire bytes, the frame the reader must produce]. */
const roundTrip: [string, Buffer, Frame][] = [
  [
    'DATA',
    encodeData(1, b('hello'), false),
    { kind: 'frame', type: 'DATA', streamId: 1, flags: 0, length: 5, endStream: false, data: b('hello'), padLength: 0 },
  ],
  [
    'DATA END_STREAM empty',
    encodeData(3, Buffer.alloc(0), true),
    { kind: 'frame', type: 'DATA', streamId: 3, flags: 1, length: 0, endStream: true, data: Buffer.alloc(0), padLength: 0 },
  ],
  [
    'DATA padded',
    encodeData(5, b('hi'), true, 3),
    { kind: 'frame', type: 'DATA', streamId: 5, flags: 9, length: 6, endStream: true, data: b('hi'), padLength: 3 },
  ],
  [
    'DATA padded with 0 octets of padding and no data',
    encodeData(5, Buffer.alloc(0), false, 0),
    { kind: 'frame', type: 'DATA', streamId: 5, flags: 8, length: 1, endStream: false, data: Buffer.alloc(0), padLength: 0 },
  ],
  [
    'DATA with unknown flags',
    encodeRawFrame(FrameType.DATA, 0xf2, 7, b('x')),
    { kind: 'frame', type: 'DATA', streamId: 7, flags: 0xf2, length: 1, endStream: false, data: b('x'), padLength: 0 },
  ],
  [
    'HEADERS',
    encodeHeaders(1, b('abc'), { endStream: true }),
    {
      kind: 'frame', type: 'HEADERS', streamId: 1, flags: 5, length: 3, endStream: true, endHeaders: true,
      priority: undefined, fragment: b('abc'), padLength: 0,
    },
  ],
  [
    'HEADERS padded with priority',
    encodeHeaders(3, b('abc'), { padding: 2, priority: { exclusive: true, dependency: 1, weight: 256 } }),
    {
      kind: 'frame', type: 'HEADERS', streamId: 3, flags: 0x2c, length: 11, endStream: false, endHeaders: true,
      priority: { exclusive: true, dependency: 1, weight: 256 }, fragment: b('abc'), padLength: 2,
    },
  ],
  [
    'HEADERS empty block',
    encodeHeaders(9, Buffer.alloc(0)),
    {
      kind: 'frame', type: 'HEADERS', streamId: 9, flags: 4, length: 0, endStream: false, endHeaders: true,
      priority: undefined, fragment: Buffer.alloc(0), padLength: 0,
    },
  ],
  [
    'PRIORITY',
    encodePriority(5, { exclusive: false, dependency: 3, weight: 16 }),
    { kind: 'frame', type: 'PRIORITY', streamId: 5, flags: 0, length: 5, priority: { exclusive: false, dependency: 3, weight: 16 } },
  ],
  [
    'RST_STREAM',
    encodeRstStream(1, ErrorCode.CANCEL),
    { kind: 'frame', type: 'RST_STREAM', streamId: 1, flags: 0, length: 4, errorCode: 8 },
  ],
  [
    'RST_STREAM unknown code',
    encodeRstStream(1, 0xdeadbeef),
    { kind: 'frame', type: 'RST_STREAM', streamId: 1, flags: 0, length: 4, errorCode: 0xdeadbeef },
  ],
  [
    'SETTINGS',
    encodeSettings([
      { id: SettingId.HEADER_TABLE_SIZE, value: 0 },
      { id: SettingId.MAX_FRAME_SIZE, value: 16_777_215 },
      { id: 0x99, value: 0xffffffff },
    ]),
    {
      kind: 'frame', type: 'SETTINGS', streamId: 0, flags: 0, length: 18, ack: false,
      entries: [{ id: 1, value: 0 }, { id: 5, value: 16_777_215 }, { id: 0x99, value: 0xffffffff }],
    },
  ],
  [
    'SETTINGS ACK',
    encodeSettingsAck(),
    { kind: 'frame', type: 'SETTINGS', streamId: 0, flags: 1, length: 0, ack: true, entries: [] },
  ],
  [
    'PUSH_PROMISE',
    encodePushPromise(1, 2, b('ab'), { padding: 1 }),
    {
      kind: 'frame', type: 'PUSH_PROMISE', streamId: 1, flags: 0x0c, length: 8, endHeaders: true,
      promisedStreamId: 2, fragment: b('ab'), padLength: 1,
    },
  ],
  [
    'PING',
    encodePing(b('12345678'), false),
    { kind: 'frame', type: 'PING', streamId: 0, flags: 0, length: 8, ack: false, opaqueData: b('12345678') },
  ],
  [
    'PING ACK with unknown flags',
    encodeRawFrame(FrameType.PING, 0xff, 0, b('abcdefgh')),
    { kind: 'frame', type: 'PING', streamId: 0, flags: 0xff, length: 8, ack: true, opaqueData: b('abcdefgh') },
  ],
  [
    'GOAWAY',
    encodeGoaway(7, ErrorCode.ENHANCE_YOUR_CALM, b('calm')),
    {
      kind: 'frame', type: 'GOAWAY', streamId: 0, flags: 0, length: 12, lastStreamId: 7,
      errorCode: ErrorCode.ENHANCE_YOUR_CALM, debugData: b('calm'),
    },
  ],
  [
    'WINDOW_UPDATE connection',
    encodeWindowUpdate(0, 0x7fffffff),
    { kind: 'frame', type: 'WINDOW_UPDATE', streamId: 0, flags: 0, length: 4, increment: 0x7fffffff },
  ],
  [
    'WINDOW_UPDATE stream',
    encodeWindowUpdate(3, 1),
    { kind: 'frame', type: 'WINDOW_UPDATE', streamId: 3, flags: 0, length: 4, increment: 1 },
  ],
  [
    'unknown frame type',
    encodeRawFrame(0xfa, 0x5a, 0, b('ext')),
    { kind: 'frame', type: 'UNKNOWN', streamId: 0, flags: 0x5a, length: 3, frameType: 0xfa, payload: b('ext') },
  ],
];

describe('FrameReader: round trip through the writer', () => {
  it.each(roundTrip)('%s: whole', (_name, bytes, expected) => {
    expect(readAll([bytes])).toEqual([expected]);
    expect(encodeFrame(expected).equals(bytes)).toBe(true);
  });

  it.each(roundTrip)('%s: split at every offset', (_name, bytes, expected) => {
    for (let i = 0; i <= bytes.length; i++) {
      expect(readAll([bytes.subarray(0, i), bytes.subarray(i)])).toEqual([expected]);
    }
  });

  it.each(roundTrip)('%s: one octet at a time', (_name, bytes, expected) => {
    const chunks = [...bytes].map((x) => Buffer.from([x]));
    expect(readAll(chunks)).toEqual([expected]);
  });

  it('reads many frames from one chunk, and from chunks cut at every offset pair', () => {
    const all = Buffer.concat(roundTrip.map(([, bytes]) => bytes));
    const expected = roundTrip.map(([, , frame]) => frame);
    expect(readAll([all])).toEqual(expected);
    for (let i = 0; i < all.length; i += 7) {
      for (let j = i; j < all.length; j += 13) {
        expect(readAll([all.subarray(0, i), all.subarray(i, j), all.subarray(j)])).toEqual(expected);
      }
    }
  });

  it('round-trips a HEADERS + CONTINUATION sequence split at every offset', () => {
    const bytes = encodeHeaders(1, b('abcdefg'), { endStream: true, maxFrameSize: 3 });
    const expected = [
      { type: 'HEADERS', streamId: 1, endStream: true, endHeaders: false, fragment: b('abc') },
      { type: 'CONTINUATION', streamId: 1, endHeaders: false, fragment: b('def') },
      { type: 'CONTINUATION', streamId: 1, endHeaders: true, fragment: b('g') },
    ];
    for (let i = 0; i <= bytes.length; i++) {
      const got = readAll([bytes.subarray(0, i), bytes.subarray(i)]);
      expect(got).toMatchObject(expected);
    }
  });

  it('returns views into the input when a frame lies within one chunk, copies when it spans', () => {
    const bytes = Buffer.concat([encodeData(1, b('hello'), false), encodeData(1, b('world'), false)]);
    const reader = new FrameReader();
    reader.push(bytes);
    const first = reader.next();
    expect(first?.kind === 'frame' && first.type === 'DATA').toBe(true);
    const data = (first as Extract<Frame, { type: 'DATA' }>).data;
    expect(data.buffer).toBe(bytes.buffer);
    expect(data.byteOffset).toBe(bytes.byteOffset + 9);
    const input = Buffer.from(bytes);

    const reader2 = new FrameReader();
    reader2.push(input.subarray(0, 12));
    expect(reader2.next()).toBeUndefined();
    reader2.push(input.subarray(12));
    const spanned = reader2.next() as Extract<Frame, { type: 'DATA' }>;
    const second = reader2.next() as Extract<Frame, { type: 'DATA' }>;
    input.fill(0x2e);
    expect(spanned.data.toString()).toBe('hello');
    expect(second.data.toString()).toBe('.....');
  });

  it('accepts padding octets that are not zero (RFC 9113 §6.1: MAY be treated as an error)', () => {
    expect(readAll([frames.raw(FrameType.DATA, Flag.PADDED, 1, h('03 6162 00'))])).toMatchObject([
      { type: 'DATA', data: Buffer.alloc(0), padLength: 3, length: 4 },
    ]);
  });

  it('ignores the reserved bit of the stream id', () => {
    expect(readAll([h('000001 00 00 80000001 78')])).toMatchObject([{ type: 'DATA', streamId: 1 }]);
    expect(readAll([h('000004 08 00 80000000 80000005')])).toMatchObject([{ type: 'WINDOW_UPDATE', streamId: 0, increment: 5 }]);
  });

  it('keeps the unread tail when pushed again before draining', () => {
    const bytes = toBytes(frames.data(1, 'a'), frames.data(1, 'b'));
    const reader = new FrameReader();
    reader.push(bytes.subarray(0, 12));
    reader.push(bytes.subarray(12));
    expect(reader.next()).toMatchObject({ type: 'DATA', data: b('a') });
    expect(reader.next()).toMatchObject({ type: 'DATA', data: b('b') });
    expect(reader.next()).toBeUndefined();
  });
});

type Expect =
  | { kind: 'connection'; code: number }
  | { kind: 'stream'; code: number; streamId: number };
const conn = (code: number): Expect => ({ kind: 'connection', code });
const strm = (streamId: number, code: number): Expect => ({ kind: 'stream', code, streamId });
const { PROTOCOL_ERROR, FRAME_SIZE_ERROR, FLOW_CONTROL_ERROR } = ErrorCode;
const settingsEntry = (id: number, value: number): Buffer => {
  const p = Buffer.alloc(6);
  p.writeUInt16BE(id, 0);
  p.writeUInt32BE(value, 2);
  return p;
};

/** [rule, bytes, expected error]. Each error is the first and only result. */
const errors: [string, Buffer, Expect][] = [
  // RFC 9113 §4.2: frame size.
  ['DATA longer than SETTINGS_MAX_FRAME_SIZE', encodeData(1, Buffer.alloc(16385), false), conn(FRAME_SIZE_ERROR)],
  ['unknown type longer than SETTINGS_MAX_FRAME_SIZE', encodeRawFrame(0xfa, 0, 0, Buffer.alloc(16385)), conn(FRAME_SIZE_ERROR)],
  ['PRIORITY length 4', frames.raw(FrameType.PRIORITY, 0, 3, Buffer.alloc(4)), strm(3, FRAME_SIZE_ERROR)],
  ['PRIORITY length 6', frames.raw(FrameType.PRIORITY, 0, 3, Buffer.alloc(6)), strm(3, FRAME_SIZE_ERROR)],
  ['RST_STREAM length 3', frames.raw(FrameType.RST_STREAM, 0, 1, Buffer.alloc(3)), conn(FRAME_SIZE_ERROR)],
  ['RST_STREAM length 5', frames.raw(FrameType.RST_STREAM, 0, 1, Buffer.alloc(5)), conn(FRAME_SIZE_ERROR)],
  ['SETTINGS length 5', frames.raw(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), conn(FRAME_SIZE_ERROR)],
  ['SETTINGS length 7', frames.raw(FrameType.SETTINGS, 0, 0, Buffer.alloc(7)), conn(FRAME_SIZE_ERROR)],
  ['SETTINGS ACK with payload', frames.raw(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(6)), conn(FRAME_SIZE_ERROR)],
  ['PING length 7', frames.raw(FrameType.PING, 0, 0, Buffer.alloc(7)), conn(FRAME_SIZE_ERROR)],
  ['PING length 9', frames.raw(FrameType.PING, 0, 0, Buffer.alloc(9)), conn(FRAME_SIZE_ERROR)],
  ['GOAWAY length 7', frames.raw(FrameType.GOAWAY, 0, 0, Buffer.alloc(7)), conn(FRAME_SIZE_ERROR)],
  ['WINDOW_UPDATE length 3', frames.raw(FrameType.WINDOW_UPDATE, 0, 0, h('000001')), conn(FRAME_SIZE_ERROR)],
  ['WINDOW_UPDATE length 5 on a stream', frames.raw(FrameType.WINDOW_UPDATE, 0, 1, h('0000000100')), conn(FRAME_SIZE_ERROR)],
  ['HEADERS with PRIORITY flag and 4 octets', frames.raw(FrameType.HEADERS, Flag.PRIORITY | Flag.END_HEADERS, 1, Buffer.alloc(4)), conn(FRAME_SIZE_ERROR)],
  ['PUSH_PROMISE with 3 octets', frames.raw(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(3)), conn(FRAME_SIZE_ERROR)],
  ['DATA PADDED with no pad length octet', frames.raw(FrameType.DATA, Flag.PADDED, 1), conn(FRAME_SIZE_ERROR)],
  ['HEADERS PADDED with no pad length octet', frames.raw(FrameType.HEADERS, Flag.PADDED | Flag.END_HEADERS, 1), conn(FRAME_SIZE_ERROR)],
  // Stream 0 rules (RFC 9113 §6.1-§6.4, §6.6, §6.10).
  ['DATA on stream 0', frames.raw(FrameType.DATA, 0, 0, b('x')), conn(PROTOCOL_ERROR)],
  ['HEADERS on stream 0', frames.raw(FrameType.HEADERS, Flag.END_HEADERS, 0, h('82')), conn(PROTOCOL_ERROR)],
  ['PRIORITY on stream 0', encodePriority(0, { exclusive: false, dependency: 1, weight: 16 }), conn(PROTOCOL_ERROR)],
  ['RST_STREAM on stream 0', encodeRstStream(0, 0), conn(PROTOCOL_ERROR)],
  ['PUSH_PROMISE on stream 0', encodePushPromise(0, 2, b('')), conn(PROTOCOL_ERROR)],
  ['CONTINUATION on stream 0', encodeContinuation(0, b('x'), true), conn(PROTOCOL_ERROR)],
  // Connection-only frames on a stream (RFC 9113 §6.5, §6.7, §6.8).
  ['SETTINGS on stream 1', frames.raw(FrameType.SETTINGS, 0, 1), conn(PROTOCOL_ERROR)],
  ['SETTINGS ACK on stream 1', frames.raw(FrameType.SETTINGS, Flag.ACK, 1), conn(PROTOCOL_ERROR)],
  ['PING on stream 1', frames.raw(FrameType.PING, 0, 1, Buffer.alloc(8)), conn(PROTOCOL_ERROR)],
  ['GOAWAY on stream 1', frames.raw(FrameType.GOAWAY, 0, 1, Buffer.alloc(8)), conn(PROTOCOL_ERROR)],
  // Padding (RFC 9113 §6.1, §6.2, §6.6).
  ['DATA pad length = payload length', frames.raw(FrameType.DATA, Flag.PADDED, 1, h('04 6162 00')), conn(PROTOCOL_ERROR)],
  ['DATA pad length > payload length', frames.raw(FrameType.DATA, Flag.PADDED, 1, h('09 00')), conn(PROTOCOL_ERROR)],
  ['DATA one octet, pad length 1', frames.raw(FrameType.DATA, Flag.PADDED, 1, h('01')), conn(PROTOCOL_ERROR)],
  ['HEADERS pad length = payload length', frames.raw(FrameType.HEADERS, Flag.PADDED | Flag.END_HEADERS, 1, h('03 82 00')), conn(PROTOCOL_ERROR)],
  ['HEADERS padding into the priority fields', frames.raw(FrameType.HEADERS, Flag.PADDED | Flag.PRIORITY | Flag.END_HEADERS, 1, h('01 00000000 0f')), conn(PROTOCOL_ERROR)],
  ['PUSH_PROMISE padding into the promised id', frames.raw(FrameType.PUSH_PROMISE, Flag.PADDED | Flag.END_HEADERS, 1, h('01 00000002')), conn(PROTOCOL_ERROR)],
  // Other field rules.
  ['PUSH_PROMISE promising stream 0', frames.raw(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, h('00000000')), conn(PROTOCOL_ERROR)],
  ['WINDOW_UPDATE increment 0 on the connection', encodeWindowUpdate(0, 0), conn(PROTOCOL_ERROR)],
  ['WINDOW_UPDATE increment 0 on a stream', encodeWindowUpdate(5, 0), strm(5, PROTOCOL_ERROR)],
  ['WINDOW_UPDATE increment 0 with the reserved bit set', frames.raw(FrameType.WINDOW_UPDATE, 0, 5, h('80000000')), strm(5, PROTOCOL_ERROR)],
  ['PRIORITY depending on itself', encodePriority(3, { exclusive: false, dependency: 3, weight: 16 }), strm(3, PROTOCOL_ERROR)],
  ['HEADERS depending on itself', encodeHeaders(3, h('82'), { priority: { exclusive: true, dependency: 3, weight: 16 } }), conn(PROTOCOL_ERROR)],
  // SETTINGS values (RFC 9113 §6.5.2, RFC 8441 §3).
  ['SETTINGS_ENABLE_PUSH 2', frames.raw(FrameType.SETTINGS, 0, 0, settingsEntry(SettingId.ENABLE_PUSH, 2)), conn(PROTOCOL_ERROR)],
  ['SETTINGS_INITIAL_WINDOW_SIZE 2^31', frames.raw(FrameType.SETTINGS, 0, 0, settingsEntry(SettingId.INITIAL_WINDOW_SIZE, 2 ** 31)), conn(FLOW_CONTROL_ERROR)],
  ['SETTINGS_MAX_FRAME_SIZE 16383', frames.raw(FrameType.SETTINGS, 0, 0, settingsEntry(SettingId.MAX_FRAME_SIZE, 16383)), conn(PROTOCOL_ERROR)],
  ['SETTINGS_MAX_FRAME_SIZE 2^24', frames.raw(FrameType.SETTINGS, 0, 0, settingsEntry(SettingId.MAX_FRAME_SIZE, 2 ** 24)), conn(PROTOCOL_ERROR)],
  ['SETTINGS_ENABLE_CONNECT_PROTOCOL 2', frames.raw(FrameType.SETTINGS, 0, 0, settingsEntry(SettingId.ENABLE_CONNECT_PROTOCOL, 2)), conn(PROTOCOL_ERROR)],
  // CONTINUATION ordering (RFC 9113 §6.10).
  ['CONTINUATION without a header block', encodeContinuation(1, h('82'), true), conn(PROTOCOL_ERROR)],
  ['CONTINUATION after a complete header block', toBytes(encodeHeaders(1, h('82')), encodeContinuation(1, h('84'), true)), conn(PROTOCOL_ERROR)],
  ['DATA inside a header block', toBytes(frames.headers(1).block(h('82')).endHeaders(false), frames.data(1, 'x')), conn(PROTOCOL_ERROR)],
  ['PING inside a header block', toBytes(frames.headers(1).block(h('82')).endHeaders(false), frames.ping()), conn(PROTOCOL_ERROR)],
  ['HEADERS inside a header block', toBytes(frames.headers(1).block(h('82')).endHeaders(false), encodeHeaders(3, h('82'))), conn(PROTOCOL_ERROR)],
  ['unknown frame type inside a header block', toBytes(frames.headers(1).block(h('82')).endHeaders(false), frames.raw(0xfa, 0, 0)), conn(PROTOCOL_ERROR)],
  ['CONTINUATION on another stream', toBytes(frames.headers(1).block(h('82')).endHeaders(false), encodeContinuation(3, h('84'), true)), conn(PROTOCOL_ERROR)],
  ['CONTINUATION on stream 0 inside a block', toBytes(frames.headers(1).block(h('82')).endHeaders(false), encodeContinuation(0, h('84'), true)), conn(PROTOCOL_ERROR)],
  ['DATA after PUSH_PROMISE without END_HEADERS', toBytes(frames.pushPromise(1, 2, h('82')).endHeaders(false), frames.data(1, 'x')), conn(PROTOCOL_ERROR)],
  [
    'second CONTINUATION missing',
    toBytes(frames.headers(1).block(h('82')).endHeaders(false), frames.continuation(1, h('84')).endHeaders(false), frames.settingsAck()),
    conn(PROTOCOL_ERROR),
  ],
];

describe('FrameReader: errors', () => {
  it.each(errors)('%s', (_name, bytes, expected) => {
    const got = readAll([bytes]).filter((r) => r.kind !== 'frame');
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject(expected);
    expect(readAll([...bytes].map((x) => Buffer.from([x]))).filter((r) => r.kind !== 'frame')).toMatchObject([expected]);
  });

  it('detects an oversized frame from its header alone', () => {
    const header = encodeData(1, Buffer.alloc(20000), false).subarray(0, 9);
    expect(readAll([header])).toMatchObject([{ kind: 'connection', code: FRAME_SIZE_ERROR }]);
  });

  it('follows changes of the max frame size', () => {
    const big = encodeData(1, Buffer.alloc(20000), false);
    const reader = new FrameReader({ maxFrameSize: 32768 });
    expect(reader.maxFrameSize).toBe(32768);
    reader.push(big);
    expect(reader.next()).toMatchObject({ type: 'DATA', length: 20000 });
    reader.setMaxFrameSize(16384);
    reader.push(big);
    expect(reader.next()).toMatchObject({ kind: 'connection', code: FRAME_SIZE_ERROR });
    expect(readAll([encodeData(1, Buffer.alloc(16384), false)])).toMatchObject([{ type: 'DATA', length: 16384 }]);
  });

  it('goes on after a stream error', () => {
    const bytes = toBytes(
      frames.raw(FrameType.PRIORITY, 0, 3, Buffer.alloc(4)),
      encodeWindowUpdate(5, 0),
      frames.data(1, 'ok'),
    );
    expect(readAll([bytes])).toMatchObject([
      { kind: 'stream', streamId: 3, code: FRAME_SIZE_ERROR },
      { kind: 'stream', streamId: 5, code: PROTOCOL_ERROR },
      { kind: 'frame', type: 'DATA', data: b('ok') },
    ]);
  });

  it('stops for good at a connection error', () => {
    const reader = new FrameReader();
    reader.push(toBytes(frames.raw(FrameType.DATA, 0, 0, b('x')), frames.data(1, 'y')));
    const err = reader.next();
    expect(err).toMatchObject({ kind: 'connection', code: PROTOCOL_ERROR });
    expect(reader.next()).toBe(err);
    reader.push(toBytes(frames.data(1, 'z')));
    expect(reader.next()).toBe(err);
    expect(reader.error).toBe(err);
  });

  it('accepts interleaved-free header blocks and tracks the open block', () => {
    const reader = new FrameReader();
    reader.push(toBytes(frames.headers(1).block(h('82')).endHeaders(false)));
    expect(reader.next()).toMatchObject({ type: 'HEADERS', endHeaders: false });
    expect(reader.headerBlockStreamId).toBe(1);
    reader.push(toBytes(frames.continuation(1, h('84')).endHeaders(false), frames.continuation(1, h('86'))));
    expect(reader.next()).toMatchObject({ type: 'CONTINUATION', endHeaders: false });
    expect(reader.next()).toMatchObject({ type: 'CONTINUATION', endHeaders: true });
    expect(reader.headerBlockStreamId).toBe(0);
    reader.push(toBytes(frames.pushPromise(3, 2, h('82')).endHeaders(false), frames.continuation(3, h('84'))));
    expect(reader.next()).toMatchObject({ type: 'PUSH_PROMISE', promisedStreamId: 2, endHeaders: false });
    expect(reader.next()).toMatchObject({ type: 'CONTINUATION', streamId: 3, endHeaders: true });
  });
});

describe('client connection preface', () => {
  const settings = encodeSettings([{ id: SettingId.MAX_CONCURRENT_STREAMS, value: 100 }]);
  const input = Buffer.concat([CLIENT_PREFACE, settings]);

  it('is 24 octets', () => {
    expect(CLIENT_PREFACE.length).toBe(24);
    expect(CLIENT_PREFACE.toString('latin1')).toBe('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  });

  it('is checked and skipped by the reader, split at every offset', () => {
    for (let i = 0; i <= input.length; i++) {
      const got = readAll([input.subarray(0, i), input.subarray(i)], { expectClientPreface: true, requireSettingsFirst: true });
      expect(got).toMatchObject([{ type: 'SETTINGS', entries: [{ id: 3, value: 100 }] }]);
    }
  });

  it.each([
    ['HTTP/1.1 request', b('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['last octet wrong', Buffer.concat([CLIENT_PREFACE.subarray(0, 23), b('X')])],
    ['frames without a preface', settings],
  ])('mismatch (%s) is a connection PROTOCOL_ERROR', (_name, bytes) => {
    expect(readAll([bytes], { expectClientPreface: true })).toMatchObject([{ kind: 'connection', code: PROTOCOL_ERROR }]);
  });

  it('PrefaceMatcher consumes only the preface octets', () => {
    const m = new PrefaceMatcher();
    expect(m.feed(input.subarray(0, 10))).toBe(10);
    expect(m.done).toBe(false);
    expect(m.feed(input, 10)).toBe(14);
    expect(m.done).toBe(true);
    expect(m.feed(input, 24)).toBe(0);
    expect(new PrefaceMatcher().feed(b('PRX'))).toMatchObject({ kind: 'connection', code: PROTOCOL_ERROR });
  });

  it.each([
    ['PING first', encodePing(Buffer.alloc(8), false)],
    ['SETTINGS ACK first', encodeSettingsAck()],
    ['HEADERS first', encodeHeaders(1, h('82'))],
  ])('requireSettingsFirst: %s is a connection PROTOCOL_ERROR', (_name, bytes) => {
    expect(readAll([bytes], { requireSettingsFirst: true })).toMatchObject([{ kind: 'connection', code: PROTOCOL_ERROR }]);
  });

  it('requireSettingsFirst applies to the first frame only', () => {
    const got = readAll([toBytes(frames.settings(), frames.ping(), frames.settingsAck())], { requireSettingsFirst: true });
    expect(got.map((r) => (r.kind === 'frame' ? r.type : r.kind))).toEqual(['SETTINGS', 'PING', 'SETTINGS']);
  });
});

describe('HeaderBlockAssembler', () => {
  const limits = { maxBlockSize: 100, maxContinuationFrames: 2 };
  const headers = (fragment: Buffer, endHeaders: boolean): HeadersFrame => ({
    kind: 'frame', type: 'HEADERS', streamId: 1, flags: 0, length: fragment.length, endStream: false,
    endHeaders, priority: undefined, fragment, padLength: 0,
  });
  const cont = (fragment: Buffer, endHeaders: boolean) => ({
    kind: 'frame' as const, type: 'CONTINUATION' as const, streamId: 1, flags: 0, length: fragment.length, endHeaders, fragment,
  });

  it('completes a single HEADERS frame without copying', () => {
    const a = new HeaderBlockAssembler(limits);
    const frame = headers(b('abc'), true);
    const r = a.begin(frame);
    expect(r).toEqual({ kind: 'complete', first: frame, fragments: [frame.fragment], size: 3 });
    if (r.kind === 'complete') expect(r.fragments[0]).toBe(frame.fragment);
  });

  it('collects HEADERS + CONTINUATION fragments in order', () => {
    const a = new HeaderBlockAssembler(limits);
    expect(a.begin(headers(b('a'), false))).toEqual({ kind: 'partial' });
    expect(a.add(cont(b('bc'), false))).toEqual({ kind: 'partial' });
    expect(a.add(cont(b('d'), true))).toMatchObject({ kind: 'complete', fragments: [b('a'), b('bc'), b('d')], size: 4 });
  });

  it('assembles PUSH_PROMISE blocks too', () => {
    const a = new HeaderBlockAssembler(limits);
    const pp: PushPromiseFrame = {
      kind: 'frame', type: 'PUSH_PROMISE', streamId: 1, flags: 0, length: 5, endHeaders: false,
      promisedStreamId: 2, fragment: b('x'), padLength: 0,
    };
    expect(a.begin(pp)).toEqual({ kind: 'partial' });
    expect(a.add(cont(b('y'), true))).toMatchObject({ kind: 'complete', first: pp, fragments: [b('x'), b('y')] });
  });

  it('reports too many CONTINUATION frames, drops the rest of the block, then recovers', () => {
    const a = new HeaderBlockAssembler(limits);
    a.begin(headers(b('a'), false));
    a.add(cont(b('b'), false));
    a.add(cont(b('c'), false));
    expect(a.add(cont(b('d'), false))).toEqual({ kind: 'limit-exceeded', streamId: 1, reason: 'continuation-count' });
    expect(a.add(cont(b('e'), false))).toEqual({ kind: 'partial' });
    expect(a.add(cont(b('f'), true))).toEqual({ kind: 'partial' });
    expect(a.begin(headers(b('g'), true))).toMatchObject({ kind: 'complete', fragments: [b('g')] });
  });

  it('reports a block over the size limit, in the first frame or later', () => {
    const a = new HeaderBlockAssembler(limits);
    expect(a.begin(headers(Buffer.alloc(101), true))).toEqual({ kind: 'limit-exceeded', streamId: 1, reason: 'block-size' });
    expect(a.begin(headers(Buffer.alloc(100), false))).toEqual({ kind: 'partial' });
    expect(a.add(cont(Buffer.alloc(1), true))).toEqual({ kind: 'limit-exceeded', streamId: 1, reason: 'block-size' });
    expect(a.begin(headers(Buffer.alloc(100), true))).toMatchObject({ kind: 'complete', size: 100 });
  });

  it('feeds the HPACK decoder with the fragments of a split block', () => {
    const block = frames.headerBlock([[':method', 'GET'], [':path', '/a/long/path'], ['x-custom', 'value']]);
    const bytes = encodeHeaders(1, block, { maxFrameSize: 4 });
    const asm = new HeaderBlockAssembler({ maxBlockSize: 1000, maxContinuationFrames: 100 });
    const hpack = new HpackDecoder();
    const results = readAll([bytes]).map((r) => {
      if (r.kind !== 'frame') throw new Error('unexpected error');
      if (r.type === 'HEADERS') return asm.begin(r);
      if (r.type === 'CONTINUATION') return asm.add(r);
      throw new Error('unexpected frame');
    });
    const last = results[results.length - 1]!;
    expect(last.kind).toBe('complete');
    if (last.kind !== 'complete') return;
    expect(hpack.decode(last.fragments)).toMatchObject({
      kind: 'headers',
      headers: [[':method', 'GET'], [':path', '/a/long/path'], ['x-custom', 'value']],
    });
  });
});
