/**
 * HTTP/2 stream states (RFC 9113 §5.1) as one tagged union, with a pure send/recv transition per
 * event. Each transition returns the new state, or the typed error RFC 9113 prescribes for a
 * received frame (connection vs stream error, PROTOCOL_ERROR vs STREAM_CLOSED). For send events
 * an error means "must not send this" (a local bug or a race with a reset); it is never put on
 * the wire as is.
 *
 * ```text
 *                              +--------+
 *                      send PP |        | recv PP
 *                     ,--------+  idle  +--------.
 *                    /         |        |         \
 *                   v          +--------+          v
 *            +----------+          |           +----------+
 *            |          |          | send H /   |          |
 *     ,------+ reserved |          | recv H    | reserved +------.
 *     |      | (local)  |          |           | (remote) |      |
 *     |      +---+------+          v           +------+---+      |
 *     |          |             +--------+             |          |
 *     |          |     recv ES |        | send ES     |          |
 *     |   send H |     ,-------+  open  +-------.     | recv H   |
 *     |          |    /        |        |        \    |          |
 *     |          v   v         +---+----+         v   v          |
 *     |      +----------+          |           +----------+      |
 *     |      |   half-  |          |           |   half-  |      |
 *     |      |  closed  |          | send R /  |  closed  |      |
 *     |      | (remote) |          | recv R    | (local)  |      |
 *     |      +----+-----+          |           +-----+----+      |
 *     |           |                |                 |           |
 *     |           | send ES /      |       recv ES / |           |
 *     |           |  send R /      v        send R / |           |
 *     |           |  recv R    +--------+   recv R   |           |
 *     | send R /  `----------->|        |<-----------'  send R / |
 *     | recv R                 | closed |               recv R   |
 *     `----------------------->|        |<-----------------------'
 *                              +--------+
 *
 *    send:  endpoint sends this frame          H:  HEADERS frame (with implied CONTINUATION frames)
 *    recv:  endpoint receives this frame       ES: END_STREAM flag
 *                                              R:  RST_STREAM frame
 *                                              PP: PUSH_PROMISE frame (with implied CONTINUATION
 *                                                  frames); state transitions are for the
 *                                                  promised stream
 * ```
 *
 * `closed` remembers its cause, because RFC 9113 §5.1 treats late frames differently: after we
 * reset a stream the peer may still send anything it had in flight, which must be minimally
 * processed (HPACK, connection flow control) and dropped: such transitions return the unchanged
 * `closed('local_reset')` state. The session decides the fate of streams it no longer tracks.
 * Stream-id ordering and parity (§5.1.1) are the stream store's business.
 */
import { ErrorCode, connectionError, streamError } from './frame.js';
import type { H2Error } from './frame.js';

/** Why a stream is closed. */
export type CloseCause = 'end_stream' | 'local_reset' | 'remote_reset';

export type StreamState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'reserved_local' }
  | { readonly kind: 'reserved_remote' }
  | { readonly kind: 'open' }
  | { readonly kind: 'half_closed_local' }
  | { readonly kind: 'half_closed_remote' }
  | { readonly kind: 'closed'; readonly cause: CloseCause };

/** Result of a transition: the next state or the error to act on. */
export type Transition = StreamState | H2Error;

/** The states as shared immutable values: transitions never allocate. */
export const StreamStates = Object.freeze({
  idle: Object.freeze({ kind: 'idle' }) as StreamState,
  reservedLocal: Object.freeze({ kind: 'reserved_local' }) as StreamState,
  reservedRemote: Object.freeze({ kind: 'reserved_remote' }) as StreamState,
  open: Object.freeze({ kind: 'open' }) as StreamState,
  halfClosedLocal: Object.freeze({ kind: 'half_closed_local' }) as StreamState,
  halfClosedRemote: Object.freeze({ kind: 'half_closed_remote' }) as StreamState,
  closedEndStream: Object.freeze({ kind: 'closed', cause: 'end_stream' }) as StreamState,
  closedLocalReset: Object.freeze({ kind: 'closed', cause: 'local_reset' }) as StreamState,
  closedRemoteReset: Object.freeze({ kind: 'closed', cause: 'remote_reset' }) as StreamState,
});

const S = StreamStates;

/** True for an error result. */
export function isTransitionError(t: Transition): t is H2Error {
  return t.kind === 'connection' || t.kind === 'stream';
}

/** RFC 9113 §5.1.2: open and half-closed streams count toward SETTINGS_MAX_CONCURRENT_STREAMS. */
export function isActive(s: StreamState): boolean {
  return s.kind === 'open' || s.kind === 'half_closed_local' || s.kind === 'half_closed_remote';
}

/** Frames received in this state are processed for HPACK / flow control and then dropped. */
export function isLocallyReset(s: StreamState): boolean {
  return s.kind === 'closed' && s.cause === 'local_reset';
}

/** We may still send HEADERS/DATA (open or half-closed remote, or reserved local for HEADERS). */
export function canSend(s: StreamState): boolean {
  return s.kind === 'open' || s.kind === 'half_closed_remote' || s.kind === 'reserved_local';
}

/** The peer may still send HEADERS/DATA. */
export function canReceive(s: StreamState): boolean {
  return s.kind === 'open' || s.kind === 'half_closed_local' || s.kind === 'reserved_remote';
}

function describe(s: StreamState): string {
  return s.kind === 'closed' ? `closed (${s.cause})` : s.kind;
}

function sendClosed(id: number, frame: string, s: StreamState): H2Error {
  return streamError(id, ErrorCode.STREAM_CLOSED, `cannot send ${frame} on stream ${id} in state ${describe(s)}`);
}

function sendInvalid(id: number, frame: string, s: StreamState): H2Error {
  return streamError(id, ErrorCode.PROTOCOL_ERROR, `cannot send ${frame} on stream ${id} in state ${describe(s)}`);
}

function recvConnError(id: number, frame: string, s: StreamState): H2Error {
  return connectionError(
    ErrorCode.PROTOCOL_ERROR, `${frame} received on stream ${id} in state ${describe(s)}`,
  );
}

function recvStreamClosed(id: number, frame: string, s: StreamState): H2Error {
  return streamError(
    id, ErrorCode.STREAM_CLOSED, `${frame} received on stream ${id} in state ${describe(s)}`,
  );
}

/** We send HEADERS (request, response, informational or trailers). */
export function sendHeaders(s: StreamState, streamId: number, endStream: boolean): Transition {
  switch (s.kind) {
    case 'idle':
    case 'open':
      return endStream ? S.halfClosedLocal : S.open;
    case 'reserved_local':
      return endStream ? S.closedEndStream : S.halfClosedRemote;
    case 'half_closed_remote':
      return endStream ? S.closedEndStream : S.halfClosedRemote;
    case 'reserved_remote':
      return sendInvalid(streamId, 'HEADERS', s);
    case 'half_closed_local':
    case 'closed':
      return sendClosed(streamId, 'HEADERS', s);
  }
}

/** We receive a complete header block (HEADERS + CONTINUATION*). */
export function recvHeaders(s: StreamState, streamId: number, endStream: boolean): Transition {
  switch (s.kind) {
    case 'idle':
    case 'open':
      return endStream ? S.halfClosedRemote : S.open;
    case 'reserved_remote':
      return endStream ? S.closedEndStream : S.halfClosedLocal;
    case 'half_closed_local':
      return endStream ? S.closedEndStream : S.halfClosedLocal;
    case 'reserved_local':
      // §5.1 reserved (local): only RST_STREAM, PRIORITY, WINDOW_UPDATE may be received.
      return recvConnError(streamId, 'HEADERS', s);
    case 'half_closed_remote':
      // §5.1 half-closed (remote): MUST respond with a stream error STREAM_CLOSED.
      return recvStreamClosed(streamId, 'HEADERS', s);
    case 'closed':
      // §5.1 closed: after our RST_STREAM, minimally process and discard; otherwise the peer
      // already ended or reset the stream: STREAM_CLOSED (the session may make it a
      // connection error, which §5.1 allows).
      return s.cause === 'local_reset' ? s : recvStreamClosed(streamId, 'HEADERS', s);
  }
}

/** We send DATA. */
export function sendData(s: StreamState, streamId: number, endStream: boolean): Transition {
  switch (s.kind) {
    case 'open':
      return endStream ? S.halfClosedLocal : S.open;
    case 'half_closed_remote':
      return endStream ? S.closedEndStream : S.halfClosedRemote;
    case 'idle':
    case 'reserved_local':
    case 'reserved_remote':
      return sendInvalid(streamId, 'DATA', s);
    case 'half_closed_local':
    case 'closed':
      return sendClosed(streamId, 'DATA', s);
  }
}

/** We receive DATA. */
export function recvData(s: StreamState, streamId: number, endStream: boolean): Transition {
  switch (s.kind) {
    case 'open':
      return endStream ? S.halfClosedRemote : S.open;
    case 'half_closed_local':
      return endStream ? S.closedEndStream : S.halfClosedLocal;
    case 'idle':
    case 'reserved_local':
    case 'reserved_remote':
      // §5.1 idle / reserved: DATA is a connection PROTOCOL_ERROR.
      return recvConnError(streamId, 'DATA', s);
    case 'half_closed_remote':
      // §5.1, §6.1: DATA on a stream not open or half-closed (local): stream STREAM_CLOSED.
      return recvStreamClosed(streamId, 'DATA', s);
    case 'closed':
      // The data still counts toward the connection window (§5.1); the session accounts it.
      return s.cause === 'local_reset' ? s : recvStreamClosed(streamId, 'DATA', s);
  }
}

/** We send RST_STREAM. On a closed stream (e.g. answering a late frame) the state is kept. */
export function sendRstStream(s: StreamState, streamId: number): Transition {
  switch (s.kind) {
    case 'idle':
      // §6.4: RST_STREAM MUST NOT be sent for a stream in the idle state.
      return sendInvalid(streamId, 'RST_STREAM', s);
    case 'closed':
      return s;
    default:
      return S.closedLocalReset;
  }
}

/** We receive RST_STREAM. */
export function recvRstStream(s: StreamState, streamId: number): Transition {
  switch (s.kind) {
    case 'idle':
      // §6.4: RST_STREAM on an idle stream is a connection PROTOCOL_ERROR.
      return recvConnError(streamId, 'RST_STREAM', s);
    case 'closed':
      // §5.1: a RST_STREAM may cross ours or our END_STREAM; §5.4.2: never answer it.
      return s;
    default:
      return S.closedRemoteReset;
  }
}

/**
 * We send PUSH_PROMISE on `associated` promising a stream currently in `promised`; returns the
 * promised stream's new state (§6.6: only on a peer-initiated stream that is open or
 * half-closed (remote), and the promised stream must be idle).
 */
export function sendPushPromise(
  associated: StreamState,
  associatedId: number,
  promised: StreamState,
  promisedId: number,
): Transition {
  if (associated.kind !== 'open' && associated.kind !== 'half_closed_remote') {
    return sendInvalid(associatedId, 'PUSH_PROMISE', associated);
  }
  if (promised.kind !== 'idle') return sendInvalid(promisedId, 'PUSH_PROMISE', promised);
  return S.reservedLocal;
}

/**
 * We receive PUSH_PROMISE on `associated` promising a stream in `promised`; returns the promised
 * stream's new state. Valid on an open or half-closed (local) stream, and on one we reset (the
 * promise still reserves the stream, §5.1). The promised stream must be idle (§5.1.1, §6.6).
 * Whether push is acceptable at all (role, SETTINGS_ENABLE_PUSH) is for the session to check.
 */
export function recvPushPromise(
  associated: StreamState,
  associatedId: number,
  promised: StreamState,
  promisedId: number,
): Transition {
  switch (associated.kind) {
    case 'open':
    case 'half_closed_local':
      break;
    case 'closed':
      if (associated.cause !== 'local_reset') {
        return recvStreamClosed(associatedId, 'PUSH_PROMISE', associated);
      }
      break;
    case 'half_closed_remote':
      return recvStreamClosed(associatedId, 'PUSH_PROMISE', associated);
    default:
      return recvConnError(associatedId, 'PUSH_PROMISE', associated);
  }
  if (promised.kind !== 'idle') return recvConnError(promisedId, 'PUSH_PROMISE promise', promised);
  return S.reservedRemote;
}

/**
 * We receive WINDOW_UPDATE for a stream. §5.1: idle streams and reserved (remote) ones only take
 * HEADERS, RST_STREAM or PRIORITY: connection PROTOCOL_ERROR. Otherwise the state is unchanged
 * (late updates on closed streams are allowed and ignored).
 */
export function recvWindowUpdate(s: StreamState, streamId: number): Transition {
  if (s.kind === 'idle' || s.kind === 'reserved_remote') {
    return recvConnError(streamId, 'WINDOW_UPDATE', s);
  }
  return s;
}
