import { describe, expect, it, vi } from 'vitest';
import type { BufferInstance } from '../../../../../src/api/buffer.js';
import type {
  CodecStatus,
  Protocol,
  RequestDecoder,
  ServerConnection,
  ServerConnectionCallbacks,
} from '../../../../../src/api/http-codec.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import { HttpConnectionManager } from '../../../../../filters/network/http-connection-manager/hcm.js';
import type { HcmSettings } from '../../../../../filters/network/http-connection-manager/hcm-config.js';
import { FakeConnection, FakeDispatcher, FakeEncoder, makeRuntime, RecordingFilter } from './fakes.js';

/** A codec that hands every dispatched chunk to a script and records drain-related calls. */
class FakeCodec implements ServerConnection {
  status: CodecStatus = { ok: true };
  readonly calls: string[] = [];
  readonly encoders: FakeEncoder[] = [];
  readonly decoders: RequestDecoder[] = [];
  /** Default script: each dispatch consumes one '\n'-terminated line as one header-only request. */
  script: (data: BufferInstance) => void = (data) => {
    const text = data.toBuffer().toString('latin1');
    const nl = text.indexOf('\n');
    if (nl === -1) return;
    data.drain(nl + 1);
    this.startRequest(text.slice(0, nl), true);
  };

  constructor(
    readonly kind: string,
    readonly cbs: ServerConnectionCallbacks,
  ) {}

  startRequest(path: string, endStream: boolean): RequestDecoder {
    const enc = new FakeEncoder(this.encoders.length + 1);
    this.encoders.push(enc);
    const dec = this.cbs.newStream(enc);
    this.decoders.push(dec);
    dec.decodeHeaders(HeaderMapImpl.fromObject({ ':method': 'GET', ':path': path, ':authority': 'h', ':scheme': 'http' }), endStream);
    return dec;
  }
  dispatch(data: BufferInstance): CodecStatus {
    this.calls.push(`dispatch ${JSON.stringify(data.toBuffer().toString('latin1'))}`);
    this.script(data);
    return this.status;
  }
  goAway(): void {
    this.calls.push('goAway');
  }
  shutdownNotice(): void {
    this.calls.push('shutdownNotice');
  }
  protocol(): Protocol {
    return this.kind === 'http2' ? 'HTTP/2' : 'HTTP/1.1';
  }
  activeStreamCount(): number {
    return 0;
  }
  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void {
    this.calls.push('above');
  }
  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    this.calls.push('below');
  }
}

const codecs: FakeCodec[] = [];

vi.mock('../../../../../codecs/index.js', async (importOriginal) => {
  const actual = await importOriginal<Record<string, unknown>>();
  return {
    ...actual,
    createServerCodec: (kind: string, _conn: unknown, cbs: ServerConnectionCallbacks) => {
      const c = new FakeCodec(kind, cbs);
      codecs.push(c);
      return c;
    },
  };
});

/** An HCM on a fake connection whose only filter ("router") answers 200 unless told otherwise. */
function setup(settings: Partial<HcmSettings> = {}, respond = true) {
  codecs.length = 0;
  const log: string[] = [];
  const routers: RecordingFilter[] = [];
  const rt = makeRuntime(settings, (fm) => {
    const r = new RecordingFilter('R', log);
    r.decodeHeadersStatus = (f) => {
      if (respond) f.decoderCallbacks.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200' }), true, 'via_upstream');
      return 'StopIteration';
    };
    routers.push(r);
    fm.addStreamDecoderFilter(r);
  });
  const disp = new FakeDispatcher();
  const conn = new FakeConnection(disp);
  const hcm = new HttpConnectionManager(rt);
  hcm.initializeReadFilterCallbacks({ connection: () => conn, continueReading: () => undefined, injectReadDataToFilterChain: () => undefined });
  expect(hcm.onNewConnection()).toBe('Continue');
  const counter = (name: string) => rt.store.counter(`http.ingress.${name}`).value();
  const gauge = (name: string) => rt.store.gauge(`http.ingress.${name}`).value();
  const feed = (s: string) => {
    const b = new BufferChain(s);
    expect(hcm.onData(b, false)).toBe('StopIteration');
    return b;
  };
  return { rt, disp, conn, hcm, counter, gauge, feed, log, routers, codec: () => codecs[codecs.length - 1]! };
}

describe('codec selection', () => {
  it('waits while the bytes are a prefix of the HTTP/2 preface, then picks HTTP/2', () => {
    const { hcm, counter, gauge } = setup();
    const data = new BufferChain('PRI * HTTP/2.0\r\n');
    hcm.onData(data, false);
    expect(codecs).toEqual([]);
    expect(data.length).toBe(16);
    data.add('\r\nSM\r\n\r\n');
    hcm.onData(data, false);
    expect(codecs.map((c) => c.kind)).toEqual(['http2']);
    expect(counter('downstream_cx_http2_total')).toBe(1);
    expect(gauge('downstream_cx_http2_active')).toBe(1);
  });

  it('picks HTTP/1 for anything else, and HTTP/2 from ALPN', () => {
    const a = setup();
    a.feed('GET / HTTP/1.1\r\n');
    expect(codecs.map((c) => c.kind)).toEqual(['http1']);
    expect(a.counter('downstream_cx_http1_total')).toBe(1);
    const b = setup();
    b.conn.alpn = 'h2';
    b.feed('x');
    expect(codecs.map((c) => c.kind)).toEqual(['http2']);
  });

  it('honours codec_type', () => {
    const { feed } = setup({ codecType: 'HTTP2' });
    feed('GET / HTTP/1.1\r\n');
    expect(codecs.map((c) => c.kind)).toEqual(['http2']);
  });
});

describe('streams', () => {
  it('counts requests and redispatches pipelined HTTP/1 requests once the stream before them is done', () => {
    const { feed, counter, gauge, codec, rt, conn, disp } = setup();
    feed('/one\n/two\n/three\n');
    expect(codec().calls).toEqual(['dispatch "/one\\n/two\\n/three\\n"', 'dispatch "/two\\n/three\\n"', 'dispatch "/three\\n"']);
    expect(codec().encoders.map((e) => e.events)).toEqual([['headers 200 end'], ['headers 200 end'], ['headers 200 end']]);
    expect(counter('downstream_rq_total')).toBe(3);
    expect(counter('downstream_rq_http1_total')).toBe(3);
    expect(counter('downstream_rq_2xx')).toBe(3);
    expect(gauge('downstream_rq_active')).toBe(0);
    expect(rt.accessLog.entries.map((e) => e.code)).toEqual([200, 200, 200]);
    // Idle again: the idle timer closes the connection after idle_timeout.
    disp.advance(3_600_000);
    expect(counter('downstream_cx_idle_timeout')).toBe(1);
    expect(conn.closes).toEqual([{ type: 'FlushWrite', details: 'idle_timeout' }]);
  });

  it('max_requests_per_connection closes an HTTP/1 connection after the last allowed response', () => {
    const { feed, conn, codec, counter } = setup({ maxRequestsPerConnection: 2 });
    feed('/one\n');
    expect(conn.closes).toEqual([]);
    feed('/two\n');
    expect(counter('downstream_cx_max_requests_reached')).toBe(1);
    expect(codec().encoders.map((e) => e.headers!.get('connection'))).toEqual([undefined, 'close']);
    expect(conn.closes).toEqual([{ type: 'FlushWrite', details: 'deferred_close_on_drained_connection' }]);
  });

  it('the idle timer does not run while a stream is active', () => {
    const { feed, conn, disp, counter } = setup({ idleTimeoutMs: 1000, streamIdleTimeoutMs: 0 }, false);
    feed('/slow\n');
    disp.advance(5000);
    expect(counter('downstream_cx_idle_timeout')).toBe(0);
    expect(conn.closes).toEqual([]);
  });

  it('a codec protocol error closes the connection after a flush and resets streams with DPE', () => {
    const { feed, codec, conn, counter, rt } = setup({}, false);
    feed('/a\n');
    codec().status = { ok: false, code: 'CodecProtocolError', message: 'http1.invalid characters' };
    codec().script = () => undefined;
    feed('garbage');
    expect(counter('downstream_cx_protocol_error')).toBe(1);
    expect(conn.closes[0]).toEqual({ type: 'FlushWriteAndDelay', details: 'codec_error:http1.invalid_characters' });
    expect(rt.accessLog.entries).toEqual([{ code: undefined, flags: 'DPE', details: 'codec_error:http1.invalid_characters', bytesReceived: 0, bytesSent: 0 }]);
    expect(counter('downstream_cx_destroy_local_active_rq')).toBe(1);
  });

  it('a remote close resets active streams with DC and settles the gauges', () => {
    const { feed, conn, counter, gauge, rt, routers } = setup({}, false);
    feed('/a\n');
    expect(gauge('downstream_cx_active')).toBe(1);
    conn.remoteClose();
    expect(rt.accessLog.entries).toEqual([{ code: undefined, flags: 'DC', details: 'downstream_remote_disconnect', bytesReceived: 0, bytesSent: 0 }]);
    expect(routers[0]!.destroyed).toBe(1);
    expect(counter('downstream_cx_destroy_remote')).toBe(1);
    expect(counter('downstream_cx_destroy_remote_active_rq')).toBe(1);
    expect(counter('downstream_cx_destroy')).toBe(1);
    expect(gauge('downstream_cx_active')).toBe(0);
    expect(gauge('downstream_cx_http1_active')).toBe(0);
    expect(gauge('downstream_rq_active')).toBe(0);
  });

  it('relays connection watermarks to the codec', () => {
    const { feed, conn, codec } = setup();
    feed('/a\n');
    for (const cb of conn.callbacks) cb.onAboveWriteBufferHighWatermark();
    for (const cb of conn.callbacks) cb.onBelowWriteBufferLowWatermark();
    expect(codec().calls.slice(-2)).toEqual(['above', 'below']);
  });
});

describe('drain', () => {
  it('a server drain closes an idle connection at once', () => {
    const { feed, rt, conn, counter } = setup();
    feed('/a\n');
    rt.drain.start();
    expect(conn.closes).toEqual([{ type: 'FlushWrite', details: 'drain_close' }]);
    expect(counter('downstream_cx_drain_close')).toBe(1);
  });

  it('a server drain lets an HTTP/1 stream finish with connection: close, then closes', () => {
    const { feed, rt, conn, routers, codec } = setup({}, false);
    feed('/a\n');
    rt.drain.start();
    expect(conn.closes).toEqual([]);
    routers[0]!.decoderCallbacks.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200' }), true, 'via_upstream');
    expect(codec().encoders[0]!.headers!.get('connection')).toBe('close');
    expect(conn.closes).toEqual([{ type: 'FlushWrite', details: 'deferred_close_on_drained_connection' }]);
  });

  it('HTTP/2 drains with a shutdown notice, a GOAWAY after drain_timeout, and a close after the last stream', () => {
    const { hcm, rt, conn, routers, codec, disp } = setup({ drainTimeoutMs: 5000 }, false);
    conn.alpn = 'h2';
    hcm.onData(new BufferChain('x'), false);
    codec().startRequest('/a', true);
    rt.drain.start();
    expect(codec().calls.slice(-1)).toEqual(['shutdownNotice']);
    disp.advance(5000);
    expect(codec().calls.slice(-1)).toEqual(['goAway']);
    expect(conn.closes).toEqual([]);
    routers[0]!.decoderCallbacks.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200' }), true, 'via_upstream');
    expect(codec().encoders[0]!.headers!.has('connection')).toBe(false);
    expect(conn.closes).toEqual([{ type: 'FlushWriteAndDelay', details: 'deferred_close_on_drained_connection' }]);
  });

  it('max_connection_duration closes an idle connection and counts it', () => {
    const { feed, disp, conn, counter } = setup({ maxConnectionDurationMs: 10_000 });
    feed('/a\n');
    disp.advance(10_000);
    expect(counter('downstream_cx_max_duration_reached')).toBe(1);
    expect(conn.closes).toEqual([{ type: 'FlushWrite', details: 'drain_close' }]);
  });

  it('HTTP/2 idle timeout starts a drain instead of closing at once', () => {
    const { hcm, conn, codec, disp, counter } = setup({ idleTimeoutMs: 1000, drainTimeoutMs: 500 });
    conn.alpn = 'h2';
    hcm.onData(new BufferChain('x'), false);
    disp.advance(1000);
    expect(counter('downstream_cx_idle_timeout')).toBe(1);
    expect(codec().calls).toEqual(['dispatch "x"', 'shutdownNotice']);
    disp.advance(500);
    expect(codec().calls.slice(-1)).toEqual(['goAway']);
    expect(conn.closes).toEqual([{ type: 'FlushWriteAndDelay', details: 'deferred_close_on_drained_connection' }]);
  });
});
