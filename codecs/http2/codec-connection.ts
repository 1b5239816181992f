/**
 * What the HTTP/2 server and client codec connections share (Envoy's Http2::ConnectionImpl): the
 * session wired to a network Connection, dispatch(), GOAWAY, watermark relays, the
 * SETTINGS_TIMEOUT and keepalive PING timers, stats, and the routing of session callbacks to
 * streams. The subclasses add what a new header block means on their side.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type { Timer } from '../../src/api/dispatcher.js';
import type {
  CodecConnection, CodecConnectionCallbacks, CodecStatus, Protocol, StreamResetReason,
} from '../../src/api/http-codec.js';
import type { Connection, ConnectionEvent } from '../../src/api/network.js';
import type { Scope } from '../../src/api/stats.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import type { Http2CodecOptions } from '../codec-options.js';
import { ErrorCode, FrameType, MAX_WINDOW_SIZE, SettingId } from './frame.js';
import type { GoawayFrame, SettingsFrame } from './frame.js';
import {
  DEFAULT_MAX_CONTINUATION_FRAMES, DEFAULT_RESET_BURST, DEFAULT_RESET_RATE_PER_SECOND, createHttp2Stats,
} from './protections.js';
import type { Http2CodecStats } from './protections.js';
import type { Http2StreamBase, StreamOwner } from './codec-stream.js';
import { Http2Session } from './session.js';
import type {
  HeadersCategory, Perspective, SessionCallbacks, SessionFailure, StreamCloseReason,
} from './session.js';

/** Options beyond Http2CodecOptions (not in Envoy's protection set; defaults below). */
export interface Http2ConnectionExtras {
  /** SETTINGS must be acknowledged within this (RFC 9113 §6.5.3); 0 disables. Default 10 s. */
  readonly settingsTimeoutMs?: number;
  /** Envoy's `connection_keepalive`: PING every interval, close if no frame within timeout. */
  readonly connectionKeepalive?: { readonly intervalMs: number; readonly timeoutMs: number };
}

export const DEFAULT_SETTINGS_TIMEOUT_MS = 10_000;

const OK: CodecStatus = Object.freeze({ ok: true });

export abstract class Http2ConnectionBase implements CodecConnection, StreamOwner {
  readonly session: Http2Session;
  readonly stats: Http2CodecStats;
  protected readonly streams = new Map<number, Http2StreamBase>();
  private dispatching = false;
  private goAwayRaised = false;
  private settingsTimer: Timer | undefined;
  private keepaliveSendTimer: Timer | undefined;
  private keepaliveTimeoutTimer: Timer | undefined;
  private readonly keepalive: Http2ConnectionExtras['connectionKeepalive'];
  private settingsTimeoutMs = 0;

  constructor(
    readonly connection: Connection,
    private readonly connectionCallbacks: CodecConnectionCallbacks,
    protected readonly options: Http2CodecOptions,
    scope: Scope,
    perspective: Perspective,
    extras: Http2ConnectionExtras,
  ) {
    this.stats = createHttp2Stats(scope);
    const disp = connection.dispatcher();
    const maxHeaderListBytes = options.maxHeadersKb * 1024;
    this.session = new Http2Session(
      {
        perspective,
        settings: {
          maxConcurrentStreams: options.maxConcurrentStreams,
          initialWindowSize: Math.min(options.initialStreamWindowSize, MAX_WINDOW_SIZE),
          headerTableSize: options.hpackTableSize,
          ...(perspective === 'server' && options.allowConnect ? { enableConnectProtocol: true } : {}),
        },
        connectionWindowSize: options.initialConnectionWindowSize,
        maxHeaderListBytes,
        maxHeaderCount: options.maxHeadersCount,
        limits: {
          maxOutboundFrames: options.maxOutboundFrames,
          maxOutboundControlFrames: options.maxOutboundControlFrames,
          maxConsecutiveInboundFramesWithEmptyPayload: options.maxConsecutiveInboundFramesWithEmptyPayload,
          maxInboundPriorityFramesPerStream: options.maxInboundPriorityFramesPerStream,
          maxInboundWindowUpdateFramesPerDataFrameSent: options.maxInboundWindowUpdateFramesPerDataFrameSent,
          resetBurst: DEFAULT_RESET_BURST,
          resetRatePerSecond: DEFAULT_RESET_RATE_PER_SECOND,
          maxContinuationFrames: DEFAULT_MAX_CONTINUATION_FRAMES,
          // A block can be a little larger than the list it encodes; twice the limit is ample.
          maxHeaderBlockSize: 2 * maxHeaderListBytes + 16_384,
        },
        stats: this.stats,
        now: () => disp.approximateMonotonicTime(),
      },
      this.sessionCallbacks(),
    );
    const settingsTimeout = extras.settingsTimeoutMs ?? DEFAULT_SETTINGS_TIMEOUT_MS;
    if (settingsTimeout > 0) {
      this.settingsTimer = disp.createTimer(() => this.onSettingsTimeout());
      this.settingsTimeoutMs = settingsTimeout;
    }
    this.keepalive = extras.connectionKeepalive;
    if (this.keepalive !== undefined) {
      this.keepaliveTimeoutTimer = disp.createTimer(() => this.onKeepaliveTimeout());
      if (this.keepalive.intervalMs > 0) {
        this.keepaliveSendTimer = disp.createTimer(() => this.sendKeepalive());
        this.keepaliveSendTimer.enableTimer(this.keepalive.intervalMs);
      }
    }
    // Only to stop the timers: the owner (HCM, codec client) handles the close itself.
    connection.addConnectionCallbacks({
      onEvent: (event: ConnectionEvent) => {
        if (event !== 'Connected') this.disableTimers();
      },
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    });
    this.session.start();
  }

  // ---- session events, by side ----

  protected abstract onBeginHeaders(streamId: number, category: HeadersCategory): void;
  protected abstract onHeadersComplete(streamId: number, category: HeadersCategory, endStream: boolean): void;
  protected abstract resetReason(code: number, reason: StreamCloseReason): { reason: StreamResetReason; details: string };

  // ---- CodecConnection ----

  dispatch(data: BufferInstance): CodecStatus {
    const slices = data.takeSlices();
    let failure: SessionFailure | undefined = this.session.terminated;
    this.dispatching = true;
    try {
      for (let i = 0; i < slices.length && failure === undefined; i++) failure = this.session.receive(slices[i]!);
    } finally {
      this.dispatching = false;
    }
    if (failure === undefined) return OK;
    if (failure.closeNow) this.post(() => this.closeConnection(failure));
    return { ok: false, code: failure.status, message: failure.message };
  }

  goAway(): void {
    this.session.submitGoAway(ErrorCode.NO_ERROR);
  }

  shutdownNotice(): void {
    this.session.submitShutdownNotice();
  }

  protocol(): Protocol {
    return 'HTTP/2';
  }

  activeStreamCount(): number {
    return this.streams.size;
  }

  /** The transport is above its write high watermark. */
  outputBlocked = false;

  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void {
    if (this.outputBlocked) return;
    this.outputBlocked = true;
    this.session.setOutputBlocked(true);
    for (const s of [...this.streams.values()]) s.runHighWatermarkCallbacks();
  }

  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    if (!this.outputBlocked) return;
    this.outputBlocked = false;
    // Streams first: flushing the held output may push the transport above high again.
    for (const s of [...this.streams.values()]) s.runLowWatermarkCallbacks();
    this.session.setOutputBlocked(false);
  }

  // ---- StreamOwner ----

  post(cb: () => void): void {
    this.connection.dispatcher().post(cb);
  }

  onStreamDone(stream: Http2StreamBase): void {
    if (this.streams.get(stream.streamId) === stream) this.streams.delete(stream.streamId);
  }

  // ---- internals ----

  private sessionCallbacks(): SessionCallbacks {
    return {
      send: (chunks, length) => {
        if (length === 0 || this.connection.state() !== 'Open') return;
        const buf = new BufferChain();
        for (const c of chunks) buf.add(c);
        this.connection.write(buf, false);
      },
      onBeginFrame: () => {
        // Any frame shows the peer is alive (Envoy extends the keepalive timeout on each).
        if (this.keepaliveTimeoutTimer?.enabled() === true) this.keepaliveTimeoutTimer.enableTimer(this.keepalive!.timeoutMs);
      },
      onBeginHeaders: (id, category) => this.onBeginHeaders(id, category),
      onHeader: (id, name, value, never) => {
        const s = this.streams.get(id);
        if (s === undefined) this.stats.headers_cb_no_stream.inc();
        else s.builder.add(name, value, never);
      },
      onHeadersComplete: (id, category, endStream) => this.onHeadersComplete(id, category, endStream),
      onDataChunkRecv: (id, data, endStream) => {
        const s = this.streams.get(id);
        if (s === undefined) this.session.consume(id, data.length);
        else s.onData(data, endStream);
      },
      onFrameRecv: (type, _id, _flags, frame) => this.onFrameRecv(type, frame),
      onStreamClose: (id, code, reason) => {
        const s = this.streams.get(id);
        if (s === undefined) return;
        if (reason === 'end_stream') s.onClosed();
        else if (reason !== 'local_reset') {
          const r = this.resetReason(code, reason);
          s.onRemoteReset(r.reason, r.details);
        }
      },
      onFrameSend: (type, id, flags) => {
        if (type === FrameType.DATA) this.streams.get(id)?.checkWriteWatermarks();
        else if (type === FrameType.SETTINGS && (flags & 1) === 0) this.armSettingsTimer();
      },
      onError: (failure) => {
        if (!this.dispatching) this.post(() => this.closeConnection(failure));
      },
    };
  }

  private onFrameRecv(type: number, frame: unknown): void {
    if (type === FrameType.SETTINGS) {
      const f = frame as SettingsFrame;
      if (f.ack) {
        if (this.session.pendingSettingsAcks === 0) this.settingsTimer?.disableTimer();
        else this.armSettingsTimer();
        return;
      }
      const mcs = f.entries.find((e) => e.id === SettingId.MAX_CONCURRENT_STREAMS);
      if (mcs !== undefined) this.connectionCallbacks.onSettings?.({ maxConcurrentStreams: mcs.value });
    } else if (type === FrameType.GOAWAY) {
      // Raised once, like Envoy (later GOAWAYs only lower the last-stream-id).
      if (this.goAwayRaised) return;
      this.goAwayRaised = true;
      this.connectionCallbacks.onGoAway((frame as GoawayFrame).errorCode);
    } else if (type === FrameType.PING && this.keepalive !== undefined) {
      this.keepaliveTimeoutTimer?.disableTimer();
      if (this.keepaliveSendTimer !== undefined) this.keepaliveSendTimer.enableTimer(this.keepalive.intervalMs);
    }
  }

  private armSettingsTimer(): void {
    this.settingsTimer?.enableTimer(this.settingsTimeoutMs);
  }

  private onSettingsTimeout(): void {
    if (this.session.pendingSettingsAcks === 0 || this.session.terminated !== undefined) return;
    this.stats.settings_timeout.inc();
    this.session.terminate(ErrorCode.SETTINGS_TIMEOUT, 'SETTINGS not acknowledged in time');
  }

  private sendKeepalive(): void {
    if (this.keepaliveTimeoutTimer!.enabled() || this.session.terminated !== undefined) return;
    const opaque = Buffer.allocUnsafe(8);
    opaque.writeDoubleBE(this.connection.dispatcher().systemTime());
    this.session.submitPing(opaque);
    this.keepaliveTimeoutTimer!.enableTimer(this.keepalive!.timeoutMs);
  }

  private onKeepaliveTimeout(): void {
    this.stats.keepalive_timeout.inc();
    this.disableTimers();
    this.connection.close('NoFlush', 'http2_ping_timeout');
  }

  private closeConnection(failure: SessionFailure): void {
    this.disableTimers();
    if (this.connection.state() === 'Closed') return;
    this.connection.close(failure.closeNow ? 'NoFlush' : 'FlushWrite', `http2:${failure.flood ?? 'protocol_error'}`);
  }

  protected disableTimers(): void {
    this.settingsTimer?.disableTimer();
    this.keepaliveSendTimer?.disableTimer();
    this.keepaliveTimeoutTimer?.disableTimer();
  }
}
