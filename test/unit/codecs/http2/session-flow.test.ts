import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../codecs/http2/frame.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { frames } from '../../../support/h2-frames.js';
import { SessionHarness } from './session-harness.js';
import type { HarnessOptions } from './session-harness.js';

function ready(options: HarnessOptions = {}, clientSettings = frames.settings()): SessionHarness {
  const h = new SessionHarness('server', options);
  h.recv(frames.preface(), clientSettings, frames.settingsAck());
  h.out();
  return h;
}

function respond(h: SessionHarness, id: number, body: number, endStream = true): void {
  h.session.submitResponse(id, [[':status', '200']], false);
  h.session.submitData(id, new BufferChain(Buffer.alloc(body, 0x61)), endStream);
}

describe('Http2Session: sending DATA within windows and frame size (§6.9, §4.2)', () => {
  it('splits at the peer max frame size and stops at the stream / connection window', () => {
    const h = ready();
    h.recv(frames.headers(1).request('GET', '/').eos());
    respond(h, 1, 100_000);
    expect(h.out()).toEqual(['HEADERS 1 :status=200', 'DATA 1 16384', 'DATA 1 16384', 'DATA 1 16384', 'DATA 1 16383']);
    expect(h.session.pendingSendBytes(1)).toBe(100_000 - 65_535);
    expect(h.session.connectionSendWindow()).toBe(0);
    // Stream window alone is not enough.
    h.recv(frames.windowUpdate(1, 50_000));
    expect(h.out()).toEqual([]);
    h.recv(frames.windowUpdate(0, 10_000));
    expect(h.out()).toEqual(['DATA 1 10000']);
    h.recv(frames.windowUpdate(0, 1_000_000));
    expect(h.out()).toEqual(['DATA 1 16384', 'DATA 1 +ES 8081']);
    expect(h.take()).toEqual([expect.stringMatching(/^headers 1/), 'close 1 0 end_stream']);
  });

  it('uses a larger SETTINGS_MAX_FRAME_SIZE of the peer', () => {
    const h = ready({}, frames.settings({ maxFrameSize: 40_000, initialWindowSize: 1 << 20 }));
    h.recv(frames.windowUpdate(0, 1 << 20), frames.headers(1).request('GET', '/').eos());
    respond(h, 1, 100_000);
    expect(h.out()).toEqual(['HEADERS 1 :status=200', 'DATA 1 40000', 'DATA 1 40000', 'DATA 1 +ES 20000']);
  });

  it('shares the connection window round robin across streams', () => {
    const h = ready({}, frames.settings({ initialWindowSize: 1 << 20 }));
    h.recv(frames.headers(1).request('GET', '/').eos(), frames.headers(3).request('GET', '/').eos());
    h.session.submitResponse(1, [[':status', '200']], false);
    h.session.submitResponse(3, [[':status', '200']], false);
    h.out();
    h.session.setOutputBlocked(true);
    h.session.submitData(1, new BufferChain(Buffer.alloc(65_535)), true);
    h.session.submitData(3, new BufferChain(Buffer.alloc(65_535)), true);
    h.session.setOutputBlocked(false);
    expect(h.out()).toEqual(['DATA 1 16384', 'DATA 3 16384', 'DATA 1 16384', 'DATA 3 16383']);
    h.recv(frames.windowUpdate(0, 40_000));
    expect(h.out()).toEqual(['DATA 1 16384', 'DATA 3 16384', 'DATA 1 7232']);
  });

  it('applies SETTINGS_INITIAL_WINDOW_SIZE changes to open streams, down to negative windows (§6.9.2)', () => {
    const h = ready({}, frames.settings({ initialWindowSize: 3 }));
    h.recv(frames.headers(1).request('GET', '/').eos());
    respond(h, 1, 10);
    expect(h.out()).toEqual(['HEADERS 1 :status=200', 'DATA 1 3']);
    h.recv(frames.settings({ initialWindowSize: 2 }));
    expect(h.out()).toEqual(['SETTINGS 0 ACK']);
    expect(h.session.streamSendWindow(1)).toBe(-1);
    h.recv(frames.windowUpdate(1, 2));
    expect(h.out()).toEqual(['DATA 1 1']);
    h.recv(frames.settings({ initialWindowSize: 100 }));
    expect(h.out()).toEqual(['SETTINGS 0 ACK', 'DATA 1 +ES 6']);
  });

  it('a SETTINGS_INITIAL_WINDOW_SIZE that overflows a stream window is a connection FLOW_CONTROL_ERROR', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/'), frames.windowUpdate(1, 2 ** 31 - 1 - 65_535));
    h.recv(frames.settings({ initialWindowSize: 65_536 }));
    expect(h.out()).toEqual(['GOAWAY 0 last=1 code=3']);
  });

  it('WINDOW_UPDATE: 0 increment and overflow (§6.9, §6.9.1)', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/'), frames.raw(0x8, 0, 1, Buffer.alloc(4)));
    expect(h.out()).toEqual(['RST_STREAM 1 code=1']);
    const h2 = ready();
    h2.recv(frames.raw(0x8, 0, 0, Buffer.alloc(4)));
    expect(h2.out()).toEqual(['GOAWAY 0 last=0 code=1']);
    const h3 = ready();
    h3.recv(frames.headers(1).request('POST', '/'), frames.windowUpdate(1, 2 ** 31 - 1));
    expect(h3.out()).toEqual(['RST_STREAM 1 code=3']);
    const h4 = ready();
    h4.recv(frames.windowUpdate(0, 2 ** 31 - 1));
    expect(h4.out()).toEqual(['GOAWAY 0 last=0 code=3']);
    const h5 = ready();
    h5.recv(frames.raw(0x8, 0, 0, Buffer.alloc(3)));
    expect(h5.out()).toEqual(['GOAWAY 0 last=0 code=6']);
  });
});

describe('Http2Session: receiving DATA, window credit only through consume()', () => {
  it('returns no credit until consumed, then WINDOW_UPDATEs once half the window is consumed', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/'), frames.data(1, Buffer.alloc(16_384)), frames.data(1, Buffer.alloc(16_384)));
    expect(h.take()).toEqual([expect.stringMatching(/^headers 1/), 'data 1 16384', 'data 1 16384']);
    expect(h.out()).toEqual([]);
    h.session.consume(1, 16_384);
    expect(h.out()).toEqual([]);
    h.session.consume(1, 16_384);
    expect(h.out()).toEqual(['WINDOW_UPDATE 0 +32768', 'WINDOW_UPDATE 1 +32768']);
  });

  it('DATA beyond the stream window is a stream FLOW_CONTROL_ERROR; beyond the connection window a connection one', () => {
    const h = ready({ connectionWindowSize: 1 << 20 });
    h.out();
    h.recv(frames.headers(1).request('POST', '/'));
    for (let i = 0; i < 4; i++) h.recv(frames.data(1, Buffer.alloc(16_383)));
    h.recv(frames.data(1, Buffer.alloc(4)));
    expect(h.out()).toEqual(['RST_STREAM 1 code=3']);
    const h2 = ready();
    h2.recv(frames.headers(1).request('POST', '/'), frames.headers(3).request('POST', '/'));
    for (let i = 0; i < 3; i++) h2.recv(frames.data(1, Buffer.alloc(16_384)));
    h2.recv(frames.data(3, Buffer.alloc(16_384)));
    expect(h2.out()).toEqual(['GOAWAY 0 last=3 code=3']);
  });

  it('counts padding toward flow control and gives it back at once', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/'), frames.data(1, Buffer.alloc(100)).padded(200));
    expect(h.take()).toEqual([expect.stringMatching(/^headers 1/), 'data 1 100']);
    h.session.consume(1, 100);
    h.recv(frames.data(1, Buffer.alloc(16_000)).padded(255));
    h.session.consume(1, 16_000);
    // 301 + 16256 octets: below half the window.
    expect(h.out()).toEqual([]);
    h.recv(frames.data(1, Buffer.alloc(16_000)).padded(255));
    expect(h.out()).toEqual([]);
    h.session.consume(1, 16_000);
    expect(h.out()).toEqual(['WINDOW_UPDATE 0 +32813', 'WINDOW_UPDATE 1 +32813']);
  });

  it('checks content-length against the DATA total (§8.1.1)', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/', { headers: [['content-length', '3']] }), frames.data(1, 'abcd'));
    expect(h.out()).toEqual(['RST_STREAM 1 code=1']);
    expect(h.counter('rx_messaging_error')).toBe(1);
    const h2 = ready();
    h2.recv(frames.headers(1).request('POST', '/', { headers: [['content-length', '3']] }), frames.data(1, 'ab').eos());
    expect(h2.out()).toEqual(['RST_STREAM 1 code=1']);
    const h3 = ready();
    h3.recv(frames.headers(1).request('POST', '/', { headers: [['content-length', '3']] }).eos());
    expect(h3.out()).toEqual(['RST_STREAM 1 code=1']);
    expect(h3.take()).toEqual(['close 1 1 protocol_error']);
    const h4 = ready();
    h4.recv(frames.headers(1).request('POST', '/', { headers: [['content-length', '3']] }), frames.data(1, 'abc').eos());
    expect(h4.out()).toEqual([]);
  });

  it('drops queued DATA when the stream is reset', () => {
    const h = ready({}, frames.settings({ initialWindowSize: 10 }));
    h.recv(frames.headers(1).request('GET', '/').eos());
    respond(h, 1, 100);
    expect(h.out()).toEqual(['HEADERS 1 :status=200', 'DATA 1 10']);
    h.recv(frames.rst(1, ErrorCode.CANCEL), frames.windowUpdate(0, 1000));
    expect(h.out()).toEqual([]);
    expect(h.session.pendingSendBytes(1)).toBe(0);
  });

  it('holds the output while blocked and sends it when unblocked', () => {
    const h = ready();
    h.recv(frames.headers(1).request('GET', '/').eos());
    h.session.setOutputBlocked(true);
    respond(h, 1, 5);
    h.recv(frames.ping('pingpong'));
    expect(h.out()).toEqual([]);
    h.session.setOutputBlocked(false);
    expect(h.out()).toEqual(['HEADERS 1 :status=200', 'PING 0 ACK 70696e67706f6e67', 'DATA 1 +ES 5']);
  });
});
