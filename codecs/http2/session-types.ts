/**
 * The vocabulary of the HTTP/2 session (session.ts): options, the callbacks it makes (nghttp2's
 * shape), how it fails, and the per-stream record it keeps.
 */
import type { BufferChain } from '../../src/common/buffer-chain.js';
import type { Http2Settings } from './frame.js';
import { RecvWindow, SendWindow } from './flow-control.js';
import type { HeaderList } from './hpack.js';
import type { Http2CodecStats, Http2FloodStat, ProtectionLimits } from './protections.js';
import { StreamStates } from './stream-state.js';
import type { StreamState } from './stream-state.js';

export type Perspective = 'server' | 'client';

export interface SessionOptions {
  readonly perspective: Perspective;
  /**
   * What we advertise in our first SETTINGS (RFC defaults are not sent). A client always sends
   * ENABLE_PUSH = 0: this codec never accepts server push.
   */
  readonly settings: Partial<Http2Settings>;
  /** The connection receive window we offer (a WINDOW_UPDATE on stream 0 at start). */
  readonly connectionWindowSize: number;
  /** Envoy's header limits: sum of name and value lengths, and field count. */
  readonly maxHeaderListBytes: number;
  readonly maxHeaderCount: number;
  readonly limits: ProtectionLimits;
  readonly stats: Http2CodecStats;
  /** Monotonic milliseconds (the rapid-reset token bucket refills with it). */
  readonly now: () => number;
}

/** What a received header block is. */
export type HeadersCategory = 'request' | 'response' | 'informational' | 'trailers';

/** Why a stream closed (the RST_STREAM / error code is passed alongside). */
export type StreamCloseReason =
  /** Both sides sent END_STREAM. */
  | 'end_stream'
  /** The application reset it (submitRstStream). */
  | 'local_reset'
  /** The session reset it: the peer broke a rule for this stream (a stream error we sent). */
  | 'protocol_error'
  /** The peer sent RST_STREAM, or a GOAWAY that excludes it (code REFUSED_STREAM then). */
  | 'remote_reset';

/**
 * How the session ended. After one, every receive() returns it and nothing more is sent; the
 * owner closes the connection (at once when `closeNow`, else after flushing the GOAWAY).
 */
export interface SessionFailure {
  /** The GOAWAY error code sent, or undefined when none was (outbound flood). */
  readonly goAwayCode: number | undefined;
  readonly message: string;
  /** The codec status to report. */
  readonly status: 'CodecProtocolError' | 'BufferFloodError';
  /** The flood stat that was counted, if a protection fired. */
  readonly flood: Http2FloodStat | undefined;
  /** The peer does not read: close without flushing. */
  readonly closeNow: boolean;
}

/**
 * Callbacks (nghttp2's shape). `send` receives the output of a whole receive() or submit* call
 * at once. Every callback may call back into the session (submit*, consume), except receive().
 */
export interface SessionCallbacks {
  /** Bytes to write to the transport, in order; `length` is their total. */
  send(chunks: Buffer[], length: number): void;
  /** Every frame header read, before the frame is processed. */
  onBeginFrame?(type: number, streamId: number, flags: number, length: number): void;
  /** A valid header block arrived: its fields follow through onHeader, then onHeadersComplete. */
  onBeginHeaders?(streamId: number, category: HeadersCategory): void;
  /** One field; `neverIndexed`: the peer sent it as never indexed (RFC 7541 §7.1.3). */
  onHeader?(streamId: number, name: string, value: string, neverIndexed: boolean): void;
  /** The header block is complete (after its fields); END_STREAM as received. */
  onHeadersComplete?(streamId: number, category: HeadersCategory, endStream: boolean): void;
  /** Payload of a DATA frame (padding removed). Give the octets back with consume(). */
  onDataChunkRecv?(streamId: number, data: Buffer, endStream: boolean): void;
  /** A SETTINGS, PING, GOAWAY, RST_STREAM, WINDOW_UPDATE or PRIORITY frame was processed. */
  onFrameRecv?(type: number, streamId: number, flags: number, frame: unknown): void;
  /** The stream is gone from the session; `errorCode` is the RST_STREAM code (0 on end_stream). */
  onStreamClose?(streamId: number, errorCode: number, reason: StreamCloseReason): void;
  /** A frame was serialized into the output. */
  onFrameSend?(type: number, streamId: number, flags: number, length: number, errorCode: number): void;
  /** Queued DATA / trailers dropped because the stream closed first. */
  onFrameNotSend?(type: number, streamId: number, reason: string): void;
  /** A received frame broke a rule (the stream or connection error that was sent). */
  onInvalidFrame?(streamId: number, code: number, message: string): void;
  /** The session failed (after the GOAWAY, if any, was queued). */
  onError?(failure: SessionFailure): void;
  /** With deferData: a body or trailers were queued; call sendPending() before the turn ends. */
  onDataPending?(): void;
}

/** Stream record of the session. */
export interface SessionStream {
  readonly id: number;
  state: StreamState;
  readonly sendWindow: SendWindow;
  readonly recvWindow: RecvWindow;
  /** Counted as active in the store (open or half-closed). */
  active: boolean;
  /** Body waiting for flow-control window. */
  outData: BufferChain | undefined;
  /** END_STREAM goes out after outData (and outTrailers). */
  outEnd: boolean;
  outTrailers: HeaderList | undefined;
  outTrailersNeverIndexed: ReadonlySet<string> | undefined;
  /** In the DATA send queue. */
  queued: boolean;
  /** The request / final response headers were received. */
  headersReceived: boolean;
  /** Content-Length to check DATA against, -1 when not checked. */
  contentLength: number;
  bodyReceived: number;
  /** Client side: the request was HEAD (the response has no body whatever its length). */
  headRequest: boolean;
}

export function createSessionStream(id: number, sendInitial: number, recvInitial: number): SessionStream {
  return {
    id,
    state: StreamStates.idle,
    sendWindow: new SendWindow(sendInitial),
    recvWindow: new RecvWindow(recvInitial),
    active: false,
    outData: undefined,
    outEnd: false,
    outTrailers: undefined,
    outTrailersNeverIndexed: undefined,
    queued: false,
    headersReceived: false,
    contentLength: -1,
    bodyReceived: 0,
    headRequest: false,
  };
}
