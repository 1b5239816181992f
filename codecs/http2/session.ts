/**
 * The HTTP/2 session (nghttp2's shape; DESIGN.md "Interfaces at the seams"): bytes in through
 * receive(), frames out through the `send` callback, the application told about streams through
 * callbacks, and window credit returned only through consume(). It never touches a socket or a
 * timer; the server / client connections (server-connection.ts, client-connection.ts) own those.
 *
 * This file is the receiving half: each frame from the reader is checked against the stream
 * states (stream-state.ts), stream-id rules (§5.1.1), concurrency (§5.1.2), flow control (§6.9),
 * the header block rules (§4.3, HPACK) and the message rules of §8 (header-validation.ts), and
 * the error RFC 9113 prescribes is sent: RST_STREAM for a stream error, GOAWAY for a connection
 * error (§5.4). The sending half and the shared state are in session-core.ts.
 */
import { ErrorCode, FrameType, MAX_STREAM_ID, SettingId } from './frame.js';
import type {
  ConnectionError, DataFrame, Frame, GoawayFrame, HeadersFrame, PingFrame, PushPromiseFrame,
  RstStreamFrame, SettingsFrame, StreamError, WindowUpdateFrame,
} from './frame.js';
import type { HeaderBlockResult } from './frame-reader.js';
import { encodePing, encodeSettingsAck } from './frame-writer.js';
import type { HeaderField } from './hpack.js';
import { validateRequest, validateResponse, validateTrailers } from './header-validation.js';
import { SHUTDOWN_PING } from './session-core.js';
import { SessionSender } from './session-send.js';
import type { HeadersCategory, SessionCallbacks, SessionFailure, SessionOptions, SessionStream } from './session-types.js';
import { createSessionStream } from './session-types.js';
import { StreamStates, isTransitionError, recvData, recvHeaders } from './stream-state.js';

export type { SubmitRequestResult } from './session-send.js';
export type {
  HeadersCategory, Perspective, SessionCallbacks, SessionFailure, SessionOptions, StreamCloseReason,
} from './session-types.js';

const S = StreamStates;

/**
 * What to do with a header block once it is complete, decided when its HEADERS frame arrives
 * (connection errors are raised right then, without waiting for CONTINUATION frames).
 */
type BlockPlan =
  /** A new stream from the peer. */
  | 'open'
  /** A stream we hold: response, informational, or trailers. */
  | 'existing'
  /** Decode for HPACK state, then drop (a stream we reset or refused, or past our GOAWAY). */
  | 'ignore'
  /** Decode, then RST_STREAM STREAM_CLOSED (a closed stream we know too little about). */
  | 'stream-closed';

export class Http2Session extends SessionSender {
  private blockPlan: BlockPlan = 'ignore';
  private blockEndStream = false;

  constructor(options: SessionOptions, callbacks: SessionCallbacks) {
    super(options, callbacks);
  }

  /**
   * Processes received bytes; the output they cause is sent once at the end. Returns the
   * failure once the session is over (the GOAWAY, if any, is in that output).
   */
  receive(chunk: Buffer): SessionFailure | undefined {
    if (this.failure !== undefined) return this.failure;
    this.inReceive = true;
    try {
      const reader = this.reader;
      reader.push(chunk);
      for (let r = reader.next(); r !== undefined; r = reader.next()) {
        if (r.kind === 'frame') this.onFrame(r);
        else if (r.kind === 'stream') this.onReaderStreamError(r);
        else this.onReaderConnectionError(r);
        if (this.failure !== undefined) break;
      }
    } finally {
      this.inReceive = false;
    }
    this.flush();
    return this.failure;
  }

  private onReaderConnectionError(e: ConnectionError): void {
    this.callbacks.onInvalidFrame?.(0, e.code, e.message);
    this.connectionError(e.code, e.message);
  }

  private onFrame(f: Frame): void {
    const type = f.type === 'UNKNOWN' ? f.frameType : FrameType[f.type];
    const v = this.protection.onInboundFrame(type, payloadLength(f), endStreamOf(f));
    if (v !== undefined) {
      this.floodFailure(v);
      return;
    }
    this.callbacks.onBeginFrame?.(type, f.streamId, f.flags, f.length);
    switch (f.type) {
      case 'DATA': return this.onData(f);
      case 'HEADERS': return this.onHeadersFrame(f);
      case 'CONTINUATION': return this.onBlockResult(this.assembler.add(f));
      case 'PRIORITY':
        // RFC 9113 §5.3.2: priority signals are deprecated; accepted in any state and ignored.
        this.callbacks.onFrameRecv?.(type, f.streamId, f.flags, f);
        return;
      case 'RST_STREAM': return this.onRstStream(f);
      case 'SETTINGS': return this.onSettings(f);
      case 'PUSH_PROMISE': return this.onPushPromise(f);
      case 'PING': return this.onPing(f);
      case 'GOAWAY': return this.onGoAway(f);
      case 'WINDOW_UPDATE': return this.onWindowUpdate(f);
      case 'UNKNOWN':
        // RFC 9113 §4.1, §5.5: unknown frame types are ignored.
        return;
    }
  }

  /** A stream error the reader found (PRIORITY length or self-dependency, WINDOW_UPDATE of 0). */
  private onReaderStreamError(e: StreamError): void {
    const s = this.store.get(e.streamId);
    if (s !== undefined) {
      this.streamError(s, e.code, e.message);
      return;
    }
    // §6.4: no RST_STREAM for an idle stream: the error ends the connection (§5.4.1 allows it).
    if (this.store.classify(e.streamId).kind === 'idle') this.connError(e.streamId, e.code, e.message);
    else this.untrackedStreamError(e.streamId, e.code, e.message);
  }

  // ---- DATA (§6.1) ----

  private onData(f: DataFrame): void {
    const id = f.streamId;
    const s = this.store.get(id);
    if (s === undefined) {
      const u = this.store.classify(id);
      // §5.1 idle: DATA is a connection PROTOCOL_ERROR.
      if (u.kind === 'idle') return this.connError(id, ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      // §6.9: DATA on any stream counts toward the connection window.
      if (!this.connRecv.onDataReceived(f.length)) return this.connFlowControlError();
      this.consumeConnection(f.length);
      // §5.1 closed: ignored after our RST_STREAM; otherwise STREAM_CLOSED.
      if (u.kind === 'closed' && u.cause === 'local_reset') return;
      return this.untrackedStreamError(id, ErrorCode.STREAM_CLOSED, `DATA on closed stream ${id}`);
    }
    if (!this.connRecv.onDataReceived(f.length)) return this.connFlowControlError();
    const t = recvData(s.state, id, f.endStream);
    if (isTransitionError(t)) {
      this.consumeConnection(f.length);
      if (t.kind === 'connection') return this.connError(id, t.code, t.message);
      return this.streamError(s, t.code, t.message);
    }
    // §6.9.1: beyond the stream window is a stream FLOW_CONTROL_ERROR.
    if (!s.recvWindow.onDataReceived(f.length)) {
      this.consumeConnection(f.length);
      return this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR, `DATA exceeds the window of stream ${id}`);
    }
    const padding = f.length - f.data.length;
    if (!s.headersReceived) {
      this.consumeConnection(f.length);
      return this.messagingError(s, 'DATA before HEADERS');
    }
    // §8.1.1: the DATA total must match Content-Length.
    s.bodyReceived += f.data.length;
    if (s.contentLength >= 0 && (s.bodyReceived > s.contentLength || (f.endStream && s.bodyReceived !== s.contentLength))) {
      this.consumeConnection(f.length);
      return this.messagingError(s, 'DATA does not match content-length');
    }
    // Padding is consumed here: no application sees it.
    if (padding > 0) this.consume(id, padding);
    s.state = t;
    if (f.data.length > 0 || f.endStream) this.callbacks.onDataChunkRecv?.(id, f.data, f.endStream);
    if (t.kind === 'closed') this.closeStream(s, 'end_stream', ErrorCode.NO_ERROR);
  }

  // ---- HEADERS (§6.2) and CONTINUATION (§6.10) ----

  private onHeadersFrame(f: HeadersFrame): void {
    const id = f.streamId;
    let plan: BlockPlan;
    if (this.store.get(id) !== undefined) {
      plan = 'existing';
    } else if (this.server && this.store.isPeerInitiated(id)) {
      if (this.store.isValidNewPeerId(id)) {
        this.store.usePeerId(id);
        plan = 'open';
      } else {
        const u = this.store.classify(id);
        if (u.kind === 'closed' && u.cause === 'local_reset') plan = 'ignore';
        // §5.1 closed: after the peer's RST_STREAM, a stream error STREAM_CLOSED (once the block
        // is decoded); after both sides ended, a connection error STREAM_CLOSED.
        else if (u.kind === 'closed' && u.cause === 'remote_reset') plan = 'stream-closed';
        else if (u.kind === 'closed') return this.connError(id, ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
        // §5.1.1: an id not above every id the peer used before.
        else return this.connError(id, ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id}: stream id not increasing`);
      }
    } else {
      const u = this.store.classify(id);
      if (u.kind === 'idle' || (this.server && u.kind === 'forgotten')) {
        // §5.1.1: a server cannot open streams without PUSH_PROMISE; a client uses odd ids.
        return this.connError(id, ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id} not opened by its sender`);
      }
      if (u.kind === 'closed' && u.cause === 'local_reset') plan = 'ignore';
      else if (u.kind === 'closed' && u.cause === 'end_stream') {
        return this.connError(id, ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
      } else plan = 'stream-closed';
    }
    this.blockPlan = plan;
    this.blockEndStream = f.endStream;
    this.onBlockResult(this.assembler.begin(f));
  }

  private onBlockResult(r: HeaderBlockResult): void {
    if (r.kind === 'partial') return;
    if (r.kind === 'limit-exceeded') {
      this.floodFailure(this.protection.onHeaderBlockLimit(r.reason));
      return;
    }
    // Every block is decoded, whatever becomes of its stream: the HPACK table is shared (§4.3).
    const decoded = this.hpackIn.decode(r.fragments);
    if (decoded.kind === 'connection') return this.connError(r.first.streamId, decoded.code, decoded.message);
    this.protection.onInboundHeaderBlock();
    const id = r.first.streamId;
    const plan = this.blockPlan;
    if (plan === 'ignore') return;
    if (plan === 'stream-closed') return this.untrackedStreamError(id, ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
    let headers: HeaderField[] | undefined;
    let neverIndexed: ReadonlySet<string> | undefined;
    if (decoded.kind === 'headers') {
      headers = decoded.headers;
      neverIndexed = decoded.neverIndexed;
      if (!this.withinHeaderLimits(headers)) headers = undefined;
    }
    if (plan === 'open') this.onRequestBlock(id, headers, neverIndexed);
    else this.onExistingStreamBlock(this.store.get(id)!, headers, neverIndexed);
  }

  /** Envoy's limits on the decoded list: names + values, and count. */
  private withinHeaderLimits(headers: readonly HeaderField[]): boolean {
    if (headers.length > this.options.maxHeaderCount) return false;
    let bytes = 0;
    for (const [n, v] of headers) bytes += n.length + v.length;
    return bytes <= this.options.maxHeaderListBytes;
  }

  /** Server: a request header block that opens stream `id`. */
  private onRequestBlock(id: number, headers: HeaderField[] | undefined, neverIndexed: ReadonlySet<string> | undefined): void {
    const endStream = this.blockEndStream;
    // Past our final GOAWAY: not processed, and the peer knows it (§6.8).
    if (this.goAwaySentLast !== undefined && id > this.goAwaySentLast) {
      this.store.rememberClosed(id, 'local_reset');
      return;
    }
    // §5.1.2: beyond our SETTINGS_MAX_CONCURRENT_STREAMS: REFUSED_STREAM (safe to retry, §8.7).
    if (this.store.activePeer >= this.local.maxConcurrentStreams) {
      this.stats.stream_refused_errors.inc();
      this.callbacks.onInvalidFrame?.(id, ErrorCode.REFUSED_STREAM, 'max concurrent streams exceeded');
      this.refuse(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    const s = createSessionStream(id, this.remote.initialWindowSize, this.local.initialWindowSize);
    s.state = recvHeaders(S.idle, id, endStream) as SessionStream['state'];
    this.store.add(s);
    this.activate(s);
    if (headers === undefined) {
      // RFC 9113 §10.5.1: a field block too large: answer 431 instead of processing it.
      this.stats.header_overflow.inc();
      this.rejectLargeRequest(s);
      return;
    }
    const req = validateRequest(headers, this.local.enableConnectProtocol);
    if ('kind' in req) return this.messagingError(s, req.message);
    if (endStream && req.contentLength > 0) return this.messagingError(s, 'END_STREAM with a non-zero content-length');
    s.headersReceived = true;
    s.contentLength = req.connect ? -1 : req.contentLength;
    this.deliverHeaders(s, 'request', headers, neverIndexed, endStream);
  }

  private rejectLargeRequest(s: SessionStream): void {
    this.submitResponse(s.id, [[':status', '431']], true);
    // The request may go on; §8.1 lets the server reset it with NO_ERROR once answered.
    const held = this.store.get(s.id);
    if (held !== undefined) this.resetStream(held, ErrorCode.NO_ERROR, 'local_reset');
  }

  /** A header block on a stream we hold: response, 1xx, or trailers. */
  private onExistingStreamBlock(s: SessionStream, headers: HeaderField[] | undefined, neverIndexed: ReadonlySet<string> | undefined): void {
    const endStream = this.blockEndStream;
    const t = recvHeaders(s.state, s.id, endStream);
    if (isTransitionError(t)) {
      if (t.kind === 'connection') return this.connError(s.id, t.code, t.message);
      return this.streamError(s, t.code, t.message);
    }
    if (headers === undefined) {
      this.stats.header_overflow.inc();
      return this.streamError(s, ErrorCode.INTERNAL_ERROR, 'header list too large');
    }
    let category: HeadersCategory;
    if (s.headersReceived) {
      // §8.1: trailers end the stream and carry no pseudo-header fields.
      if (!endStream) return this.messagingError(s, 'trailers without END_STREAM');
      const bad = validateTrailers(headers);
      if (bad !== undefined) return this.messagingError(s, bad.message);
      if (s.contentLength >= 0 && s.bodyReceived !== s.contentLength) return this.messagingError(s, 'body does not match content-length');
      this.stats.trailers.inc();
      category = 'trailers';
    } else if (this.server) {
      return this.messagingError(s, 'second request header block');
    } else {
      const res = validateResponse(headers);
      if ('kind' in res) return this.messagingError(s, res.message);
      if (res.status < 200) {
        // §8.1: informational responses never end the stream.
        if (endStream) return this.messagingError(s, 'informational response with END_STREAM');
        category = 'informational';
      } else {
        s.headersReceived = true;
        // HEAD and 304 responses have no content whatever Content-Length says (RFC 9110 §8.6).
        s.contentLength = s.headRequest || res.status === 304 ? -1 : res.contentLength;
        if (endStream && s.contentLength > 0) return this.messagingError(s, 'END_STREAM with a non-zero content-length');
        category = 'response';
      }
    }
    this.deliverHeaders(s, category, headers, neverIndexed, endStream, t);
  }

  private deliverHeaders(
    s: SessionStream,
    category: HeadersCategory,
    headers: readonly HeaderField[],
    neverIndexed: ReadonlySet<string> | undefined,
    endStream: boolean,
    next = s.state,
  ): void {
    s.state = next;
    const cb = this.callbacks;
    cb.onBeginHeaders?.(s.id, category);
    if (cb.onHeader !== undefined) {
      for (const [name, value] of headers) cb.onHeader(s.id, name, value, neverIndexed !== undefined && neverIndexed.has(name));
    }
    cb.onHeadersComplete?.(s.id, category, endStream);
    if (next.kind === 'closed') this.closeStream(s, 'end_stream', ErrorCode.NO_ERROR);
  }

  // ---- RST_STREAM (§6.4) ----

  private onRstStream(f: RstStreamFrame): void {
    const id = f.streamId;
    const s = this.store.get(id);
    if (s === undefined) {
      // §6.4: RST_STREAM on an idle stream is a connection PROTOCOL_ERROR; on a closed one, ignored.
      if (this.store.classify(id).kind === 'idle') this.connError(id, ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
      return;
    }
    this.stats.rx_reset.inc();
    // A reset of a stream we had not finished answering: the rapid reset pattern (CVE-2023-44487).
    const premature = this.server && (s.state.kind === 'open' || s.state.kind === 'half_closed_remote');
    s.state = S.closedRemoteReset;
    this.callbacks.onFrameRecv?.(FrameType.RST_STREAM, id, f.flags, f);
    this.closeStream(s, 'remote_reset', f.errorCode);
    if (premature) {
      const v = this.protection.onPrematureReset(this.options.now());
      if (v !== undefined) this.floodFailure(v);
    }
  }

  // ---- SETTINGS (§6.5) ----

  private onSettings(f: SettingsFrame): void {
    if (f.ack) {
      // §6.5.3: our oldest unacknowledged SETTINGS now applies in full.
      const entries = this.pendingLocal.shift();
      if (entries === undefined) return this.connError(0, ErrorCode.PROTOCOL_ERROR, 'unexpected SETTINGS ACK');
      this.applyLocalSettings(entries, false);
      this.callbacks.onFrameRecv?.(FrameType.SETTINGS, 0, f.flags, f);
      return;
    }
    for (const { id, value } of f.entries) {
      switch (id) {
        case SettingId.HEADER_TABLE_SIZE:
          this.remote.headerTableSize = value;
          this.hpackOut.setPeerMaxTableSize(value);
          break;
        case SettingId.ENABLE_PUSH:
          // §6.5.2: a client MUST treat ENABLE_PUSH = 1 from a server as PROTOCOL_ERROR.
          if (!this.server && value === 1) return this.connError(0, ErrorCode.PROTOCOL_ERROR, 'server sent SETTINGS_ENABLE_PUSH = 1');
          this.remote.enablePush = value === 1;
          break;
        case SettingId.INITIAL_WINDOW_SIZE: {
          // §6.9.2: applies to every stream's send window, which may go negative; overflow is a
          // connection FLOW_CONTROL_ERROR.
          const delta = value - this.remote.initialWindowSize;
          for (const s of this.store.values()) {
            if (!s.sendWindow.applyInitialWindowDelta(delta)) {
              return this.connError(0, ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window');
            }
          }
          this.remote.initialWindowSize = value;
          break;
        }
        case SettingId.ENABLE_CONNECT_PROTOCOL:
          // RFC 8441 §3: once 1, it cannot go back to 0.
          if (value === 0 && this.remote.enableConnectProtocol) {
            return this.connError(0, ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_CONNECT_PROTOCOL went back to 0');
          }
          this.remote.enableConnectProtocol = value === 1;
          break;
        case SettingId.MAX_CONCURRENT_STREAMS: this.remote.maxConcurrentStreams = value; break;
        case SettingId.MAX_FRAME_SIZE: this.remote.maxFrameSize = value; break;
        case SettingId.MAX_HEADER_LIST_SIZE: this.remote.maxHeaderListSize = value; break;
        default: break; // §6.5.2: unknown settings are ignored.
      }
    }
    this.emitSettingsAck();
    this.callbacks.onFrameRecv?.(FrameType.SETTINGS, 0, f.flags, f);
    this.scheduleData();
  }

  // ---- PUSH_PROMISE (§6.6), PING (§6.7), GOAWAY (§6.8), WINDOW_UPDATE (§6.9) ----

  private onPushPromise(f: PushPromiseFrame): void {
    // §8.4: a client never pushes, and our clients disable push (ENABLE_PUSH = 0), so a
    // PUSH_PROMISE is a connection PROTOCOL_ERROR either way.
    this.connError(f.streamId, ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE not enabled');
  }

  private onPing(f: PingFrame): void {
    if (!f.ack) {
      this.emitPingAck(f.opaqueData);
      return;
    }
    if (this.shutdownPingPending && f.opaqueData.equals(SHUTDOWN_PING)) {
      // The peer has seen our shutdown notice: now the real last-stream-id (§6.8).
      this.shutdownPingPending = false;
      this.submitGoAway(ErrorCode.NO_ERROR);
    }
    this.callbacks.onFrameRecv?.(FrameType.PING, 0, f.flags, f);
  }

  private onGoAway(f: GoawayFrame): void {
    const last = f.lastStreamId;
    // §6.8: the last-stream-id names a stream we could have opened, and never grows.
    if (this.goAwayRecvLast !== undefined && last > this.goAwayRecvLast) {
      return this.connError(0, ErrorCode.PROTOCOL_ERROR, 'GOAWAY last-stream-id increased');
    }
    this.goAwayRecvLast = last;
    // Our streams above `last` were not processed: refused, so safe to retry elsewhere.
    for (const s of this.store.list()) {
      if (!this.store.isPeerInitiated(s.id) && s.id > last && last !== MAX_STREAM_ID) {
        s.state = S.closedRemoteReset;
        this.closeStream(s, 'remote_reset', ErrorCode.REFUSED_STREAM);
      }
    }
    this.callbacks.onFrameRecv?.(FrameType.GOAWAY, 0, f.flags, f);
  }

  private onWindowUpdate(f: WindowUpdateFrame): void {
    const id = f.streamId;
    if (id === 0) {
      // §6.9.1: a connection window above 2^31-1 is a connection FLOW_CONTROL_ERROR.
      if (!this.connSend.increase(f.increment)) return this.connFlowControlError();
    } else {
      const s = this.store.get(id);
      if (s === undefined) {
        // §5.1 idle: WINDOW_UPDATE is a connection PROTOCOL_ERROR; closed: ignored.
        if (this.store.classify(id).kind === 'idle') this.connError(id, ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
        return;
      }
      if (!s.sendWindow.increase(f.increment)) {
        return this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR, `window of stream ${id} above 2^31-1`);
      }
    }
    this.callbacks.onFrameRecv?.(FrameType.WINDOW_UPDATE, id, f.flags, f);
    this.scheduleData();
  }

  // ---- errors ----

  private connError(streamId: number, code: number, message: string): void {
    this.callbacks.onInvalidFrame?.(streamId, code, message);
    this.connectionError(code, message);
  }

  private connFlowControlError(): void {
    this.connError(0, ErrorCode.FLOW_CONTROL_ERROR, 'DATA exceeds the connection window');
  }

  /** A stream error (§5.4.2) on a stream we hold: RST_STREAM and close it. */
  private streamError(s: SessionStream, code: number, message: string): void {
    this.callbacks.onInvalidFrame?.(s.id, code, message);
    this.resetStream(s, code, 'protocol_error');
  }

  /** §8.1.1: a malformed message is a stream error of type PROTOCOL_ERROR. */
  private messagingError(s: SessionStream, message: string): void {
    this.stats.rx_messaging_error.inc();
    this.streamError(s, ErrorCode.PROTOCOL_ERROR, message);
  }

  /** A stream error on a closed stream the session no longer holds. */
  private untrackedStreamError(id: number, code: number, message: string): void {
    this.callbacks.onInvalidFrame?.(id, code, message);
    this.emitRstStream(id, code);
  }

  /** RST_STREAM for a stream we never opened (refused); later frames on it are ignored. */
  private refuse(id: number, code: number): void {
    this.emitRstStream(id, code);
    this.store.rememberClosed(id, 'local_reset');
  }

  private emitSettingsAck(): void {
    this.emit(encodeSettingsAck(), true, false);
    this.callbacks.onFrameSend?.(FrameType.SETTINGS, 0, 1, 0, 0);
  }

  private emitPingAck(data: Buffer): void {
    this.emit(encodePing(data, true), true, false);
    this.callbacks.onFrameSend?.(FrameType.PING, 0, 1, 8, 0);
  }
}

/** Payload octets the empty-frame rule looks at (DATA / header block, without padding). */
function payloadLength(f: Frame): number {
  switch (f.type) {
    case 'DATA': return f.data.length;
    case 'HEADERS': return f.fragment.length;
    case 'CONTINUATION': return f.fragment.length;
    default: return f.length;
  }
}

function endStreamOf(f: Frame): boolean {
  return (f.type === 'DATA' || f.type === 'HEADERS') && f.endStream;
}
