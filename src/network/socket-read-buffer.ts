import type * as net from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * Reads plain TCP sockets into one buffer shared by every socket, instead of through their
 * Readable streams.
 *
 * By default Node allocates a 64 KiB ArrayBuffer per read, shrinks it to what was read and pushes
 * it through the Readable machinery to 'data'. With a user buffer (the mechanism behind
 * `net.connect({ onread })`) libuv reads into our buffer and Node calls us directly: no per-read
 * ArrayBuffer, no stream bookkeeping. The data is copied out before the callback returns (a
 * pooled slice for small reads), so the shared buffer is free again for the next read of any
 * socket; one buffer serves all connections, and an idle connection holds none.
 *
 * Node exposes the option only to sockets it creates in net.connect; accepted sockets get the
 * same setup through the internal slots that option fills (kBuffer, kBufferCb, kBufferGen on
 * Node 20). When those slots are missing, or the socket is TLS or already holds stream data,
 * `readIntoSharedBuffer` returns false and the caller uses 'data' events as before.
 */

/** What libuv may read at once (Node's own per-read size). */
const READ_SIZE = 64 * 1024;

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
}

/**
 * Routes the socket's reads to `onData` through the shared buffer. Each chunk handed to `onData`
 * is the caller's to keep. Pause/resume keep working (Node stops and starts the handle's reads
 * itself in this mode); 'end', 'error' and 'close' are emitted as before.
 */
export function readIntoSharedBuffer(socket: net.Socket, onData: (chunk: Buffer) => void): boolean {
  if (socket instanceof TLSSocket || socket.readableLength > 0) return false;
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return false;
  if (slots === undefined) slots = findSlots(socket);
  if (slots === null) return false;
  shared ??= Buffer.allocUnsafeSlow(READ_SIZE);
  const target = socket as unknown as Record<symbol, unknown>;
  target[slots.buffer] = shared;
  target[slots.generator] = null;
  target[slots.callback] = (nread: number, buf: Buffer): void => {
    const chunk = Buffer.allocUnsafe(nread);
    buf.copy(chunk, 0, 0, nread);
    onData(chunk);
  };
  handle.useUserBuffer(shared);
  return true;
}
