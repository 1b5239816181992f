/**
 * What the HTTP/2 server and client codec connections share (Envoy's Http2::ConnectionImpl): the
 * session wired to a network Connection, dispatch(), GOAWAY, watermark relays, the
 * SETTINGS_TIMEOUT and keepalive PING timers (keepalive.ts), stats, and the routing of session
 * callbacks to streams. The subclasses add what a new header block means on their side.
 *
 * Output is batched per loop turn (see queueOutput): one write per connection per turn whatever
 * the number of streams answered in it, bodies framed at that point so that a body and its
 * END_STREAM share a DATA frame. From a GOAWAY on, and after a failure, it is written at once.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type { Timer } from '../../src/api/dispatcher.js';
import type {
  CodecConnection, CodecConnectionCallbacks, CodecStatus, Protocol, StreamResetReason,
} from '../../src/api/http-codec.js';
import type { Connection, ConnectionEvent } from '../../src/api/network.js';
import type { Scope } from '../../src/api/stats.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import { DEFAULT_SETTINGS_TIMEOUT_MS } from '../codec-options.js';
import type { Http2CodecOptions } from '../codec-options.js';
import { ErrorCode, FrameType, MAX_WINDOW_SIZE, SettingId } from './frame.js';
import type { GoawayFrame, SettingsFrame } from './frame.js';
import {
  DEFAULT_MAX_CONTINUATION_FRAMES, DEFAULT_RESET_BURST, DEFAULT_RESET_RATE_PER_SECOND, createHttp2Stats,
} from './protections.js';
import type { Http2CodecStats } from './protections.js';
import type { Http2StreamBase, StreamOwner } from './codec-stream.js';
import { Http2Keepalive } from './keepalive.js';
import { Http2Session } from './session.js';
import type {
  HeadersCategory, Perspective, SessionCallbacks, SessionFailure, StreamCloseReason,
} from './session.js';

const OK: CodecStatus = Object.freeze({ ok: true });

export abstract class Http2ConnectionBase implements CodecConnection, StreamOwner {
  readonly session: Http2Session;
  readonly stats: Http2CodecStats;
  protected readonly streams = new Map<number, Http2StreamBase>();
  private dispatching = false;
  private goAwayRaised = false;
  private settingsTimer: Timer | undefined;
  protected readonly keepalive: Http2Keepalive | undefined;
  private settingsTimeoutMs = 0;
  /** Session output not yet written (see queueOutput). */
  private outChunks: Buffer[] = [];
  private outBytes = 0;
  private writePosted = false;
  private writeEagerly = false;
  private inPostedWrite = false;

  constructor(
    readonly connection: Connection,
    private readonly connectionCallbacks: CodecConnectionCallbacks,
    protected readonly options: Http2CodecOptions,
    scope: Scope,
    perspective: Perspective,
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
    const settingsTimeout = options.settingsTimeoutMs ?? DEFAULT_SETTINGS_TIMEOUT_MS;
    if (settingsTimeout > 0) {
      this.settingsTimer = disp.createTimer(() => this.onSettingsTimeout());
      this.settingsTimeoutMs = settingsTimeout;
    }
    const ka = options.connectionKeepalive;
    this.keepalive =
      ka === undefined
        ? undefined
        : new Http2Keepalive(disp, ka, {
          sendPing: (opaque) => {
            if (this.session.terminated === undefined) this.session.submitPing(opaque);
          },
          onTimeout: () => this.onKeepaliveTimeout(),
        });
    // To stop the timers and release what the streams hold: the owner (HCM, codec client)
    // handles the close of its streams itself.
    connection.addConnectionCallbacks({
      onEvent: (event: ConnectionEvent) => {
        if (event !== 'Connected') this.onTransportClosed();
      },
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    });
    this.session.deferData = true;
    this.session.start();
  }

  // ---- session events, by side ----

  protected abstract onBeginHeaders(streamId: number, category: HeadersCategory): void;
  protected abstract onHeadersComplete(streamId: number, category: HeadersCategory, endStream: boolean): void;
  protected abstract resetReason(code: number, reason: StreamCloseReason): { reason: StreamResetReason; details: string };

  // ---- CodecConnection ----

  dispatch(data: BufferInstance): CodecStatus {
    const slices = data.takeSlices();
    this.keepalive?.onDataReceived();
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
    this.writeFromNowOn();
    this.session.submitGoAway(ErrorCode.NO_ERROR);
    this.writeOutput();
  }

  shutdownNotice(): void {
    this.writeFromNowOn();
    this.session.submitShutdownNotice();
    this.writeOutput();
  }

  /** From here on the owner may close the connection right after any call: no more batching. */
  private writeFromNowOn(): void {
    if (this.writeEagerly) return;
    this.writeEagerly = true;
    this.session.deferData = false;
    this.session.sendPending();
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

  // ---- output ----

  /**
   * The session's output, written to the connection once per loop turn (from a posted callback)
   * rather than once per submit: every response HEADERS and DATA of a turn, on every stream,
   * goes out in one write (Node's http2 batches the same way, nghttp2 output flushed from an
   * immediate). Written at once after a failure (its GOAWAY precedes the close) and once a GOAWAY
   * was asked for (the owner closes the connection as soon as the last stream is done).
   */
  private queueOutput(chunks: Buffer[], length: number): void {
    if (length === 0) return;
    for (let i = 0; i < chunks.length; i++) this.outChunks.push(chunks[i]!);
    this.outBytes += length;
    if (this.writeEagerly || this.session.terminated !== undefined) {
      this.writeOutput();
      return;
    }
    if (!this.inPostedWrite) this.postWrite();
  }

  private postWrite(): void {
    if (this.writePosted) return;
    this.writePosted = true;
    this.connection.dispatcher().post(this.writePostedOutput);
  }

  /** End of the turn: frame the bodies queued meanwhile (session.deferData), then write it all. */
  private readonly writePostedOutput = (): void => {
    this.writePosted = false;
    this.inPostedWrite = true;
    try {
      this.session.sendPending();
    } finally {
      this.inPostedWrite = false;
    }
    this.writeOutput();
  };

  /** Writes what is queued, in one connection write. */
  private writeOutput(): void {
    if (this.outBytes === 0) return;
    const chunks = this.outChunks;
    this.outChunks = [];
    this.outBytes = 0;
    if (this.connection.state() !== 'Open') return;
    // The connection's socket writer coalesces small frames and passes large payloads by reference.
    const buf = new BufferChain();
    for (let k = 0; k < chunks.length; k++) buf.add(chunks[k]!);
    this.connection.write(buf, false);
  }

  // ---- internals ----

  private sessionCallbacks(): SessionCallbacks {
    return {
      send: (chunks, length) => this.queueOutput(chunks, length),
      onBeginFrame: (type, _id, flags) => {
        // Any frame but the PING ACK itself shows the peer is alive (Envoy extends the wait).
        if (this.keepalive !== undefined && !(type === FrameType.PING && (flags & 1) !== 0)) this.keepalive.onFrameReceived();
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
      onDataPending: () => this.postWrite(),
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
    } else if (type === FrameType.PING) {
      // Only ACKs reach here (the session answers PINGs itself).
      this.keepalive?.onPingAck();
    }
  }

  private armSettingsTimer(): void {
    this.settingsTimer?.enableTimer(this.settingsTimeoutMs);
  }

  private onTransportClosed(): void {
    this.disableTimers();
    this.outChunks = [];
    this.outBytes = 0;
    this.session.release();
    for (const s of this.streams.values()) s.onTransportClosed();
  }

  private onSettingsTimeout(): void {
    if (this.session.pendingSettingsAcks === 0 || this.session.terminated !== undefined) return;
    this.stats.settings_timeout.inc();
    this.session.terminate(ErrorCode.SETTINGS_TIMEOUT, 'SETTINGS not acknowledged in time');
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
    this.keepalive?.disable();
  }
}
