import { describe, expect, it } from 'vitest';
import { ErrorCode, FrameType } from '../../../../codecs/http2/frame.js';
import { HpackEncoder } from '../../../../codecs/http2/hpack.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { frames, h2Frames } from '../../../support/h2-frames.js';
import { SessionHarness } from './session-harness.js';

const GET = frames.headers(1).request('GET', '/').eos();

/** A server session past the preface exchange (its SETTINGS ACKed, the client's ACKed). */
function ready(options: ConstructorParameters<typeof SessionHarness>[1] = {}): SessionHarness {
  const h = new SessionHarness('server', options);
  h.recv(frames.preface(), frames.settings(), frames.settingsAck());
  h.out();
  return h;
}

describe('Http2Session (server): preface and SETTINGS (RFC 9113 §3.4, §6.5)', () => {
  it('sends its SETTINGS at start and ACKs the client SETTINGS', () => {
    const h = new SessionHarness('server', { settings: { maxConcurrentStreams: 100, initialWindowSize: 1 << 20 }, connectionWindowSize: 1 << 20 });
    expect(h.out()).toEqual(['SETTINGS 0 3=100 4=1048576', `WINDOW_UPDATE 0 +${(1 << 20) - 65_535}`]);
    h.recv(frames.preface(), frames.settings({ maxFrameSize: 20_000 }));
    expect(h.out()).toEqual(['SETTINGS 0 ACK']);
    expect(h.session.remoteSettings.maxFrameSize).toBe(20_000);
    expect(h.session.pendingSettingsAcks).toBe(1);
    h.recv(frames.settingsAck());
    expect(h.session.pendingSettingsAcks).toBe(0);
    // One send per call that produced output (batched), not one per frame.
    expect(h.sends).toEqual([21 + 13, 9]);
  });

  it('answers an invalid preface with GOAWAY PROTOCOL_ERROR', () => {
    const h = new SessionHarness('server');
    h.out();
    h.recv(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
    expect(h.take()).toEqual(['error 1']);
    expect(h.session.terminated?.status).toBe('CodecProtocolError');
  });

  it('requires SETTINGS as the first frame after the preface', () => {
    const h = new SessionHarness('server');
    h.out();
    h.recv(frames.preface(), frames.ping('12345678'));
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
  });

  it('treats an unexpected SETTINGS ACK as a connection PROTOCOL_ERROR', () => {
    const h = ready();
    h.recv(frames.settingsAck());
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
  });

  it('rejects invalid SETTINGS values with the RFC codes', () => {
    const cases: [Buffer, number][] = [
      [frames.settings([{ id: 2, value: 2 }]).toBuffer(), ErrorCode.PROTOCOL_ERROR],
      [frames.settings([{ id: 4, value: 2 ** 31 }]).toBuffer(), ErrorCode.FLOW_CONTROL_ERROR],
      [frames.settings([{ id: 5, value: 16_383 }]).toBuffer(), ErrorCode.PROTOCOL_ERROR],
      [frames.settings([{ id: 5, value: 2 ** 24 }]).toBuffer(), ErrorCode.PROTOCOL_ERROR],
      [frames.raw(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), ErrorCode.FRAME_SIZE_ERROR],
      [frames.raw(FrameType.SETTINGS, 1, 0, Buffer.alloc(6)), ErrorCode.FRAME_SIZE_ERROR],
      [frames.raw(FrameType.SETTINGS, 0, 1, Buffer.alloc(6)), ErrorCode.PROTOCOL_ERROR],
    ];
    for (const [frame, code] of cases) {
      const h = ready();
      h.recv(frame);
      expect(h.out()).toEqual([`GOAWAY 0 last=0 code=${code}`]);
    }
  });

  it('ignores unknown settings and applies them in order', () => {
    const h = ready();
    h.recv(frames.settings([{ id: 0xff, value: 7 }, { id: 5, value: 20_000 }, { id: 5, value: 30_000 }]));
    expect(h.out()).toEqual(['SETTINGS 0 ACK']);
    expect(h.session.remoteSettings.maxFrameSize).toBe(30_000);
  });
});

describe('Http2Session (server): requests and responses', () => {
  it('delivers a request and sends the response', () => {
    const h = ready();
    h.recv(frames.headers(1).request('GET', '/a', { headers: [['x-a', '1']] }).eos());
    expect(h.take()).toEqual(['headers 1 request ES :method=GET :scheme=http :authority=localhost :path=/a x-a=1']);
    expect(h.session.activeStreams).toBe(1);
    expect(h.gauge('streams_active')).toBe(1);
    expect(h.session.submitResponse(1, [[':status', '200'], ['content-type', 'text/plain']], false)).toBe(true);
    expect(h.session.submitData(1, new BufferChain('hello'), true)).toBe(true);
    expect(h.out()).toEqual(['HEADERS 1 :status=200 content-type=text/plain', 'DATA 1 +ES 5']);
    expect(h.take()).toEqual(['close 1 0 end_stream']);
    expect(h.session.activeStreams).toBe(0);
    expect(h.gauge('streams_active')).toBe(0);
  });

  it('delivers request body and trailers', () => {
    const h = ready();
    h.recv(
      frames.headers(1).request('POST', '/', { headers: [['content-length', '5']] }),
      frames.data(1, 'hel'),
      frames.data(1, 'lo'),
      frames.headers(1).headers([['x-checksum', 'abc']]).eos(),
    );
    expect(h.take()).toEqual([
      'headers 1 request :method=POST :scheme=http :authority=localhost :path=/ content-length=5',
      'data 1 3',
      'data 1 2',
      'headers 1 trailers ES x-checksum=abc',
    ]);
    expect(h.counter('trailers')).toBe(1);
  });

  it('sends 1xx, response headers and trailers after queued data', () => {
    const h = ready();
    h.recv(GET);
    h.take();
    h.session.submitResponse(1, [[':status', '100']], false);
    h.session.submitResponse(1, [[':status', '200']], false);
    h.session.submitData(1, new BufferChain('body'), false);
    h.session.submitTrailers(1, [['grpc-status', '0']]);
    expect(h.out()).toEqual(['HEADERS 1 :status=100', 'HEADERS 1 :status=200', 'DATA 1 4', 'HEADERS 1 +ES grpc-status=0']);
    expect(h.take()).toEqual(['close 1 0 end_stream']);
  });

  it('passes never-indexed fields on', () => {
    const peer = h2Frames({ encoder: new HpackEncoder({ useDynamicTable: false }) });
    const h = ready();
    h.recv(peer.headers(1).request('GET', '/', { headers: [['authorization', 'secret']] }).eos());
    expect(h.take()).toEqual(['headers 1 request ES :method=GET :scheme=http :authority=localhost :path=/ authorization=secret(never)']);
  });

  it('does not send on a closed stream', () => {
    const h = ready();
    expect(h.session.submitResponse(1, [[':status', '200']], true)).toBe(false);
    expect(h.session.submitData(1, new BufferChain('x'), true)).toBe(false);
    expect(h.out()).toEqual([]);
  });
});

describe('Http2Session (server): stream identifiers and concurrency (§5.1.1, §5.1.2)', () => {
  it('rejects an even stream id from a client', () => {
    const h = ready();
    h.recv(frames.headers(2).request('GET', '/').eos());
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
  });

  it('rejects a stream id lower than one used before', () => {
    const h = ready();
    h.recv(frames.headers(5).request('GET', '/').eos(), frames.headers(3).request('GET', '/').eos());
    expect(h.out()).toEqual(['GOAWAY 0 last=5 code=1']);
  });

  it('refuses streams beyond SETTINGS_MAX_CONCURRENT_STREAMS and keeps HPACK in sync', () => {
    const peer = h2Frames({ encoder: new HpackEncoder() });
    const h = ready({ settings: { maxConcurrentStreams: 1 } });
    h.recv(
      peer.headers(1).request('GET', '/one', { headers: [['x-token', 'aaaa']] }),
      peer.headers(3).request('GET', '/two', { headers: [['x-token', 'bbbb']] }).eos(),
    );
    expect(h.out()).toEqual(['RST_STREAM 3 code=7']);
    expect(h.counter('stream_refused_errors')).toBe(1);
    expect(h.take()).toEqual(['headers 1 request :method=GET :scheme=http :authority=localhost :path=/one x-token=aaaa']);
    // DATA in flight for the refused stream is dropped (no error), its window given back.
    h.recv(peer.data(3, 'late').eos());
    expect(h.out()).toEqual([]);
    h.session.submitRstStream(1, ErrorCode.CANCEL);
    h.out();
    h.take();
    // Stream 5 reuses dynamic table entries added by the refused stream's block.
    h.recv(peer.headers(5).request('GET', '/two', { headers: [['x-token', 'bbbb']] }).eos());
    expect(h.take()).toEqual(['headers 5 request ES :method=GET :scheme=http :authority=localhost :path=/two x-token=bbbb']);
  });
});

describe('Http2Session (server): stream states (§5.1)', () => {
  it('idle: DATA, RST_STREAM and WINDOW_UPDATE are connection PROTOCOL_ERRORs; PRIORITY is fine', () => {
    for (const frame of [frames.data(1, 'x').eos().toBuffer(), frames.rst(1), frames.windowUpdate(1, 10)]) {
      const h = ready();
      h.recv(frame);
      expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
    }
    const h = ready();
    h.recv(frames.priority(1, { dependency: 0 }), GET);
    expect(h.out()).toEqual([]);
    expect(h.take()).toHaveLength(1);
  });

  it('half-closed (remote): DATA and HEADERS are stream errors STREAM_CLOSED', () => {
    const h = ready();
    h.recv(GET, frames.data(1, 'x'));
    expect(h.out()).toEqual(['RST_STREAM 1 code=5']);
    expect(h.take()).toEqual([expect.stringMatching(/^headers 1 request ES/), 'close 1 5 protocol_error']);
    const h2 = ready();
    h2.recv(GET, frames.headers(1).request('GET', '/').eos());
    expect(h2.out()).toEqual(['RST_STREAM 1 code=5']);
  });

  it('closed after our RST_STREAM: frames are ignored but DATA counts toward the connection window', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/'));
    h.session.submitRstStream(1, ErrorCode.CANCEL);
    expect(h.out()).toEqual(['RST_STREAM 1 code=8']);
    expect(h.counter('tx_reset')).toBe(1);
    h.recv(frames.data(1, Buffer.alloc(16_384)), frames.data(1, Buffer.alloc(16_384)), frames.headers(1).headers([['x', 'y']]).eos());
    // Half the connection window came back: a WINDOW_UPDATE, no error.
    expect(h.out()).toEqual(['WINDOW_UPDATE 0 +32768']);
  });

  it('closed after the peer reset: DATA is a stream error STREAM_CLOSED', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/'), frames.rst(1, ErrorCode.CANCEL), frames.data(1, 'x'));
    expect(h.out()).toEqual(['RST_STREAM 1 code=5']);
    expect(h.counter('rx_reset')).toBe(1);
    expect(h.take()).toEqual([expect.stringMatching(/^headers 1 request/), 'close 1 8 remote_reset']);
  });

  it('closed after the peer reset: HEADERS is decoded, then a stream error STREAM_CLOSED', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/'), frames.rst(1, ErrorCode.CANCEL), frames.headers(1).request('GET', '/').eos());
    expect(h.out()).toEqual(['RST_STREAM 1 code=5']);
    h.recv(frames.headers(3).request('GET', '/').eos());
    expect(h.session.terminated).toBeUndefined();
  });

  it('closed by END_STREAM both ways: HEADERS is a connection error STREAM_CLOSED', () => {
    const h = ready();
    h.recv(GET);
    h.session.submitResponse(1, [[':status', '204']], true);
    h.out();
    h.recv(GET);
    expect(h.out()).toEqual(['GOAWAY 0 last=1 code=5']);
  });

  it('RST_STREAM on a closed stream is ignored', () => {
    const h = ready();
    h.recv(GET);
    h.session.submitResponse(1, [[':status', '204']], true);
    h.out();
    h.recv(frames.rst(1, ErrorCode.CANCEL));
    expect(h.out()).toEqual([]);
    expect(h.session.terminated).toBeUndefined();
  });

  it('PUSH_PROMISE from a client is a connection PROTOCOL_ERROR', () => {
    const h = ready();
    h.recv(GET, frames.pushPromise(1, 2, [[':method', 'GET']]));
    expect(h.out()).toEqual(['GOAWAY 0 last=1 code=1']);
  });

  it('CONTINUATION without HEADERS, or interleaved, is a connection PROTOCOL_ERROR', () => {
    const h = ready();
    h.recv(frames.continuation(1, [[':method', 'GET']]));
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
    const h2 = ready();
    h2.recv(frames.headers(1).request('GET', '/').endHeaders(false), frames.ping());
    expect(h2.out()).toEqual(['GOAWAY 0 last=1 code=1']);
  });

  it('assembles HEADERS + CONTINUATION', () => {
    const h = ready();
    const block = frames.headerBlock([[':method', 'GET'], [':scheme', 'https'], [':authority', 'a'], [':path', '/p']]);
    h.recv(
      frames.headers(1).block(block.subarray(0, 4)).endHeaders(false).eos(),
      frames.continuation(1, block.subarray(4, 8)).endHeaders(false),
      frames.continuation(1, block.subarray(8)),
    );
    expect(h.take()).toEqual(['headers 1 request ES :method=GET :scheme=https :authority=a :path=/p']);
  });

  it('maps HPACK errors to COMPRESSION_ERROR', () => {
    const h = ready();
    h.recv(frames.headers(1).block(Buffer.from([0xff, 0x7f])).eos());
    expect(h.out()).toEqual(['GOAWAY 0 last=1 code=9']);
  });

  it('self-dependent PRIORITY on an idle stream ends the connection; on an open stream resets it', () => {
    const h = ready();
    h.recv(frames.priority(1, { dependency: 1 }));
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
    const h2 = ready();
    h2.recv(frames.headers(1).request('POST', '/'), frames.priority(1, { dependency: 1 }));
    expect(h2.out()).toEqual(['RST_STREAM 1 code=1']);
    const h3 = ready();
    h3.recv(frames.headers(1).request('POST', '/'), frames.raw(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)));
    expect(h3.out()).toEqual(['RST_STREAM 1 code=6']);
  });

  it('ignores unknown frame types, also in the middle of nothing', () => {
    const h = ready();
    h.recv(frames.raw(0xfa, 0, 0, 'x'), frames.raw(0xfa, 0xff, 1, 'y'), GET);
    expect(h.out()).toEqual([]);
    expect(h.take()).toHaveLength(1);
  });
});

describe('Http2Session: PING and GOAWAY (§6.7, §6.8)', () => {
  it('answers PING with an ACK carrying the same data, and ignores PING ACKs', () => {
    const h = ready();
    h.recv(frames.ping('abcdefgh'), frames.ping('zzzzzzzz').ack());
    expect(h.out()).toEqual(['PING 0 ACK 6162636465666768']);
  });

  it('shuts down in two phases: GOAWAY 2^31-1 + PING, then the last stream id on the ACK', () => {
    const h = ready();
    h.recv(frames.headers(1).request('GET', '/'));
    h.session.submitShutdownNotice();
    const notice = h.outFrames();
    expect(notice.map((f) => ('type' in f ? f.type : f.kind))).toEqual(['GOAWAY', 'PING']);
    expect(notice[0]).toMatchObject({ lastStreamId: 2 ** 31 - 1, errorCode: 0 });
    h.recv(frames.headers(3).request('GET', '/').eos());
    const ping = notice[1]! as { opaqueData: Buffer };
    h.recv(frames.ping(ping.opaqueData).ack());
    expect(h.out()).toEqual(['GOAWAY 0 last=3 code=0']);
    // Past the final GOAWAY, new streams are ignored (not processed, not answered).
    h.take();
    h.recv(frames.headers(5).request('GET', '/').eos(), frames.data(5, 'x'));
    expect(h.take()).toEqual([]);
    expect(h.out()).toEqual([]);
    // Streams below keep working.
    h.session.submitResponse(3, [[':status', '200']], true);
    expect(h.out()).toEqual(['HEADERS 3 +ES :status=200']);
  });

  it('a GOAWAY from the peer is recorded; its last-stream-id may not grow', () => {
    const h = ready();
    h.recv(frames.goaway(0, ErrorCode.NO_ERROR));
    expect(h.session.goAwayReceived).toBe(0);
    h.recv(frames.goaway(5, ErrorCode.NO_ERROR));
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
  });
});
