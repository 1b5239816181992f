/**
 * How the HTTP/2 codec connection writes: the session's output of a whole loop turn goes to the
 * connection in one write from a posted callback (the FakeDispatcher's next turn), bodies are
 * framed at that point so a body and the END_STREAM submitted after it share one DATA frame, a
 * local reset keeps the DATA submitted before it, and from a GOAWAY on (the owner may close the
 * connection right after) or a failure every output is written at once.
 */
import { describe, expect, it } from 'vitest';
import type { RequestDecoder, ResponseEncoder, ServerConnection } from '../../../../src/api/http-codec.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { DEFAULT_HTTP2_OPTIONS, HeaderMapImpl } from '../../../../codecs/index.js';
import { createHttp2ServerConnection } from '../../../../codecs/http2/server-connection.js';
import { FakeConnection, FakeDispatcher } from '../../../support/fake-connection.js';
import { decodeFrames, frames, summarize, toBytes } from '../../../support/h2-frames.js';
import type { FrameLike } from '../../../support/h2-frames.js';

interface Setup {
  readonly conn: FakeConnection;
  readonly disp: FakeDispatcher;
  readonly codec: ServerConnection;
  readonly encoders: ResponseEncoder[];
  feed(...parts: FrameLike[]): void;
  /** Frames written so far, but the SETTINGS and WINDOW_UPDATE of the handshake. */
  out(): string[];
}

function setup(): Setup {
  const disp = new FakeDispatcher();
  const conn = new FakeConnection(disp);
  const encoders: ResponseEncoder[] = [];
  const decoder: RequestDecoder = { decodeHeaders: () => {}, decodeData: () => {}, decodeTrailers: () => {} };
  const codec = createHttp2ServerConnection(
    conn,
    {
      newStream: (encoder) => {
        encoders.push(encoder);
        return decoder;
      },
      onGoAway: () => {},
    },
    { ...DEFAULT_HTTP2_OPTIONS, settingsTimeoutMs: 0 },
    new StatsStore(),
  );
  const feed = (...parts: FrameLike[]): void => void codec.dispatch(new BufferChain(toBytes(...parts)));
  feed(frames.preface(), frames.settings(), frames.settingsAck());
  disp.runPosted();
  conn.clearWrites();
  return {
    conn,
    disp,
    codec,
    encoders,
    feed,
    out: () => decodeFrames(Buffer.concat(conn.writes)).map(summarize).filter((s) => !s.startsWith('SETTINGS') && !s.startsWith('WINDOW_UPDATE')),
  };
}

const GET = (id: number) => frames.headers(id).request('GET', '/', { authority: 'a.test' }).eos();
const ok = () => HeaderMapImpl.fromObject({ ':status': '200' });

describe('HTTP/2 codec output batching', () => {
  it('writes the output of a turn once, on the next turn: two responses, one write', () => {
    const { conn, disp, encoders, feed, out } = setup();
    feed(GET(1), GET(3));
    for (const e of encoders) {
      e.encodeHeaders(ok(), false);
      e.encodeData(new BufferChain('body'), false);
      e.encodeData(new BufferChain(), true);
    }
    expect(conn.writes).toHaveLength(0);
    disp.runPosted();
    expect(conn.writes).toHaveLength(1);
    // The body and its END_STREAM leave in one DATA frame per stream.
    expect(out()).toEqual(['HEADERS 1 :status=200', 'HEADERS 3 :status=200', 'DATA 1 +ES 4', 'DATA 3 +ES 4']);
  });

  it('a reset after a body in the same turn sends the body first', () => {
    const { disp, encoders, feed, out } = setup();
    feed(GET(1));
    encoders[0]!.encodeHeaders(ok(), false);
    encoders[0]!.encodeData(new BufferChain('partial'), false);
    encoders[0]!.stream().resetStream('LocalReset');
    disp.runPosted();
    expect(out()).toEqual(['HEADERS 1 :status=200', 'DATA 1 7', 'RST_STREAM 1 code=0']);
  });

  it('from a GOAWAY on, output is written at once, after what was queued before', () => {
    const { conn, disp, codec, encoders, feed, out } = setup();
    feed(GET(1));
    encoders[0]!.encodeHeaders(ok(), false);
    encoders[0]!.encodeData(new BufferChain('x'), false);
    expect(conn.writes).toHaveLength(0);
    // The HCM's drain: goAway(), then close() in the same call stack; no turn passes.
    codec.goAway();
    expect(out()).toEqual(['HEADERS 1 :status=200', 'DATA 1 1', 'GOAWAY 0 last=1 code=0']);
    const written = conn.writes.length;
    encoders[0]!.encodeData(new BufferChain('y'), true);
    expect(conn.writes.length).toBe(written + 1);
    expect(out().at(-1)).toBe('DATA 1 +ES 1');
    // The write posted before the GOAWAY finds nothing left.
    disp.runPosted();
    expect(conn.writes.length).toBe(written + 1);
  });

  it('a connection error writes its GOAWAY at once', () => {
    const { conn, feed, out } = setup();
    feed(frames.windowUpdate(1, 1));
    expect(conn.writes).toHaveLength(1);
    expect(out()).toEqual(['GOAWAY 0 last=0 code=1']);
  });
});
