import type * as net from 'node:net';
import { TLSSocket } from 'node:tls';
import { streamWrapBinding } from './stream-wrap-binding.js';

/**
 * Reads plain TCP sockets into buffers we choose, instead of through their Readable streams.
 *
 * By default Node allocates a 64 KiB ArrayBuffer per read, shrinks it to what was read and pushes
 * it through the Readable machinery to 'data'. With a user buffer (the mechanism behind
 * `net.connect({ onread })`) libuv reads into our buffer and Node calls us directly: no stream
 * bookkeeping, and for small reads no per-read ArrayBuffer either.
 *
 * Small reads (requests, heads, small bodies) land in one buffer shared by every socket and are
 * copied out before the callback returns (a pooled slice), so an idle connection holds no read
 * buffer. A read of at least half the buffer means a bulk transfer: copying it would cost more
 * than it saves, so that socket switches to a buffer of its own, handed over whole (no copy) to
 * the consumer after each large read and replaced by a fresh one; its first small read switches
 * it back to the shared buffer.
 *
 * Node exposes the option only to sockets it creates in net.connect; accepted sockets get the
 * same setup through the internal slots that option fills (kBuffer, kBufferCb, kBufferGen on
 * Node 20). When those slots are missing, or the socket is TLS or already holds stream data,
 * `readIntoSharedBuffer` returns false and the caller uses 'data' events as before.
 *
 * The handle's read callback is also replaced, so a read goes from the handle to the reader
 * without Node's onStreamRead in between (its stream timer refresh, slot lookups and buffer
 * generator call: ~1% of the proxy's CPU per small request); a read that reports EOF or an error
 * is passed to Node's callback, which ends or destroys the stream as before. Socket timeouts
 * (`socket.setTimeout`) are not refreshed by reads any more; sluice's own timers do not use them.
 */

/** What libuv may read at once (Node's own per-read size). */
const READ_SIZE = 64 * 1024;
/** Reads at least this large are handed over instead of copied. */
const BULK_READ = READ_SIZE / 2;

let shared: Buffer | undefined;

interface UserBufferSlots {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

let slots: UserBufferSlots | null | undefined;

function findSlots(socket: net.Socket): UserBufferSlots | null {
  const own = Object.getOwnPropertySymbols(socket);
  const find = (name: string): symbol | undefined => own.find((s) => s.description === name);
  const buffer = find('kBuffer');
  const callback = find('kBufferCb');
  const generator = find('kBufferGen');
  return buffer && callback && generator ? { buffer, callback, generator } : null;
}

/** The parts of Node's TCP handle this uses; absent on other handle kinds. */
interface UserBufferHandle {
  useUserBuffer?: (buf: Uint8Array) => void;
  /** Node's read callback (its onStreamRead), called by the handle after every read. */
  onread?: (this: UserBufferHandle, arrayBuffer: ArrayBuffer) => unknown;
}

/** One socket's reads: Node calls `onRead` after each read, then `next` for the next buffer. */
class SocketReader {
  private nextBuffer: Buffer;

  constructor(
    private readonly onData: (chunk: Buffer) => void,
    private readonly sharedBuffer: Buffer,
  ) {
    this.nextBuffer = sharedBuffer;
  }

  readonly onRead = (nread: number, buf: Buffer): void => {
    let chunk: Buffer;
    if (buf !== this.sharedBuffer && nread >= BULK_READ) {
      chunk = buf.subarray(0, nread);
      this.nextBuffer = Buffer.allocUnsafeSlow(READ_SIZE);
    } else {
      chunk = Buffer.allocUnsafe(nread);
      buf.copy(chunk, 0, 0, nread);
      this.nextBuffer = nread >= BULK_READ ? Buffer.allocUnsafeSlow(READ_SIZE) : this.sharedBuffer;
    }
    this.onData(chunk);
  };

  readonly next = (): Buffer => this.nextBuffer;
}

/**
 * Routes the socket's reads to `onData`. Each chunk handed to `onData` is the caller's to keep.
 * Pause/resume keep working (Node stops and starts the handle's reads itself in this mode);
 * 'end', 'error' and 'close' are emitted as before.
 */
export function readIntoSharedBuffer(socket: net.Socket, onData: (chunk: Buffer) => void): boolean {
  if (socket instanceof TLSSocket || socket.readableLength > 0) return false;
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return false;
  if (slots === undefined) slots = findSlots(socket);
  if (slots === null) return false;
  shared ??= Buffer.allocUnsafeSlow(READ_SIZE);
  const reader = new SocketReader(onData, shared);
  const target = socket as unknown as Record<symbol, unknown>;
  target[slots.buffer] = shared;
  target[slots.generator] = reader.next;
  target[slots.callback] = reader.onRead;
  handle.useUserBuffer(shared);
  const nodeOnRead = handle.onread;
  const wrap = streamWrapBinding();
  if (typeof nodeOnRead === 'function' && wrap !== null) {
    // Data goes straight to the reader; EOF and errors still take Node's path ('end', 'error').
    const state = wrap.streamBaseState;
    const index = wrap.kReadBytesOrError;
    const slot = slots.buffer;
    handle.onread = function onread(this: UserBufferHandle, arrayBuffer: ArrayBuffer): unknown {
      const nread = state[index]!;
      if (nread <= 0) return nodeOnRead.call(this, arrayBuffer);
      reader.onRead(nread, target[slot] as Buffer);
      const next = reader.next();
      target[slot] = next;
      return next;
    };
  }
  return true;
}
