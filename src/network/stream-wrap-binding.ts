/**
 * Node's `stream_wrap` binding, the native side of its TCP sockets: the write request type and
 * the shared state array a stream handle reports each read's and write's result in. Node's Socket
 * uses exactly these; sluice reaches them through `process.binding('stream_wrap')` (deprecated in
 * the documentation only, DEP0111; `--pending-deprecation` prints one warning) to read and write
 * plain TCP handles without the stream machinery around them (socket-read-buffer.ts,
 * socket-handle-writer.ts). null when this Node does not expose them: the callers then keep
 * Node's own paths.
 */

/** A write request; libuv completes a queued one by calling its `oncomplete`. */
export interface WriteReq {
  oncomplete: (status: number) => void;
}

export interface StreamWrapBinding {
  readonly WriteWrap: new () => WriteReq;
  readonly streamBaseState: Int32Array;
  /** Index of the last read's byte count (or negative errno, UV_EOF) in streamBaseState. */
  readonly kReadBytesOrError: number;
  /** Index of "the last write was queued, not completed at once" in streamBaseState. */
  readonly kLastWriteWasAsync: number;
}

let binding: StreamWrapBinding | null | undefined;

export function streamWrapBinding(): StreamWrapBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  try {
    const node = process as unknown as { binding(name: string): Partial<StreamWrapBinding> };
    const b = node.binding('stream_wrap');
    if (
      typeof b.WriteWrap === 'function' &&
      b.streamBaseState instanceof Int32Array &&
      typeof b.kReadBytesOrError === 'number' &&
      typeof b.kLastWriteWasAsync === 'number'
    ) {
      binding = b as StreamWrapBinding;
    }
  } catch {
    // Not exposed by this Node.
  }
  return binding;
}
