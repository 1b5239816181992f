import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import { ActiveStream } from '../../../../../filters/network/http-connection-manager/active-stream.js';
import type { HcmSettings } from '../../../../../filters/network/http-connection-manager/hcm-config.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import {
  FakeConnection,
  FakeDispatcher,
  FakeEncoder,
  FakeOwner,
  headersObject,
  makeRuntime,
  RecordingFilter,
} from './fakes.js';

function req(path = '/p', extra: Record<string, string> = {}): HeaderMapImpl {
  return HeaderMapImpl.fromObject({ ':method': 'GET', ':path': path, ':authority': 'example.com', ':scheme': 'http', ...extra });
}

function resp(status: number, extra: Record<string, string> = {}): HeaderMapImpl {
  return HeaderMapImpl.fromObject({ ':status': String(status), ...extra });
}

/** Two recording filters A and B (B last, like the router), wired into one ActiveStream. */
function setup(settings: Partial<HcmSettings> = {}, bufferLimit = 1024 * 1024) {
  const log: string[] = [];
  const a = new RecordingFilter('A', log);
  const b = new RecordingFilter('B', log);
  b.consumeData = true;
  const rt = makeRuntime(settings, (fm) => {
    fm.addStreamFilter(a);
    fm.addStreamFilter(b);
  });
  const disp = new FakeDispatcher();
  const conn = new FakeConnection(disp);
  conn.limit = bufferLimit;
  const owner = new FakeOwner(rt, conn);
  const enc = new FakeEncoder();
  const stream = new ActiveStream(owner, enc);
  const counter = (name: string) => rt.store.counter(`http.ingress.${name}`).value();
  return { log, a, b, rt, disp, conn, owner, enc, stream, counter };
}

describe('decoder filter iteration', () => {
  it('Continue passes headers, data and trailers to each filter in order', () => {
    const { log, stream } = setup();
    stream.decodeHeaders(req('/a'), false);
    stream.decodeData(new BufferChain('abc'), false);
    stream.decodeTrailers(HeaderMapImpl.fromObject({ 'x-t': '1' }));
    expect(log).toEqual([
      'A.decodeHeaders /a',
      'B.decodeHeaders /a',
      'A.decodeData "abc"',
      'B.decodeData "abc"',
      'A.decodeTrailers {"x-t":"1"}',
      'B.decodeTrailers {"x-t":"1"}',
    ]);
  });

  it('StopIteration holds later filters until continueDecoding, which replays headers, buffered data and trailers', () => {
    const { log, a, stream } = setup();
    a.decodeHeadersStatus = 'StopIteration';
    a.decodeDataStatus = 'StopIterationAndBuffer';
    a.decodeTrailersStatus = 'StopIteration';
    stream.decodeHeaders(req('/a'), false);
    stream.decodeData(new BufferChain('ab'), false);
    stream.decodeData(new BufferChain('cd'), false);
    stream.decodeTrailers(HeaderMapImpl.fromObject({ 'x-t': '1' }));
    // Each frame reaches the stopped filter as it comes; the stream's buffer accumulates them.
    expect(log).toEqual(['A.decodeHeaders /a', 'A.decodeData "ab"', 'A.decodeData "cd"', 'A.decodeTrailers {"x-t":"1"}']);
    expect(a.decoderCallbacks.decodingBuffer()?.toBuffer().toString()).toBe('abcd');
    log.length = 0;
    a.decoderCallbacks.continueDecoding();
    expect(log).toEqual(['B.decodeHeaders /a', 'B.decodeData "abcd"', 'B.decodeTrailers {"x-t":"1"}']);
  });

  it('StopIteration on a header-only request delivers end of stream with the headers on continue', () => {
    const { log, a, stream } = setup();
    a.decodeHeadersStatus = 'StopIteration';
    stream.decodeHeaders(req('/h'), true);
    expect(log).toEqual(['A.decodeHeaders /h end']);
    a.decoderCallbacks.continueDecoding();
    expect(log).toEqual(['A.decodeHeaders /h end', 'B.decodeHeaders /h end']);
  });

  it('a stopped filter that returns Continue on data resumes the chain with that data', () => {
    const { log, a, stream } = setup();
    a.decodeHeadersStatus = 'StopIteration';
    stream.decodeHeaders(req('/c'), false);
    stream.decodeData(new BufferChain('xyz'), true);
    expect(log).toEqual(['A.decodeHeaders /c', 'A.decodeData "xyz" end', 'B.decodeHeaders /c', 'B.decodeData "xyz" end']);
  });

  it('StopAllIterationAndBuffer buffers data without calling the filter, then replays it from that filter', () => {
    const { log, a, stream } = setup();
    a.decodeHeadersStatus = 'StopAllIterationAndBuffer';
    stream.decodeHeaders(req('/s'), false);
    stream.decodeData(new BufferChain('12'), false);
    stream.decodeData(new BufferChain('34'), true);
    expect(log).toEqual(['A.decodeHeaders /s']);
    a.decoderCallbacks.continueDecoding();
    expect(log).toEqual(['A.decodeHeaders /s', 'B.decodeHeaders /s', 'A.decodeData "1234" end', 'B.decodeData "1234" end']);
  });

  it('StopIterationNoBuffer on the last frame still ends the stream for later filters on continue', () => {
    const { log, a, stream } = setup();
    a.decodeHeadersStatus = 'StopIteration';
    a.decodeDataStatus = 'StopIterationNoBuffer';
    stream.decodeHeaders(req('/n'), false);
    const data = new BufferChain('gone');
    stream.decodeData(data, true);
    data.drain(data.length);
    a.decoderCallbacks.continueDecoding();
    expect(log).toEqual(['A.decodeHeaders /n', 'A.decodeData "gone" end', 'B.decodeHeaders /n', 'B.decodeData "" end']);
  });

  it('buffering past the connection buffer limit answers 413 request_payload_too_large', () => {
    const { log, a, b, stream, enc, counter, rt } = setup({}, 10);
    a.decodeDataStatus = 'StopIterationAndBuffer';
    stream.decodeHeaders(req('/big', { 'content-type': 'text/plain' }), false);
    stream.decodeData(new BufferChain('123456'), false);
    stream.decodeData(new BufferChain('789012'), false);
    expect(enc.events).toEqual(['headers 413', 'data "Payload Too Large" end']);
    expect(headersObject(enc.headers!)).toMatchObject({ ':status': '413', 'content-type': 'text/plain', 'content-length': '17' });
    expect(counter('downstream_rq_too_large')).toBe(1);
    expect(counter('downstream_rq_4xx')).toBe(1);
    expect(log.filter((l) => l.startsWith('B.decode'))).toEqual(['B.decodeHeaders /big']);
    // Encoder filters run in reverse order and saw the local reply.
    expect(log.filter((l) => l.includes('.encode'))).toEqual([
      'B.encodeHeaders 413',
      'A.encodeHeaders 413',
      'B.encodeData "Payload Too Large" end',
      'A.encodeData "Payload Too Large" end',
    ]);
    expect(rt.accessLog.entries).toEqual([{ code: 413, flags: '', details: 'request_payload_too_large', bytesReceived: 12, bytesSent: 17 }]);
    expect(a.destroyed).toBe(1);
    expect(b.destroyed).toBe(1);
    // The response came before the request ended: HTTP/1 must close the connection after it.
    expect(enc.headers!.get('connection')).toBe('close');
  });

  it('StopIterationAndWatermark read-disables the downstream above the limit and re-enables below half', () => {
    const { a, stream, enc, counter } = setup({}, 10);
    a.decodeHeadersStatus = 'StopIteration';
    a.decodeDataStatus = 'StopIterationAndWatermark';
    stream.decodeHeaders(req('/w'), false);
    stream.decodeData(new BufferChain('123456'), false);
    expect(enc.s.readDisabled).toBe(0);
    stream.decodeData(new BufferChain('789012'), false);
    expect(enc.s.readDisabled).toBe(1);
    expect(enc.events).toEqual([]);
    a.decodeDataStatus = 'Continue';
    a.decoderCallbacks.continueDecoding();
    // B drained the buffer: the watermark falls and reading resumes.
    expect(enc.s.readDisabled).toBe(0);
    expect(counter('downstream_flow_control_paused_reading_total')).toBe(1);
    expect(counter('downstream_flow_control_resumed_reading_total')).toBe(1);
  });

  it('sendLocalReply from decodeHeaders waits for the filter to return, skips later decoders and runs the encoders', () => {
    const { log, a, b, stream, enc, rt } = setup();
    a.decodeHeadersStatus = (f) => {
      f.decoderCallbacks.sendLocalReply(403, 'denied', { details: 'rbac_denied', headers: { 'x-why': 'policy' } });
      log.push('A.returning');
      return 'StopIteration';
    };
    stream.decodeHeaders(req('/deny'), true);
    expect(log).toEqual([
      'A.decodeHeaders /deny end',
      'A.returning',
      'B.encodeHeaders 403',
      'A.encodeHeaders 403',
      'B.encodeData "denied" end',
      'A.encodeData "denied" end',
      'A.onDestroy',
      'B.onDestroy',
    ]);
    expect(enc.events).toEqual(['headers 403', 'data "denied" end']);
    expect(headersObject(enc.headers!)).toMatchObject({
      ':status': '403',
      'content-length': '6',
      'content-type': 'text/plain',
      'x-why': 'policy',
      'x-route-finalized': 'yes',
      server: 'sluice',
      date: 'Tue, 02 Jan 2024 03:04:05 GMT',
    });
    expect(rt.accessLog.entries).toEqual([{ code: 403, flags: '', details: 'rbac_denied', bytesReceived: 0, bytesSent: 6 }]);
    expect(b.destroyed).toBe(1);
  });

  it('a local reply from a decoder filter with a response flag records the flag', () => {
    const { a, stream, rt } = setup();
    a.decodeHeadersStatus = (f) => {
      f.decoderCallbacks.sendLocalReply(404, '', { details: 'route_not_found', responseFlag: 'NR' });
      return 'StopIteration';
    };
    stream.decodeHeaders(req('/none'), true);
    expect(rt.accessLog.entries).toEqual([{ code: 404, flags: 'NR', details: 'route_not_found', bytesReceived: 0, bytesSent: 0 }]);
  });

  it('gRPC requests get a trailers-only gRPC error mapped from the HTTP code', () => {
    const { b, stream, enc } = setup();
    b.decodeHeadersStatus = (f) => {
      f.decoderCallbacks.sendLocalReply(503, 'no healthy upstream', { details: 'no_healthy_upstream', responseFlag: 'UH' });
      return 'StopIteration';
    };
    stream.decodeHeaders(req('/svc.Greeter/Hello', { 'content-type': 'application/grpc', ':method': 'POST' }), true);
    expect(enc.events).toEqual(['headers 200 end']);
    expect(headersObject(enc.headers!)).toMatchObject({
      ':status': '200',
      'content-type': 'application/grpc',
      'grpc-status': '14',
      'grpc-message': 'no healthy upstream',
    });
    expect(enc.headers!.has('content-length')).toBe(false);
  });

  it('HEAD local replies carry the content-length of the body they do not send', () => {
    const { b, stream, enc } = setup();
    b.decodeHeadersStatus = (f) => {
      f.decoderCallbacks.sendLocalReply(404, 'not here', { details: 'route_not_found' });
      return 'StopIteration';
    };
    stream.decodeHeaders(req('/h', { ':method': 'HEAD' }), true);
    expect(enc.events).toEqual(['headers 404 end']);
    expect(enc.headers!.get('content-length')).toBe('8');
  });
});

describe('encoder filter iteration', () => {
  it('runs encoder filters in reverse order and passes trailers to the codec', () => {
    const { log, b, stream, enc, rt, counter } = setup();
    b.decodeHeadersStatus = 'StopIteration';
    stream.decodeHeaders(req('/r'), true);
    log.length = 0;
    const cb = b.decoderCallbacks;
    cb.encodeHeaders(resp(200, { 'transfer-encoding': 'chunked', connection: 'keep-alive', 'keep-alive': 'timeout=5' }), false, 'via_upstream');
    cb.encodeData(new BufferChain('hello'), false);
    cb.encodeTrailers(HeaderMapImpl.fromObject({ 'grpc-status': '0' }));
    expect(log).toEqual([
      'B.encodeHeaders 200',
      'A.encodeHeaders 200',
      'B.encodeData "hello"',
      'A.encodeData "hello"',
      'B.encodeTrailers {"grpc-status":"0"}',
      'A.encodeTrailers {"grpc-status":"0"}',
      'A.onDestroy',
      'B.onDestroy',
    ]);
    expect(enc.events).toEqual(['headers 200', 'data "hello"', 'trailers {"grpc-status":"0"}']);
    // Hop-by-hop response headers are removed.
    expect(Object.keys(headersObject(enc.headers!)).sort()).toEqual([':status', 'date', 'server']);
    expect(rt.accessLog.entries).toEqual([{ code: 200, flags: '', details: 'via_upstream', bytesReceived: 0, bytesSent: 5 }]);
    expect(counter('downstream_rq_2xx')).toBe(1);
    expect(counter('downstream_rq_completed')).toBe(1);
    expect(rt.store.counter('listener.10.0.0.1_8080.http.ingress.downstream_rq_2xx').value()).toBe(1);
  });

  it('StopIteration on response headers holds them until continueEncoding, with buffered body', () => {
    const { log, a, b, stream, enc } = setup();
    b.decodeHeadersStatus = 'StopIteration';
    a.encodeHeadersStatus = 'StopIteration';
    a.encodeDataStatus = 'StopIterationAndBuffer';
    stream.decodeHeaders(req('/e'), true);
    log.length = 0;
    b.decoderCallbacks.encodeHeaders(resp(200), false, 'via_upstream');
    b.decoderCallbacks.encodeData(new BufferChain('ab'), false);
    b.decoderCallbacks.encodeData(new BufferChain('cd'), true);
    expect(enc.events).toEqual([]);
    a.encodeDataStatus = 'Continue';
    a.encoderCallbacks.continueEncoding();
    expect(enc.events).toEqual(['headers 200', 'data "abcd" end']);
    expect(log.slice(0, 4)).toEqual(['B.encodeHeaders 200', 'A.encodeHeaders 200', 'B.encodeData "ab"', 'A.encodeData "ab"']);
  });

  it('buffering a response past the limit answers 500 rs_too_large straight to the codec', () => {
    const { a, b, stream, enc, counter, rt } = setup({}, 8);
    b.decodeHeadersStatus = 'StopIteration';
    a.encodeHeadersStatus = 'StopIteration';
    a.encodeDataStatus = 'StopIterationAndBuffer';
    stream.decodeHeaders(req('/big'), true);
    b.decoderCallbacks.encodeHeaders(resp(200), false, 'via_upstream');
    b.decoderCallbacks.encodeData(new BufferChain('0123456789'), false);
    expect(enc.events).toEqual(['headers 500', 'data "Internal Server Error" end']);
    expect(counter('rs_too_large')).toBe(1);
    expect(rt.accessLog.entries[0]).toMatchObject({ code: 500, details: 'response_payload_too_large' });
  });

  it('a local reply after response headers were sent resets the stream', () => {
    const { b, stream, enc, disp, counter, rt } = setup();
    b.decodeHeadersStatus = 'StopIteration';
    stream.decodeHeaders(req('/slow'), true);
    b.decoderCallbacks.encodeHeaders(resp(200), false, 'via_upstream');
    disp.advance(300_000);
    expect(enc.events).toEqual(['headers 200']);
    expect(enc.s.resets).toEqual(['LocalReset']);
    expect(counter('downstream_rq_idle_timeout')).toBe(1);
    expect(counter('downstream_rq_tx_reset')).toBe(1);
    expect(rt.accessLog.entries).toEqual([{ code: 200, flags: 'SI', details: 'stream_idle_timeout', bytesReceived: 0, bytesSent: 0 }]);
  });

  it('data after the response completed is dropped, and the stream ends once both sides did', () => {
    const { log, b, stream, owner } = setup();
    b.decodeHeadersStatus = 'StopIteration';
    stream.decodeHeaders(req('/early'), false);
    b.decoderCallbacks.encodeHeaders(resp(204), true, 'via_upstream');
    log.length = 0;
    stream.decodeData(new BufferChain('late'), true);
    expect(log).toEqual([]);
    expect(owner.destroyedStreams).toEqual([stream]);
    expect(owner.drainState).toBe('Closing');
  });

  it('HTTP/2: a response that beats its request resets the stream (RFC 9113 §8.1)', () => {
    const { b, stream, enc, owner } = setup();
    owner.proto = 'HTTP/2';
    b.decodeHeadersStatus = 'StopIteration';
    stream.decodeHeaders(req('/early'), false);
    b.decoderCallbacks.encodeHeaders(resp(200), true, 'via_upstream');
    expect(enc.s.resets).toEqual(['LocalReset']);
    expect(enc.headers!.has('connection')).toBe(false);
    expect(owner.drainState).toBe('NotDraining');
  });
});

describe('watermarks', () => {
  it('relays codec stream watermarks to subscribers, telling late subscribers the current state', () => {
    const { b, stream } = setup();
    b.decodeHeadersStatus = 'StopIteration';
    stream.decodeHeaders(req('/w'), false);
    const events: string[] = [];
    const early = { onAboveWriteBufferHighWatermark: () => events.push('early+'), onBelowWriteBufferLowWatermark: () => events.push('early-') };
    b.decoderCallbacks.addDownstreamWatermarkCallbacks(early);
    stream.onAboveWriteBufferHighWatermark();
    const late = { onAboveWriteBufferHighWatermark: () => events.push('late+'), onBelowWriteBufferLowWatermark: () => events.push('late-') };
    b.decoderCallbacks.addDownstreamWatermarkCallbacks(late);
    stream.onBelowWriteBufferLowWatermark();
    b.decoderCallbacks.removeDownstreamWatermarkCallbacks(early);
    stream.onAboveWriteBufferHighWatermark();
    expect(events).toEqual(['early+', 'late+', 'early-', 'late-', 'late+']);
  });

  it('gives back read-disables a filter left when the stream ends', () => {
    const { b, stream, enc } = setup();
    b.decodeHeadersStatus = 'StopIteration';
    stream.decodeHeaders(req('/w'), false);
    b.decoderCallbacks.onDecoderFilterAboveWriteBufferHighWatermark();
    b.decoderCallbacks.onDecoderFilterAboveWriteBufferHighWatermark();
    b.decoderCallbacks.onDecoderFilterBelowWriteBufferLowWatermark();
    expect(enc.s.readDisabled).toBe(1);
    stream.decodeData(new BufferChain(''), true);
    b.decoderCallbacks.encodeHeaders(resp(200), true, 'via_upstream');
    expect(enc.s.readDisabled).toBe(0);
  });
});
