/**
 * The submit* API of the HTTP/2 session and DATA scheduling (see session-core.ts for the state
 * they share): HEADERS go out at once; bodies queue per stream and are sent in frames no larger
 * than the peer's SETTINGS_MAX_FRAME_SIZE and both flow-control windows, one frame per stream per
 * round so that streams share the connection window fairly. Payload slices are moved, never
 * copied. Trailers follow the body. With `deferData` (the codec connections set it) bodies and
 * trailers are framed when the owner calls sendPending(), once per loop turn, instead of at each
 * submit. Pure: no sockets, no timers.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import { ErrorCode, Flag, FrameType, MAX_STREAM_ID, settingsToEntries } from './frame.js';
import type { Http2Settings } from './frame.js';
import { encodeDataFrameHeader, encodeGoaway, encodePing } from './frame-writer.js';
import type { HeaderList } from './hpack.js';
import { SHUTDOWN_PING, SessionCore } from './session-core.js';
import type { SessionStream } from './session-types.js';
import { createSessionStream } from './session-types.js';
import { StreamStates, canSend, isTransitionError, sendData, sendHeaders } from './stream-state.js';
import type { StreamState } from './stream-state.js';

const S = StreamStates;
const EMPTY_LIST: HeaderList = [];

export type SubmitRequestResult = number | { readonly error: 'terminated' | 'goaway' | 'ids_exhausted' };

export abstract class SessionSender extends SessionCore {
  /**
   * Set by the owner: bodies and trailers are framed when it calls sendPending() (once per loop
   * turn) instead of at each submit, so that a body and the END_STREAM that follows it in the
   * same turn leave in one DATA frame. onDataPending tells the owner there is something to send.
   */
  deferData = false;
  private scheduling = false;
  private rescheduleWanted = false;
  private readonly scratch = new BufferChain();

  // ---- submit ----

  /** Client: opens a stream with a request; returns its id. */
  submitRequest(headers: HeaderList, endStream: boolean, neverIndexed?: ReadonlySet<string>): SubmitRequestResult {
    if (this.failure !== undefined) return { error: 'terminated' };
    if (this.goAwayRecvLast !== undefined) return { error: 'goaway' };
    const id = this.store.nextLocalId();
    if (id > MAX_STREAM_ID) return { error: 'ids_exhausted' };
    this.store.useLocalId(id);
    const s = createSessionStream(id, this.remote.initialWindowSize, this.local.initialWindowSize);
    for (const [name, value] of headers) {
      if (name === ':method') {
        s.headRequest = value === 'HEAD';
        break;
      }
    }
    s.state = sendHeaders(S.idle, id, endStream) as StreamState;
    this.store.add(s);
    this.activate(s);
    this.emitHeaders(id, headers, endStream, neverIndexed);
    this.flushIfIdle();
    return id;
  }

  /** Sends response headers (final or 1xx with endStream false). False if the stream cannot send. */
  submitResponse(streamId: number, headers: HeaderList, endStream: boolean, neverIndexed?: ReadonlySet<string>): boolean {
    const s = this.sendableStream(streamId, FrameType.HEADERS);
    if (s === undefined || s.outEnd) return false;
    const t = sendHeaders(s.state, streamId, endStream);
    if (isTransitionError(t)) return false;
    s.state = t;
    this.emitHeaders(streamId, headers, endStream, neverIndexed);
    if (t.kind === 'closed') this.closeStream(s, 'end_stream', ErrorCode.NO_ERROR);
    this.flushIfIdle();
    return true;
  }

  /** Queues body octets (drains `data`); sent as windows allow. False if the stream cannot send. */
  submitData(streamId: number, data: BufferInstance, endStream: boolean): boolean {
    const s = this.sendableStream(streamId, FrameType.DATA);
    if (s === undefined || s.outEnd) {
      data.drain(data.length);
      return false;
    }
    if (data.length > 0) {
      this.stats.pending_send_bytes.inc(data.length);
      (s.outData ??= new BufferChain()).move(data);
    }
    if (endStream) s.outEnd = true;
    this.enqueue(s);
    this.dataQueued();
    return true;
  }

  /** Ends the stream with trailers, after any queued body. */
  submitTrailers(streamId: number, trailers: HeaderList, neverIndexed?: ReadonlySet<string>): boolean {
    const s = this.sendableStream(streamId, FrameType.HEADERS);
    if (s === undefined || s.outEnd) return false;
    s.outEnd = true;
    s.outTrailers = trailers.length === 0 ? EMPTY_LIST : trailers;
    s.outTrailersNeverIndexed = neverIndexed;
    this.enqueue(s);
    this.dataQueued();
    return true;
  }

  /** Resets a stream (RST_STREAM); onStreamClose follows with reason local_reset. */
  submitRstStream(streamId: number, code: number): boolean {
    const s = this.store.get(streamId);
    if (s === undefined || this.failure !== undefined) return false;
    // What was submitted before the reset goes first, as it would have without deferData (only
    // what waits for flow-control window is dropped).
    if (this.deferData && s.queued) this.scheduleData();
    if (this.store.get(streamId) !== s) {
      this.flushIfIdle();
      return true;
    }
    this.resetStream(s, code, 'local_reset');
    this.flushIfIdle();
    return true;
  }

  /**
   * The final GOAWAY (RFC 9113 §6.8): no stream above the highest one the peer opened will be
   * processed. A repeated call sends nothing new.
   */
  submitGoAway(code: number = ErrorCode.NO_ERROR, debug?: Buffer): void {
    if (this.failure !== undefined || this.goAwaySentLast !== undefined) return;
    this.goAwaySentLast = this.server ? this.store.highestPeer : 0;
    this.stats.goaway_sent.inc();
    this.emit(encodeGoaway(this.goAwaySentLast, code, debug), false, false);
    this.callbacks.onFrameSend?.(FrameType.GOAWAY, 0, 0, 8, code);
    this.flushIfIdle();
  }

  /**
   * First phase of a graceful shutdown: GOAWAY with last-stream-id 2^31-1 and a PING. When its
   * ACK comes back (the peer has seen the GOAWAY), the final GOAWAY goes out.
   */
  submitShutdownNotice(): void {
    if (this.failure !== undefined || this.goAwaySentLast !== undefined || this.shutdownPingPending) return;
    this.shutdownPingPending = true;
    this.stats.goaway_graceful_sent.inc();
    this.emit(encodeGoaway(MAX_STREAM_ID, ErrorCode.NO_ERROR), false, false);
    this.callbacks.onFrameSend?.(FrameType.GOAWAY, 0, 0, 8, ErrorCode.NO_ERROR);
    this.emit(encodePing(SHUTDOWN_PING, false), false, false);
    this.flushIfIdle();
  }

  submitSettings(settings: Partial<Http2Settings>): void {
    if (this.failure !== undefined) return;
    this.queueSettings(settingsToEntries(settings));
    this.flushIfIdle();
  }

  submitPing(opaque: Buffer): void {
    if (this.failure !== undefined) return;
    this.emit(encodePing(opaque, false), false, false);
    this.callbacks.onFrameSend?.(FrameType.PING, 0, 0, 8, 0);
    this.flushIfIdle();
  }

  /** Ends the session with a connection error of our own (e.g. SETTINGS_TIMEOUT). */
  terminate(code: number, message: string): void {
    this.connectionError(code, message);
    this.flushIfIdle();
  }

  /**
   * The application consumed `n` octets of a stream's DATA: the single point where window credit
   * goes back to the peer (stream and connection). For a closed stream only the connection's.
   */
  consume(streamId: number, n: number): void {
    if (n <= 0 || this.failure !== undefined) return;
    const inc = this.connRecv.consumed(n);
    if (inc > 0) this.emitWindowUpdate(0, inc);
    const s = this.store.get(streamId);
    // No WINDOW_UPDATE once the peer ended its side: it will send nothing more.
    if (s !== undefined && (s.state.kind === 'open' || s.state.kind === 'half_closed_local')) {
      const sinc = s.recvWindow.consumed(n);
      if (sinc > 0) this.emitWindowUpdate(streamId, sinc);
    }
    this.flushIfIdle();
  }

  /** Connection-level credit for octets no application will see (padding, dropped frames). */
  protected consumeConnection(n: number): void {
    if (n <= 0) return;
    const inc = this.connRecv.consumed(n);
    if (inc > 0) this.emitWindowUpdate(0, inc);
  }

  private sendableStream(streamId: number, type: number): SessionStream | undefined {
    const s = this.failure === undefined ? this.store.get(streamId) : undefined;
    if (s === undefined || !canSend(s.state)) {
      this.callbacks.onFrameNotSend?.(type, streamId, 'stream closed');
      return undefined;
    }
    return s;
  }

  // ---- DATA scheduling ----

  /** Frames what bodies and trailers the windows allow now, and sends (see deferData). */
  sendPending(): void {
    if (this.failure !== undefined) return;
    this.scheduleData();
    this.flushIfIdle();
  }

  private dataQueued(): void {
    if (this.deferData) {
      this.callbacks.onDataPending?.();
      return;
    }
    this.scheduleData();
    this.flushIfIdle();
  }

  private enqueue(s: SessionStream): void {
    if (s.queued) return;
    s.queued = true;
    this.sendQueue.push(s);
  }

  /** Sends queued bodies while windows, frame size and the transport allow; round robin. */
  protected scheduleData(): void {
    if (this.scheduling) {
      this.rescheduleWanted = true;
      return;
    }
    this.scheduling = true;
    try {
      do {
        this.rescheduleWanted = false;
        this.schedulePasses();
      } while (this.rescheduleWanted);
    } finally {
      this.scheduling = false;
    }
  }

  private schedulePasses(): void {
    const q = this.sendQueue;
    let progressed = true;
    while (progressed && q.length > 0 && !this.blocked && this.failure === undefined) {
      progressed = false;
      const n = q.length;
      for (let i = 0; i < n; i++) {
        const s = q[i]!;
        if (s.queued && this.failure === undefined && this.sendOneFrame(s)) progressed = true;
      }
      // Compact: drop streams that left the queue (done or closed); keep order (new ones last).
      let w = 0;
      for (let r = 0; r < q.length; r++) if (q[r]!.queued) q[w++] = q[r]!;
      q.length = w;
    }
  }

  /** One DATA (or the trailers) of a stream; true if something was sent. */
  private sendOneFrame(s: SessionStream): boolean {
    const data = s.outData;
    const avail = data === undefined ? 0 : data.length;
    if (avail === 0) {
      if (!s.outEnd) {
        s.queued = false;
        return false;
      }
      s.queued = false;
      if (s.outTrailers !== undefined) {
        const trailers = s.outTrailers;
        s.outTrailers = undefined;
        if (trailers.length > 0) {
          this.finishStream(s, () => this.emitHeaders(s.id, trailers, true, s.outTrailersNeverIndexed));
          return true;
        }
      }
      this.finishStream(s, () => this.emitData(s, 0, true));
      return true;
    }
    const n = Math.min(avail, this.remote.maxFrameSize, s.sendWindow.available, this.connSend.available);
    if (n <= 0) return false;
    const last = n === avail && s.outEnd && s.outTrailers === undefined;
    s.sendWindow.send(n);
    this.connSend.send(n);
    if (last) {
      s.queued = false;
      this.finishStream(s, () => this.emitData(s, n, true));
    } else {
      this.emitData(s, n, false);
      if (data!.length === 0 && !s.outEnd) s.queued = false;
    }
    return true;
  }

  /** Serializes a DATA frame of `n` queued octets: our 9-octet header, then the payload slices. */
  private emitData(s: SessionStream, n: number, endStream: boolean): void {
    this.out.push(encodeDataFrameHeader(s.id, n, endStream));
    if (n > 0) {
      const data = s.outData!;
      let slices: Buffer[];
      if (n === data.length) {
        slices = data.takeSlices();
      } else {
        this.scratch.move(data, n);
        slices = this.scratch.takeSlices();
      }
      for (const slice of slices) this.out.push(slice);
    }
    this.outLength += 9 + n;
    if (n > 0) this.stats.pending_send_bytes.dec(n);
    this.countFrame(false, true);
    this.callbacks.onFrameSend?.(FrameType.DATA, s.id, endStream ? Flag.END_STREAM : 0, n, 0);
  }

  /** Sends our END_STREAM frame (via `send`) and moves the stream on; closes it when done. */
  private finishStream(s: SessionStream, send: () => void): void {
    const t = sendData(s.state, s.id, true);
    if (isTransitionError(t)) return;
    s.state = t;
    send();
    if (t.kind === 'closed') this.closeStream(s, 'end_stream', ErrorCode.NO_ERROR);
  }
}
