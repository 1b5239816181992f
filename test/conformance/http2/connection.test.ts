/**
 * RFC 9113 §3.4 (preface), §4.1-§4.3 (frame format, size, header compression), §5.4 (error
 * handling) and §5.5 (extensions), against a real sluice over a raw socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, FrameType } from '../../../codecs/http2/frame.js';
import { HpackEncoder } from '../../../codecs/http2/hpack.js';
import { frames, h2Frames } from '../../support/h2-frames.js';
import { pattern } from '../../support/net-helpers.js';
import { H2Peer } from './h2-peer.js';
import { REQUEST, get, startSluice, stillWorks } from './setup.js';
import type { Sluice } from './setup.js';

let sluice: Sluice;
let h2only: Sluice;

beforeAll(async () => {
  sluice = await startSluice();
  h2only = await startSluice({ codec_type: 'HTTP2' });
});

afterAll(async () => {
  await sluice.close();
  await h2only.close();
});

describe('RFC 9113 §3.4 HTTP/2 connection preface', () => {
  it('the server preface is a SETTINGS frame, and the client SETTINGS is acknowledged', async () => {
    const peer = await H2Peer.connect(sluice.port);
    peer.send(frames.preface(), frames.settings());
    const first = await peer.frame('SETTINGS', 0);
    expect(first).toMatchObject({ type: 'SETTINGS', ack: false });
    expect(peer.received[0]).toBe(first);
    await peer.waitFor((i) => 'type' in i && i.type === 'SETTINGS' && i.ack, 'SETTINGS ACK');
    peer.send(frames.settingsAck());
    await stillWorks(peer, 1);
    peer.close();
  });

  it('an invalid preface is a connection error PROTOCOL_ERROR (HTTP/2-only listener)', async () => {
    const peer = await H2Peer.connect(h2only.port);
    peer.send(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), frames.settings());
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 code=${ErrorCode.PROTOCOL_ERROR}`);
    await peer.closed();
  });

  it('an invalid preface on an auto-detecting listener is not HTTP/2: no frames, the connection closes', async () => {
    const peer = await H2Peer.connect(sluice.port);
    peer.send(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'));
    await peer.closed();
    expect(peer.received.filter((i) => 'type' in i)).toEqual([]);
  });

  it('a first frame other than SETTINGS is a connection error PROTOCOL_ERROR', async () => {
    const peer = await H2Peer.connect(sluice.port);
    peer.send(frames.preface(), frames.ping('12345678'));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 code=${ErrorCode.PROTOCOL_ERROR}`);
    await peer.closed();
  });
});

describe('RFC 9113 §4.1 frame format', () => {
  it('ignores frames of unknown types', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(0x16, 0, 0, 'whatever'), frames.raw(0xff, 0xff, 1, 'x'));
    await stillWorks(peer, 1);
  });

  it('ignores undefined flags', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(FrameType.PING, 0xfe, 0, Buffer.from('flagsabc')));
    expect(await peer.frame('PING', 0)).toMatchObject({ ack: true, opaqueData: Buffer.from('flagsabc') });
  });

  it('ignores the reserved bit of the stream identifier', async () => {
    const peer = await sluice.peer();
    const req = get(1).toBuffer();
    req[5]! |= 0x80;
    peer.send(req);
    expect((await peer.response(1)).status).toBe('200');
  });
});

describe('RFC 9113 §4.2 frame size', () => {
  it('accepts DATA of exactly SETTINGS_MAX_FRAME_SIZE (16384)', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(1).request('POST', '/', { authority: 'example.com' }), frames.data(1, Buffer.alloc(16_384, 0x61)).eos());
    const res = await peer.response(1);
    expect(res.status).toBe('200');
    expect(JSON.parse(res.body.toString()).bodyLength).toBe(16_384);
  });

  it('a frame over SETTINGS_MAX_FRAME_SIZE is a connection error FRAME_SIZE_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(1).request('POST', '/', { authority: 'example.com' }), frames.data(1, Buffer.alloc(16_385)));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=1 code=${ErrorCode.FRAME_SIZE_ERROR}`);
    await peer.closed();
  });

  it('a HEADERS frame over SETTINGS_MAX_FRAME_SIZE is a connection error FRAME_SIZE_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(1).block(Buffer.alloc(16_385, 0x82)).eos());
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=0 code=${ErrorCode.FRAME_SIZE_ERROR}`);
  });

  it('never sends a frame larger than our SETTINGS_MAX_FRAME_SIZE, and accepts split header blocks', async () => {
    const peer = await sluice.peer(frames.settings({ initialWindowSize: 1 << 20 }));
    const pad = Array.from({ length: 8 }, (_, i) => [`x-pad-${i}`, 'x'.repeat(6000)] as [string, string]);
    peer.send(frames.headers(1).request('GET', '/direct', { authority: 'example.com', headers: pad }).split(16_384).eos());
    expect((await peer.response(1)).status).toBe('200');
    peer.send(frames.windowUpdate(0, 1 << 20), get(3, '/bytes/100000'));
    const res = await peer.response(3);
    expect(res.status).toBe('200');
    expect(res.body.equals(pattern(100_000))).toBe(true);
    const data = peer.received.filter((i) => 'type' in i && i.type === 'DATA');
    expect(data.length).toBeGreaterThanOrEqual(3);
    for (const item of peer.received) if ('length' in item) expect(item.length).toBeLessThanOrEqual(16_384);
  });
});

describe('RFC 9113 §4.3 header compression and decompression', () => {
  it('an undecodable header block is a connection error COMPRESSION_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(1).block(Buffer.from([0x82, 0x86, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).eos());
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=1 code=${ErrorCode.COMPRESSION_ERROR}`);
    await peer.closed();
  });

  it('another frame inside a header block is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    const block = frames.headerBlock(REQUEST);
    peer.send(frames.headers(1).block(block.subarray(0, 3)).endHeaders(false).eos(), frames.priority(1, { dependency: 0 }), frames.continuation(1, block.subarray(3)));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=1 code=${ErrorCode.PROTOCOL_ERROR}`);
  });

  it('the dynamic table is shared by the streams of a connection', async () => {
    const f = h2Frames({ encoder: new HpackEncoder() });
    const peer = await sluice.peer(undefined, f);
    for (const id of [1, 3, 5]) {
      peer.send(f.headers(id).request('GET', '/direct', { authority: 'example.com', headers: [['x-session', 'abcdefghijklmnop']] }).eos());
      expect((await peer.response(id)).status).toBe('200');
    }
  });
});

describe('RFC 9113 §5.4 error handling', () => {
  it('a connection error sends GOAWAY with the last processed stream, then closes the connection', async () => {
    const peer = await sluice.peer();
    await stillWorks(peer, 1);
    peer.send(frames.data(0, 'x'));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=1 code=${ErrorCode.PROTOCOL_ERROR}`);
    await peer.closed();
  });

  it('a stream error resets only its stream', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(1).headers([...REQUEST, ['Upper', 'x']]).eos());
    expect(await peer.rst(1)).toBe(ErrorCode.PROTOCOL_ERROR);
    await stillWorks(peer, 3);
  });
});

describe('RFC 9113 §5.5 extending HTTP/2', () => {
  it('ignores unknown frame types and unknown SETTINGS', async () => {
    const peer = await sluice.peer();
    peer.send(frames.raw(0x20, 0, 0), frames.settings([{ id: 0x99, value: 1 }]));
    await peer.waitFor((i) => 'type' in i && i.type === 'SETTINGS' && i.ack, 'SETTINGS ACK');
    await stillWorks(peer, 1);
  });

  it('an unknown frame inside a header block is a connection error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    const block = frames.headerBlock(REQUEST);
    peer.send(frames.headers(1).block(block.subarray(0, 3)).endHeaders(false).eos(), frames.raw(0x20, 0, 1, 'x'), frames.continuation(1, block.subarray(3)));
    expect(await peer.goAway()).toBe(`GOAWAY 0 last=1 code=${ErrorCode.PROTOCOL_ERROR}`);
  });
});
