import * as net from 'node:net';
import { TLSSocket } from 'node:tls';
import type { BufferInstance } from '../api/buffer.js';
import type { Dispatcher, Timer } from '../api/dispatcher.js';
import type {
  Address,
  ClientConnection,
  ConnectionCloseType,
  ConnectionEvent,
  ConnectionState,
  ConnectionStats,
  ReadFilter,
  WriteFilter,
} from '../api/network.js';
import { WatermarkBuffer } from '../common/watermark-buffer.js';
import { UNKNOWN_ADDRESS, localAddressOf, makeAddress, remoteAddressOf } from './address.js';
import { ConnectionImplBase } from './connection-base.js';
import {
  type ClientConnectionOptions,
  type ClientTransport,
  type ConnectionOptions,
  DEFAULT_BUFFER_LIMIT_BYTES,
  DEFAULT_DELAYED_CLOSE_TIMEOUT_MS,
  rawClientTransport,
} from './connection-options.js';
import { FilterManagerImpl, type FilterManagerConnection } from './filter-manager.js';
import { readIntoSharedBuffer } from './socket-read-buffer.js';
import { SocketWriter } from './socket-writer.js';

// The options, defaults and client transports are part of this module's API.
export * from './connection-options.js';

type DelayedCloseState = 'None' | 'CloseAfterFlush' | 'CloseAfterFlushAndWait';

/**
 * Envoy's Network::ConnectionImpl over a Node socket.
 *
 * Read: each chunk (from socket-read-buffer.ts, or 'data' events on TLS) is appended by reference
 * to a read buffer watermarked at the buffer limit; above it reads are disabled (one count of the
 * counted readDisable), at half of it they are enabled again. The filter chain runs on every
 * chunk while the consumer wants data. A remote FIN is an end of stream with half-close enabled,
 * else a RemoteClose.
 *
 * Write (socket-writer.ts): write() runs the write filters and gathers the slices (by reference)
 * until the current callback returns (one microtask) or 16 KiB are gathered; then they go to
 * the socket in one write: the small writes of one turn, e.g. a response head and its body, leave
 * in one syscall, as Envoy's write buffer is flushed once per event loop iteration. A close or FIN
 * flushes the batch first. The write buffer is what we hold (the batch, and writes made while
 * connecting) plus the socket's writableLength; it crossing the limit raises
 * onAboveWriteBufferHighWatermark, and it falling to half of it after that raises
 * onBelowWriteBufferLowWatermark.
 *
 * Close: NoFlush destroys now, Abort resets (RST); FlushWrite ends the socket after what is queued
 * and closes once it is flushed; FlushWriteAndDelay also waits, after the flush, up to the delayed
 * close timeout for the peer to close (a lingering close). While closing, no data reaches the
 * filters (reads go on only to see the peer's FIN). LocalClose or RemoteClose is raised exactly
 * once; after it no callback runs.
 */
export class ConnectionImpl extends ConnectionImplBase implements FilterManagerConnection {
  protected socket: net.Socket | undefined;
  protected connectingFlag: boolean;
  protected failureReason = '';
  protected readonly opts: ConnectionOptions;
  private readonly filterManager: FilterManagerImpl;
  private readonly readBuf: WatermarkBuffer;
  /** Held writes, this turn's batch and the write watermarks. */
  private readonly writer: SocketWriter;
  private closed = false;
  private delayedCloseState: DelayedCloseState = 'None';
  private delayedCloseTimer: Timer | undefined;
  private delayedCloseTimeoutMs: number;
  private readDisableCount = 0;
  private halfCloseEnabled = false;
  private readEnd = false;
  private readEndRaised = false;
  private writeEnd = false;
  private writeFinished = false;
  private finSent = false;
  private peerEndedWhileClosing = false;
  private limit: number;
  private dispatchScheduled = false;
  protected noDelayEnabled: boolean;
  private readonly byteStats = { rxBytes: 0, txBytes: 0 };
  private remoteAddr: Address = UNKNOWN_ADDRESS;
  private localAddr: Address = UNKNOWN_ADDRESS;

  /** A server connection over an accepted socket; `socket` is undefined only for subclasses. */
  constructor(dispatcher: Dispatcher, socket: net.Socket | undefined, options: ConnectionOptions = {}) {
    super(dispatcher, options.logger);
    this.opts = options;
    this.limit = options.bufferLimit ?? DEFAULT_BUFFER_LIMIT_BYTES;
    this.delayedCloseTimeoutMs = options.delayedCloseTimeoutMs ?? DEFAULT_DELAYED_CLOSE_TIMEOUT_MS;
    this.noDelayEnabled = options.noDelay ?? true;
    this.filterManager = new FilterManagerImpl(this);
    this.writer = new SocketWriter(
      dispatcher,
      this.limit,
      this.onWriteComplete,
      (above) => this.raiseWatermark(above),
      () => {
        if (this.counters !== undefined && !this.closed) this.updateBufferedGauges();
      },
    );
    this.readBuf = new WatermarkBuffer(
      {
        onAboveHighWatermark: () => {
          if (this.state() === 'Open') this.readDisable(true);
        },
        onBelowLowWatermark: () => {
          if (this.state() === 'Open') this.readDisable(false);
        },
      },
      this.limit,
    );
    this.connectingFlag = socket === undefined || options.readyEvent !== undefined;
    if (socket !== undefined) {
      this.remoteAddr = remoteAddressOf(socket);
      this.localAddr = localAddressOf(socket);
      this.attachSocket(socket, options.readyEvent);
    }
  }

  addReadFilter(filter: ReadFilter): void {
    this.filterManager.addReadFilter(filter);
  }

  addWriteFilter(filter: WriteFilter): void {
    this.filterManager.addWriteFilter(filter);
  }

  addFilter(filter: ReadFilter & WriteFilter): void {
    this.filterManager.addFilter(filter);
  }

  initializeReadFilters(): boolean {
    return this.filterManager.initializeReadFilters();
  }

  readBuffer(): BufferInstance {
    return this.readBuf;
  }

  readEndStream(): boolean {
    return this.readEnd;
  }

  write(data: BufferInstance, endStream: boolean): void {
    this.writeInternal(data, endStream, true);
  }

  rawWrite(data: BufferInstance, endStream: boolean): void {
    this.writeInternal(data, endStream, false);
  }

  close(type: ConnectionCloseType, details?: string): void {
    if (this.closed) return;
    if (details !== undefined && this.localReason === '') this.localReason = details;
    if (type === 'Abort') {
      this.closeSocket('LocalClose', true);
      return;
    }
    if (type === 'NoFlush') {
      this.closeSocket('LocalClose', false);
      return;
    }
    const wait = type === 'FlushWriteAndDelay' && this.delayedCloseTimeoutMs > 0;
    // Flush the batch first: only what the kernel did not take is left to wait for.
    this.writer.flush();
    if (this.delayedCloseState !== 'None') {
      // Already closing: only the kind of close changes (Envoy does the same).
      this.delayedCloseState = wait ? 'CloseAfterFlushAndWait' : 'CloseAfterFlush';
      if (this.writeFinished) this.onFlushed();
      return;
    }
    if (this.socket === undefined || (this.bufferedWriteBytes() === 0 && (!wait || this.connectingFlag))) {
      // Nothing to flush (or no peer yet to linger for): close(2) now; the kernel still sends
      // what it holds, then FIN.
      this.closeSocket('LocalClose', false);
      return;
    }
    this.delayedCloseState = wait ? 'CloseAfterFlushAndWait' : 'CloseAfterFlush';
    if (this.delayedCloseTimeoutMs > 0) {
      this.delayedCloseTimer = this.disp.createTimer(this.onDelayedCloseTimeout);
      this.delayedCloseTimer.enableTimer(this.delayedCloseTimeoutMs);
    }
    // Reads go on (and are dropped) so that the peer's FIN is seen while we flush and wait.
    this.socket.resume();
    if (!this.connectingFlag) this.beginFlushClose();
  }

  state(): ConnectionState {
    if (this.closed) return 'Closed';
    return this.delayedCloseState === 'None' ? 'Open' : 'Closing';
  }

  /** Why the transport failed (connect error, reset), '' when it did not. */
  transportFailureReason(): string {
    return this.failureReason;
  }

  readDisable(disable: boolean): void {
    if (disable) {
      this.readDisableCount++;
      if (this.state() !== 'Open') return;
      if (this.readDisableCount === 1) this.socket?.pause();
      return;
    }
    if (this.readDisableCount === 0) return;
    this.readDisableCount--;
    if (this.state() !== 'Open') return;
    if (this.readDisableCount === 0) this.socket?.resume();
    // Bytes already read will not be announced by the socket again: dispatch them on a later turn.
    if (this.consumerWantsToRead() && (this.readBuf.length > 0 || (this.readEnd && !this.readEndRaised))) {
      if (!this.dispatchScheduled) {
        this.dispatchScheduled = true;
        this.disp.post(this.dispatchBufferedData);
      }
    }
  }

  readEnabled(): boolean {
    return this.readDisableCount === 0;
  }

  setBufferLimits(limit: number): void {
    this.limit = limit;
    this.readBuf.setWatermarks(limit);
    if (!this.closed) this.writer.setLimit(limit);
  }

  bufferLimit(): number {
    return this.limit;
  }

  aboveHighWatermark(): boolean {
    return this.writer.aboveHighWatermark();
  }

  enableHalfClose(enabled: boolean): void {
    this.halfCloseEnabled = enabled;
  }

  isHalfCloseEnabled(): boolean {
    return this.halfCloseEnabled;
  }

  setDelayedCloseTimeout(ms: number): void {
    this.delayedCloseTimeoutMs = ms;
  }

  noDelay(enable: boolean): void {
    this.noDelayEnabled = enable;
    if (this.socket !== undefined && !this.closed) this.socket.setNoDelay(enable);
  }

  remoteAddress(): Address {
    return this.remoteAddr;
  }

  localAddress(): Address {
    return this.localAddr;
  }

  nextProtocol(): string {
    const s = this.socket;
    return s instanceof TLSSocket && typeof s.alpnProtocol === 'string' ? s.alpnProtocol : '';
  }

  requestedServerName(): string {
    const s = this.socket as (net.Socket & { servername?: unknown }) | undefined;
    if (s instanceof TLSSocket && typeof s.servername === 'string' && s.servername !== '') return s.servername;
    return this.opts.requestedServerName ?? '';
  }

  ssl(): boolean {
    return this.socket instanceof TLSSocket;
  }

  stats(): ConnectionStats {
    return this.byteStats;
  }

  protected readBufferedBytes(): number {
    return this.readBuf.length;
  }

  /** Bytes written but not yet taken by the kernel: ours plus the socket's. */
  bufferedWriteBytes(): number {
    return this.writer.bufferedBytes();
  }

  protected attachSocket(socket: net.Socket, readyEvent: string | undefined): void {
    this.socket = socket;
    this.writer.attach(socket);
    // We decide what a remote FIN means; Node must never end our side on its own.
    socket.allowHalfOpen = true;
    if (!readIntoSharedBuffer(socket, this.onSocketData)) socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('finish', this.onSocketFinish);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    if (readyEvent !== undefined) socket.once(readyEvent, this.onTransportReady);
    if (socket.destroyed) {
      // Gone before we were attached (reset right after accept): its 'close' will not come again.
      this.disp.post(() => this.closeSocketSafely('RemoteClose'));
      return;
    }
    if (!socket.connecting) socket.setNoDelay(this.noDelayEnabled);
    // A listener may have paused the socket (pauseOnConnect, listener filters): an explicit resume
    // is needed, a 'data' listener alone does not restart a paused stream.
    if (this.readDisableCount > 0) socket.pause();
    else socket.resume();
  }

  /** Raises 'Connected' and flushes what was held; the transport is ready. */
  protected readonly onTransportReady = (): void => {
    if (this.closed || this.socket === undefined) return;
    this.connectingFlag = false;
    this.socket.setNoDelay(this.noDelayEnabled);
    this.localAddr = localAddressOf(this.socket);
    if (this.remoteAddr === UNKNOWN_ADDRESS) this.remoteAddr = remoteAddressOf(this.socket);
    try {
      // What was written while connecting goes out before anything the Connected callbacks write.
      this.writer.releasePending();
      this.raiseConnectionEvent('Connected');
      if (this.closed) return;
      if (this.writeEnd) this.sendFin();
      if (this.delayedCloseState !== 'None') this.beginFlushClose();
      else this.writer.checkLowWatermark();
    } catch (e) {
      this.onCallbackError(e);
    }
  };

  /** Closes the socket and raises the close event; the one way to the Closed state. */
  protected closeSocket(event: ConnectionEvent, abort = false): void {
    if (this.closed) return;
    this.closed = true;
    this.delayedCloseTimer?.disableTimer();
    this.delayedCloseTimer = undefined;
    const s = this.socket;
    if (s !== undefined && !s.destroyed) {
      // What this turn wrote reaches the kernel before the close, as if written at once.
      if (!abort) this.writer.flush();
      if (abort && !(s instanceof TLSSocket)) s.resetAndDestroy();
      else s.destroy(); // Node can only RST a plain TCP handle.
    }
    // Drop what is held; the watermark callbacks see a Closed connection and do nothing.
    this.readBuf.clear();
    this.writer.clear();
    this.zeroBufferedGauges();
    this.raiseConnectionEvent(event);
  }

  private writeInternal(data: BufferInstance, endStream: boolean, throughFilters: boolean): void {
    if (this.writeEnd || this.state() !== 'Open') {
      // After end of stream or close: dropped (Envoy's filter manager stops such writes).
      data.drain(data.length);
      return;
    }
    if (throughFilters && this.filterManager.onWrite(data, endStream) === 'StopIteration') return;
    if (this.state() !== 'Open') return;
    this.writeEnd = endStream;
    const n = data.length;
    if (n > 0) {
      this.byteStats.txBytes += n;
      this.counters?.txTotal?.inc(n);
      if (this.connectingFlag) this.writer.hold(data);
      else this.writer.write(data);
    }
    if (endStream && !this.connectingFlag) this.sendFin();
    if (n > 0) {
      this.writer.checkHighWatermark();
      if (this.counters !== undefined) this.updateBufferedGauges();
    }
  }

  private consumerWantsToRead(): boolean {
    return (
      this.readDisableCount === 0 || (this.readDisableCount === 1 && this.readBuf.highWatermarkTriggered())
    );
  }

  /** Envoy's onRead: run the read filters if they want data and there is something new. */
  private onRead(): void {
    if (this.delayedCloseState !== 'None' || !this.consumerWantsToRead()) return;
    if (this.readBuf.length === 0 && !this.readEnd) return;
    if (this.readEnd) {
      if (this.readEndRaised) return;
      this.readEndRaised = true;
    }
    this.filterManager.onRead();
  }

  /** Both directions ended (half-close) and our FIN is out: nothing is left to do. */
  private bothSidesHalfClosed(): boolean {
    return this.readEndRaised && this.writeFinished;
  }

  private readonly onSocketData = (chunk: Buffer): void => {
    if (this.closed) return;
    this.byteStats.rxBytes += chunk.length;
    this.counters?.rxTotal?.inc(chunk.length);
    if (this.delayedCloseState !== 'None') return;
    try {
      this.readBuf.add(chunk);
      this.onRead();
      if (this.counters !== undefined && !this.closed) this.updateBufferedGauges();
    } catch (e) {
      this.onCallbackError(e);
    }
  };

  private readonly onSocketEnd = (): void => {
    if (this.closed) return;
    try {
      if (this.delayedCloseState !== 'None') {
        if (!this.halfCloseEnabled || this.writeFinished) this.closeSocket('RemoteClose');
        else this.peerEndedWhileClosing = true;
        return;
      }
      if (!this.halfCloseEnabled) {
        this.closeSocket('RemoteClose');
        return;
      }
      this.readEnd = true;
      this.onRead();
      if (!this.closed && this.bothSidesHalfClosed()) this.closeSocket('RemoteClose');
    } catch (e) {
      this.onCallbackError(e);
    }
  };

  private readonly onSocketFinish = (): void => {
    if (this.closed) return;
    this.writeFinished = true;
    try {
      if (this.delayedCloseState !== 'None') this.onFlushed();
      else if (this.bothSidesHalfClosed()) this.closeSocket('LocalClose');
    } catch (e) {
      this.onCallbackError(e);
    }
  };

  private readonly onSocketError = (err: Error): void => {
    if (this.closed) return;
    if (this.failureReason === '') this.failureReason = err.message;
    this.closeSocketSafely('RemoteClose');
  };

  private readonly onSocketClose = (): void => {
    if (this.closed) return;
    this.closeSocketSafely('RemoteClose');
  };

  private readonly onWriteComplete = (): void => {
    if (this.closed) return;
    try {
      // Flush progress: the delayed-close timer measures inactivity, like Envoy's.
      if (this.delayedCloseTimer !== undefined && !this.writeFinished) {
        this.delayedCloseTimer.enableTimer(this.delayedCloseTimeoutMs);
      }
      this.writer.checkLowWatermark();
      if (this.counters !== undefined && !this.closed) this.updateBufferedGauges();
    } catch (e) {
      this.onCallbackError(e);
    }
  };

  private readonly dispatchBufferedData = (): void => {
    this.dispatchScheduled = false;
    if (this.closed) return;
    try {
      this.onRead();
      if (this.closed) return;
      if (this.bothSidesHalfClosed()) this.closeSocket('RemoteClose');
      else if (this.counters !== undefined) this.updateBufferedGauges();
    } catch (e) {
      this.onCallbackError(e);
    }
  };

  private readonly onDelayedCloseTimeout = (): void => {
    if (this.closed) return;
    this.counters?.delayedCloseTimeouts?.inc();
    this.closeSocketSafely('LocalClose');
  };

  /** Starts the graceful part of a close: FIN after what is queued. */
  private beginFlushClose(): void {
    this.writeEnd = true;
    this.sendFin();
    if (this.writeFinished) this.onFlushed();
  }

  /** socket.end(): FIN once everything queued is written; 'finish' follows. */
  private sendFin(): void {
    if (this.finSent) return;
    this.finSent = true;
    this.writer.flush();
    this.socket!.end();
  }

  /** Everything we wrote, and our FIN, reached the kernel while closing. */
  private onFlushed(): void {
    if (this.delayedCloseState === 'CloseAfterFlush') {
      this.closeSocket('LocalClose');
    } else if (this.peerEndedWhileClosing) {
      this.closeSocket('RemoteClose');
    } else {
      this.delayedCloseTimer?.enableTimer(this.delayedCloseTimeoutMs);
    }
  }

  protected closeSocketSafely(event: ConnectionEvent): void {
    try {
      this.closeSocket(event);
    } catch (e) {
      this.reportError(e);
    }
  }

  /**
   * A filter or callback threw inside a socket callback. Nothing may escape to Node's loop (it
   * would take the whole process down), so: log, then close this connection only.
   */
  private onCallbackError(e: unknown): void {
    this.reportError(e);
    if (!this.closed) {
      if (this.localReason === '') this.localReason = 'unhandled_exception';
      this.closeSocketSafely('LocalClose');
    }
  }
}

/**
 * Envoy's ClientConnectionImpl: constructed unconnected; connect() starts the transport, and
 * 'Connected' (when it is ready) or 'RemoteClose' (refused, unreachable, reset, TLS failure: see
 * transportFailureReason()) follows. Writes before 'Connected' are held and count toward the
 * write buffer.
 */
export class ClientConnectionImpl extends ConnectionImpl implements ClientConnection {
  private readonly remote: Address;
  private readonly transport: ClientTransport;
  private readonly sourceAddress: string | undefined;
  private started = false;

  constructor(dispatcher: Dispatcher, remote: Address, options: ClientConnectionOptions = {}) {
    super(dispatcher, undefined, options);
    this.remote = makeAddress(remote.address, remote.port);
    this.transport = options.transport ?? rawClientTransport;
    this.sourceAddress = options.sourceAddress;
  }

  connect(): void {
    if (this.started || this.state() === 'Closed') return;
    this.started = true;
    let socket: net.Socket;
    try {
      socket = this.transport.connect(this.remote, {
        noDelay: this.noDelayEnabled,
        ...(this.sourceAddress !== undefined ? { localAddress: this.sourceAddress } : {}),
      });
    } catch (e) {
      // Synchronous failures (a malformed address) are reported like Envoy's immediate connect
      // errors: asynchronously, so the owner has a chance to add its callbacks first.
      this.failureReason = e instanceof Error ? e.message : String(e);
      this.dispatcher().post(() => {
        if (this.state() !== 'Closed') this.closeSocket('RemoteClose');
      });
      return;
    }
    this.attachSocket(socket, this.transport.readyEvent);
  }

  connecting(): boolean {
    return this.connectingFlag && this.state() !== 'Closed';
  }

  override remoteAddress(): Address {
    return this.remote;
  }
}
