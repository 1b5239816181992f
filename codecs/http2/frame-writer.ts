/**
 * HTTP/2 frame serialization (RFC 9113 §4.1, §6): one function per frame type, each returning a
 * Buffer with the exact wire bytes. Pure; every output is `allocUnsafe` and fully written.
 *
 * Preconditions (callers' contract, not checked on this hot path): stream ids and window
 * increments fit in 31 bits, padding is 0..255, and payloads fit the peer's
 * SETTINGS_MAX_FRAME_SIZE, except header blocks, which `encodeHeaders` / `encodePushPromise`
 * split into CONTINUATION frames themselves.
 */
import { Flag, FRAME_HEADER_LENGTH, FrameType, MIN_MAX_FRAME_SIZE } from './frame.js';
import type { Frame, Priority, SettingsEntry } from './frame.js';

/** Writes a 9-octet frame header at `offset` (reserved bit cleared). */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  target[offset] = (length >>> 16) & 0xff;
  target[offset + 1] = (length >>> 8) & 0xff;
  target[offset + 2] = length & 0xff;
  target[offset + 3] = type;
  target[offset + 4] = flags;
  target.writeUInt32BE(streamId & 0x7fffffff, offset + 5);
}

function frameWithHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + length);
  writeFrameHeader(buf, 0, length, type, flags, streamId);
  return buf;
}

/**
 * The 9-octet header of an unpadded DATA frame carrying `length` octets: send it followed by the
 * payload buffer itself, so the payload is never copied.
 */
export function encodeDataFrameHeader(streamId: number, length: number, endStream: boolean): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  writeFrameHeader(buf, 0, length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId);
  return buf;
}

/**
 * A whole DATA frame (copies `data`). With `padding` (0..255, even 0) the PADDED flag is set and
 * that many zero octets follow the data (RFC 9113 §6.1).
 */
export function encodeData(
  streamId: number,
  data: Buffer,
  endStream: boolean,
  padding?: number,
): Buffer {
  const padded = padding !== undefined;
  const padOctets = padded ? 1 + padding : 0;
  const flags = (endStream ? Flag.END_STREAM : 0) | (padded ? Flag.PADDED : 0);
  const buf = frameWithHeader(padOctets + data.length, FrameType.DATA, flags, streamId);
  let o = FRAME_HEADER_LENGTH;
  if (padded) buf[o++] = padding;
  o += data.copy(buf, o);
  if (padded) buf.fill(0, o, o + padding);
  return buf;
}

/** Options of a header block frame sequence. */
export interface HeaderBlockOptions {
  /** Peer's SETTINGS_MAX_FRAME_SIZE: the block is split into CONTINUATION frames to fit. */
  readonly maxFrameSize?: number;
  /** Pad the first frame with this many zero octets (sets PADDED, even for 0). */
  readonly padding?: number;
}

export interface HeadersOptions extends HeaderBlockOptions {
  readonly endStream?: boolean;
  /** Sets the PRIORITY flag and fields (weight 1..256). */
  readonly priority?: Priority;
}

function writePriority(buf: Buffer, o: number, priority: Priority): void {
  buf.writeUInt32BE(((priority.exclusive ? 0x80000000 : 0) | priority.dependency) >>> 0, o);
  buf[o + 4] = priority.weight - 1;
}

/**
 * HEADERS or PUSH_PROMISE (`type`) followed by as many CONTINUATION frames as the block needs,
 * in one buffer. Leaves `fixed` octets (priority fields or promised stream id) at
 * {@link fixedFieldsOffset} for the caller to fill.
 */
function encodeHeaderBlock(
  type: number,
  streamId: number,
  block: Buffer,
  baseFlags: number,
  fixed: number,
  options: HeaderBlockOptions,
): Buffer {
  const maxFrameSize = options.maxFrameSize ?? MIN_MAX_FRAME_SIZE;
  const padding = options.padding;
  const padded = padding !== undefined;
  const padOctets = padded ? 1 + padding : 0;
  const firstLen = Math.min(block.length, maxFrameSize - padOctets - fixed);
  const rest = block.length - firstLen;
  const continuations = rest === 0 ? 0 : Math.ceil(rest / maxFrameSize);
  const total =
    FRAME_HEADER_LENGTH * (1 + continuations) + padOctets + fixed + block.length;
  const buf = Buffer.allocUnsafe(total);
  const flags = baseFlags | (continuations === 0 ? Flag.END_HEADERS : 0) | (padded ? Flag.PADDED : 0);
  writeFrameHeader(buf, 0, padOctets + fixed + firstLen, type, flags, streamId);
  let o = FRAME_HEADER_LENGTH;
  if (padded) buf[o++] = padding;
  o += fixed;
  o += block.copy(buf, o, 0, firstLen);
  if (padded) {
    buf.fill(0, o, o + padding);
    o += padding;
  }
  let b = firstLen;
  for (let i = 0; i < continuations; i++) {
    const n = Math.min(maxFrameSize, block.length - b);
    const last = i === continuations - 1;
    writeFrameHeader(buf, o, n, FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, streamId);
    o += FRAME_HEADER_LENGTH;
    o += block.copy(buf, o, b, b + n);
    b += n;
  }
  return buf;
}

function fixedFieldsOffset(options: HeaderBlockOptions): number {
  return FRAME_HEADER_LENGTH + (options.padding !== undefined ? 1 : 0);
}

/**
 * HEADERS carrying the encoded header `block`, split into HEADERS + CONTINUATION* when it does not
 * fit `maxFrameSize` (RFC 9113 §6.2, §6.10). END_STREAM goes on the HEADERS frame, END_HEADERS on
 * the last frame; padding and priority fields only on the HEADERS frame.
 */
export function encodeHeaders(streamId: number, block: Buffer, options: HeadersOptions = {}): Buffer {
  const priority = options.priority;
  const baseFlags =
    (options.endStream === true ? Flag.END_STREAM : 0) | (priority !== undefined ? Flag.PRIORITY : 0);
  const buf = encodeHeaderBlock(
    FrameType.HEADERS, streamId, block, baseFlags, priority !== undefined ? 5 : 0, options,
  );
  if (priority !== undefined) writePriority(buf, fixedFieldsOffset(options), priority);
  return buf;
}

/** PUSH_PROMISE (+ CONTINUATION*) promising `promisedStreamId` (RFC 9113 §6.6). */
export function encodePushPromise(
  streamId: number,
  promisedStreamId: number,
  block: Buffer,
  options: HeaderBlockOptions = {},
): Buffer {
  const buf = encodeHeaderBlock(FrameType.PUSH_PROMISE, streamId, block, 0, 4, options);
  buf.writeUInt32BE(promisedStreamId & 0x7fffffff, fixedFieldsOffset(options));
  return buf;
}

/** One CONTINUATION frame (RFC 9113 §6.10). */
export function encodeContinuation(streamId: number, fragment: Buffer, endHeaders: boolean): Buffer {
  const buf = frameWithHeader(
    fragment.length, FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId,
  );
  fragment.copy(buf, FRAME_HEADER_LENGTH);
  return buf;
}

/** PRIORITY (RFC 9113 §6.3). */
export function encodePriority(streamId: number, priority: Priority): Buffer {
  const buf = frameWithHeader(5, FrameType.PRIORITY, 0, streamId);
  writePriority(buf, FRAME_HEADER_LENGTH, priority);
  return buf;
}

/** RST_STREAM (RFC 9113 §6.4). */
export function encodeRstStream(streamId: number, errorCode: number): Buffer {
  const buf = frameWithHeader(4, FrameType.RST_STREAM, 0, streamId);
  buf.writeUInt32BE(errorCode >>> 0, FRAME_HEADER_LENGTH);
  return buf;
}

/** SETTINGS with the given entries, in order (RFC 9113 §6.5). */
export function encodeSettings(entries: readonly SettingsEntry[]): Buffer {
  const buf = frameWithHeader(entries.length * 6, FrameType.SETTINGS, 0, 0);
  let o = FRAME_HEADER_LENGTH;
  for (const { id, value } of entries) {
    buf.writeUInt16BE(id, o);
    buf.writeUInt32BE(value >>> 0, o + 2);
    o += 6;
  }
  return buf;
}

/** SETTINGS with ACK (RFC 9113 §6.5.3): `000000040100000000`. */
export function encodeSettingsAck(): Buffer {
  return frameWithHeader(0, FrameType.SETTINGS, Flag.ACK, 0);
}

/** PING (RFC 9113 §6.7); `opaqueData` is 8 octets (shorter is zero-filled, longer truncated). */
export function encodePing(opaqueData: Buffer, ack: boolean): Buffer {
  const buf = frameWithHeader(8, FrameType.PING, ack ? Flag.ACK : 0, 0);
  const n = opaqueData.copy(buf, FRAME_HEADER_LENGTH, 0, 8);
  if (n < 8) buf.fill(0, FRAME_HEADER_LENGTH + n);
  return buf;
}

/** GOAWAY (RFC 9113 §6.8). */
export function encodeGoaway(lastStreamId: number, errorCode: number, debugData?: Buffer): Buffer {
  const debugLength = debugData === undefined ? 0 : debugData.length;
  const buf = frameWithHeader(8 + debugLength, FrameType.GOAWAY, 0, 0);
  buf.writeUInt32BE(lastStreamId & 0x7fffffff, FRAME_HEADER_LENGTH);
  buf.writeUInt32BE(errorCode >>> 0, FRAME_HEADER_LENGTH + 4);
  if (debugData !== undefined) debugData.copy(buf, FRAME_HEADER_LENGTH + 8);
  return buf;
}

/** WINDOW_UPDATE (RFC 9113 §6.9); stream 0 for the connection window. */
export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const buf = frameWithHeader(4, FrameType.WINDOW_UPDATE, 0, streamId);
  buf.writeUInt32BE(increment & 0x7fffffff, FRAME_HEADER_LENGTH);
  return buf;
}

/** A frame of any type id with a raw payload, flags written as given (extensions, tests). */
export function encodeRawFrame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const buf = frameWithHeader(payload.length, type, flags, streamId);
  payload.copy(buf, FRAME_HEADER_LENGTH);
  return buf;
}

/**
 * Serializes one typed frame exactly as the reader would have produced it: `flags` is written
 * verbatim (so PADDED decides padding, with `padLength` zero octets) and header blocks are not
 * split. The inverse of FrameReader, used by tests and tools rather than the session.
 */
export function encodeFrame(frame: Frame): Buffer {
  switch (frame.type) {
    case 'DATA':
      return withFlags(encodeData(frame.streamId, frame.data, false, paddingOf(frame)), frame.flags);
    case 'HEADERS':
      return withFlags(
        encodeHeaders(frame.streamId, frame.fragment, {
          maxFrameSize: Number.MAX_SAFE_INTEGER,
          padding: paddingOf(frame),
          ...(frame.priority !== undefined ? { priority: frame.priority } : {}),
        }),
        frame.flags,
      );
    case 'PRIORITY':
      return withFlags(encodePriority(frame.streamId, frame.priority), frame.flags);
    case 'RST_STREAM':
      return withFlags(encodeRstStream(frame.streamId, frame.errorCode), frame.flags);
    case 'SETTINGS':
      return withFlags(encodeSettings(frame.entries), frame.flags);
    case 'PUSH_PROMISE':
      return withFlags(
        encodePushPromise(frame.streamId, frame.promisedStreamId, frame.fragment, {
          maxFrameSize: Number.MAX_SAFE_INTEGER,
          padding: paddingOf(frame),
        }),
        frame.flags,
      );
    case 'PING':
      return withFlags(encodePing(frame.opaqueData, false), frame.flags);
    case 'GOAWAY':
      return withFlags(encodeGoaway(frame.lastStreamId, frame.errorCode, frame.debugData), frame.flags);
    case 'WINDOW_UPDATE':
      return withFlags(encodeWindowUpdate(frame.streamId, frame.increment), frame.flags);
    case 'CONTINUATION':
      return withFlags(encodeContinuation(frame.streamId, frame.fragment, false), frame.flags);
    case 'UNKNOWN':
      return encodeRawFrame(frame.frameType, frame.flags, frame.streamId, frame.payload);
  }
}

function paddingOf(frame: { readonly flags: number; readonly padLength: number }): number | undefined {
  return (frame.flags & Flag.PADDED) !== 0 ? frame.padLength : undefined;
}

function withFlags(buf: Buffer, flags: number): Buffer {
  buf[4] = flags;
  return buf;
}
