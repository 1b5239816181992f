import type * as net from 'node:net';
import type { BufferInstance } from '../api/buffer.js';
import type { Dispatcher } from '../api/dispatcher.js';
import { BufferChain } from '../common/buffer-chain.js';
import { type SocketHandleWriter, socketHandleWriter } from './socket-handle-writer.js';

/**
 * Writes of one loop iteration are gathered up to this size (Node's default highWaterMark), then
 * sent; through socket.write() a batch this small is copied into one Buffer, which costs less
 * than Node's vectored write.
 */
const BATCH_FLUSH_BYTES = 16 * 1024;

const EMPTY = Buffer.alloc(0);

/** Up to this many slices go to a socket handle as they are (one writev, no copy). */
const DIRECT_SLICES = 32;

/** A settled promise: a reaction on it runs right after the current callback (a microtask). */
const RESOLVED = Promise.resolve();

/**
 * The write side of a ConnectionImpl (Envoy's write buffer): writes held while the transport is
 * not ready, the batch of the current loop iteration, and the high/low watermarks of what is
 * buffered.
 *
 * write() takes every slice by reference into the batch, which goes to the socket once this loop
 * iteration's I/O callbacks have run (dispatcher.post: one setImmediate for every writer), the way
 * Envoy activates a connection's write event and writes after the current events; or at once
 * when it holds 16 KiB, and before a FIN or a close. The small writes of one iteration, e.g. a
 * response head and its body, leave in one syscall, and the writes of all connections leave back
 * to back: the peers they wake are woken once per batch of requests rather than once per request
 * (waking a sleeping peer is a large part of a small write's cost on loopback; perfbench S1w: ~6%
 * less CPU per request than flushing from a microtask after each callback). Plain TCP
 * sockets are written through their handle (socket-handle-writer.ts), others through
 * socket.write(). The buffered bytes are what is held, the batch, and what the socket or its
 * handle queued; above the limit `onWatermark(true)` is raised, and at half of it after that
 * `onWatermark(false)`. `onWriteComplete` runs when a flush that the kernel did not take at once
 * has drained (or after every write while above the limit); `onFlushedAtOnce` when it took
 * everything during the flush.
 */
export class SocketWriter {
  /** Set once the connection attaches its socket. */
  private socket: net.Socket | undefined = undefined;
  /** Writes to the socket's handle, for plain TCP; undefined: through socket.write(). */
  private direct: SocketHandleWriter | undefined = undefined;
  /** Writes held while the transport is not ready (client connecting, TLS handshaking). */
  private readonly pending = new BufferChain();
  /** Writes of this loop iteration not yet handed to the socket. */
  private readonly batch = new BufferChain();
  private flushScheduled = false;
  private limit: number;
  private above = false;
  /** After clear(): the connection is closed, no watermark is raised any more. */
  private closed = false;

  constructor(
    /** Runs the flush after this loop iteration's I/O callbacks. */
    private readonly dispatcher: Pick<Dispatcher, 'post'>,
    limit: number,
    private readonly onWriteComplete: () => void,
    private readonly onWatermark: (above: boolean) => void,
    /** The kernel took the whole flush at once; no write callback will follow. Must not write. */
    private readonly onFlushedAtOnce: () => void,
  ) {
    this.limit = limit;
  }

  /** The socket writes go to; plain TCP ones are written through their handle. */
  attach(socket: net.Socket): void {
    this.socket = socket;
    this.direct = socketHandleWriter(socket, this.onWriteComplete);
  }

  /** Bytes written but not yet taken by the kernel: ours plus the socket's. */
  bufferedBytes(): number {
    // Written through the handle, Node's Writable never holds a byte (and its getter is not free).
    const direct = this.direct;
    const s = this.socket;
    const socketBytes = direct !== undefined ? direct.queuedBytes : s !== undefined ? s.writableLength : 0;
    return this.pending.length + this.batch.length + socketBytes;
  }

  aboveHighWatermark(): boolean {
    return this.above;
  }

  /** Holds `data` (by reference) until releasePending(): the transport is not ready yet. */
  hold(data: BufferInstance): void {
    this.pending.move(data);
  }

  /** The transport is ready: what was held goes out first. */
  releasePending(): void {
    if (this.pending.length > 0) this.write(this.pending);
  }

  /**
   * Takes every slice of `data` by reference into this iteration's batch, which is flushed when
   * the iteration's I/O callbacks have run, or at once when it holds 16 KiB.
   */
  write(data: BufferInstance): void {
    const batch = this.batch;
    batch.move(data);
    if (batch.length >= BATCH_FLUSH_BYTES) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.dispatcher.post(this.flush);
    }
  }

  /**
   * Hands the batch to the socket. A plain TCP socket's handle gets up to 32 slices as they are
   * (one vectored write), more gathered. Through socket.write(): one slice as it is, a small batch
   * copied into one Buffer, a large one under cork (one writev). Gathering copies runs of small
   * slices (frame headers, heads) together and passes large payloads by reference. Called before
   * end() and destroy(), which would otherwise come first.
   */
  readonly flush = (): void => {
    this.flushScheduled = false;
    const batch = this.batch;
    const n = batch.length;
    if (n === 0) return;
    const s = this.socket;
    if (s === undefined || s.destroyed) {
      batch.drain(n);
      return;
    }
    const direct = this.direct;
    if (direct !== undefined) {
      const count = batch.sliceCount();
      const atOnce = direct.write(count <= DIRECT_SLICES ? batch.slices() : gather(batch, n), n);
      batch.drain(n);
      if (!atOnce) return;
      // Taken at once; above the high watermark the low one must still be checked, but not from
      // inside this write.
      if (this.above) void RESOLVED.then(this.onWriteComplete);
      else this.onFlushedAtOnce();
      return;
    }
    const data = gather(batch, n);
    batch.drain(n);
    // A write callback costs Node a nextTick and an object even when the kernel took every byte at
    // once; it is only needed above the high watermark (the low one must be seen when the socket
    // drains). Otherwise a write left queued in the socket gets an empty write behind it, whose
    // callback marks the moment the queue drained.
    const cb = this.above ? this.onWriteComplete : undefined;
    if (Array.isArray(data)) {
      s.cork();
      for (let i = 0; i < data.length; i++) s.write(data[i]!, i === data.length - 1 ? cb : undefined);
      s.uncork();
    } else {
      s.write(data as Buffer, cb);
    }
    if (cb === undefined) {
      if (s.writableLength > 0) s.write(EMPTY, this.onWriteComplete);
      else this.onFlushedAtOnce();
    }
  };

  /** Drops what is held (the connection closed); no watermark is raised after this. */
  clear(): void {
    this.closed = true;
    this.pending.clear();
    this.batch.clear();
  }

  /** A new buffer limit; 0 disables the watermarks (and ends an above-high state). */
  setLimit(limit: number): void {
    this.limit = limit;
    if (this.closed) return;
    if (limit === 0) {
      if (this.above) this.belowLow();
    } else {
      this.checkHighWatermark();
      this.checkLowWatermark();
    }
  }

  checkHighWatermark(): void {
    if (this.above || this.limit === 0 || this.closed) return;
    if (this.bufferedBytes() > this.limit) {
      this.above = true;
      this.onWatermark(true);
    }
  }

  checkLowWatermark(): void {
    if (!this.above || this.closed) return;
    if (this.bufferedBytes() <= Math.floor(this.limit / 2)) this.belowLow();
  }

  private belowLow(): void {
    this.above = false;
    this.onWatermark(false);
  }
}

/**
 * The batch as one Buffer when it has one slice or is small (copied together), else as a list for
 * one vectored write, with runs of small slices (frame headers, heads) copied together and large
 * payloads passed by reference.
 */
function gather(batch: BufferChain, n: number): Buffer | Buffer[] {
  const count = batch.sliceCount();
  if (count === 1 || n < BATCH_FLUSH_BYTES) return batch.toBuffer();
  const slices = batch.slices();
  const out: Buffer[] = [];
  let runStart = 0;
  let runBytes = 0;
  for (let i = 0; i < count; i++) {
    const slice = slices[i]!;
    if (slice.length < BATCH_FLUSH_BYTES) {
      runBytes += slice.length;
      continue;
    }
    if (runBytes > 0) out.push(coalesce(slices, runStart, i, runBytes));
    out.push(slice);
    runStart = i + 1;
    runBytes = 0;
  }
  if (runBytes > 0) out.push(coalesce(slices, runStart, count, runBytes));
  return out;
}

/** slices[from, to) as one Buffer (no copy for a single slice). */
function coalesce(slices: readonly Buffer[], from: number, to: number, bytes: number): Buffer {
  return to - from === 1 ? slices[from]! : Buffer.concat(slices.slice(from, to), bytes);
}
