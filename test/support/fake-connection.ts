/**
 * An in-memory network Connection for codec tests. It records every write (one Buffer per write
 * call, with the number of slices it had), every close with its type, and the counted readDisable.
 * Received bytes wait in a read buffer that a consumer (a codec's dispatch loop) drains, the way
 * ConnectionImpl's read buffer does: while reads are disabled nothing is delivered, and enabling
 * them again re-delivers what is buffered on a later turn. Two connections can be joined for a
 * loopback: what one writes the other receives on a later turn of the FakeDispatcher.
 *
 * The FakeDispatcher runs posted callbacks (and deferred deletions) only from runPosted(), so a
 * test decides when "the next turn" happens.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type { DeferredDeletable, Dispatcher, Timer } from '../../src/api/dispatcher.js';
import type { CodecConnection, CodecStatus } from '../../src/api/http-codec.js';
import type {
  Address,
  ClientConnection,
  ConnectionCallbacks,
  ConnectionCloseType,
  ConnectionEvent,
  ConnectionState,
  ConnectionStats,
  ReadFilter,
  WriteFilter,
} from '../../src/api/network.js';
import { BufferChain } from '../../src/common/buffer-chain.js';

class FakeTimer implements Timer {
  armed = false;
  enableTimer(): void {
    this.armed = true;
  }
  disableTimer(): void {
    this.armed = false;
  }
  enabled(): boolean {
    return this.armed;
  }
}

export class FakeDispatcher implements Dispatcher {
  now = 0;
  private queue: Array<() => void> = [];

  createTimer(): Timer {
    return new FakeTimer();
  }
  deferredDelete(d: DeferredDeletable): void {
    this.queue.push(() => d.onDeferredDelete());
  }
  post(cb: () => void): void {
    this.queue.push(cb);
  }
  approximateMonotonicTime(): number {
    return this.now;
  }
  systemTime(): number {
    return this.now;
  }
  /** Callbacks waiting for the next turn. */
  get pending(): number {
    return this.queue.length;
  }
  /** Runs posted callbacks, and those they post, until none is left (at most `limit`). */
  runPosted(limit = 10_000): number {
    let ran = 0;
    while (this.queue.length > 0) {
      if (ran >= limit) throw new Error(`FakeDispatcher: more than ${limit} posted callbacks`);
      const cb = this.queue.shift()!;
      cb();
      ran++;
    }
    return ran;
  }
}

const LOOPBACK: Address = { address: '127.0.0.1', port: 0, family: 'IPv4' };
let nextId = 1;

export interface FakeConnectionOptions {
  readonly ssl?: boolean;
  readonly bufferLimit?: number;
}

export class FakeConnection implements ClientConnection {
  readonly id = nextId++;
  /** One Buffer per write call. */
  readonly writes: Buffer[] = [];
  /** How many slices each write call carried. */
  readonly writeSlices: number[] = [];
  readonly closes: Array<{ type: ConnectionCloseType; details: string }> = [];
  readonly readDisableCalls: boolean[] = [];
  readDisableCount = 0;
  /** Received and not yet consumed. */
  readonly readBuffer = new BufferChain();
  /** The consumer of received bytes, called while reads are enabled and bytes are buffered. */
  onData: ((data: BufferChain) => void) | undefined;
  /** In a loopback, the connection that receives what this one writes. */
  peer: FakeConnection | undefined;
  private st: ConnectionState = 'Open';
  private readonly cbs: ConnectionCallbacks[] = [];
  private closeReason = '';
  private tx = 0;
  private rx = 0;
  private halfClose = false;

  constructor(
    private readonly disp: FakeDispatcher,
    private readonly options: FakeConnectionOptions = {},
  ) {}

  /** Joins two connections: each receives what the other writes, one turn later. */
  static pair(disp: FakeDispatcher): [FakeConnection, FakeConnection] {
    const a = new FakeConnection(disp);
    const b = new FakeConnection(disp);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  /** Everything written so far, as one string (latin1). */
  written(): string {
    return Buffer.concat(this.writes).toString('latin1');
  }

  /** Forgets what was written so far. */
  clearWrites(): void {
    this.writes.length = 0;
    this.writeSlices.length = 0;
  }

  /** Bytes from the peer: buffered, then delivered if reads are enabled. */
  receive(data: Buffer | string): void {
    if (this.st !== 'Open') return;
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.rx += buf.length;
    this.readBuffer.add(buf);
    this.deliver();
  }

  /** Runs the consumer over the read buffer when reads are enabled. */
  deliver(): void {
    if (this.st !== 'Open' || this.readDisableCount > 0 || this.readBuffer.length === 0) return;
    this.onData?.(this.readBuffer);
  }

  /** The peer closed: RemoteClose. */
  remoteClose(): void {
    if (this.st === 'Closed') return;
    this.st = 'Closed';
    this.raise('RemoteClose');
  }

  raiseAboveHighWatermark(): void {
    for (const cb of [...this.cbs]) cb.onAboveWriteBufferHighWatermark();
  }

  raiseBelowLowWatermark(): void {
    for (const cb of [...this.cbs]) cb.onBelowWriteBufferLowWatermark();
  }

  // ---- Connection ----

  dispatcher(): Dispatcher {
    return this.disp;
  }
  addConnectionCallbacks(cb: ConnectionCallbacks): void {
    this.cbs.push(cb);
  }
  removeConnectionCallbacks(cb: ConnectionCallbacks): void {
    const i = this.cbs.indexOf(cb);
    if (i >= 0) this.cbs.splice(i, 1);
  }
  addReadFilter(_filter: ReadFilter): void {}
  addWriteFilter(_filter: WriteFilter): void {}
  addFilter(_filter: ReadFilter & WriteFilter): void {}
  initializeReadFilters(): boolean {
    return false;
  }
  write(data: BufferInstance, _endStream: boolean): void {
    const n = data.length;
    if (this.st !== 'Open') {
      data.drain(n);
      return;
    }
    const slices = data.slices();
    this.writeSlices.push(slices.length);
    const bytes = Buffer.concat(slices as Buffer[], n);
    this.writes.push(bytes);
    data.drain(n);
    this.tx += n;
    const peer = this.peer;
    if (peer !== undefined) this.disp.post(() => peer.receive(bytes));
  }
  close(type: ConnectionCloseType, details = ''): void {
    this.closes.push({ type, details });
    if (this.st === 'Closed') return;
    if (this.closeReason === '') this.closeReason = details;
    this.st = 'Closed';
    this.raise('LocalClose');
    const peer = this.peer;
    if (peer !== undefined) this.disp.post(() => peer.remoteClose());
  }
  state(): ConnectionState {
    return this.st;
  }
  localCloseReason(): string {
    return this.closeReason;
  }
  readDisable(disable: boolean): void {
    this.readDisableCalls.push(disable);
    if (disable) {
      this.readDisableCount++;
      return;
    }
    if (this.readDisableCount === 0) throw new Error('readDisable(false) without a matching readDisable(true)');
    this.readDisableCount--;
    // Like ConnectionImpl: what is buffered is dispatched on a later turn.
    if (this.readDisableCount === 0 && this.readBuffer.length > 0) this.disp.post(() => this.deliver());
  }
  readEnabled(): boolean {
    return this.readDisableCount === 0;
  }
  setBufferLimits(_limit: number): void {}
  bufferLimit(): number {
    return this.options.bufferLimit ?? 1 << 20;
  }
  aboveHighWatermark(): boolean {
    return false;
  }
  enableHalfClose(enabled: boolean): void {
    this.halfClose = enabled;
  }
  isHalfCloseEnabled(): boolean {
    return this.halfClose;
  }
  setDelayedCloseTimeout(_ms: number): void {}
  noDelay(_enable: boolean): void {}
  remoteAddress(): Address {
    return LOOPBACK;
  }
  localAddress(): Address {
    return LOOPBACK;
  }
  nextProtocol(): string {
    return '';
  }
  requestedServerName(): string {
    return '';
  }
  ssl(): boolean {
    return this.options.ssl ?? false;
  }
  stats(): ConnectionStats {
    return { rxBytes: this.rx, txBytes: this.tx };
  }
  connect(): void {}
  connecting(): boolean {
    return false;
  }

  private raise(event: ConnectionEvent): void {
    for (const cb of [...this.cbs]) cb.onEvent(event);
  }
}

/**
 * Makes `codec` the consumer of `conn`'s received bytes with the HTTP connection manager's loop:
 * dispatch, and dispatch again while bytes are left, some were used, and no stream is active (an
 * HTTP/1 codec stops after each request). Statuses are appended to `statuses`.
 */
export function driveCodec(conn: FakeConnection, codec: CodecConnection, statuses: CodecStatus[] = []): CodecStatus[] {
  conn.onData = (data) => {
    for (;;) {
      const before = data.length;
      const status = codec.dispatch(data);
      statuses.push(status);
      if (!status.ok) return;
      const again = conn.state() === 'Open' && data.length > 0 && data.length < before && codec.activeStreamCount() === 0;
      if (!again) return;
    }
  };
  return statuses;
}
