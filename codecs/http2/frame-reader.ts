/**
 * Incremental HTTP/2 frame parser (RFC 9113 §4, §6): bytes in, typed frames or typed errors out.
 * Pure: no sockets, timers or clock.
 *
 * Usage (pull style, no per-frame closures):
 *
 *   reader.push(chunk);
 *   for (let r = reader.next(); r !== undefined; r = reader.next()) {
 *     if (r.kind === 'frame') ... else if (r.kind === 'stream') RST_STREAM ... else GOAWAY + close
 *   }
 *
 * Payloads are views (`subarray`) into the pushed chunk when a frame lies within one chunk, and
 * a private copy only when a frame spans chunks. Each check classifies the failure as RFC 9113
 * §5.4 says where it is detected: a {@link ConnectionError} is sticky (every later `next()`
 * returns it again), a {@link StreamError} is returned once for the offending frame, whose bytes
 * are consumed, and reading goes on.
 *
 * Not checked here (they need session state): stream-id ordering and parity (§5.1.1), frames on
 * idle/closed streams (stream-state.ts), PUSH_PROMISE acceptance by role / SETTINGS_ENABLE_PUSH
 * (§6.6), flow control, header block decoding (hpack.ts).
 */
import {
  CLIENT_PREFACE, ErrorCode, Flag, FRAME_HEADER_LENGTH, FrameType, MAX_MAX_FRAME_SIZE,
  MAX_WINDOW_SIZE, MIN_MAX_FRAME_SIZE, SettingId, connectionError, streamError,
} from './frame.js';
import type {
  ConnectionError, ContinuationFrame, Frame, HeadersFrame, Priority, PushPromiseFrame,
  SettingsEntry, StreamError,
} from './frame.js';

/** What {@link FrameReader.next} returns: a frame, or the error found in the next frame. */
export type ReadResult = Frame | ConnectionError | StreamError;

export interface FrameReaderOptions {
  /**
   * Our SETTINGS_MAX_FRAME_SIZE: larger frames are a connection FRAME_SIZE_ERROR. Default 16384.
   * Change it with {@link FrameReader.setMaxFrameSize} when a new value takes effect.
   */
  readonly maxFrameSize?: number;
  /** Server side: the input begins with the 24-octet client preface, checked and skipped. */
  readonly expectClientPreface?: boolean;
  /**
   * RFC 9113 §3.4: the first frame of each side is a (non-ACK) SETTINGS frame; anything else is a
   * connection PROTOCOL_ERROR. Default false (tests feed frames without a preface).
   */
  readonly requireSettingsFirst?: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * Matches the client connection preface (RFC 9113 §3.4) across any chunking without buffering.
 * `feed` returns how many octets of `buf` (from `offset`) belong to the preface, or a connection
 * PROTOCOL_ERROR on the first mismatching octet; `done` turns true after all 24 octets.
 */
export class PrefaceMatcher {
  private matched = 0;

  get done(): boolean {
    return this.matched === CLIENT_PREFACE.length;
  }

  feed(buf: Buffer, offset = 0): number | ConnectionError {
    const n = Math.min(CLIENT_PREFACE.length - this.matched, buf.length - offset);
    for (let i = 0; i < n; i++) {
      if (buf[offset + i] !== CLIENT_PREFACE[this.matched + i]) {
        return connectionError(ErrorCode.PROTOCOL_ERROR, 'invalid connection preface');
      }
    }
    this.matched += n;
    return n;
  }
}

/** Incremental frame parser; see the file comment. One per connection and direction. */
export class FrameReader {
  private chunk: Buffer = EMPTY;
  private pos = 0;

  // Frame header, possibly assembled across chunks.
  private readonly headerBytes = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  private headerFill = 0;
  private haveHeader = false;
  private fLength = 0;
  private fType = 0;
  private fFlags = 0;
  private fStreamId = 0;

  // Payload of a frame that spans chunks.
  private payloadCopy: Buffer | undefined;
  private payloadFill = 0;

  private maxSize: number;
  /** Stream id of the open header block (HEADERS/PUSH_PROMISE without END_HEADERS), else 0. */
  private blockStreamId = 0;
  private preface: PrefaceMatcher | undefined;
  private settingsPending: boolean;
  private failure: ConnectionError | undefined;

  constructor(options: FrameReaderOptions = {}) {
    this.maxSize = options.maxFrameSize ?? MIN_MAX_FRAME_SIZE;
    this.preface = options.expectClientPreface === true ? new PrefaceMatcher() : undefined;
    this.settingsPending = options.requireSettingsFirst === true;
  }

  /** The frame size limit in force (our SETTINGS_MAX_FRAME_SIZE). */
  get maxFrameSize(): number {
    return this.maxSize;
  }

  /** Sets the limit once our new SETTINGS_MAX_FRAME_SIZE applies (16384..16777215). */
  setMaxFrameSize(size: number): void {
    this.maxSize = size;
  }

  /** Stream id whose header block awaits CONTINUATION frames, or 0. */
  get headerBlockStreamId(): number {
    return this.blockStreamId;
  }

  /** The connection error this reader stopped at, if any. */
  get error(): ConnectionError | undefined {
    return this.failure;
  }

  /**
   * Appends input. Call `next()` until it returns undefined before pushing again: the unread tail
   * of the previous chunk is then already held internally and nothing is copied here.
   */
  push(chunk: Buffer): void {
    if (this.pos < this.chunk.length) {
      this.chunk = Buffer.concat([this.chunk.subarray(this.pos), chunk]);
    } else {
      this.chunk = chunk;
    }
    this.pos = 0;
  }

  /** Next frame or error, or undefined when more input is needed. */
  next(): ReadResult | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.preface !== undefined) {
      const n = this.preface.feed(this.chunk, this.pos);
      if (typeof n !== 'number') return this.fail(n);
      this.pos += n;
      if (!this.preface.done) return undefined;
      this.preface = undefined;
    }
    if (!this.haveHeader) {
      if (!this.readHeader()) return undefined;
      const err = this.checkHeader();
      if (err !== undefined) return this.fail(err);
    }
    const payload = this.readPayload();
    if (payload === undefined) return undefined;
    this.haveHeader = false;
    const result = this.decode(payload);
    if (result.kind === 'connection') return this.fail(result);
    return result;
  }

  private fail(err: ConnectionError): ConnectionError {
    this.failure = err;
    this.chunk = EMPTY;
    this.pos = 0;
    this.payloadCopy = undefined;
    return err;
  }

  /** Reads the 9-octet header (RFC 9113 §4.1); false if incomplete (bytes kept). */
  private readHeader(): boolean {
    const chunk = this.chunk;
    let b: Buffer;
    let o: number;
    const avail = chunk.length - this.pos;
    if (this.headerFill === 0 && avail >= FRAME_HEADER_LENGTH) {
      b = chunk;
      o = this.pos;
      this.pos += FRAME_HEADER_LENGTH;
    } else {
      const n = Math.min(FRAME_HEADER_LENGTH - this.headerFill, avail);
      chunk.copy(this.headerBytes, this.headerFill, this.pos, this.pos + n);
      this.headerFill += n;
      this.pos += n;
      if (this.headerFill < FRAME_HEADER_LENGTH) return false;
      this.headerFill = 0;
      b = this.headerBytes;
      o = 0;
    }
    this.fLength = (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
    this.fType = b[o + 3]!;
    this.fFlags = b[o + 4]!;
    // RFC 9113 §4.1: the reserved bit MUST be ignored when receiving.
    this.fStreamId = b.readUInt32BE(o + 5) & 0x7fffffff;
    this.haveHeader = true;
    return true;
  }

  /** Checks decidable from the header alone; all of them are connection errors. */
  private checkHeader(): ConnectionError | undefined {
    const type = this.fType;
    // RFC 9113 §4.2: a frame over SETTINGS_MAX_FRAME_SIZE MUST be a FRAME_SIZE_ERROR. For frames
    // that could be stream errors we still close: skipping up to 16 MiB is not worth it (§5.4.1
    // allows treating any stream error as a connection error; nghttp2 does the same).
    if (this.fLength > this.maxSize) {
      return connectionError(
        ErrorCode.FRAME_SIZE_ERROR,
        `frame length ${this.fLength} exceeds max frame size ${this.maxSize}`,
      );
    }
    // RFC 9113 §6.10 / §4.3: a header block is a contiguous sequence of CONTINUATION frames on
    // its stream; any other frame, or a CONTINUATION out of place, is a PROTOCOL_ERROR.
    if (this.blockStreamId !== 0) {
      if (type !== FrameType.CONTINUATION || this.fStreamId !== this.blockStreamId) {
        return connectionError(
          ErrorCode.PROTOCOL_ERROR,
          `expected CONTINUATION on stream ${this.blockStreamId}`,
        );
      }
    } else if (type === FrameType.CONTINUATION) {
      return connectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without an open header block');
    }
    if (this.settingsPending) {
      // RFC 9113 §3.4: the preface is followed by a SETTINGS frame (not an ACK).
      if (type !== FrameType.SETTINGS || (this.fFlags & Flag.ACK) !== 0) {
        return connectionError(ErrorCode.PROTOCOL_ERROR, 'first frame is not SETTINGS');
      }
      this.settingsPending = false;
    }
    return undefined;
  }

  /** The payload, as a view when possible; undefined while incomplete (bytes kept). */
  private readPayload(): Buffer | undefined {
    const len = this.fLength;
    const chunk = this.chunk;
    const avail = chunk.length - this.pos;
    let copy = this.payloadCopy;
    if (copy === undefined) {
      if (avail >= len) {
        const start = this.pos;
        this.pos += len;
        return chunk.subarray(start, start + len);
      }
      copy = Buffer.allocUnsafe(len);
      this.payloadCopy = copy;
      this.payloadFill = 0;
    }
    const n = Math.min(len - this.payloadFill, avail);
    chunk.copy(copy, this.payloadFill, this.pos, this.pos + n);
    this.payloadFill += n;
    this.pos += n;
    if (this.payloadFill < len) return undefined;
    this.payloadCopy = undefined;
    return copy;
  }

  private decode(p: Buffer): ReadResult {
    switch (this.fType) {
      case FrameType.DATA: return this.decodeData(p);
      case FrameType.HEADERS: return this.decodeHeaders(p);
      case FrameType.PRIORITY: return this.decodePriority(p);
      case FrameType.RST_STREAM: return this.decodeRstStream(p);
      case FrameType.SETTINGS: return this.decodeSettings(p);
      case FrameType.PUSH_PROMISE: return this.decodePushPromise(p);
      case FrameType.PING: return this.decodePing(p);
      case FrameType.GOAWAY: return this.decodeGoaway(p);
      case FrameType.WINDOW_UPDATE: return this.decodeWindowUpdate(p);
      case FrameType.CONTINUATION: return this.decodeContinuation(p);
      default:
        // RFC 9113 §4.1 / §5.5: unknown frame types MUST be ignored (the session drops them).
        return {
          kind: 'frame', type: 'UNKNOWN', streamId: this.fStreamId, flags: this.fFlags,
          length: this.fLength, frameType: this.fType, payload: p,
        };
    }
  }

  /** RFC 9113 §6.1, §6.2, §6.6: "frame on stream 0" check shared by stream-bound frames. */
  private onStreamZero(name: string): ConnectionError {
    return connectionError(ErrorCode.PROTOCOL_ERROR, `${name} frame on stream 0`);
  }

  /**
   * Pad length of a PADDED frame whose fixed fields take `fixed` octets after the pad length
   * octet: -1 when absent, or an error when the frame cannot hold it (RFC 9113 §6.1, §6.2, §6.6:
   * padding as long as the remaining payload or longer is a connection PROTOCOL_ERROR).
   */
  private padLength(p: Buffer, fixed: number, name: string): number | ConnectionError {
    if ((this.fFlags & Flag.PADDED) === 0) {
      if (p.length < fixed) {
        return connectionError(ErrorCode.FRAME_SIZE_ERROR, `${name} frame too short`);
      }
      return -1;
    }
    if (p.length < 1 + fixed) {
      return connectionError(ErrorCode.FRAME_SIZE_ERROR, `${name} frame too short`);
    }
    const pad = p[0]!;
    if (pad > p.length - 1 - fixed) {
      return connectionError(ErrorCode.PROTOCOL_ERROR, `${name} padding exceeds payload`);
    }
    return pad;
  }

  private decodeData(p: Buffer): ReadResult {
    const streamId = this.fStreamId;
    if (streamId === 0) return this.onStreamZero('DATA');
    const pad = this.padLength(p, 0, 'DATA');
    if (typeof pad !== 'number') return pad;
    const start = pad < 0 ? 0 : 1;
    const end = pad < 0 ? p.length : p.length - pad;
    return {
      kind: 'frame', type: 'DATA', streamId, flags: this.fFlags, length: this.fLength,
      endStream: (this.fFlags & Flag.END_STREAM) !== 0,
      data: p.subarray(start, end), padLength: pad < 0 ? 0 : pad,
    };
  }

  private decodeHeaders(p: Buffer): ReadResult {
    const streamId = this.fStreamId;
    const flags = this.fFlags;
    if (streamId === 0) return this.onStreamZero('HEADERS');
    const hasPriority = (flags & Flag.PRIORITY) !== 0;
    const pad = this.padLength(p, hasPriority ? 5 : 0, 'HEADERS');
    if (typeof pad !== 'number') return pad;
    let start = pad < 0 ? 0 : 1;
    let priority: Priority | undefined;
    if (hasPriority) {
      priority = readPriority(p, start);
      // RFC 7540 §5.3.1: a stream cannot depend on itself (stream PROTOCOL_ERROR). Raised to a
      // connection error (allowed by RFC 9113 §5.4.1, as nghttp2 does) so that the session never
      // has to keep decoding a header block of a stream that the reader already failed.
      if (priority.dependency === streamId) {
        return connectionError(ErrorCode.PROTOCOL_ERROR, `stream ${streamId} depends on itself`);
      }
      start += 5;
    }
    const endHeaders = (flags & Flag.END_HEADERS) !== 0;
    if (!endHeaders) this.blockStreamId = streamId;
    return {
      kind: 'frame', type: 'HEADERS', streamId, flags, length: this.fLength,
      endStream: (flags & Flag.END_STREAM) !== 0, endHeaders, priority,
      fragment: p.subarray(start, pad < 0 ? p.length : p.length - pad), padLength: pad < 0 ? 0 : pad,
    };
  }

  private decodePriority(p: Buffer): ReadResult {
    const streamId = this.fStreamId;
    if (streamId === 0) return this.onStreamZero('PRIORITY');
    // RFC 9113 §6.3: a length other than 5 is a stream error of type FRAME_SIZE_ERROR.
    if (p.length !== 5) {
      return streamError(streamId, ErrorCode.FRAME_SIZE_ERROR, 'PRIORITY frame length is not 5');
    }
    const priority = readPriority(p, 0);
    // RFC 7540 §5.3.1: a stream cannot depend on itself: stream PROTOCOL_ERROR.
    if (priority.dependency === streamId) {
      return streamError(streamId, ErrorCode.PROTOCOL_ERROR, `stream ${streamId} depends on itself`);
    }
    return {
      kind: 'frame', type: 'PRIORITY', streamId, flags: this.fFlags, length: this.fLength, priority,
    };
  }

  private decodeRstStream(p: Buffer): ReadResult {
    const streamId = this.fStreamId;
    if (streamId === 0) return this.onStreamZero('RST_STREAM');
    // RFC 9113 §6.4: a length other than 4 is a connection FRAME_SIZE_ERROR.
    if (p.length !== 4) {
      return connectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM frame length is not 4');
    }
    return {
      kind: 'frame', type: 'RST_STREAM', streamId, flags: this.fFlags, length: this.fLength,
      errorCode: p.readUInt32BE(0),
    };
  }

  private decodeSettings(p: Buffer): ReadResult {
    // RFC 9113 §6.5: stream 0 only; ACK carries no payload; length a multiple of 6.
    if (this.fStreamId !== 0) {
      return connectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS frame on a non-zero stream');
    }
    const ack = (this.fFlags & Flag.ACK) !== 0;
    if (ack && p.length !== 0) {
      return connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
    }
    if (p.length % 6 !== 0) {
      return connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length is not a multiple of 6');
    }
    const entries: SettingsEntry[] = [];
    for (let o = 0; o < p.length; o += 6) {
      const id = p.readUInt16BE(o);
      const value = p.readUInt32BE(o + 2);
      const err = checkSetting(id, value);
      if (err !== undefined) return err;
      entries.push({ id, value });
    }
    return {
      kind: 'frame', type: 'SETTINGS', streamId: 0, flags: this.fFlags, length: this.fLength,
      ack, entries,
    };
  }

  private decodePushPromise(p: Buffer): ReadResult {
    const streamId = this.fStreamId;
    const flags = this.fFlags;
    if (streamId === 0) return this.onStreamZero('PUSH_PROMISE');
    const pad = this.padLength(p, 4, 'PUSH_PROMISE');
    if (typeof pad !== 'number') return pad;
    const start = pad < 0 ? 0 : 1;
    const promisedStreamId = p.readUInt32BE(start) & 0x7fffffff;
    // RFC 9113 §6.6: the promised id must be a valid new stream id; 0 never is.
    if (promisedStreamId === 0) {
      return connectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE promises stream 0');
    }
    const endHeaders = (flags & Flag.END_HEADERS) !== 0;
    if (!endHeaders) this.blockStreamId = streamId;
    return {
      kind: 'frame', type: 'PUSH_PROMISE', streamId, flags, length: this.fLength, endHeaders,
      promisedStreamId, fragment: p.subarray(start + 4, pad < 0 ? p.length : p.length - pad),
      padLength: pad < 0 ? 0 : pad,
    };
  }

  private decodePing(p: Buffer): ReadResult {
    // RFC 9113 §6.7: stream 0 only (PROTOCOL_ERROR); length 8 (connection FRAME_SIZE_ERROR).
    if (this.fStreamId !== 0) {
      return connectionError(ErrorCode.PROTOCOL_ERROR, 'PING frame on a non-zero stream');
    }
    if (p.length !== 8) {
      return connectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING frame length is not 8');
    }
    return {
      kind: 'frame', type: 'PING', streamId: 0, flags: this.fFlags, length: this.fLength,
      ack: (this.fFlags & Flag.ACK) !== 0, opaqueData: p,
    };
  }

  private decodeGoaway(p: Buffer): ReadResult {
    // RFC 9113 §6.8: stream 0 only; at least 8 octets (a connection frame, so connection error).
    if (this.fStreamId !== 0) {
      return connectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY frame on a non-zero stream');
    }
    if (p.length < 8) {
      return connectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY frame shorter than 8');
    }
    return {
      kind: 'frame', type: 'GOAWAY', streamId: 0, flags: this.fFlags, length: this.fLength,
      lastStreamId: p.readUInt32BE(0) & 0x7fffffff, errorCode: p.readUInt32BE(4),
      debugData: p.subarray(8),
    };
  }

  private decodeWindowUpdate(p: Buffer): ReadResult {
    const streamId = this.fStreamId;
    // RFC 9113 §6.9: a length other than 4 is a connection FRAME_SIZE_ERROR.
    if (p.length !== 4) {
      return connectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE frame length is not 4');
    }
    const increment = p.readUInt32BE(0) & 0x7fffffff;
    // RFC 9113 §6.9: an increment of 0 is a stream PROTOCOL_ERROR, or a connection error on
    // stream 0. (On an idle stream the session raises it to a connection error, §5.1.)
    if (increment === 0) {
      return streamId === 0
        ? connectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE increment of 0')
        : streamError(streamId, ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE increment of 0');
    }
    return {
      kind: 'frame', type: 'WINDOW_UPDATE', streamId, flags: this.fFlags, length: this.fLength,
      increment,
    };
  }

  private decodeContinuation(p: Buffer): ReadResult {
    // Order and stream (stream 0 never has an open block) were checked with the header.
    const endHeaders = (this.fFlags & Flag.END_HEADERS) !== 0;
    if (endHeaders) this.blockStreamId = 0;
    return {
      kind: 'frame', type: 'CONTINUATION', streamId: this.fStreamId, flags: this.fFlags,
      length: this.fLength, endHeaders, fragment: p,
    };
  }
}

function readPriority(p: Buffer, o: number): Priority {
  const dep = p.readUInt32BE(o);
  return { exclusive: dep >>> 31 === 1, dependency: dep & 0x7fffffff, weight: p[o + 4]! + 1 };
}

/** RFC 9113 §6.5.2 (and RFC 8441 §3) value checks; unknown ids are accepted and ignored. */
function checkSetting(id: number, value: number): ConnectionError | undefined {
  if ((id === SettingId.ENABLE_PUSH || id === SettingId.ENABLE_CONNECT_PROTOCOL) && value > 1) {
    return connectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS ${id} value ${value} is not 0 or 1`);
  }
  if (id === SettingId.INITIAL_WINDOW_SIZE && value > MAX_WINDOW_SIZE) {
    return connectionError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} too large`);
  }
  if (id === SettingId.MAX_FRAME_SIZE && (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE)) {
    return connectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Header block assembly (HEADERS / PUSH_PROMISE + CONTINUATION*, RFC 9113 §4.3)

/** Limits that defend against CONTINUATION floods; exceeding one is reported, not mapped. */
export interface HeaderBlockLimits {
  /** Largest total of fragment octets in one block. */
  readonly maxBlockSize: number;
  /** Largest number of CONTINUATION frames after the HEADERS / PUSH_PROMISE. */
  readonly maxContinuationFrames: number;
}

export type HeaderBlockResult =
  /** More CONTINUATION frames are expected. */
  | { readonly kind: 'partial' }
  /** The whole block: decode `fragments` in order with one HpackDecoder.decode call. */
  | {
      readonly kind: 'complete';
      readonly first: HeadersFrame | PushPromiseFrame;
      readonly fragments: readonly Buffer[];
      readonly size: number;
    }
  /**
   * A limit was exceeded; the block is dropped, so HPACK state is lost and the caller must end
   * the connection (with the code its policy picks, e.g. ENHANCE_YOUR_CALM). Later CONTINUATION
   * frames of this block report 'partial' and are dropped.
   */
  | {
      readonly kind: 'limit-exceeded';
      readonly streamId: number;
      readonly reason: 'block-size' | 'continuation-count';
    };

const PARTIAL: HeaderBlockResult = Object.freeze({ kind: 'partial' });

/**
 * Collects the fragments of one header block at a time. Relies on the reader's ordering checks
 * (only CONTINUATION frames of the same stream follow an open block). No copy is made: the
 * fragments are the frames' views.
 */
export class HeaderBlockAssembler {
  private first: HeadersFrame | PushPromiseFrame | undefined;
  private fragments: Buffer[] = [];
  private size = 0;
  private continuations = 0;
  private dropping = false;

  constructor(private readonly limits: HeaderBlockLimits) {}

  /** Starts a block with a HEADERS or PUSH_PROMISE frame. */
  begin(frame: HeadersFrame | PushPromiseFrame): HeaderBlockResult {
    this.dropping = false;
    this.continuations = 0;
    this.size = frame.fragment.length;
    if (this.size > this.limits.maxBlockSize) return this.exceeded(frame, 'block-size');
    if (frame.endHeaders) {
      this.first = undefined;
      return { kind: 'complete', first: frame, fragments: [frame.fragment], size: this.size };
    }
    this.first = frame;
    this.fragments = [frame.fragment];
    return PARTIAL;
  }

  /** Adds a CONTINUATION frame of the open block. */
  add(frame: ContinuationFrame): HeaderBlockResult {
    const first = this.first;
    if (first === undefined || this.dropping) {
      if (frame.endHeaders) this.dropping = false;
      return PARTIAL;
    }
    this.continuations++;
    this.size += frame.fragment.length;
    if (this.continuations > this.limits.maxContinuationFrames) return this.exceeded(frame, 'continuation-count');
    if (this.size > this.limits.maxBlockSize) return this.exceeded(frame, 'block-size');
    this.fragments.push(frame.fragment);
    if (!frame.endHeaders) return PARTIAL;
    const fragments = this.fragments;
    this.first = undefined;
    this.fragments = [];
    return { kind: 'complete', first, fragments, size: this.size };
  }

  private exceeded(
    frame: HeadersFrame | PushPromiseFrame | ContinuationFrame,
    reason: 'block-size' | 'continuation-count',
  ): HeaderBlockResult {
    this.first = undefined;
    this.fragments = [];
    this.dropping = !frame.endHeaders;
    return { kind: 'limit-exceeded', streamId: frame.streamId, reason };
  }
}
