import { describe, expect, it } from 'vitest';
import { ErrorCode, FrameType } from '../../../../codecs/http2/frame.js';
import { HpackEncoder } from '../../../../codecs/http2/hpack.js';
import { H2FrameDecoder, decodeFrames, frames, h2Frames, summarize, toBytes } from '../../../support/h2-frames.js';

describe('test frame builders', () => {
  it('build readable requests and responses that decode back', () => {
    const bytes = toBytes(
      frames.preface(),
      frames.settings({ maxConcurrentStreams: 100, initialWindowSize: 1 << 20 }),
      frames.headers(1).request('GET', '/', { headers: [['user-agent', 't']] }).eos(),
      frames.headers(3).request('POST', '/up', { authority: 'example.com', scheme: 'https' }),
      frames.data(3, 'hello').eos(),
      frames.headers(2).response(200, [['content-type', 'text/plain']]),
      frames.settings().ack(),
      frames.ping('12345678').ack(),
      frames.windowUpdate(0, 1000),
      frames.rst(3, ErrorCode.CANCEL),
      frames.priority(5, { dependency: 3, weight: 32, exclusive: true }),
      frames.goaway(3, ErrorCode.NO_ERROR, 'bye'),
      frames.raw(0xfa, 0, 0, 'x'),
    );
    expect(decodeFrames(bytes, { expectClientPreface: true }).map(summarize)).toEqual([
      'SETTINGS 0 3=100 4=1048576',
      'HEADERS 1 +ES :method=GET :scheme=http :authority=localhost :path=/ user-agent=t',
      'HEADERS 3 :method=POST :scheme=https :authority=example.com :path=/up',
      'DATA 3 +ES 5',
      'HEADERS 2 :status=200 content-type=text/plain',
      'SETTINGS 0 ACK',
      'PING 0 ACK 3132333435363738',
      'WINDOW_UPDATE 0 +1000',
      'RST_STREAM 3 code=8',
      'PRIORITY 5 dep=3 w=32',
      'GOAWAY 0 last=3 code=0',
      'UNKNOWN(250) 0',
    ]);
  });

  it('fold HEADERS + CONTINUATION into one decoded header list', () => {
    const list: [string, string][] = [[':status', '200'], ['x-long', 'v'.repeat(50)]];
    const block = frames.headerBlock(list);
    const bytes = toBytes(
      frames.headers(1).block(block.subarray(0, 10)).endHeaders(false),
      frames.continuation(1, block.subarray(10, 20)).endHeaders(false),
      frames.continuation(1, block.subarray(20)),
      frames.headers(3).headers(list).split(16).eos(),
    );
    const out = decodeFrames(bytes);
    expect(out).toMatchObject([
      { type: 'HEADERS', streamId: 1, headers: list, continuations: 2 },
      { type: 'HEADERS', streamId: 3, headers: list, endStream: true },
    ]);
  });

  it('build malformed frames with raw and padded/priority variants', () => {
    expect(frames.raw(FrameType.PING, 0, 1, Buffer.alloc(8)).toString('hex')).toBe('000008060000000001' + '00'.repeat(8));
    const out = decodeFrames(
      toBytes(
        frames.data(1, 'x').padded(4),
        frames.headers(1).request('GET', '/').priority({ dependency: 0, weight: 256 }).padded(2),
        frames.pushPromise(1, 2, [[':method', 'GET']]),
      ),
    );
    expect(out).toMatchObject([
      { type: 'DATA', padLength: 4, length: 6 },
      { type: 'HEADERS', priority: { dependency: 0, weight: 256, exclusive: false }, padLength: 2 },
      { type: 'PUSH_PROMISE', promisedStreamId: 2, headers: [[':method', 'GET']] },
    ]);
    expect(decodeFrames(frames.raw(FrameType.DATA, 0, 0, 'x'))).toMatchObject([
      { kind: 'connection', code: ErrorCode.PROTOCOL_ERROR },
    ]);
  });

  it('decode incrementally with HPACK state kept across pushes', () => {
    const peer = h2Frames({ encoder: new HpackEncoder() });
    const decoder = new H2FrameDecoder();
    const first = peer.headers(1).response(200, [['x-a', 'one']]).toBuffer();
    const second = peer.headers(3).response(200, [['x-a', 'one']]).toBuffer();
    expect(second.length).toBeLessThan(first.length);
    expect(decoder.push(first.subarray(0, 5))).toEqual([]);
    expect(decoder.push(Buffer.concat([first.subarray(5), second]))).toMatchObject([
      { streamId: 1, headers: [[':status', '200'], ['x-a', 'one']] },
      { streamId: 3, headers: [[':status', '200'], ['x-a', 'one']] },
    ]);
  });
});
