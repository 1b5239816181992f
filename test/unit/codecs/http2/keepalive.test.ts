/**
 * connection_keepalive in the HTTP/2 codec connections (Envoy's keepalive in
 * Http2::ConnectionImpl), on a manual clock: interval PINGs with jitter, the timeout (extended by
 * any frame, cleared by the ACK), and the client's connection_idle_interval PING ahead of a new
 * stream.
 */
import { describe, expect, it } from 'vitest';
import type { ResponseDecoder } from '../../../../src/api/http-codec.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { DEFAULT_HTTP2_OPTIONS } from '../../../../codecs/index.js';
import type { Http2KeepaliveOptions } from '../../../../codecs/index.js';
import { createHttp2ClientConnection } from '../../../../codecs/http2/client-connection.js';
import { createHttp2ServerConnection } from '../../../../codecs/http2/server-connection.js';
import { Http2Keepalive } from '../../../../codecs/http2/keepalive.js';
import { FakeConnection, ManualDispatcher } from '../../../support/l4-fakes.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const EMPTY_SETTINGS = Buffer.from('000000040000000000', 'hex');
const SETTINGS_ACK = Buffer.from('000000040100000000', 'hex');
const PING_HEADER = '000008060000000000';

function keepalive(o: Partial<Http2KeepaliveOptions>): Http2KeepaliveOptions {
  return { intervalMs: 0, timeoutMs: 1000, intervalJitterPercent: 0, connectionIdleIntervalMs: 0, ...o };
}

/** PING frames (not ACKs) among the bytes written since `from`. */
function pingsWritten(conn: FakeConnection, from = 0): Buffer[] {
  const bytes = Buffer.concat(conn.written.slice(from));
  const out: Buffer[] = [];
  for (let o = 0; o + 9 <= bytes.length; ) {
    const len = bytes.readUIntBE(o, 3);
    if (bytes[o + 3] === 0x6 && (bytes[o + 4]! & 1) === 0) out.push(bytes.subarray(o, o + 9 + len));
    o += 9 + len;
  }
  return out;
}

function ackOf(ping: Buffer): Buffer {
  const ack = Buffer.from(ping);
  ack[4] = 1;
  return ack;
}

function server(ka: Http2KeepaliveOptions): { conn: FakeConnection; disp: ManualDispatcher; store: StatsStore; feed(b: Buffer): void } {
  const disp = new ManualDispatcher();
  const conn = new FakeConnection(disp);
  const store = new StatsStore();
  const codec = createHttp2ServerConnection(
    conn,
    { newStream: () => ({ decodeHeaders: () => {}, decodeData: () => {}, decodeTrailers: () => {} }), onGoAway: () => {} },
    { ...DEFAULT_HTTP2_OPTIONS, settingsTimeoutMs: 0, connectionKeepalive: ka },
    store,
  );
  codec.dispatch(new BufferChain(Buffer.concat([PREFACE, EMPTY_SETTINGS])));
  return { conn, disp, store, feed: (b) => void codec.dispatch(new BufferChain(b)) };
}

describe('keepalive PINGs (server codec)', () => {
  it('sends a PING each interval while ACKs come back, with the send time as opaque data', () => {
    const { conn, disp, feed } = server(keepalive({ intervalMs: 100, timeoutMs: 50 }));
    disp.advance(99);
    expect(pingsWritten(conn)).toEqual([]);
    disp.advance(1);
    const [first] = pingsWritten(conn);
    expect(first!.subarray(0, 9).toString('hex')).toBe(PING_HEADER);
    expect(first!.readDoubleBE(9)).toBe(100);
    feed(ackOf(first!));
    const mark = conn.written.length;
    disp.advance(100);
    expect(pingsWritten(conn, mark)).toHaveLength(1);
    expect(conn.closes).toEqual([]);
  });

  it('closes (NoFlush, http2_ping_timeout) when no ACK comes within the timeout, and counts it', () => {
    const { conn, disp, store } = server(keepalive({ intervalMs: 100, timeoutMs: 100 }));
    disp.advance(199);
    expect(conn.closes).toEqual([]);
    disp.advance(1);
    expect(conn.closes).toEqual([{ type: 'NoFlush', details: 'http2_ping_timeout' }]);
    expect(store.findCounter('http2.keepalive_timeout')?.value()).toBe(1);
    // Only one PING went out: a second is never sent while one is outstanding.
    expect(pingsWritten(conn)).toHaveLength(1);
  });

  it('any other frame received extends the wait for the ACK (head-of-line blocking)', () => {
    const { conn, disp, feed } = server(keepalive({ intervalMs: 100, timeoutMs: 100 }));
    disp.advance(180);
    feed(SETTINGS_ACK);
    disp.advance(99);
    expect(conn.closes).toEqual([]);
    disp.advance(1);
    expect(conn.closes).toEqual([{ type: 'NoFlush', details: 'http2_ping_timeout' }]);
  });

  it('adds a jitter of up to interval_jitter percent of the interval', () => {
    const disp = new ManualDispatcher();
    const pings: number[] = [];
    const randoms = [0.999, 0];
    const ka = new Http2Keepalive(disp, keepalive({ intervalMs: 1000, timeoutMs: 10, intervalJitterPercent: 15 }), {
      sendPing: () => pings.push(disp.now),
      onTimeout: () => {},
    }, () => randoms.shift()!);
    // 1000 + floor(0.999 * 150).
    disp.advance(1148);
    expect(pings).toEqual([]);
    disp.advance(1);
    expect(pings).toEqual([1149]);
    ka.onPingAck();
    disp.advance(1000);
    expect(pings).toEqual([1149, 2149]);
  });

  it('interval 0: no interval PINGs', () => {
    const { conn, disp } = server(keepalive({ intervalMs: 0, timeoutMs: 100 }));
    disp.advance(10_000);
    expect(pingsWritten(conn)).toEqual([]);
    expect(conn.closes).toEqual([]);
  });
});

describe('connection_idle_interval (client codec)', () => {
  const decoder: ResponseDecoder = { decode1xxHeaders: () => {}, decodeHeaders: () => {}, decodeData: () => {}, decodeTrailers: () => {} };

  function client(ka: Http2KeepaliveOptions): { conn: FakeConnection; disp: ManualDispatcher; codec: ReturnType<typeof createHttp2ClientConnection> } {
    const disp = new ManualDispatcher();
    const conn = new FakeConnection(disp);
    const codec = createHttp2ClientConnection(conn, { onGoAway: () => {} }, { ...DEFAULT_HTTP2_OPTIONS, settingsTimeoutMs: 0, connectionKeepalive: ka }, new StatsStore());
    codec.dispatch(new BufferChain(EMPTY_SETTINGS));
    // Drop the preface and SETTINGS: only frames from here on are parsed.
    conn.written.length = 0;
    return { conn, disp, codec };
  }

  it('PINGs before a new stream on a connection that received nothing for longer than the interval', () => {
    const { conn, disp, codec } = client(keepalive({ connectionIdleIntervalMs: 1000, timeoutMs: 500 }));
    disp.advance(1000);
    codec.newStream(decoder);
    expect(pingsWritten(conn)).toEqual([]);
    disp.advance(1);
    codec.newStream(decoder);
    expect(pingsWritten(conn)).toHaveLength(1);
    // The probe is not answered: the connection is closed before it carries more requests.
    disp.advance(500);
    expect(conn.closes).toEqual([{ type: 'NoFlush', details: 'http2_ping_timeout' }]);
  });

  it('a connection that received bytes recently is trusted without a PING', () => {
    const { conn, disp, codec } = client(keepalive({ connectionIdleIntervalMs: 1000, timeoutMs: 500 }));
    disp.advance(900);
    codec.dispatch(new BufferChain(SETTINGS_ACK));
    disp.advance(900);
    codec.newStream(decoder);
    expect(pingsWritten(conn)).toEqual([]);
  });
});
