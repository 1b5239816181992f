/**
 * The HTTP connection manager network filter (Envoy's ConnectionManagerImpl): picks the codec
 * (ALPN, else the HTTP/2 preface, else HTTP/1 — or as configured), feeds it the connection's
 * bytes, creates an ActiveStream per request, and manages the connection's life: idle timeout,
 * max_connection_duration, server drain, codec errors, and closing once a draining connection has
 * no streams left.
 *
 * Drain: HTTP/1 connections answer their current request with `connection: close` and close
 * after it; HTTP/2 connections get a GOAWAY with the last stream id 2^31-1 (shutdownNotice), then
 * after drain_timeout a real GOAWAY, and close once their streams are done. Idle connections close
 * at once.
 */
import type { BufferInstance } from '../../../src/api/buffer.js';
import type { Timer } from '../../../src/api/dispatcher.js';
import type { Protocol, ResponseEncoder, ServerConnection, ServerConnectionCallbacks, RequestDecoder } from '../../../src/api/http-codec.js';
import type {
  Connection,
  ConnectionCallbacks,
  ConnectionCloseType,
  ConnectionEvent,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
} from '../../../src/api/network.js';
import type { Counter, Gauge } from '../../../src/api/stats.js';
import type { ResponseFlag } from '../../../src/api/stream-info.js';
import { IntrusiveList } from '../../../src/common/intrusive-list.js';
import { createServerCodec, detectCodec, HTTP2_PREFACE, type CodecKind } from '../../../codecs/index.js';
import { ActiveStream, type ActiveStreamOwner, type DrainState } from './active-stream.js';
import type { HcmRuntime } from './hcm-config.js';

/** What src/network's ConnectionImpl offers beyond the api: live byte counters and buffer gauges. */
interface LiveStatsConnection {
  setStatsCounters(counters: {
    readonly rxTotal?: Counter;
    readonly txTotal?: Counter;
    readonly rxBuffered?: Gauge;
    readonly txBuffered?: Gauge;
    readonly delayedCloseTimeouts?: Counter;
  }): void;
}

function hasLiveStats(c: Connection): c is Connection & LiveStatsConnection {
  return typeof (c as Partial<LiveStatsConnection>).setStatsCounters === 'function';
}

/** The IMF-fixdate of the current second, formatted at most once a second per process. */
let cachedDateSecond = -1;
let cachedDate = '';

function dateFor(nowMs: number): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== cachedDateSecond) {
    cachedDateSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
  }
  return cachedDate;
}

export class HttpConnectionManager implements ReadFilter, ServerConnectionCallbacks, ConnectionCallbacks, ActiveStreamOwner {
  drainState: DrainState = 'NotDraining';
  remoteClosed = false;
  private readCallbacks: ReadFilterCallbacks | undefined;
  private codec: ServerConnection | undefined;
  private codecKind: CodecKind | undefined;
  private readonly streams = new IntrusiveList<ActiveStream>();
  private idleTimer: Timer | undefined;
  private durationTimer: Timer | undefined;
  private drainTimer: Timer | undefined;
  private unsubscribeDrain: (() => void) | undefined;
  private startMonotonic = 0;
  private requestCount = 0;
  /** A close was asked for (the Close event may come later, after the flush). */
  private closing = false;
  private closed = false;

  constructor(readonly runtime: HcmRuntime) {}

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.readCallbacks = cb;
  }

  connection(): Connection {
    return this.readCallbacks!.connection();
  }

  protocol(): Protocol {
    return this.codec?.protocol() ?? 'HTTP/1.1';
  }

  onNewConnection(): FilterStatus {
    const conn = this.connection();
    const { settings, stats } = this.runtime;
    const disp = conn.dispatcher();
    this.startMonotonic = disp.approximateMonotonicTime();
    conn.addConnectionCallbacks(this);
    conn.setDelayedCloseTimeout(settings.delayedCloseTimeoutMs);
    // Envoy's HCM: the connection's bytes and buffers under `http.<stat_prefix>.downstream_cx_*`.
    if (hasLiveStats(conn)) {
      conn.setStatsCounters({
        rxTotal: stats.downstream_cx_rx_bytes_total,
        txTotal: stats.downstream_cx_tx_bytes_total,
        rxBuffered: stats.downstream_cx_rx_bytes_buffered,
        txBuffered: stats.downstream_cx_tx_bytes_buffered,
        delayedCloseTimeouts: stats.downstream_cx_delayed_close_timeout,
      });
    }
    stats.downstream_cx_total.inc();
    stats.downstream_cx_active.inc();
    if (conn.ssl()) stats.downstream_cx_ssl_total.inc();
    if (settings.idleTimeoutMs > 0) {
      this.idleTimer = disp.createTimer(() => this.onIdleTimeout());
      this.idleTimer.enableTimer(settings.idleTimeoutMs);
    }
    if (settings.maxConnectionDurationMs > 0) {
      this.durationTimer = disp.createTimer(() => this.onConnectionDurationTimeout());
      this.durationTimer.enableTimer(settings.maxConnectionDurationMs);
    }
    this.unsubscribeDrain = this.runtime.drainDecision.addOnDrainCloseCb(() => this.onDrainClose());
    return 'Continue';
  }

  onData(data: BufferInstance, _endStream: boolean): FilterStatus {
    if (this.closed) return 'StopIteration';
    if (this.codec === undefined) {
      const kind = this.chooseCodec(data);
      // A strict prefix of the HTTP/2 preface: the bytes stay in the read buffer until more come.
      if (kind === 'need-more') return 'StopIteration';
      this.createCodec(kind);
    }
    const codec = this.codec!;
    const conn = this.connection();
    for (;;) {
      const before = data.length;
      const status = codec.dispatch(data);
      if (!status.ok) {
        if (status.code === 'CodecProtocolError') this.runtime.stats.downstream_cx_protocol_error.inc();
        this.doConnectionClose('FlushWriteAndDelay', 'DPE', `codec_error:${status.message.replace(/\s/g, '_')}`);
        return 'StopIteration';
      }
      this.checkForDeferredClose(false);
      // HTTP/1 stops after each message; with the last stream already done, go on with the next
      // pipelined request now (while one is in flight the codec resumes once its response is out).
      const redispatch =
        this.codecKind === 'http1' && conn.state() === 'Open' && data.length > 0 && data.length < before && this.streams.size === 0;
      if (!redispatch) break;
    }
    return 'StopIteration';
  }

  private chooseCodec(data: BufferInstance): CodecKind | 'need-more' {
    const type = this.runtime.settings.codecType;
    if (type === 'HTTP1') return 'http1';
    if (type === 'HTTP2') return 'http2';
    const slices = data.slices();
    const first = slices.length > 0 && slices[0]!.length >= HTTP2_PREFACE.length ? slices[0]! : data.toBuffer();
    return detectCodec(first, this.connection().nextProtocol());
  }

  private createCodec(kind: CodecKind): void {
    const { settings, stats, codecScope } = this.runtime;
    this.codecKind = kind;
    this.codec = createServerCodec(kind, this.connection(), this, { http1: settings.http1, http2: settings.http2 }, codecScope);
    if (kind === 'http2') {
      stats.downstream_cx_http2_total.inc();
      stats.downstream_cx_http2_active.inc();
    } else {
      stats.downstream_cx_http1_total.inc();
      stats.downstream_cx_http1_active.inc();
    }
  }

  // ---- ServerConnectionCallbacks ----

  newStream(encoder: ResponseEncoder): RequestDecoder {
    const stats = this.runtime.stats;
    stats.downstream_rq_total.inc();
    if (this.codecKind === 'http2') stats.downstream_rq_http2_total.inc();
    else stats.downstream_rq_http1_total.inc();
    stats.downstream_rq_active.inc();
    this.idleTimer?.disableTimer();
    const stream = new ActiveStream(this, encoder);
    this.streams.pushBack(stream);
    const max = this.runtime.settings.maxRequestsPerConnection;
    if (max > 0 && ++this.requestCount >= max) {
      stats.downstream_cx_max_requests_reached.inc();
      // HTTP/1: this response carries connection: close; HTTP/2: GOAWAY, then close when idle.
      if (this.codecKind === 'http2') this.startDrainSequence();
      else this.drainState = 'Closing';
    }
    return stream;
  }

  onGoAway(_errorCode: number): void {
    // The client will open no new streams; ours finish as usual.
  }

  // ---- ActiveStreamOwner ----

  onStreamDestroyed(stream: ActiveStream): void {
    this.streams.remove(stream);
    if (this.streams.size === 0 && this.idleTimer !== undefined && !this.closing && !this.closed) {
      this.idleTimer.enableTimer(this.runtime.settings.idleTimeoutMs);
    }
  }

  dateHeader(): string {
    return dateFor(this.connection().dispatcher().systemTime());
  }

  /** Closes the connection when it is draining to a close and no stream is left. */
  checkForDeferredClose(skipDelay: boolean): void {
    if (this.closed || this.drainState !== 'Closing' || this.streams.size > 0) return;
    if (this.connection().state() !== 'Open') return;
    this.doConnectionClose(skipDelay ? 'FlushWrite' : 'FlushWriteAndDelay', undefined, 'deferred_close_on_drained_connection');
  }

  startDrainSequence(): void {
    if (this.drainState !== 'NotDraining') return;
    this.drainState = 'Draining';
    this.codec?.shutdownNotice();
    this.drainTimer = this.connection()
      .dispatcher()
      .createTimer(() => this.onDrainTimeout());
    this.drainTimer.enableTimer(this.runtime.settings.drainTimeoutMs);
  }

  private onDrainTimeout(): void {
    if (this.closed) return;
    this.codec?.goAway();
    this.drainState = 'Closing';
    this.checkForDeferredClose(false);
  }

  /**
   * Resets every stream (they get `flag` and `details`), then closes the connection with `type`
   * (undefined when it is already closed).
   */
  doConnectionClose(type: ConnectionCloseType | undefined, flag: ResponseFlag | undefined, details: string): void {
    this.closing = true;
    this.disableTimers();
    if (this.streams.size > 0) {
      const stats = this.runtime.stats;
      if (type !== undefined) stats.downstream_cx_destroy_local_active_rq.inc();
      else if (this.remoteClosed) stats.downstream_cx_destroy_remote_active_rq.inc();
      stats.downstream_cx_destroy_active_rq.inc();
      for (const s of this.streams.toArray()) s.onConnectionTermination(flag, details);
    }
    if (type !== undefined && this.connection().state() === 'Open') this.connection().close(type, details);
  }

  private disableTimers(): void {
    this.idleTimer?.disableTimer();
    this.durationTimer?.disableTimer();
    this.drainTimer?.disableTimer();
  }

  // ---- connection-level timeouts and drain ----

  private onIdleTimeout(): void {
    if (this.closing || this.closed || this.streams.size > 0) return;
    this.runtime.stats.downstream_cx_idle_timeout.inc();
    if (this.codec !== undefined && this.codecKind === 'http2') {
      if (this.drainState === 'NotDraining') this.startDrainSequence();
      return;
    }
    // HTTP/1 (or nothing decided yet): nothing in flight, so close now.
    this.doConnectionClose('FlushWrite', undefined, 'idle_timeout');
  }

  private onConnectionDurationTimeout(): void {
    if (this.closing || this.closed) return;
    this.runtime.stats.downstream_cx_max_duration_reached.inc();
    if (this.codec === undefined) {
      this.doConnectionClose('FlushWrite', 'DT', 'max_connection_duration_reached');
      return;
    }
    this.drainOrClose();
  }

  /** Server drain: idle connections close now, busy ones after their streams. */
  private onDrainClose(): void {
    if (this.closing || this.closed) return;
    this.runtime.stats.downstream_cx_drain_close.inc();
    this.drainOrClose();
  }

  private drainOrClose(): void {
    if (this.streams.size === 0) {
      this.codec?.goAway();
      this.drainState = 'Closing';
      this.doConnectionClose('FlushWrite', undefined, 'drain_close');
      return;
    }
    if (this.codecKind === 'http2') {
      this.startDrainSequence();
      return;
    }
    // HTTP/1: the response in flight carries connection: close (unless its headers are out) and
    // the connection closes once the stream is done.
    this.drainState = 'Closing';
  }

  // ---- ConnectionCallbacks ----

  onEvent(event: ConnectionEvent): void {
    if (event === 'Connected' || this.closed) return;
    const stats = this.runtime.stats;
    let details: string;
    if (event === 'RemoteClose') {
      this.remoteClosed = true;
      stats.downstream_cx_destroy_remote.inc();
      details = 'downstream_remote_disconnect';
    } else {
      stats.downstream_cx_destroy_local.inc();
      const reason = this.connection().localCloseReason();
      details = `downstream_local_disconnect(${reason === '' ? 'unknown' : reason.replace(/\s/g, '_')})`;
    }
    this.doConnectionClose(undefined, undefined, details);
    this.onClosed();
  }

  private onClosed(): void {
    this.closed = true;
    this.disableTimers();
    this.unsubscribeDrain?.();
    this.unsubscribeDrain = undefined;
    const stats = this.runtime.stats;
    stats.downstream_cx_destroy.inc();
    stats.downstream_cx_active.dec();
    if (this.codecKind === 'http2') stats.downstream_cx_http2_active.dec();
    else if (this.codecKind === 'http1') stats.downstream_cx_http1_active.dec();
    stats.downstream_cx_length_ms.recordValue(Math.floor(this.connection().dispatcher().approximateMonotonicTime() - this.startMonotonic));
  }

  onAboveWriteBufferHighWatermark(): void {
    this.codec?.onUnderlyingConnectionAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.codec?.onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }

  /** Streams in flight (for tests and the admin's view). */
  activeStreamCount(): number {
    return this.streams.size;
  }
}
