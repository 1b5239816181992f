import type * as net from 'node:net';
import type { BufferInstance } from '../api/buffer.js';
import { BufferChain } from '../common/buffer-chain.js';

/**
 * Writes of one turn are gathered up to this size (Node's default highWaterMark), then sent; a
 * batch this small is copied into one Buffer, which costs less than a vectored write.
 */
const BATCH_FLUSH_BYTES = 16 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * The batch is flushed from a reaction on this settled promise: a microtask, run right after the
 * current callback like a nextTick, but a nextTick makes Node run its tick loop in JS after the
 * callback (~0.5 KB and a few hundred ns each time), while microtasks alone are drained natively.
 */
const RESOLVED = Promise.resolve();

/**
 * The write side of a ConnectionImpl (Envoy's write buffer): writes held while the transport is
 * not ready, the batch of the current turn, and the high/low watermarks of what is buffered.
 *
 * write() takes every slice by reference into the batch, which goes to the socket when the
 * current callback returns (one microtask) or at once when it holds 16 KiB: the small
 * writes of one turn, e.g. a response head and its body, leave in one syscall. The buffered bytes
 * are what is held, the batch, and the socket's writableLength; above the limit `onWatermark(true)`
 * is raised, and at half of it after that `onWatermark(false)`. `onWriteComplete` runs when a flush
 * that the kernel did not take at once has drained (or after every write while above the limit);
 * `onFlushedAtOnce` when it took everything during the flush.
 */
export class SocketWriter {
  /** Set once the connection attaches its socket. */
  socket: net.Socket | undefined = undefined;
  /** Writes held while the transport is not ready (client connecting, TLS handshaking). */
  private readonly pending = new BufferChain();
  /** Writes of this turn not yet handed to the socket. */
  private readonly batch = new BufferChain();
  private flushScheduled = false;
  private limit: number;
  private above = false;
  /** After clear(): the connection is closed, no watermark is raised any more. */
  private closed = false;

  constructor(
    limit: number,
    private readonly onWriteComplete: () => void,
    private readonly onWatermark: (above: boolean) => void,
    /** The kernel took the whole flush at once; no write callback will follow. Must not write. */
    private readonly onFlushedAtOnce: () => void,
  ) {
    this.limit = limit;
  }

  /** Bytes written but not yet taken by the kernel: ours plus the socket's. */
  bufferedBytes(): number {
    const socketBytes = this.socket !== undefined ? this.socket.writableLength : 0;
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
   * Takes every slice of `data` by reference into this turn's batch, which is flushed when the
   * current callback returns, or at once when it holds 16 KiB.
   */
  write(data: BufferInstance): void {
    const batch = this.batch;
    batch.move(data);
    if (batch.length >= BATCH_FLUSH_BYTES) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      void RESOLVED.then(this.flush);
    }
  }

  /**
   * Hands the batch to the socket: one slice as it is, a small batch copied into one Buffer, a
   * large one under cork (one writev) with runs of small slices (frame headers, heads) copied
   * together and large payloads passed by reference. Before end() and destroy(), which would
   * otherwise come first.
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
    // A write callback costs Node a nextTick and an object even when the kernel took every byte at
    // once; it is only needed above the high watermark (the low one must be seen when the socket
    // drains). Otherwise a write left queued in the socket gets an empty write behind it, whose
    // callback marks the moment the queue drained.
    const cb = this.above ? this.onWriteComplete : undefined;
    const count = batch.sliceCount();
    if (count === 1 || n < BATCH_FLUSH_BYTES) {
      s.write(batch.toBuffer(), cb);
    } else {
      const slices = batch.slices();
      s.cork();
      let runStart = 0;
      let runBytes = 0;
      for (let i = 0; i < count; i++) {
        const slice = slices[i]!;
        if (slice.length < BATCH_FLUSH_BYTES) {
          runBytes += slice.length;
          continue;
        }
        if (runBytes > 0) s.write(coalesce(slices, runStart, i, runBytes));
        s.write(slice, i === count - 1 ? cb : undefined);
        runStart = i + 1;
        runBytes = 0;
      }
      if (runBytes > 0) s.write(coalesce(slices, runStart, count, runBytes), cb);
      s.uncork();
    }
    batch.drain(n);
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

/** slices[from, to) as one Buffer (no copy for a single slice). */
function coalesce(slices: readonly Buffer[], from: number, to: number, bytes: number): Buffer {
  return to - from === 1 ? slices[from]! : Buffer.concat(slices.slice(from, to), bytes);
}
