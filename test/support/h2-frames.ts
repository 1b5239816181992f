/**
 * Readable HTTP/2 frame builders and a frame decoder for tests (after h2's
 * tests/h2-support/src/mock.rs and Envoy's http2_frame.h):
 *
 *   frames.headers(1).request('GET', '/').eos()      frames.data(1, 'hello').eos()
 *   frames.settings({ maxFrameSize: 32768 })          frames.settings().ack()
 *   frames.ping('12345678').ack()                     frames.goaway(3, ErrorCode.NO_ERROR)
 *   frames.windowUpdate(0, 1000)  frames.rst(1, ErrorCode.CANCEL)  frames.priority(3, {...})
 *   frames.continuation(1, block)  frames.raw(type, flags, streamId, payload)  frames.preface()
 *
 * Builders are {@link FrameBuilder}s (`toBuffer()`); simple frames are Buffers; {@link toBytes}
 * concatenates any mix. Header blocks come from an HpackEncoder that by default never touches the
 * dynamic table, so every block is self-contained and builders can be serialized in any order;
 * pass `h2Frames({ encoder })` for a stateful one. {@link H2FrameDecoder} turns bytes (e.g. the
 * proxy's output) into readable frames with header blocks decoded.
 */
import {
  CLIENT_PREFACE,
  ErrorCode,
  Flag,
  FrameType,
  settingsToEntries,
} from '../../codecs/http2/frame.js';
import type {
  ConnectionError,
  Frame,
  HeadersFrame,
  Http2Settings,
  Priority,
  PushPromiseFrame,
  SettingsEntry,
  StreamError,
} from '../../codecs/http2/frame.js';
import {
  encodeContinuation,
  encodeData,
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
} from '../../codecs/http2/frame-writer.js';
import { FrameReader, HeaderBlockAssembler } from '../../codecs/http2/frame-reader.js';
import type { HeaderBlockResult } from '../../codecs/http2/frame-reader.js';
import { HpackDecoder, HpackEncoder } from '../../codecs/http2/hpack.js';
import type { HeaderField, HeaderList } from '../../codecs/http2/hpack.js';

export { ErrorCode, Flag, FrameType };

/** Anything that serializes to frame bytes. */
export interface FrameBuilder {
  toBuffer(): Buffer;
}

export type FrameLike = Buffer | FrameBuilder;

/** Concatenates frames and builders into one Buffer. */
export function toBytes(...parts: readonly FrameLike[]): Buffer {
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : p.toBuffer())));
}

function asBuffer(data: string | Buffer | Uint8Array): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
}

interface PriorityInput {
  readonly dependency: number;
  readonly weight?: number;
  readonly exclusive?: boolean;
}

function toPriority(p: PriorityInput): Priority {
  return { dependency: p.dependency, weight: p.weight ?? 16, exclusive: p.exclusive ?? false };
}

/** HEADERS (+ CONTINUATION when split). Defaults: END_HEADERS set, END_STREAM not. */
export class HeadersBuilder implements FrameBuilder {
  private readonly fields: HeaderField[] = [];
  private endStream = false;
  private endHeadersFlag = true;
  private rawBlock: Buffer | undefined;
  private prio: Priority | undefined;
  private padding: number | undefined;
  private maxFrameSize = Number.MAX_SAFE_INTEGER;

  constructor(
    private readonly encoder: HpackEncoder,
    private readonly streamId: number,
  ) {}

  /** Request pseudo-headers (:method :scheme :authority :path) then `headers`. */
  request(
    method: string,
    path: string,
    options: { authority?: string; scheme?: string; headers?: HeaderList } = {},
  ): this {
    this.fields.push([':method', method], [':scheme', options.scheme ?? 'http']);
    if (options.authority !== '') this.fields.push([':authority', options.authority ?? 'localhost']);
    this.fields.push([':path', path], ...(options.headers ?? []));
    return this;
  }

  /** `:status` then `headers`. */
  response(status: number, headers: HeaderList = []): this {
    this.fields.push([':status', String(status)], ...headers);
    return this;
  }

  header(name: string, value: string): this {
    this.fields.push([name, value]);
    return this;
  }

  headers(list: HeaderList): this {
    this.fields.push(...list);
    return this;
  }

  /** Sets END_STREAM. */
  eos(): this {
    this.endStream = true;
    return this;
  }

  /** END_HEADERS set (default) or not (a CONTINUATION must follow). */
  endHeaders(on = true): this {
    this.endHeadersFlag = on;
    return this;
  }

  priority(p: PriorityInput): this {
    this.prio = toPriority(p);
    return this;
  }

  /** PADDED with `n` zero octets. */
  padded(n: number): this {
    this.padding = n;
    return this;
  }

  /** Uses these bytes as the header block instead of encoding the fields. */
  block(raw: Buffer): this {
    this.rawBlock = raw;
    return this;
  }

  /** Splits into HEADERS + CONTINUATION frames of at most `maxFrameSize` payload octets. */
  split(maxFrameSize: number): this {
    this.maxFrameSize = maxFrameSize;
    return this;
  }

  /** The encoded header block (encodes the fields now). */
  headerBlock(): Buffer {
    return this.rawBlock ?? this.encoder.encode(this.fields);
  }

  toBuffer(): Buffer {
    const buf = encodeHeaders(this.streamId, this.headerBlock(), {
      endStream: this.endStream,
      maxFrameSize: this.maxFrameSize,
      ...(this.prio !== undefined ? { priority: this.prio } : {}),
      ...(this.padding !== undefined ? { padding: this.padding } : {}),
    });
    if (!this.endHeadersFlag) clearLastEndHeaders(buf);
    return buf;
  }
}

/** Clears END_HEADERS on the last frame of a HEADERS/PUSH_PROMISE (+ CONTINUATION) sequence. */
function clearLastEndHeaders(buf: Buffer): void {
  let o = 0;
  let last = 0;
  while (o < buf.length) {
    last = o;
    o += 9 + buf.readUIntBE(o, 3);
  }
  buf[last + 4]! &= ~Flag.END_HEADERS;
}

export class DataBuilder implements FrameBuilder {
  private endStream = false;
  private padding: number | undefined;

  constructor(
    private readonly streamId: number,
    private readonly payload: Buffer,
  ) {}

  eos(): this {
    this.endStream = true;
    return this;
  }

  padded(n: number): this {
    this.padding = n;
    return this;
  }

  toBuffer(): Buffer {
    return encodeData(this.streamId, this.payload, this.endStream, this.padding);
  }
}

export class SettingsBuilder implements FrameBuilder {
  private isAck = false;

  constructor(private readonly entries: readonly SettingsEntry[]) {}

  /** A SETTINGS ACK (no payload). */
  ack(): this {
    this.isAck = true;
    return this;
  }

  toBuffer(): Buffer {
    return this.isAck ? encodeSettingsAck() : encodeSettings(this.entries);
  }
}

export class PingBuilder implements FrameBuilder {
  private isAck = false;

  constructor(private readonly opaque: Buffer) {}

  ack(): this {
    this.isAck = true;
    return this;
  }

  toBuffer(): Buffer {
    return encodePing(this.opaque, this.isAck);
  }
}

export class ContinuationBuilder implements FrameBuilder {
  private endHeadersFlag = true;

  constructor(
    private readonly streamId: number,
    private readonly fragment: Buffer,
  ) {}

  /** END_HEADERS set (default) or not (another CONTINUATION follows). */
  endHeaders(on = true): this {
    this.endHeadersFlag = on;
    return this;
  }

  toBuffer(): Buffer {
    return encodeContinuation(this.streamId, this.fragment, this.endHeadersFlag);
  }
}

export class PushPromiseBuilder implements FrameBuilder {
  private endHeadersFlag = true;
  private padding: number | undefined;

  constructor(
    private readonly encoder: HpackEncoder,
    private readonly streamId: number,
    private readonly promisedId: number,
    private readonly fields: HeaderList | Buffer,
  ) {}

  endHeaders(on = true): this {
    this.endHeadersFlag = on;
    return this;
  }

  padded(n: number): this {
    this.padding = n;
    return this;
  }

  toBuffer(): Buffer {
    const block = Buffer.isBuffer(this.fields) ? this.fields : this.encoder.encode(this.fields);
    const buf = encodePushPromise(this.streamId, this.promisedId, block, {
      maxFrameSize: Number.MAX_SAFE_INTEGER,
      ...(this.padding !== undefined ? { padding: this.padding } : {}),
    });
    if (!this.endHeadersFlag) clearLastEndHeaders(buf);
    return buf;
  }
}

/** The builder set, bound to one HPACK encoder. */
export interface H2Frames {
  readonly encoder: HpackEncoder;
  /** The 24-octet client connection preface. */
  preface(): Buffer;
  headers(streamId: number): HeadersBuilder;
  /** Encodes a header list into a block with this set's encoder (for CONTINUATION tests). */
  headerBlock(list: HeaderList): Buffer;
  data(streamId: number, payload?: string | Buffer | Uint8Array): DataBuilder;
  settings(values?: Partial<Http2Settings> | readonly SettingsEntry[]): SettingsBuilder;
  settingsAck(): Buffer;
  /** 8 octets of opaque data (string/Buffer zero-padded to 8). */
  ping(data?: string | Buffer | Uint8Array): PingBuilder;
  goaway(lastStreamId: number, errorCode?: number, debugData?: string | Buffer): Buffer;
  windowUpdate(streamId: number, increment: number): Buffer;
  rst(streamId: number, errorCode?: number): Buffer;
  priority(streamId: number, priority: PriorityInput): Buffer;
  continuation(streamId: number, block: Buffer | HeaderList): ContinuationBuilder;
  pushPromise(streamId: number, promisedId: number, block: Buffer | HeaderList): PushPromiseBuilder;
  /** Any frame, malformed on purpose if need be. */
  raw(type: number, flags: number, streamId: number, payload?: string | Buffer | Uint8Array): Buffer;
}

/** Creates a builder set; by default header blocks use no dynamic table (self-contained). */
export function h2Frames(options: { encoder?: HpackEncoder } = {}): H2Frames {
  const encoder = options.encoder ?? new HpackEncoder({ useDynamicTable: false });
  return {
    encoder,
    preface: () => Buffer.from(CLIENT_PREFACE),
    headers: (streamId) => new HeadersBuilder(encoder, streamId),
    headerBlock: (list) => encoder.encode(list),
    data: (streamId, payload = '') => new DataBuilder(streamId, asBuffer(payload)),
    settings: (values = {}) =>
      new SettingsBuilder(Array.isArray(values) ? values : settingsToEntries(values as Partial<Http2Settings>)),
    settingsAck: () => encodeSettingsAck(),
    ping: (data = Buffer.alloc(8)) => new PingBuilder(asBuffer(data)),
    goaway: (lastStreamId, errorCode = ErrorCode.NO_ERROR, debugData) =>
      encodeGoaway(lastStreamId, errorCode, debugData === undefined ? undefined : asBuffer(debugData)),
    windowUpdate: (streamId, increment) => encodeWindowUpdate(streamId, increment),
    rst: (streamId, errorCode = ErrorCode.CANCEL) => encodeRstStream(streamId, errorCode),
    priority: (streamId, p) => encodePriority(streamId, toPriority(p)),
    continuation: (streamId, block) =>
      new ContinuationBuilder(streamId, Buffer.isBuffer(block) ? block : encoder.encode(block)),
    pushPromise: (streamId, promisedId, block) =>
      new PushPromiseBuilder(encoder, streamId, promisedId, block),
    raw: (type, flags, streamId, payload = Buffer.alloc(0)) =>
      encodeRawFrame(type, flags, streamId, asBuffer(payload)),
  };
}

/** The default, stateless builder set. */
export const frames: H2Frames = h2Frames();

// ---------------------------------------------------------------------------------------------
// Decoding frames for assertions

/** HEADERS / PUSH_PROMISE with the whole block (CONTINUATION frames folded in) decoded. */
export type DecodedHeadersFrame = Omit<HeadersFrame, 'fragment' | 'endHeaders'> & {
  readonly headers: HeaderList;
  /** How many CONTINUATION frames carried the rest of the block. */
  readonly continuations: number;
};
export type DecodedPushPromiseFrame = Omit<PushPromiseFrame, 'fragment' | 'endHeaders'> & {
  readonly headers: HeaderList;
  readonly continuations: number;
};

/** What the decoder yields: frames (header blocks decoded) or the errors found. */
export type DecodedItem =
  | Exclude<Frame, HeadersFrame | PushPromiseFrame | { type: 'CONTINUATION' }>
  | DecodedHeadersFrame
  | DecodedPushPromiseFrame
  | ConnectionError
  | StreamError
  | { readonly kind: 'header-list-too-large'; readonly streamId: number };

/**
 * Parses a byte stream into readable frames, keeping HPACK state across calls like a real peer.
 * Payload buffers are copied so results stay valid whatever happens to the input.
 */
export class H2FrameDecoder {
  private readonly reader: FrameReader;
  private readonly hpack: HpackDecoder;
  private readonly assembler = new HeaderBlockAssembler({
    maxBlockSize: Number.MAX_SAFE_INTEGER,
    maxContinuationFrames: Number.MAX_SAFE_INTEGER,
  });
  private continuations = 0;

  constructor(
    options: { expectClientPreface?: boolean; maxFrameSize?: number; hpack?: HpackDecoder } = {},
  ) {
    this.reader = new FrameReader({
      expectClientPreface: options.expectClientPreface ?? false,
      maxFrameSize: options.maxFrameSize ?? 16_777_215,
    });
    this.hpack = options.hpack ?? new HpackDecoder({ maxHeaderListSize: 1 << 30, maxHeaderCount: 1 << 20 });
  }

  /** Decodes what `bytes` completes; a connection error ends the output. */
  push(bytes: Buffer): DecodedItem[] {
    const out: DecodedItem[] = [];
    this.reader.push(Buffer.from(bytes));
    for (let r = this.reader.next(); r !== undefined; r = this.reader.next()) {
      if (r.kind !== 'frame') {
        out.push(r);
        if (r.kind === 'connection') break;
        continue;
      }
      const item = this.onFrame(r);
      if (item !== undefined) out.push(item);
    }
    return out;
  }

  private onFrame(frame: Frame): DecodedItem | undefined {
    let block: HeaderBlockResult;
    if (frame.type === 'HEADERS' || frame.type === 'PUSH_PROMISE') {
      this.continuations = 0;
      block = this.assembler.begin(frame);
    } else if (frame.type === 'CONTINUATION') {
      this.continuations++;
      block = this.assembler.add(frame);
    } else {
      return frame;
    }
    if (block.kind !== 'complete') return undefined;
    const decoded = this.hpack.decode(block.fragments);
    if (decoded.kind === 'connection') return decoded;
    const first = block.first;
    if (decoded.kind === 'header-list-too-large') {
      return { kind: 'header-list-too-large', streamId: first.streamId };
    }
    const { fragment: _fragment, endHeaders: _endHeaders, ...rest } = first;
    return { ...rest, headers: decoded.headers, continuations: this.continuations } as DecodedItem;
  }
}

/** Decodes a complete byte string in one go (fresh HPACK state). */
export function decodeFrames(
  bytes: Buffer,
  options: { expectClientPreface?: boolean } = {},
): DecodedItem[] {
  return new H2FrameDecoder(options).push(bytes);
}

/** One line per item, e.g. `HEADERS 1 +ES :status=200` or `GOAWAY 0 last=1 PROTOCOL_ERROR`. */
export function summarize(item: DecodedItem): string {
  if (item.kind === 'connection') return `connection-error ${item.code} ${item.message}`;
  if (item.kind === 'stream') return `stream-error ${item.streamId} ${item.code} ${item.message}`;
  if (item.kind === 'header-list-too-large') return `header-list-too-large ${item.streamId}`;
  const head = `${item.type} ${item.streamId}`;
  switch (item.type) {
    case 'HEADERS':
      return `${head}${item.endStream ? ' +ES' : ''} ${item.headers.map(([n, v]) => `${n}=${v}`).join(' ')}`;
    case 'PUSH_PROMISE':
      return `${head} promised=${item.promisedStreamId} ${item.headers.map(([n, v]) => `${n}=${v}`).join(' ')}`;
    case 'DATA':
      return `${head}${item.endStream ? ' +ES' : ''} ${item.data.length}`;
    case 'SETTINGS':
      return item.ack ? `${head} ACK` : `${head} ${item.entries.map((e) => `${e.id}=${e.value}`).join(' ')}`;
    case 'PING':
      return `${head}${item.ack ? ' ACK' : ''} ${item.opaqueData.toString('hex')}`;
    case 'GOAWAY':
      return `${head} last=${item.lastStreamId} code=${item.errorCode}`;
    case 'RST_STREAM':
      return `${head} code=${item.errorCode}`;
    case 'WINDOW_UPDATE':
      return `${head} +${item.increment}`;
    case 'PRIORITY':
      return `${head} dep=${item.priority.dependency} w=${item.priority.weight}`;
    case 'UNKNOWN':
      return `UNKNOWN(${item.frameType}) ${item.streamId}`;
  }
}
