import type * as net from 'node:net';
import { TLSSocket } from 'node:tls';
import { getSystemErrorName } from 'node:util';
import { type StreamWrapBinding, streamWrapBinding, type WriteReq } from './stream-wrap-binding.js';

/**
 * Writes straight to a plain TCP socket's libuv handle, the way Node's own Socket does inside
 * its Writable, without the Writable around it.
 *
 * Each `socket.write()` costs Node a WriteWrap, Writable state updates and, even when the kernel
 * took every byte at once and no callback was given, a nextTick that makes it run its JS tick
 * loop. Going to the handle costs one native call: libuv tries the write at once and queues what
 * the kernel did not take, in order behind earlier queued writes; `end()` (a shutdown request)
 * waits for them, so FIN still follows the last byte.
 *
 * The write request type is the one Node's Socket uses (stream-wrap-binding.ts). When it, or the
 * handle's writeBuffer/writev, is missing, or the socket is TLS, `socketHandleWriter` returns
 * undefined and the caller uses socket.write().
 */

interface DirectWriteReq extends WriteReq {
  owner: SocketHandleWriter;
  bytes: number;
  /** What a queued write points into: libuv holds raw pointers, GC must not free it meanwhile. */
  data: Buffer | readonly Buffer[] | null;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Buffer): number;
  writev(req: WriteReq, chunks: readonly Buffer[], allBuffers: boolean): number;
}

function onWriteDone(this: DirectWriteReq, status: number): void {
  this.data = null;
  this.owner.onAsyncWriteDone(this.bytes, status);
}

/** Direct writes for one socket; `queuedBytes` are those libuv holds for it. */
export class SocketHandleWriter {
  /** Bytes of writes libuv has queued (the kernel did not take them at once), until they complete. */
  queuedBytes = 0;
  /** A request no write is using: after a write taken at once, libuv never saw it. */
  private spare: DirectWriteReq | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly wrap: StreamWrapBinding,
    /** A queued write completed (status 0) or failed; the socket is destroyed on failure. */
    private readonly onQueuedWriteDone: () => void,
  ) {}

  /** Writes `data` (one buffer or several); true if the kernel took it all at once. */
  write(data: Buffer | readonly Buffer[], bytes: number): boolean {
    const handle = (this.socket as unknown as { _handle?: StreamHandle | null })._handle;
    // Gone with the socket: nothing more reaches the peer.
    if (handle == null) return true;
    const req = this.spare ?? this.newReq();
    let err: number;
    if (!Array.isArray(data)) err = handle.writeBuffer(req, data as Buffer);
    else if (data.length === 1) err = handle.writeBuffer(req, data[0]!);
    else err = handle.writev(req, data, true);
    if (err !== 0) {
      this.socket.destroy(errnoError(err));
      return true;
    }
    if (this.wrap.streamBaseState[this.wrap.kLastWriteWasAsync] === 0) {
      this.spare = req;
      return true;
    }
    this.spare = undefined;
    // The caller may reuse its list once this returns.
    req.data = Array.isArray(data) ? data.slice() : data;
    req.bytes = bytes;
    this.queuedBytes += bytes;
    return false;
  }

  onAsyncWriteDone(bytes: number, status: number): void {
    this.queuedBytes -= bytes;
    if (status < 0 && !this.socket.destroyed) this.socket.destroy(errnoError(status));
    this.onQueuedWriteDone();
  }

  private newReq(): DirectWriteReq {
    const req = new this.wrap.WriteWrap() as DirectWriteReq;
    req.oncomplete = onWriteDone;
    req.owner = this;
    req.bytes = 0;
    req.data = null;
    return req;
  }
}

/** The error Node's socket.write() would have reported, e.g. `write EPIPE`. */
function errnoError(errno: number): Error {
  const code = getSystemErrorName(errno);
  const err: NodeJS.ErrnoException = new Error(`write ${code}`);
  err.errno = errno;
  err.code = code;
  err.syscall = 'write';
  return err;
}

/** A direct writer for `socket`, or undefined when only socket.write() will do. */
export function socketHandleWriter(
  socket: net.Socket,
  onQueuedWriteDone: () => void,
): SocketHandleWriter | undefined {
  if (socket instanceof TLSSocket) return undefined;
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (handle == null || typeof handle.writeBuffer !== 'function' || typeof handle.writev !== 'function') {
    return undefined;
  }
  const wrap = streamWrapBinding();
  return wrap === null ? undefined : new SocketHandleWriter(socket, wrap, onQueuedWriteDone);
}
