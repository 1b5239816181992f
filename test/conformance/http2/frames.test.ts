/**
 * RFC 9113 §6.1-§6.10: each frame type, against a real sluice over a raw socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, FrameType } from '../../../codecs/http2/frame.js';
import { frames } from '../../support/h2-frames.js';
import { sleep, waitFor } from '../../support/net-helpers.js';
import { REQUEST, get, post, startSluice, stillWorks } from './setup.js';
import type { Sluice } from './setup.js';

let sluice: Sluice;

beforeAll(async () => {
  sluice = await startSluice();
});

afterAll(async () => {
  await sluice.close();
});

const goaway = (last: number, code: number): string => `GOAWAY 0 last=${last} code=${code}`;

describe('RFC 9113 §6.1 DATA', () => {
  it('on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.data(0, 'test').eos());
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it('padding as long as the payload is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.raw(FrameType.DATA, 0x8 | 0x1, 1, Buffer.from([5, 0x61, 0x62, 0, 0])));
    expect(await peer.goAway()).toBe(goaway(1, ErrorCode.PROTOCOL_ERROR));
  });

  it('padded DATA delivers only the data', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.data(1, 'hello').padded(10), frames.data(1, 'world').padded(0).eos());
    const res = await peer.response(1);
    expect(JSON.parse(res.body.toString()).bodyLength).toBe(10);
  });
});

describe('RFC 9113 §6.2 HEADERS', () => {
  it('on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(0).headers(REQUEST).eos());
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it('padding longer than the payload is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    const block = frames.headerBlock(REQUEST);
    peer.send(frames.raw(FrameType.HEADERS, 0x8 | 0x4 | 0x1, 1, Buffer.concat([Buffer.from([block.length + 1]), block])));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it('padded and prioritized HEADERS are accepted', async () => {
    const peer = await sluice.peer();
    peer.send(get(1).padded(20).priority({ dependency: 0, weight: 100 }));
    expect((await peer.response(1)).status).toBe('200');
  });

  it('a header block not followed by its CONTINUATION is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(get(1).endHeaders(false), get(3));
    expect(await peer.goAway()).toBe(goaway(1, ErrorCode.PROTOCOL_ERROR));
  });
});

describe('RFC 9113 §6.3 PRIORITY', () => {
  it('on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.priority(0, { dependency: 1 }));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it('a length other than 5 is a stream error FRAME_SIZE_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.raw(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)));
    expect(await peer.rst(1)).toBe(ErrorCode.FRAME_SIZE_ERROR);
    await stillWorks(peer, 3);
  });
});

describe('RFC 9113 §6.4 RST_STREAM', () => {
  it('on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.rst(0, ErrorCode.CANCEL));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it('a length other than 4 is a connection error FRAME_SIZE_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.raw(FrameType.RST_STREAM, 0, 1, Buffer.alloc(3)));
    expect(await peer.goAway()).toBe(goaway(1, ErrorCode.FRAME_SIZE_ERROR));
  });

  it('resets an open stream: no response follows, the connection goes on', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.rst(1, ErrorCode.CANCEL));
    await stillWorks(peer, 3);
    expect(peer.received.some((i) => 'streamId' in i && i.streamId === 1)).toBe(false);
    expect(sluice.counter('http2.rx_reset')).toBeGreaterThanOrEqual(1);
  });
});

describe('RFC 9113 §6.5 SETTINGS', () => {
  it('an ACK with a payload is a connection error FRAME_SIZE_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.SETTINGS, 0x1, 0, Buffer.alloc(6)));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.FRAME_SIZE_ERROR));
  });

  it('on a stream other than 0 is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.SETTINGS, 0, 1, Buffer.alloc(6)));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it('a length not a multiple of 6 is a connection error FRAME_SIZE_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.SETTINGS, 0, 0, Buffer.alloc(3)));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.FRAME_SIZE_ERROR));
  });

  it('§6.5.2: invalid values are connection errors', async () => {
    const cases: [{ id: number; value: number }, number][] = [
      [{ id: 2, value: 2 }, ErrorCode.PROTOCOL_ERROR],
      [{ id: 4, value: 2 ** 31 }, ErrorCode.FLOW_CONTROL_ERROR],
      [{ id: 5, value: 16_383 }, ErrorCode.PROTOCOL_ERROR],
      [{ id: 5, value: 16_777_216 }, ErrorCode.PROTOCOL_ERROR],
    ];
    for (const [entry, code] of cases) {
      const peer = await sluice.peer();
      peer.send(frames.settings([entry]));
      expect(await peer.goAway()).toBe(goaway(0, code));
    }
  });

  it('§6.5.3: values apply in order, and each SETTINGS is acknowledged', async () => {
    const peer = await sluice.peer();
    peer.send(frames.settings([{ id: 4, value: 100 }, { id: 4, value: 1 }]));
    await peer.waitFor((i) => 'type' in i && i.type === 'SETTINGS' && i.ack, 'SETTINGS ACK');
    peer.send(get(1));
    const data = await peer.frame('DATA', 1);
    expect(data).toMatchObject({ length: 1 });
  });
});

describe('RFC 9113 §6.6 PUSH_PROMISE', () => {
  it('from a client is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.pushPromise(1, 2, REQUEST));
    expect(await peer.goAway()).toBe(goaway(1, ErrorCode.PROTOCOL_ERROR));
  });
});

describe('RFC 9113 §6.7 PING', () => {
  it('is answered with an ACK carrying the same data', async () => {
    const peer = await sluice.peer();
    peer.send(frames.ping('h2-ping!'));
    expect(await peer.frame('PING', 0)).toMatchObject({ ack: true, opaqueData: Buffer.from('h2-ping!') });
  });

  it('a PING with ACK is not answered', async () => {
    const peer = await sluice.peer();
    peer.send(frames.ping('unasked!').ack(), frames.ping('asked!!!'));
    const pong = await peer.frame('PING', 0);
    expect(pong).toMatchObject({ opaqueData: Buffer.from('asked!!!') });
  });

  it('on a stream other than 0 is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.PING, 0, 1, Buffer.alloc(8)));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it('a length other than 8 is a connection error FRAME_SIZE_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.PING, 0, 0, Buffer.alloc(6)));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.FRAME_SIZE_ERROR));
  });
});

describe('RFC 9113 §6.8 GOAWAY', () => {
  it('on a stream other than 0 is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.GOAWAY, 0, 1, Buffer.alloc(8)));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it("the client's GOAWAY does not stop its open streams", async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.goaway(0, ErrorCode.NO_ERROR), frames.data(1, 'abc').eos());
    expect((await peer.response(1)).status).toBe('200');
  });

  it('a server drain sends GOAWAY 2^31-1 and PING, then the last stream id once the PING is acknowledged', async () => {
    const drained = await startSluice({ drain_timeout: '0.5s' });
    try {
      const peer = await drained.peer();
      peer.send(post(1));
      await waitFor(() => drained.proxy.gauge('http.e2e.downstream_rq_active') === 1, 2000, 'the request to be active');
      void drained.proxy.server.drain();
      expect(await peer.goAway()).toBe(`GOAWAY 0 last=${2 ** 31 - 1} code=0`);
      const ping = (await peer.frame('PING', 0)) as { opaqueData: Buffer; ack: boolean };
      expect(ping.ack).toBe(false);
      peer.send(frames.ping(ping.opaqueData).ack());
      expect(await peer.goAway()).toBe('GOAWAY 0 last=1 code=0');
      peer.send(frames.data(1, 'done').eos());
      expect((await peer.response(1)).status).toBe('200');
      await peer.closed(5000);
    } finally {
      await drained.close();
    }
  });
});

describe('RFC 9113 §6.9 WINDOW_UPDATE', () => {
  it('an increment of 0 on a stream is a stream error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.raw(FrameType.WINDOW_UPDATE, 0, 1, Buffer.alloc(4)));
    expect(await peer.rst(1)).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('an increment of 0 on the connection is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(4)));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.PROTOCOL_ERROR));
  });

  it('a length other than 4 is a connection error FRAME_SIZE_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3)));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.FRAME_SIZE_ERROR));
  });

  it('§6.9.1: a connection window above 2^31-1 is a connection error FLOW_CONTROL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.windowUpdate(0, 2 ** 31 - 1));
    expect(await peer.goAway()).toBe(goaway(0, ErrorCode.FLOW_CONTROL_ERROR));
  });

  it('§6.9.1: a stream window above 2^31-1 is a stream error FLOW_CONTROL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.windowUpdate(1, 2 ** 31 - 1));
    expect(await peer.rst(1)).toBe(ErrorCode.FLOW_CONTROL_ERROR);
  });

  it('§6.9.1: the server sends no more DATA than the window allows', async () => {
    const peer = await sluice.peer(frames.settings({ initialWindowSize: 1 }));
    peer.send(get(1));
    expect(await peer.frame('DATA', 1)).toMatchObject({ length: 1, endStream: false });
    await sleep(200);
    expect(peer.pending().filter((s) => s.startsWith('DATA'))).toEqual([]);
    peer.send(frames.windowUpdate(1, 3));
    expect(await peer.frame('DATA', 1)).toMatchObject({ length: 3 });
  });

  it('§6.9.2: a new SETTINGS_INITIAL_WINDOW_SIZE applies to open streams, also down to negative', async () => {
    const peer = await sluice.peer(frames.settings({ initialWindowSize: 3 }));
    peer.send(get(1));
    expect(await peer.frame('DATA', 1)).toMatchObject({ length: 3 });
    peer.send(frames.settings({ initialWindowSize: 2 }));
    await peer.waitFor((i) => 'type' in i && i.type === 'SETTINGS' && i.ack, 'SETTINGS ACK');
    peer.send(frames.windowUpdate(1, 2));
    expect(await peer.frame('DATA', 1)).toMatchObject({ length: 1 });
  });
});

describe('RFC 9113 §6.10 CONTINUATION', () => {
  it('a header block in several CONTINUATION frames is accepted', async () => {
    const peer = await sluice.peer();
    const block = frames.headerBlock(REQUEST);
    peer.send(
      frames.headers(1).block(block.subarray(0, 5)).endHeaders(false).eos(),
      frames.continuation(1, block.subarray(5, 10)).endHeaders(false),
      frames.continuation(1, block.subarray(10)),
    );
    expect((await peer.response(1)).status).toBe('200');
  });

  it('CONTINUATION after END_HEADERS is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.continuation(1, [['x', 'y']]));
    expect(await peer.goAway()).toBe(goaway(1, ErrorCode.PROTOCOL_ERROR));
  });

  it('CONTINUATION on another stream is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    const block = frames.headerBlock(REQUEST);
    peer.send(frames.headers(1).block(block.subarray(0, 5)).endHeaders(false).eos(), frames.continuation(3, block.subarray(5)));
    expect(await peer.goAway()).toBe(goaway(1, ErrorCode.PROTOCOL_ERROR));
  });

  it('CONTINUATION on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    const block = frames.headerBlock(REQUEST);
    peer.send(frames.headers(1).block(block.subarray(0, 5)).endHeaders(false).eos(), frames.continuation(0, block.subarray(5)));
    expect(await peer.goAway()).toBe(goaway(1, ErrorCode.PROTOCOL_ERROR));
  });
});
