import { describe, expect, it } from 'vitest';
import { ErrorCode, SettingId } from '../../../../codecs/http2/frame.js';
import {
  encodeContinuation,
  encodeData,
  encodeDataFrameHeader,
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
  writeFrameHeader,
} from '../../../../codecs/http2/frame-writer.js';

const hex = (s: string): string => s.replace(/\s+/g, '');
const abc = Buffer.from('abc');

describe('frame writer: exact bytes', () => {
  it.each<[string, () => Buffer, string]>([
    ['SETTINGS ACK', () => encodeSettingsAck(), '000000 04 01 00000000'],
    ['SETTINGS empty', () => encodeSettings([]), '000000 04 00 00000000'],
    [
      'SETTINGS two entries',
      () =>
        encodeSettings([
          { id: SettingId.MAX_CONCURRENT_STREAMS, value: 100 },
          { id: SettingId.INITIAL_WINDOW_SIZE, value: 65535 },
        ]),
      '00000c 04 00 00000000 0003 00000064 0004 0000ffff',
    ],
    ['SETTINGS value 2^32-1', () => encodeSettings([{ id: 0xabcd, value: 0xffffffff }]), '000006 04 00 00000000 abcd ffffffff'],
    ['DATA END_STREAM', () => encodeData(1, Buffer.from('hello'), true), '000005 00 01 00000001 68656c6c6f'],
    ['DATA empty', () => encodeData(3, Buffer.alloc(0), false), '000000 00 00 00000003'],
    ['DATA padded 2', () => encodeData(1, Buffer.from('hi'), false, 2), '000005 00 08 00000001 02 6869 0000'],
    ['DATA padded 0', () => encodeData(1, Buffer.from('hi'), true, 0), '000003 00 09 00000001 00 6869'],
    ['DATA header only', () => encodeDataFrameHeader(1, 16384, false), '004000 00 00 00000001'],
    ['DATA header only END_STREAM', () => encodeDataFrameHeader(0x7fffffff, 0xffffff, true), 'ffffff 00 01 7fffffff'],
    ['HEADERS END_STREAM', () => encodeHeaders(3, abc, { endStream: true }), '000003 01 05 00000003 616263'],
    ['HEADERS no flags but END_HEADERS', () => encodeHeaders(1, abc), '000003 01 04 00000001 616263'],
    [
      'HEADERS priority exclusive weight 256 padded 1',
      () => encodeHeaders(3, abc, { priority: { exclusive: true, dependency: 1, weight: 256 }, padding: 1 }),
      '00000a 01 2c 00000003 01 80000001 ff 616263 00',
    ],
    [
      'HEADERS priority weight 16',
      () => encodeHeaders(5, abc, { priority: { exclusive: false, dependency: 3, weight: 16 } }),
      '000008 01 24 00000005 00000003 0f 616263',
    ],
    [
      'HEADERS split into HEADERS + 2 CONTINUATION',
      () => encodeHeaders(1, Buffer.from('abcde'), { endStream: true, maxFrameSize: 2 }),
      '000002 01 01 00000001 6162  000002 09 00 00000001 6364  000001 09 04 00000001 65',
    ],
    [
      'HEADERS split exactly at max frame size',
      () => encodeHeaders(1, Buffer.from('abcd'), { maxFrameSize: 2 }),
      '000002 01 00 00000001 6162  000002 09 04 00000001 6364',
    ],
    [
      'HEADERS padded + priority leave 1 octet of block in the first frame',
      () =>
        encodeHeaders(1, abc, { maxFrameSize: 8, padding: 1, priority: { exclusive: false, dependency: 0, weight: 1 } }),
      '000008 01 28 00000001 01 00000000 00 61 00  000002 09 04 00000001 6263',
    ],
    ['PRIORITY', () => encodePriority(5, { exclusive: false, dependency: 3, weight: 16 }), '000005 02 00 00000005 00000003 0f'],
    ['PRIORITY exclusive', () => encodePriority(5, { exclusive: true, dependency: 0x7fffffff, weight: 1 }), '000005 02 00 00000005 ffffffff 00'],
    ['RST_STREAM CANCEL', () => encodeRstStream(1, ErrorCode.CANCEL), '000004 03 00 00000001 00000008'],
    ['RST_STREAM unknown code', () => encodeRstStream(1, 0xffffffff), '000004 03 00 00000001 ffffffff'],
    ['PUSH_PROMISE', () => encodePushPromise(1, 2, Buffer.from('ab')), '000006 05 04 00000001 00000002 6162'],
    ['PUSH_PROMISE padded', () => encodePushPromise(1, 4, Buffer.from('ab'), { padding: 3 }), '00000a 05 0c 00000001 03 00000004 6162 000000'],
    [
      'PUSH_PROMISE split',
      () => encodePushPromise(3, 2, Buffer.from('abc'), { maxFrameSize: 6 }),
      '000006 05 00 00000003 00000002 6162  000001 09 04 00000003 63',
    ],
    ['PING', () => encodePing(Buffer.from('0102030405060708', 'hex'), false), '000008 06 00 00000000 0102030405060708'],
    ['PING ACK', () => encodePing(Buffer.from('0102030405060708', 'hex'), true), '000008 06 01 00000000 0102030405060708'],
    ['PING short data zero-filled', () => encodePing(Buffer.from('ab'), false), '000008 06 00 00000000 6162000000000000'],
    ['GOAWAY', () => encodeGoaway(7, ErrorCode.PROTOCOL_ERROR, Buffer.from('hi')), '00000a 07 00 00000000 00000007 00000001 6869'],
    ['GOAWAY no debug', () => encodeGoaway(0, ErrorCode.NO_ERROR), '000008 07 00 00000000 00000000 00000000'],
    ['WINDOW_UPDATE connection', () => encodeWindowUpdate(0, 65535), '000004 08 00 00000000 0000ffff'],
    ['WINDOW_UPDATE max', () => encodeWindowUpdate(9, 0x7fffffff), '000004 08 00 00000009 7fffffff'],
    ['CONTINUATION END_HEADERS', () => encodeContinuation(1, Buffer.from('x'), true), '000001 09 04 00000001 78'],
    ['CONTINUATION', () => encodeContinuation(1, Buffer.from('x'), false), '000001 09 00 00000001 78'],
    ['raw unknown type', () => encodeRawFrame(0xfa, 0xff, 3, Buffer.from('z')), '000001 fa ff 00000003 7a'],
    ['reserved bit is never sent', () => encodeWindowUpdate(0x80000001, 0x80000001), '000004 08 00 00000001 00000001'],
  ])('%s', (_name, build, expected) => {
    expect(build().toString('hex')).toBe(hex(expected));
  });

  it('writes a frame header into a larger buffer at an offset', () => {
    const buf = Buffer.alloc(12, 0xee);
    writeFrameHeader(buf, 2, 0x010203, 0x04, 0x05, 0x06070809);
    expect(buf.toString('hex')).toBe('eeee010203040506070809ee');
  });

  it('splits a large block into frames of at most the max frame size', () => {
    const block = Buffer.alloc(16384 * 2 + 10, 0x61);
    const out = encodeHeaders(1, block, { maxFrameSize: 16384 });
    expect(out.length).toBe(block.length + 3 * 9);
    expect(out.readUIntBE(0, 3)).toBe(16384);
    expect(out.readUIntBE(9 + 16384, 3)).toBe(16384);
    expect(out[9 + 16384 + 3]).toBe(9);
    expect(out.readUIntBE(2 * (9 + 16384), 3)).toBe(10);
    expect(out[2 * (9 + 16384) + 4]).toBe(4);
  });
});
