/**
 * HTTP/2 frame vocabulary (RFC 9113 §4, §6, §7): type ids, flags, settings, error codes, the typed
 * frame union produced by the frame reader and consumed by the frame writer, and the two protocol
 * error values (connection / stream error, RFC 9113 §5.4).
 *
 * The numeric values are the RFC's; test/unit/codecs/http2/frame.test.ts checks them against
 * `node:http2`'s `constants`. They are spelled out here so that their types are literals.
 */

/** Frame type ids (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (RFC 9113 §6). ACK and END_STREAM share bit 0x1. */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** SETTINGS parameter ids (RFC 9113 §6.5.2; ENABLE_CONNECT_PROTOCOL from RFC 8441). */
export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  ENABLE_CONNECT_PROTOCOL: 0x8,
} as const;

/** Error codes (RFC 9113 §7). Peers may send codes not listed here; they are plain numbers. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

const ERROR_CODE_NAMES: readonly string[] = Object.keys(ErrorCode);

/** The RFC name of an error code, or `0x..` for an unknown one (for logs and messages). */
export function errorCodeName(code: number): string {
  return ERROR_CODE_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** Size of the fixed frame header (RFC 9113 §4.1). */
export const FRAME_HEADER_LENGTH = 9;
/** SETTINGS_MAX_FRAME_SIZE bounds (RFC 9113 §6.5.2). */
export const MIN_MAX_FRAME_SIZE = 16_384;
export const MAX_MAX_FRAME_SIZE = 16_777_215;
/** Largest flow-control window and WINDOW_UPDATE increment (RFC 9113 §6.9.1). */
export const MAX_WINDOW_SIZE = 2_147_483_647;
/** Largest stream id (31 bits). */
export const MAX_STREAM_ID = 2_147_483_647;

/** RFC 9113 §3.4: the client connection preface, 24 octets. */
export const CLIENT_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** SETTINGS values by name; the RFC defaults are in {@link DEFAULT_SETTINGS}. */
export interface Http2Settings {
  headerTableSize: number;
  enablePush: boolean;
  /** RFC default: unlimited. */
  maxConcurrentStreams: number;
  initialWindowSize: number;
  maxFrameSize: number;
  /** RFC default: unlimited. */
  maxHeaderListSize: number;
  enableConnectProtocol: boolean;
}

/** RFC 9113 §6.5.2 initial values (what a peer assumes before it sees any SETTINGS). */
export const DEFAULT_SETTINGS: Readonly<Http2Settings> = Object.freeze({
  headerTableSize: 4096,
  enablePush: true,
  maxConcurrentStreams: Number.POSITIVE_INFINITY,
  initialWindowSize: 65_535,
  maxFrameSize: 16_384,
  maxHeaderListSize: Number.POSITIVE_INFINITY,
  enableConnectProtocol: false,
});

/** One SETTINGS parameter as on the wire; unknown ids are kept (and must be ignored). */
export interface SettingsEntry {
  readonly id: number;
  readonly value: number;
}

/** Converts named settings to wire entries in id order; infinite values are omitted. */
export function settingsToEntries(settings: Partial<Http2Settings>): SettingsEntry[] {
  const out: SettingsEntry[] = [];
  const push = (id: number, value: number | boolean | undefined): void => {
    if (value === undefined) return;
    const n = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    if (Number.isFinite(n)) out.push({ id, value: n });
  };
  push(SettingId.HEADER_TABLE_SIZE, settings.headerTableSize);
  push(SettingId.ENABLE_PUSH, settings.enablePush);
  push(SettingId.MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams);
  push(SettingId.INITIAL_WINDOW_SIZE, settings.initialWindowSize);
  push(SettingId.MAX_FRAME_SIZE, settings.maxFrameSize);
  push(SettingId.MAX_HEADER_LIST_SIZE, settings.maxHeaderListSize);
  push(SettingId.ENABLE_CONNECT_PROTOCOL, settings.enableConnectProtocol);
  return out;
}

/**
 * Applies wire entries, in order, onto `target` (later entries win, unknown ids are ignored as
 * RFC 9113 §6.5.2 requires). Values are assumed validated by the frame reader.
 */
export function applySettingsEntries(target: Http2Settings, entries: readonly SettingsEntry[]): void {
  for (const { id, value } of entries) {
    switch (id) {
      case SettingId.HEADER_TABLE_SIZE: target.headerTableSize = value; break;
      case SettingId.ENABLE_PUSH: target.enablePush = value === 1; break;
      case SettingId.MAX_CONCURRENT_STREAMS: target.maxConcurrentStreams = value; break;
      case SettingId.INITIAL_WINDOW_SIZE: target.initialWindowSize = value; break;
      case SettingId.MAX_FRAME_SIZE: target.maxFrameSize = value; break;
      case SettingId.MAX_HEADER_LIST_SIZE: target.maxHeaderListSize = value; break;
      case SettingId.ENABLE_CONNECT_PROTOCOL: target.enableConnectProtocol = value === 1; break;
      default: break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors (RFC 9113 §5.4)

/** Fatal for the connection: send GOAWAY(code) and close (RFC 9113 §5.4.1). */
export interface ConnectionError {
  readonly kind: 'connection';
  readonly code: number;
  readonly message: string;
}

/** Fatal for one stream: send RST_STREAM(streamId, code) (RFC 9113 §5.4.2). */
export interface StreamError {
  readonly kind: 'stream';
  readonly streamId: number;
  readonly code: number;
  readonly message: string;
}

export type H2Error = ConnectionError | StreamError;

export function connectionError(code: number, message: string): ConnectionError {
  return { kind: 'connection', code, message };
}

export function streamError(streamId: number, code: number, message: string): StreamError {
  return { kind: 'stream', streamId, code, message };
}

/** Narrows any `{kind}`-tagged result of this codec to its error members. */
export function isH2Error(value: { readonly kind: string }): value is H2Error {
  return value.kind === 'connection' || value.kind === 'stream';
}

// ---------------------------------------------------------------------------------------------
// Frames (RFC 9113 §6). `kind: 'frame'` sets frames apart from errors in reader results;
// `type` discriminates the frame kinds. Buffers may be views into the reader's input chunk.

/** Stream dependency (RFC 9113 §5.3.2 / RFC 7540 §5.3); `weight` is 1..256 (wire value + 1). */
export interface Priority {
  readonly exclusive: boolean;
  readonly dependency: number;
  readonly weight: number;
}

interface FrameCommon {
  readonly kind: 'frame';
  readonly streamId: number;
  /** Raw flags octet as received (unknown flags included; they carry no meaning). */
  readonly flags: number;
  /** Payload length from the frame header; for DATA this is the flow-controlled size. */
  readonly length: number;
}

export interface DataFrame extends FrameCommon {
  readonly type: 'DATA';
  readonly endStream: boolean;
  /** Payload without pad length octet and padding. */
  readonly data: Buffer;
  /** Number of padding octets (0 when not padded). */
  readonly padLength: number;
}

export interface HeadersFrame extends FrameCommon {
  readonly type: 'HEADERS';
  readonly endStream: boolean;
  readonly endHeaders: boolean;
  /** Present when the PRIORITY flag was set. */
  readonly priority: Priority | undefined;
  /** Field block fragment (RFC 9113 §4.3), without padding and priority fields. */
  readonly fragment: Buffer;
  readonly padLength: number;
}

export interface PriorityFrame extends FrameCommon {
  readonly type: 'PRIORITY';
  readonly priority: Priority;
}

export interface RstStreamFrame extends FrameCommon {
  readonly type: 'RST_STREAM';
  readonly errorCode: number;
}

export interface SettingsFrame extends FrameCommon {
  readonly type: 'SETTINGS';
  readonly ack: boolean;
  /** In wire order; empty for an ACK. */
  readonly entries: readonly SettingsEntry[];
}

export interface PushPromiseFrame extends FrameCommon {
  readonly type: 'PUSH_PROMISE';
  readonly endHeaders: boolean;
  readonly promisedStreamId: number;
  readonly fragment: Buffer;
  readonly padLength: number;
}

export interface PingFrame extends FrameCommon {
  readonly type: 'PING';
  readonly ack: boolean;
  /** 8 octets. */
  readonly opaqueData: Buffer;
}

export interface GoawayFrame extends FrameCommon {
  readonly type: 'GOAWAY';
  readonly lastStreamId: number;
  readonly errorCode: number;
  readonly debugData: Buffer;
}

export interface WindowUpdateFrame extends FrameCommon {
  readonly type: 'WINDOW_UPDATE';
  /** 1..2^31-1 (0 is reported as an error by the reader). */
  readonly increment: number;
}

export interface ContinuationFrame extends FrameCommon {
  readonly type: 'CONTINUATION';
  readonly endHeaders: boolean;
  readonly fragment: Buffer;
}

/** A frame of a type this codec does not know; RFC 9113 §4.1 says to ignore it. */
export interface UnknownFrame extends FrameCommon {
  readonly type: 'UNKNOWN';
  readonly frameType: number;
  readonly payload: Buffer;
}

export type Frame =
  | DataFrame
  | HeadersFrame
  | PriorityFrame
  | RstStreamFrame
  | SettingsFrame
  | PushPromiseFrame
  | PingFrame
  | GoawayFrame
  | WindowUpdateFrame
  | ContinuationFrame
  | UnknownFrame;

/** Name of each known frame type id, indexed by id. */
export const FRAME_TYPE_NAMES = [
  'DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS',
  'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION',
] as const satisfies readonly Exclude<Frame['type'], 'UNKNOWN'>[];
