import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../codecs/http2/frame.js';
import {
  StreamStates,
  canReceive,
  canSend,
  isActive,
  isLocallyReset,
  isTransitionError,
  recvData,
  recvHeaders,
  recvPushPromise,
  recvRstStream,
  recvWindowUpdate,
  sendData,
  sendHeaders,
  sendPushPromise,
  sendRstStream,
} from '../../../../codecs/http2/stream-state.js';
import type { StreamState, Transition } from '../../../../codecs/http2/stream-state.js';

const S = StreamStates;
const STATES = {
  I: S.idle,
  RL: S.reservedLocal,
  RR: S.reservedRemote,
  O: S.open,
  HCL: S.halfClosedLocal,
  HCR: S.halfClosedRemote,
  CE: S.closedEndStream,
  CL: S.closedLocalReset,
  CR: S.closedRemoteReset,
} as const;
type Name = keyof typeof STATES;
const NAMES = Object.keys(STATES) as Name[];
/** Expected outcome: a state name, or an error: C = connection, S = stream; PROTO / CLOSED. */
type Outcome = Name | 'C:PROTO' | 'S:PROTO' | 'S:CLOSED';

const ID = 7;

function outcome(t: Transition): Outcome {
  if (isTransitionError(t)) {
    if (t.kind === 'stream') expect(t.streamId).toBe(ID);
    const code = t.code === ErrorCode.PROTOCOL_ERROR ? 'PROTO' : t.code === ErrorCode.STREAM_CLOSED ? 'CLOSED' : `code ${t.code}`;
    return `${t.kind === 'connection' ? 'C' : 'S'}:${code}` as Outcome;
  }
  const name = NAMES.find((n) => STATES[n] === t);
  if (name === undefined) throw new Error(`transition returned an unshared state ${JSON.stringify(t)}`);
  return name;
}

/** Event -> expected outcome for each state, in the order of NAMES: I RL RR O HCL HCR CE CL CR. */
const table: [string, (s: StreamState) => Transition, Outcome[]][] = [
  ['send HEADERS', (s) => sendHeaders(s, ID, false),
    ['O', 'HCR', 'S:PROTO', 'O', 'S:CLOSED', 'HCR', 'S:CLOSED', 'S:CLOSED', 'S:CLOSED']],
  ['send HEADERS+ES', (s) => sendHeaders(s, ID, true),
    ['HCL', 'CE', 'S:PROTO', 'HCL', 'S:CLOSED', 'CE', 'S:CLOSED', 'S:CLOSED', 'S:CLOSED']],
  ['recv HEADERS', (s) => recvHeaders(s, ID, false),
    ['O', 'C:PROTO', 'HCL', 'O', 'HCL', 'S:CLOSED', 'S:CLOSED', 'CL', 'S:CLOSED']],
  ['recv HEADERS+ES', (s) => recvHeaders(s, ID, true),
    ['HCR', 'C:PROTO', 'CE', 'HCR', 'CE', 'S:CLOSED', 'S:CLOSED', 'CL', 'S:CLOSED']],
  ['send DATA', (s) => sendData(s, ID, false),
    ['S:PROTO', 'S:PROTO', 'S:PROTO', 'O', 'S:CLOSED', 'HCR', 'S:CLOSED', 'S:CLOSED', 'S:CLOSED']],
  ['send DATA+ES', (s) => sendData(s, ID, true),
    ['S:PROTO', 'S:PROTO', 'S:PROTO', 'HCL', 'S:CLOSED', 'CE', 'S:CLOSED', 'S:CLOSED', 'S:CLOSED']],
  ['recv DATA', (s) => recvData(s, ID, false),
    ['C:PROTO', 'C:PROTO', 'C:PROTO', 'O', 'HCL', 'S:CLOSED', 'S:CLOSED', 'CL', 'S:CLOSED']],
  ['recv DATA+ES', (s) => recvData(s, ID, true),
    ['C:PROTO', 'C:PROTO', 'C:PROTO', 'HCR', 'CE', 'S:CLOSED', 'S:CLOSED', 'CL', 'S:CLOSED']],
  ['send RST_STREAM', (s) => sendRstStream(s, ID),
    ['S:PROTO', 'CL', 'CL', 'CL', 'CL', 'CL', 'CE', 'CL', 'CR']],
  ['recv RST_STREAM', (s) => recvRstStream(s, ID),
    ['C:PROTO', 'CR', 'CR', 'CR', 'CR', 'CR', 'CE', 'CL', 'CR']],
  ['recv WINDOW_UPDATE', (s) => recvWindowUpdate(s, ID),
    ['C:PROTO', 'RL', 'C:PROTO', 'O', 'HCL', 'HCR', 'CE', 'CL', 'CR']],
  ['send PUSH_PROMISE on this stream (promised idle)', (s) => sendPushPromise(s, ID, S.idle, 2),
    ['S:PROTO', 'S:PROTO', 'S:PROTO', 'RL', 'S:PROTO', 'RL', 'S:PROTO', 'S:PROTO', 'S:PROTO']],
  ['recv PUSH_PROMISE on this stream (promised idle)', (s) => recvPushPromise(s, ID, S.idle, 2),
    ['C:PROTO', 'C:PROTO', 'C:PROTO', 'RR', 'RR', 'S:CLOSED', 'S:CLOSED', 'RR', 'S:CLOSED']],
  ['send PUSH_PROMISE promising this stream (on an open one)', (s) => sendPushPromise(S.open, 1, s, ID),
    ['RL', 'S:PROTO', 'S:PROTO', 'S:PROTO', 'S:PROTO', 'S:PROTO', 'S:PROTO', 'S:PROTO', 'S:PROTO']],
  ['recv PUSH_PROMISE promising this stream (on an open one)', (s) => recvPushPromise(S.open, 1, s, ID),
    ['RR', 'C:PROTO', 'C:PROTO', 'C:PROTO', 'C:PROTO', 'C:PROTO', 'C:PROTO', 'C:PROTO', 'C:PROTO']],
];

describe('stream state transitions (RFC 9113 §5.1)', () => {
  const rows = table.flatMap(([event, fn, outcomes]) =>
    NAMES.map((name, i) => [event, name, fn, outcomes[i]!] as const),
  );
  it.each(rows)('%s in %s', (_event, name, fn, expected) => {
    expect(outcome(fn(STATES[name]))).toBe(expected);
  });

  it('walks a request/response exchange', () => {
    let s: Transition = S.idle;
    s = recvHeaders(s as StreamState, 1, false);
    s = recvData(s as StreamState, 1, true);
    expect(s).toBe(S.halfClosedRemote);
    s = sendHeaders(s as StreamState, 1, false);
    s = sendData(s as StreamState, 1, false);
    s = sendHeaders(s as StreamState, 1, true);
    expect(s).toEqual({ kind: 'closed', cause: 'end_stream' });
  });

  it('explains errors', () => {
    expect(recvData(S.halfClosedRemote, 3, false)).toMatchObject({
      kind: 'stream', streamId: 3, code: ErrorCode.STREAM_CLOSED,
      message: 'DATA received on stream 3 in state half_closed_remote',
    });
    expect(recvData(S.closedRemoteReset, 3, false)).toMatchObject({
      message: 'DATA received on stream 3 in state closed (remote_reset)',
    });
  });
});

describe('stream state predicates', () => {
  it.each([
    ['I', false, false, false, false],
    ['RL', false, true, false, false],
    ['RR', false, false, true, false],
    ['O', true, true, true, false],
    ['HCL', true, false, true, false],
    ['HCR', true, true, false, false],
    ['CE', false, false, false, false],
    ['CL', false, false, false, true],
    ['CR', false, false, false, false],
  ] as [Name, boolean, boolean, boolean, boolean][])('%s', (name, active, send, receive, localReset) => {
    const s = STATES[name];
    expect([isActive(s), canSend(s), canReceive(s), isLocallyReset(s)]).toEqual([active, send, receive, localReset]);
  });
});
