import { constants } from 'node:http2';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  ErrorCode,
  FRAME_TYPE_NAMES,
  Flag,
  FrameType,
  SettingId,
  applySettingsEntries,
  connectionError,
  errorCodeName,
  isH2Error,
  settingsToEntries,
  streamError,
} from '../../../../codecs/http2/frame.js';
import type { Http2Settings } from '../../../../codecs/http2/frame.js';

describe('frame constants', () => {
  it('frame type ids follow RFC 9113 §6 and FRAME_TYPE_NAMES', () => {
    expect(Object.entries(FrameType)).toEqual(FRAME_TYPE_NAMES.map((name, id) => [name, id]));
  });

  it.each(Object.entries(ErrorCode))('error code %s matches node:http2', (name, value) => {
    expect(value).toBe(constants[`NGHTTP2_${name}` as keyof typeof constants]);
  });

  it.each([
    ['HEADER_TABLE_SIZE', SettingId.HEADER_TABLE_SIZE, constants.NGHTTP2_SETTINGS_HEADER_TABLE_SIZE],
    ['ENABLE_PUSH', SettingId.ENABLE_PUSH, constants.NGHTTP2_SETTINGS_ENABLE_PUSH],
    ['MAX_CONCURRENT_STREAMS', SettingId.MAX_CONCURRENT_STREAMS, constants.NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS],
    ['INITIAL_WINDOW_SIZE', SettingId.INITIAL_WINDOW_SIZE, constants.NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE],
    ['MAX_FRAME_SIZE', SettingId.MAX_FRAME_SIZE, constants.NGHTTP2_SETTINGS_MAX_FRAME_SIZE],
    ['MAX_HEADER_LIST_SIZE', SettingId.MAX_HEADER_LIST_SIZE, constants.NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE],
    // Present at runtime, missing from @types/node 20.
    ['ENABLE_CONNECT_PROTOCOL', SettingId.ENABLE_CONNECT_PROTOCOL, (constants as unknown as Record<string, number>)['NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL']],
  ])('setting %s matches node:http2', (_name, ours, expected) => {
    expect(ours).toBe(expected);
  });

  it.each([
    ['END_STREAM', Flag.END_STREAM, constants.NGHTTP2_FLAG_END_STREAM],
    ['ACK', Flag.ACK, constants.NGHTTP2_FLAG_ACK],
    ['END_HEADERS', Flag.END_HEADERS, constants.NGHTTP2_FLAG_END_HEADERS],
    ['PADDED', Flag.PADDED, constants.NGHTTP2_FLAG_PADDED],
    ['PRIORITY', Flag.PRIORITY, constants.NGHTTP2_FLAG_PRIORITY],
  ])('flag %s matches node:http2', (_name, ours, expected) => {
    expect(ours).toBe(expected);
  });

  it('names error codes, unknown ones in hex', () => {
    expect(errorCodeName(ErrorCode.PROTOCOL_ERROR)).toBe('PROTOCOL_ERROR');
    expect(errorCodeName(ErrorCode.HTTP_1_1_REQUIRED)).toBe('HTTP_1_1_REQUIRED');
    expect(errorCodeName(0xff)).toBe('0xff');
  });

  it('builds tagged errors', () => {
    const c = connectionError(ErrorCode.PROTOCOL_ERROR, 'x');
    const s = streamError(3, ErrorCode.CANCEL, 'y');
    expect(c).toEqual({ kind: 'connection', code: 1, message: 'x' });
    expect(s).toEqual({ kind: 'stream', streamId: 3, code: 8, message: 'y' });
    expect(isH2Error(c) && isH2Error(s)).toBe(true);
    expect(isH2Error({ kind: 'frame' })).toBe(false);
  });
});

describe('settings helpers', () => {
  it('converts named settings to entries in id order, skipping infinite values', () => {
    expect(
      settingsToEntries({
        maxFrameSize: 32768,
        enablePush: false,
        headerTableSize: 0,
        maxConcurrentStreams: Number.POSITIVE_INFINITY,
        enableConnectProtocol: true,
      }),
    ).toEqual([
      { id: 1, value: 0 },
      { id: 2, value: 0 },
      { id: 5, value: 32768 },
      { id: 8, value: 1 },
    ]);
  });

  it('applies entries in order, ignoring unknown ids', () => {
    const s: Http2Settings = { ...DEFAULT_SETTINGS };
    applySettingsEntries(s, [
      { id: SettingId.INITIAL_WINDOW_SIZE, value: 1 },
      { id: 0x99, value: 7 },
      { id: SettingId.INITIAL_WINDOW_SIZE, value: 2 },
      { id: SettingId.ENABLE_PUSH, value: 0 },
      { id: SettingId.MAX_HEADER_LIST_SIZE, value: 8192 },
    ]);
    expect(s).toEqual({ ...DEFAULT_SETTINGS, initialWindowSize: 2, enablePush: false, maxHeaderListSize: 8192 });
  });
});
