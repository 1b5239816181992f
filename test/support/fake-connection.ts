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
import type { ConnectionCloseType, ReadFilter, WriteFilter } from '../../src/api/network.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import { FakeConnectionBase, type FakeConnectionBaseOptions } from './fake-connection-base.js';

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

export type FakeConnectionOptions = FakeConnectionBaseOptions;

export class FakeConnection extends FakeConnectionBase {
  /** One Buffer per write call. */
  readonly writes: Buffer[] = [];
  /** How many slices each write call carried. */
  readonly writeSlices: number[] = [];
  /** Received and not yet consumed. */
  readonly readBuffer = new BufferChain();
  /** The consumer of received bytes, called while reads are enabled and bytes are buffered. */
  onData: ((data: BufferChain) => void) | undefined;
  /** In a loopback, the connection that receives what this one writes. */
  peer: FakeConnection | undefined;

  constructor(disp: FakeDispatcher, options: FakeConnectionOptions = {}) {
    super(disp, options);
  }

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

  // ---- Connection ----

  addReadFilter(_filter: ReadFilter): void {}
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
    if (!this.recordClose(type, details)) return;
    this.st = 'Closed';
    this.raise('LocalClose');
    const peer = this.peer;
    if (peer !== undefined) this.disp.post(() => peer.remoteClose());
  }

  /** Like ConnectionImpl: what is buffered is dispatched on a later turn. */
  protected override onReadEnabled(): void {
    if (this.readBuffer.length > 0) this.disp.post(() => this.deliver());
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
