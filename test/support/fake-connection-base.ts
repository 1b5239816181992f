/**
 * What the in-memory test Connections (fake-connection.ts for codecs, l4-fakes.ts for network
 * filters) share: connection callbacks and events, the state and local close reason, the counted
 * readDisable, byte counters, loopback addresses and no-op socket options. A subclass decides how
 * bytes move: writes, closes, and what a read filter or codec sees.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type { Dispatcher } from '../../src/api/dispatcher.js';
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

export const FAKE_LOOPBACK: Address = { address: '127.0.0.1', port: 0, family: 'IPv4' };

let nextId = 1;

export interface FakeConnectionBaseOptions {
  readonly ssl?: boolean;
  /** Default 1 MiB. */
  readonly bufferLimit?: number;
}

export abstract class FakeConnectionBase implements ClientConnection {
  readonly id = nextId++;
  /** Every close() call, including those after the connection closed. */
  readonly closes: Array<{ type: ConnectionCloseType; details: string }> = [];
  readonly readDisableCalls: boolean[] = [];
  readDisableCount = 0;
  halfClose = false;
  protected st: ConnectionState = 'Open';
  protected readonly cbs: ConnectionCallbacks[] = [];
  protected closeReason = '';
  protected tx = 0;
  protected rx = 0;

  constructor(
    protected readonly disp: Dispatcher,
    private readonly baseOptions: FakeConnectionBaseOptions = {},
  ) {}

  abstract write(data: BufferInstance, endStream: boolean): void;
  abstract close(type: ConnectionCloseType, details?: string): void;
  abstract addReadFilter(filter: ReadFilter): void;
  abstract addFilter(filter: ReadFilter & WriteFilter): void;
  abstract initializeReadFilters(): boolean;

  /** Records a close() call; false when the connection was already closed (nothing else to do). */
  protected recordClose(type: ConnectionCloseType, details: string): boolean {
    this.closes.push({ type, details });
    if (this.st === 'Closed') return false;
    if (this.closeReason === '') this.closeReason = details;
    return true;
  }

  /** Called when the last readDisable(true) is undone. */
  protected onReadEnabled(): void {}

  /** The peer reset or closed the connection: RemoteClose. */
  remoteClose(): void {
    if (this.st === 'Closed') return;
    this.st = 'Closed';
    this.raise('RemoteClose');
  }

  raise(event: ConnectionEvent): void {
    for (const cb of [...this.cbs]) cb.onEvent(event);
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
  addWriteFilter(_filter: WriteFilter): void {}
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
    if (this.readDisableCount === 0) this.onReadEnabled();
  }
  readEnabled(): boolean {
    return this.readDisableCount === 0;
  }
  setBufferLimits(_limit: number): void {}
  bufferLimit(): number {
    return this.baseOptions.bufferLimit ?? 1 << 20;
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
    return FAKE_LOOPBACK;
  }
  localAddress(): Address {
    return FAKE_LOOPBACK;
  }
  nextProtocol(): string {
    return '';
  }
  requestedServerName(): string {
    return '';
  }
  ssl(): boolean {
    return this.baseOptions.ssl ?? false;
  }
  stats(): ConnectionStats {
    return { rxBytes: this.rx, txBytes: this.tx };
  }
  connect(): void {}
  connecting(): boolean {
    return false;
  }
}
