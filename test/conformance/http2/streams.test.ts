/**
 * RFC 9113 §5.1 (stream states), §5.1.1 (identifiers), §5.1.2 (concurrency) and §5.3
 * (priority), against a real sluice over a raw socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../codecs/http2/frame.js';
import { frames } from '../../support/h2-frames.js';
import { REQUEST, get, post, startSluice, stillWorks } from './setup.js';
import type { Sluice } from './setup.js';

let sluice: Sluice;
let limited: Sluice;

beforeAll(async () => {
  sluice = await startSluice();
  limited = await startSluice({ http2_protocol_options: { max_concurrent_streams: 2 } });
});

afterAll(async () => {
  await sluice.close();
  await limited.close();
});

const PROTOCOL = `code=${ErrorCode.PROTOCOL_ERROR}`;

describe('RFC 9113 §5.1 stream states', () => {
  describe('idle', () => {
    it('DATA is a connection error PROTOCOL_ERROR', async () => {
      const peer = await sluice.peer();
      peer.send(frames.data(1, 'test').eos());
      expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 ${PROTOCOL}`);
    });

    it('RST_STREAM is a connection error PROTOCOL_ERROR', async () => {
      const peer = await sluice.peer();
      peer.send(frames.rst(1, ErrorCode.CANCEL));
      expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 ${PROTOCOL}`);
    });

    it('WINDOW_UPDATE is a connection error PROTOCOL_ERROR', async () => {
      const peer = await sluice.peer();
      peer.send(frames.windowUpdate(1, 100));
      expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 ${PROTOCOL}`);
    });

    it('CONTINUATION is a connection error PROTOCOL_ERROR', async () => {
      const peer = await sluice.peer();
      peer.send(frames.continuation(1, REQUEST));
      expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 ${PROTOCOL}`);
    });

    it('PRIORITY is allowed and does not open the stream', async () => {
      const peer = await sluice.peer();
      peer.send(frames.priority(5, { dependency: 0, weight: 10 }));
      // Stream 1 < 5 is still usable: PRIORITY did not use up id 5's predecessors.
      await stillWorks(peer, 1);
    });
  });

  describe('open', () => {
    it('takes DATA, WINDOW_UPDATE and PRIORITY', async () => {
      const peer = await sluice.peer();
      peer.send(post(1), frames.data(1, 'abc'), frames.windowUpdate(1, 10), frames.priority(1, { dependency: 0 }), frames.data(1, 'de').eos());
      const res = await peer.response(1);
      expect(res.status).toBe('200');
      expect(JSON.parse(res.body.toString()).bodyLength).toBe(5);
    });
  });

  describe('half-closed (remote)', () => {
    it('DATA is a stream error STREAM_CLOSED', async () => {
      const peer = await sluice.peer();
      peer.send(get(1), frames.data(1, 'test').eos());
      expect(await peer.rst(1)).toBe(ErrorCode.STREAM_CLOSED);
      await stillWorks(peer, 3);
    });

    it('HEADERS is a stream error STREAM_CLOSED', async () => {
      const peer = await sluice.peer();
      // To the origin: the response takes a while, so the stream is still half-closed (remote).
      peer.send(get(1, '/'), get(1, '/'));
      expect(await peer.rst(1)).toBe(ErrorCode.STREAM_CLOSED);
    });

    it('CONTINUATION is a connection error PROTOCOL_ERROR (no header block is open)', async () => {
      const peer = await sluice.peer();
      peer.send(get(1), frames.continuation(1, REQUEST));
      expect(await peer.goAway()).toBe(`GOAWAY 0 last=1 ${PROTOCOL}`);
    });

    it('WINDOW_UPDATE, PRIORITY and RST_STREAM are allowed', async () => {
      const peer = await sluice.peer();
      peer.send(get(1), frames.windowUpdate(1, 1000), frames.priority(1, { dependency: 0 }));
      expect((await peer.response(1)).status).toBe('200');
      peer.send(get(3, '/'), frames.rst(3, ErrorCode.CANCEL));
      await stillWorks(peer, 5);
    });
  });

  describe('closed', () => {
    it('DATA after the peer reset the stream is a stream error STREAM_CLOSED', async () => {
      const peer = await sluice.peer();
      peer.send(post(1), frames.rst(1, ErrorCode.CANCEL), frames.data(1, 'test').eos());
      expect(await peer.rst(1)).toBe(ErrorCode.STREAM_CLOSED);
    });

    it('HEADERS after the peer reset the stream is a stream error STREAM_CLOSED', async () => {
      const peer = await sluice.peer();
      peer.send(post(1), frames.rst(1, ErrorCode.CANCEL), get(1));
      expect(await peer.rst(1)).toBe(ErrorCode.STREAM_CLOSED);
    });

    it('DATA after both sides ended is a stream error STREAM_CLOSED', async () => {
      const peer = await sluice.peer();
      await stillWorks(peer, 1);
      peer.send(frames.data(1, 'test').eos());
      expect(await peer.rst(1)).toBe(ErrorCode.STREAM_CLOSED);
    });

    it('HEADERS after both sides ended is a connection error STREAM_CLOSED', async () => {
      const peer = await sluice.peer();
      await stillWorks(peer, 1);
      peer.send(get(1));
      expect(await peer.goAway()).toBe(`GOAWAY 0 last=1 code=${ErrorCode.STREAM_CLOSED}`);
    });

    it('PRIORITY and RST_STREAM on a closed stream are ignored', async () => {
      const peer = await sluice.peer();
      await stillWorks(peer, 1);
      peer.send(frames.priority(1, { dependency: 0 }), frames.rst(1, ErrorCode.CANCEL), frames.windowUpdate(1, 5));
      await stillWorks(peer, 3);
    });
  });
});

describe('RFC 9113 §5.1.1 stream identifiers', () => {
  it('an even stream identifier from a client is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(get(2));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 ${PROTOCOL}`);
  });

  it('a stream identifier smaller than a previous one is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(get(5));
    expect((await peer.response(5)).status).toBe('200');
    peer.send(get(3));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=5 ${PROTOCOL}`);
  });

  it('skipped identifiers are closed, not reusable', async () => {
    const peer = await sluice.peer();
    peer.send(get(7), get(9));
    await peer.response(9);
    peer.send(get(1));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=9 ${PROTOCOL}`);
  });
});

describe('RFC 9113 §5.1.2 stream concurrency', () => {
  it('advertises SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    const peer = await limited.peer();
    const settings = peer.received.find((i) => 'type' in i && i.type === 'SETTINGS' && !i.ack) as unknown as { entries: { id: number; value: number }[] };
    expect(settings.entries).toContainEqual({ id: 3, value: 2 });
  });

  it('a stream past the limit is refused with RST_STREAM REFUSED_STREAM; the others go on', async () => {
    const peer = await limited.peer();
    peer.send(post(1), post(3), get(5));
    expect(await peer.rst(5)).toBe(ErrorCode.REFUSED_STREAM);
    expect(limited.counter('http2.stream_refused_errors')).toBeGreaterThanOrEqual(1);
    peer.send(frames.data(1, 'a').eos(), frames.data(3, 'b').eos());
    expect((await peer.response(1)).status).toBe('200');
    expect((await peer.response(3)).status).toBe('200');
    // Once streams closed, new ones are accepted again.
    peer.send(get(7));
    expect((await peer.response(7)).status).toBe('200');
  });
});

describe('RFC 9113 §5.3 priority', () => {
  it('a HEADERS frame depending on its own stream is an error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(get(1).priority({ dependency: 1, weight: 256 }));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 ${PROTOCOL}`);
  });

  it('a PRIORITY frame making an open stream depend on itself is a stream error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.priority(1, { dependency: 1 }));
    expect(await peer.rst(1)).toBe(ErrorCode.PROTOCOL_ERROR);
    await stillWorks(peer, 3);
  });

  it('priority signals are accepted and do not change the responses', async () => {
    const peer = await sluice.peer();
    peer.send(get(1).priority({ dependency: 0, weight: 1, exclusive: true }), get(3).priority({ dependency: 1, weight: 256 }));
    expect((await peer.response(1)).status).toBe('200');
    expect((await peer.response(3)).status).toBe('200');
  });
});
