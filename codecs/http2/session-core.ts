/**
 * The state both halves of the HTTP/2 session share (session-send.ts sends, session.ts
 * receives): settings and their ACK cycle, windows, the stream store, HPACK, output batching,
 * flood accounting, stream close, and failure. Pure: no sockets, no timers.
 *
 * Output: frames are collected in one batch and handed to `send` once per receive() or submit*
 * call. While the owner says the transport is above its write high watermark
 * (setOutputBlocked), the batch is held and no DATA is scheduled; frames held count toward the
 * outbound flood limits (protections.ts). After a failure only its GOAWAY goes out.
 */
import { CLIENT_PREFACE, DEFAULT_SETTINGS, FRAME_HEADER_LENGTH, Flag, FrameType, SettingId, settingsToEntries } from './frame.js';
import type { Http2Settings, SettingsEntry } from './frame.js';
import { FrameReader, HeaderBlockAssembler } from './frame-reader.js';
import {
  encodeGoaway, encodeHeaders, encodeRstStream, encodeSettings, encodeWindowUpdate, writeFrameHeader,
} from './frame-writer.js';
import { DEFAULT_INITIAL_WINDOW_SIZE, RecvWindow, SendWindow } from './flow-control.js';
import { HEADER_FIELD_OVERHEAD, HpackDecoder, HpackEncoder } from './hpack.js';
import type { HeaderList } from './hpack.js';
import { FloodProtection } from './protections.js';
import type { FloodViolation, Http2CodecStats } from './protections.js';
import type {
  SessionCallbacks, SessionFailure, SessionOptions, SessionStream, StreamCloseReason,
} from './session-types.js';
import { StreamStates } from './stream-state.js';
import type { CloseCause, StreamState } from './stream-state.js';
import { StreamStore } from './stream-store.js';

const S = StreamStates;
/** Opaque data of the PING that follows the first GOAWAY of a graceful shutdown. */
export const SHUTDOWN_PING = Buffer.from('sluicegw', 'latin1');

const CLOSE_CAUSE: Readonly<Record<StreamCloseReason, CloseCause>> = {
  end_stream: 'end_stream',
  local_reset: 'local_reset',
  protocol_error: 'local_reset',
  remote_reset: 'remote_reset',
};

export abstract class SessionCore {
  protected readonly server: boolean;
  protected readonly store: StreamStore<SessionStream>;
  protected readonly reader: FrameReader;
  protected readonly assembler: HeaderBlockAssembler;
  protected readonly hpackIn: HpackDecoder;
  protected readonly hpackOut: HpackEncoder;
  protected readonly protection: FloodProtection;
  protected readonly stats: Http2CodecStats;
  /** The peer's settings as last received. */
  protected readonly remote: Http2Settings = { ...DEFAULT_SETTINGS };
  /** Our settings in force (what the peer acknowledged; increases apply when sent). */
  protected readonly local: Http2Settings = { ...DEFAULT_SETTINGS };
  /** SETTINGS we sent and the peer has not acknowledged yet, oldest first. */
  protected readonly pendingLocal: SettingsEntry[][] = [];
  protected readonly connSend = new SendWindow();
  protected readonly connRecv = new RecvWindow();
  /** Set once: the session is over. */
  protected failure: SessionFailure | undefined;
  /** Last-stream-id of the final GOAWAY we sent (shutdown notices do not count). */
  protected goAwaySentLast: number | undefined;
  /** Last-stream-id of the GOAWAY the peer sent. */
  protected goAwayRecvLast: number | undefined;
  protected shutdownPingPending = false;
  protected inReceive = false;

  protected out: Buffer[] = [];
  protected outLength = 0;
  protected blocked = false;
  /** Streams with body or trailers waiting (session-send.ts). */
  protected readonly sendQueue: SessionStream[] = [];

  constructor(
    protected readonly options: SessionOptions,
    protected readonly callbacks: SessionCallbacks,
  ) {
    this.server = options.perspective === 'server';
    this.store = new StreamStore(options.perspective);
    this.stats = options.stats;
    this.protection = new FloodProtection(options.limits);
    this.reader = new FrameReader({ expectClientPreface: this.server, requireSettingsFirst: true });
    this.assembler = new HeaderBlockAssembler({
      maxBlockSize: options.limits.maxHeaderBlockSize,
      maxContinuationFrames: options.limits.maxContinuationFrames,
    });
    // The HPACK list limit is the RFC size (+32 per field): set it so that any list within
    // Envoy's limits (names + values, count) passes; the exact check runs on the decoded list.
    this.hpackIn = new HpackDecoder({
      maxHeaderListSize: options.maxHeaderListBytes + HEADER_FIELD_OVERHEAD * options.maxHeaderCount,
      maxHeaderCount: options.maxHeaderCount,
    });
    this.hpackOut = new HpackEncoder();
  }

  /** Queues our connection preface (client magic, SETTINGS, connection WINDOW_UPDATE) and sends it. */
  start(): void {
    if (!this.server) this.emit(Buffer.from(CLIENT_PREFACE), false, false);
    const wanted: Partial<Http2Settings> = { ...this.options.settings };
    if (!this.server) wanted.enablePush = false;
    const entries = settingsToEntries(wanted).filter((e) => !isDefault(e));
    this.queueSettings(entries);
    const inc = this.connRecv.raiseTarget(this.options.connectionWindowSize);
    if (inc > 0) this.emitWindowUpdate(0, inc);
    this.flushIfIdle();
  }

  // ---- queries ----

  get terminated(): SessionFailure | undefined {
    return this.failure;
  }

  /** SETTINGS frames sent and not yet acknowledged (the owner runs SETTINGS_TIMEOUT on it). */
  get pendingSettingsAcks(): number {
    return this.pendingLocal.length;
  }

  /** The peer's settings. */
  get remoteSettings(): Readonly<Http2Settings> {
    return this.remote;
  }

  /** Our settings in force. */
  get localSettings(): Readonly<Http2Settings> {
    return this.local;
  }

  get activeStreams(): number {
    return this.store.activeLocal + this.store.activePeer;
  }

  /** Last-stream-id of the GOAWAY received, if one was. */
  get goAwayReceived(): number | undefined {
    return this.goAwayRecvLast;
  }

  /** The state of a stream the session holds, or undefined. */
  streamState(streamId: number): StreamState | undefined {
    return this.store.get(streamId)?.state;
  }

  /** Body octets queued for a stream, waiting for window or for the transport. */
  pendingSendBytes(streamId: number): number {
    return this.store.get(streamId)?.outData?.length ?? 0;
  }

  /** Octets we may send on the connection / a stream now. */
  connectionSendWindow(): number {
    return this.connSend.window;
  }

  streamSendWindow(streamId: number): number | undefined {
    return this.store.get(streamId)?.sendWindow.window;
  }

  // ---- output ----

  /** The transport went above (true) or below (false) its write watermarks. */
  setOutputBlocked(blocked: boolean): void {
    if (this.blocked === blocked) return;
    this.blocked = blocked;
    if (!blocked) {
      this.scheduleData();
      this.flushIfIdle();
    }
  }

  /** Sends queued bodies as windows allow (session-send.ts). */
  protected abstract scheduleData(): void;

  /** Hands the batch to `send` (unless held). */
  protected flush(): void {
    if (this.outLength === 0 && this.out.length === 0) return;
    if (this.blocked && this.failure === undefined) return;
    const chunks = this.out;
    const length = this.outLength;
    this.out = [];
    this.outLength = 0;
    this.protection.onQueueFlushed();
    this.callbacks.send(chunks, length);
  }

  protected flushIfIdle(): void {
    if (!this.inReceive) this.flush();
  }

  /** Appends one frame (or HEADERS + CONTINUATION*) to the batch, with flood accounting. */
  protected emit(buf: Buffer, control: boolean, data: boolean): void {
    // After a failure nothing but its GOAWAY goes out.
    if (this.failure !== undefined) return;
    this.out.push(buf);
    this.outLength += buf.length;
    this.countFrame(control, data);
  }

  protected countFrame(control: boolean, data: boolean): void {
    if (this.failure !== undefined) return;
    const v = this.protection.onFrameQueued(control, data);
    if (v !== undefined) this.floodFailure(v);
  }

  protected emitWindowUpdate(streamId: number, increment: number): void {
    this.emit(encodeWindowUpdate(streamId, increment), false, false);
    this.callbacks.onFrameSend?.(FrameType.WINDOW_UPDATE, streamId, 0, 4, 0);
  }

  protected emitRstStream(streamId: number, code: number): void {
    this.emit(encodeRstStream(streamId, code), true, false);
    this.stats.tx_reset.inc();
    this.callbacks.onFrameSend?.(FrameType.RST_STREAM, streamId, 0, 4, code);
  }

  protected emitHeaders(streamId: number, headers: HeaderList, endStream: boolean, neverIndexed?: ReadonlySet<string>): void {
    // The block is encoded behind room for the frame header: one copy when it fits one frame.
    const encoded = this.hpackOut.encodeReserving(headers, neverIndexed, FRAME_HEADER_LENGTH);
    const length = encoded.length - FRAME_HEADER_LENGTH;
    const flags = (endStream ? Flag.END_STREAM : 0) | Flag.END_HEADERS;
    let buf: Buffer;
    if (length <= this.remote.maxFrameSize) {
      writeFrameHeader(encoded, 0, length, FrameType.HEADERS, flags, streamId);
      buf = encoded;
    } else {
      buf = encodeHeaders(streamId, encoded.subarray(FRAME_HEADER_LENGTH), { endStream, maxFrameSize: this.remote.maxFrameSize });
    }
    this.emit(buf, false, false);
    this.callbacks.onFrameSend?.(FrameType.HEADERS, streamId, flags, length, 0);
  }

  protected queueSettings(entries: SettingsEntry[]): void {
    this.emit(encodeSettings(entries), false, false);
    this.pendingLocal.push(entries);
    // Increases take effect at once (the peer may use them as soon as it reads them);
    // decreases once acknowledged (RFC 9113 §6.5.3).
    this.applyLocalSettings(entries, true);
    this.callbacks.onFrameSend?.(FrameType.SETTINGS, 0, 0, entries.length * 6, 0);
  }

  /** Applies our own settings: `increasesOnly` when sending, everything when acknowledged. */
  protected applyLocalSettings(entries: readonly SettingsEntry[], increasesOnly: boolean): void {
    for (const { id, value } of entries) {
      switch (id) {
        case SettingId.HEADER_TABLE_SIZE:
          if (!increasesOnly || value > this.local.headerTableSize) {
            this.local.headerTableSize = value;
            this.hpackIn.setMaxTableSize(value);
          }
          break;
        case SettingId.INITIAL_WINDOW_SIZE: {
          const delta = value - this.local.initialWindowSize;
          if (increasesOnly && delta <= 0) break;
          this.local.initialWindowSize = value;
          for (const s of this.store.values()) s.recvWindow.applyInitialWindowDelta(delta);
          break;
        }
        case SettingId.MAX_FRAME_SIZE:
          if (!increasesOnly || value > this.local.maxFrameSize) {
            this.local.maxFrameSize = value;
            this.reader.setMaxFrameSize(value);
          }
          break;
        case SettingId.MAX_CONCURRENT_STREAMS:
          // Enforced at once either way, as nghttp2 does: refusing a stream (REFUSED_STREAM) is
          // always allowed, so the peer cannot open more by delaying its ACK.
          this.local.maxConcurrentStreams = value;
          break;
        case SettingId.ENABLE_PUSH:
          this.local.enablePush = value === 1;
          break;
        case SettingId.ENABLE_CONNECT_PROTOCOL:
          this.local.enableConnectProtocol = value === 1;
          break;
        case SettingId.MAX_HEADER_LIST_SIZE:
          this.local.maxHeaderListSize = value;
          break;
        default:
          break;
      }
    }
  }

  // ---- stream lifecycle ----

  protected activate(s: SessionStream): void {
    if (s.active) return;
    s.active = true;
    this.store.activate(s.id);
    this.stats.streams_active.inc();
  }

  /** RST_STREAM(code) on a held stream and close it. */
  protected resetStream(s: SessionStream, code: number, reason: StreamCloseReason): void {
    this.emitRstStream(s.id, code);
    s.state = S.closedLocalReset;
    this.closeStream(s, reason, code);
  }

  /** Removes a closed stream, drops what it still had queued, and reports it. */
  protected closeStream(s: SessionStream, reason: StreamCloseReason, code: number): void {
    if (this.store.get(s.id) !== s) return;
    if (s.active) {
      s.active = false;
      this.store.deactivate(s.id);
      this.stats.streams_active.dec();
    }
    s.queued = false;
    if (s.outData !== undefined && s.outData.length > 0) {
      this.stats.pending_send_bytes.dec(s.outData.length);
      s.outData.drain(s.outData.length);
      this.callbacks.onFrameNotSend?.(FrameType.DATA, s.id, 'stream closed');
    }
    s.outTrailers = undefined;
    this.store.remove(s.id, CLOSE_CAUSE[reason]);
    this.callbacks.onStreamClose?.(s.id, code, reason);
  }

  /**
   * The session is over (failure, or the transport closed): the streams stop counting as active
   * and their queued bodies are dropped, so the gauges hold only live connections.
   */
  release(): void {
    this.sendQueue.length = 0;
    for (const s of this.store.values()) {
      s.queued = false;
      if (s.active) {
        s.active = false;
        this.store.deactivate(s.id);
        this.stats.streams_active.dec();
      }
      if (s.outData !== undefined && s.outData.length > 0) {
        this.stats.pending_send_bytes.dec(s.outData.length);
        s.outData.drain(s.outData.length);
      }
    }
  }

  // ---- failure ----

  /** A connection error (RFC 9113 §5.4.1): GOAWAY(code) and the session is over. */
  protected connectionError(code: number, message: string): void {
    if (this.failure !== undefined) return;
    this.fail({ goAwayCode: code, message, status: 'CodecProtocolError', flood: undefined, closeNow: false });
  }

  protected floodFailure(v: FloodViolation): void {
    if (this.failure !== undefined) return;
    this.stats[v.stat].inc();
    this.fail({
      goAwayCode: v.goAwayCode,
      message: v.message,
      status: v.status,
      flood: v.stat,
      closeNow: v.goAwayCode === undefined,
    });
  }

  private fail(failure: SessionFailure): void {
    this.failure = failure;
    // Nothing more is sent or received (the application learns of the end through the
    // connection closing).
    this.release();
    if (failure.goAwayCode !== undefined) {
      this.stats.goaway_sent.inc();
      const last = this.server ? this.store.highestPeer : 0;
      this.out.push(encodeGoaway(last, failure.goAwayCode, Buffer.from(failure.message, 'latin1')));
      this.outLength += 17 + failure.message.length;
      this.callbacks.onFrameSend?.(FrameType.GOAWAY, 0, 0, 8 + failure.message.length, failure.goAwayCode);
    } else {
      // The peer is not reading: nothing more goes out.
      this.out = [];
      this.outLength = 0;
    }
    // The GOAWAY goes out before the owner hears of the failure (it may close the transport).
    this.flushIfIdle();
    this.callbacks.onError?.(failure);
  }
}

/** True for a setting whose value is the RFC default (not worth sending). */
function isDefault(e: SettingsEntry): boolean {
  switch (e.id) {
    case SettingId.HEADER_TABLE_SIZE: return e.value === DEFAULT_SETTINGS.headerTableSize;
    case SettingId.INITIAL_WINDOW_SIZE: return e.value === DEFAULT_INITIAL_WINDOW_SIZE;
    case SettingId.MAX_FRAME_SIZE: return e.value === DEFAULT_SETTINGS.maxFrameSize;
    case SettingId.ENABLE_CONNECT_PROTOCOL: return e.value === 0;
    default: return false;
  }
}
