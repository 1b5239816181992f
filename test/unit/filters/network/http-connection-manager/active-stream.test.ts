import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import { ActiveStream } from '../../../../../filters/network/http-connection-manager/active-stream.js';
import type { HcmSettings } from '../../../../../filters/network/http-connection-manager/hcm-config.js';
import type { Route } from '../../../../../src/api/router.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import { FakeConnection, FakeDispatcher, FakeEncoder, FakeOwner, headersObject, makeRuntime, RecordingFilter } from './fakes.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function req(extra: Record<string, string> = {}, path = '/p'): HeaderMapImpl {
  return HeaderMapImpl.fromObject({ ':method': 'GET', ':path': path, ':authority': 'example.com', ':scheme': 'http', ...extra });
}

/** One terminal filter ("router") that stops on headers and records what it saw. */
function setup(settings: Partial<HcmSettings> = {}) {
  const log: string[] = [];
  const router = new RecordingFilter('R', log);
  router.decodeHeadersStatus = 'StopIteration';
  router.consumeData = true;
  const rt = makeRuntime(settings, (fm) => fm.addStreamDecoderFilter(router));
  const disp = new FakeDispatcher();
  const conn = new FakeConnection(disp);
  const owner = new FakeOwner(rt, conn);
  const enc = new FakeEncoder();
  const stream = new ActiveStream(owner, enc);
  const counter = (name: string) => rt.store.counter(`http.ingress.${name}`).value();
  /** The request headers as the router saw them. */
  const seen = () => headersObject(stream.info.requestHeaders!);
  const respond = (status: number, extra: Record<string, string> = {}, endStream = true) =>
    router.decoderCallbacks.encodeHeaders(HeaderMapImpl.fromObject({ ':status': String(status), ...extra }), endStream, 'via_upstream');
  return { log, router, rt, disp, conn, owner, enc, stream, counter, seen, respond };
}

describe('request header handling', () => {
  it('use_remote_address: appends the peer to x-forwarded-for, sets x-forwarded-proto and a fresh x-request-id at the edge', () => {
    const { stream, seen } = setup({ useRemoteAddress: true });
    stream.decodeHeaders(req({ 'x-forwarded-for': '198.51.100.1', 'x-request-id': 'client-chosen', 'x-envoy-retry-on': '5xx' }), true);
    const h = seen();
    expect(h['x-forwarded-for']).toBe('198.51.100.1,203.0.113.7');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-request-id']).toMatch(UUID);
    expect(h['x-envoy-external-address']).toBe('203.0.113.7');
    expect(h['x-envoy-retry-on']).toBeUndefined();
    expect(stream.info.downstreamRemoteAddress).toEqual({ address: '203.0.113.7', port: 51000, family: 'IPv4' });
  });

  it('preserve_external_request_id keeps the client x-request-id at the edge', () => {
    const { stream, seen } = setup({ useRemoteAddress: true, preserveExternalRequestId: true });
    stream.decodeHeaders(req({ 'x-request-id': 'client-chosen' }), true);
    expect(seen()['x-request-id']).toBe('client-chosen');
  });

  it('an internal peer is marked x-envoy-internal and keeps its x-request-id', () => {
    const { stream, seen, conn } = setup({ useRemoteAddress: true });
    conn.remote = { address: '10.1.2.3', port: 4000, family: 'IPv4' };
    stream.decodeHeaders(req({ 'x-request-id': 'abc' }), true);
    const h = seen();
    expect(h['x-forwarded-for']).toBe('10.1.2.3');
    expect(h['x-envoy-internal']).toBe('true');
    expect(h['x-request-id']).toBe('abc');
    expect(h['x-envoy-external-address']).toBeUndefined();
  });

  it('without use_remote_address: keeps x-forwarded-for, logs the address it names, generates a missing x-request-id', () => {
    const { stream, seen } = setup();
    stream.decodeHeaders(req({ 'x-forwarded-for': '198.51.100.1, 192.0.2.9' }), true);
    const h = seen();
    expect(h['x-forwarded-for']).toBe('198.51.100.1, 192.0.2.9');
    expect(h['x-request-id']).toMatch(UUID);
    expect(h['x-forwarded-proto']).toBe('http');
    expect(stream.info.downstreamRemoteAddress).toEqual({ address: '192.0.2.9', port: 0, family: 'IPv4' });
  });

  it('xff_num_trusted_hops picks the client address past the trusted proxies', () => {
    const { stream } = setup({ useRemoteAddress: true, xffNumTrustedHops: 1 });
    stream.decodeHeaders(req({ 'x-forwarded-for': '198.51.100.1,192.0.2.9' }), true);
    expect(stream.info.downstreamRemoteAddress?.address).toBe('192.0.2.9');
  });

  it('skip_xff_append leaves x-forwarded-for alone; generate_request_id false adds none', () => {
    const { stream, seen } = setup({ useRemoteAddress: true, skipXffAppend: true, generateRequestId: false });
    stream.decodeHeaders(req(), true);
    expect(seen()['x-forwarded-for']).toBeUndefined();
    expect(seen()['x-request-id']).toBeUndefined();
  });

  it('removes hop-by-hop request headers and keeps only te: trailers', () => {
    const { stream, seen } = setup();
    stream.decodeHeaders(
      req({ connection: 'keep-alive, x-foo', 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', 'transfer-encoding': 'chunked', upgrade: 'h2c', te: 'deflate, trailers' }),
      false,
    );
    const h = seen();
    for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) expect(h[name]).toBeUndefined();
    expect(h.te).toBe('trailers');
  });

  it('drops te without trailers', () => {
    const { stream, seen } = setup();
    stream.decodeHeaders(req({ te: 'gzip' }), true);
    expect(seen().te).toBeUndefined();
  });

  it('appends via to requests and responses', () => {
    const { stream, seen, respond, enc } = setup({ via: 'sluice-1' });
    stream.decodeHeaders(req({ via: '1.1 edge' }), true);
    expect(seen().via).toBe('1.1 edge, sluice-1');
    respond(200, { via: '1.1 origin' });
    expect(enc.headers!.get('via')).toBe('1.1 origin, sluice-1');
  });

  it('answers a request without a host with 400 missing_host_header', () => {
    const { stream, enc, rt, log } = setup();
    const h = req();
    h.remove(':authority');
    stream.decodeHeaders(h, true);
    expect(enc.events).toEqual(['headers 400 end']);
    expect(rt.accessLog.entries[0]).toMatchObject({ code: 400, details: 'missing_host_header' });
    expect(log).toEqual(['R.onDestroy']);
  });

  it('rejects more headers than max_headers_count with 431', () => {
    const { stream, enc } = setup({ maxHeadersCount: 5 });
    stream.decodeHeaders(req({ a: '1', b: '2' }), true);
    expect(enc.events).toEqual(['headers 431 end']);
  });

  it('rejects a websocket upgrade unless upgrade_configs enables it (403 upgrade_failed)', () => {
    const { stream, enc, counter, rt } = setup();
    stream.decodeHeaders(req({ connection: 'Upgrade', upgrade: 'websocket' }), true);
    expect(enc.events).toEqual(['headers 403 end']);
    expect(counter('downstream_rq_ws_on_non_ws_route')).toBe(1);
    expect(rt.accessLog.entries[0]).toMatchObject({ details: 'upgrade_failed' });
  });

  it('keeps connection/upgrade for an enabled upgrade and marks a bodiless request', () => {
    const { stream, seen } = setup({ upgrades: new Map([['websocket', true]]) });
    stream.decodeHeaders(req({ connection: 'Upgrade', upgrade: 'WebSocket' }), false);
    const h = seen();
    expect(h.connection).toBe('Upgrade');
    expect(h.upgrade).toBe('WebSocket');
    expect(h['content-length']).toBe('0');
  });

  it('normalize_path and merge_slashes rewrite the path before routing; a bad escape is 400', () => {
    const { stream, seen } = setup({ normalizePath: true, mergeSlashes: true });
    stream.decodeHeaders(req({}, '/a/./b/../%7Ec//d%2f?x=/../y'), true);
    expect(seen()[':path']).toBe('/a/~c/d%2F?x=/../y');
    const bad = setup({ normalizePath: true });
    bad.stream.decodeHeaders(req({}, '/a%zz'), true);
    expect(bad.enc.events).toEqual(['headers 400 end']);
    expect(bad.counter('downstream_rq_failed_path_normalization')).toBe(1);
  });

  it('strip_matching_host_port removes the listener port only', () => {
    const { stream, seen } = setup({ stripPortMode: 'matching' });
    stream.decodeHeaders(req({ ':authority': 'example.com:8080' }), true);
    expect(seen()[':authority']).toBe('example.com');
    const other = setup({ stripPortMode: 'matching' });
    other.stream.decodeHeaders(req({ ':authority': 'example.com:9090' }), true);
    expect(other.seen()[':authority']).toBe('example.com:9090');
  });

  it('headers_with_underscores_action DROP_HEADER drops them and counts; REJECT_REQUEST answers 400', () => {
    const drop = setup({ headersWithUnderscoresAction: 'DROP_HEADER' });
    drop.stream.decodeHeaders(req({ x_bad: '1', 'x-good': '2' }), true);
    expect(drop.seen().x_bad).toBeUndefined();
    expect(drop.seen()['x-good']).toBe('2');
    expect(drop.rt.store.counter('http1.dropped_headers_with_underscores').value()).toBe(1);
    const reject = setup({ headersWithUnderscoresAction: 'REJECT_REQUEST' });
    reject.stream.decodeHeaders(req({ x_bad: '1' }), true);
    expect(reject.enc.events).toEqual(['headers 400 end']);
    expect(reject.rt.accessLog.entries[0]).toMatchObject({ details: 'http1.unexpected_underscore' });
  });

  it('answers expect: 100-continue itself and removes the header', () => {
    const { stream, enc, seen } = setup();
    stream.decodeHeaders(req({ expect: '100-Continue' }), false);
    expect(enc.events).toEqual(['1xx 100']);
    expect(seen().expect).toBeUndefined();
  });

  it('caches the route and names it in the stream info', () => {
    const { stream, router, rt } = setup();
    stream.decodeHeaders(req(), true);
    expect(router.decoderCallbacks.route()?.name).toBe('r0');
    expect(router.decoderCallbacks.route()?.name).toBe('r0');
    expect(rt.routes.calls).toBe(1);
    expect(stream.info.routeName).toBe('r0');
    router.decoderCallbacks.clearRouteCache();
    router.decoderCallbacks.route();
    expect(rt.routes.calls).toBe(2);
  });
});

describe('response header handling', () => {
  it('server_header_transformation OVERWRITE, APPEND_IF_ABSENT, PASS_THROUGH', () => {
    const over = setup();
    over.stream.decodeHeaders(req(), true);
    over.respond(200, { server: 'origin' });
    expect(over.enc.headers!.get('server')).toBe('sluice');
    const append = setup({ serverHeaderTransformation: 'APPEND_IF_ABSENT', serverName: 'edge' });
    append.stream.decodeHeaders(req(), true);
    append.respond(200, { server: 'origin' });
    expect(append.enc.headers!.get('server')).toBe('origin');
    const pass = setup({ serverHeaderTransformation: 'PASS_THROUGH' });
    pass.stream.decodeHeaders(req(), true);
    pass.respond(200);
    expect(pass.enc.headers!.has('server')).toBe(false);
  });

  it('keeps the upstream date and adds one when absent', () => {
    const a = setup();
    a.stream.decodeHeaders(req(), true);
    a.respond(200, { date: 'Mon, 01 Jan 2024 00:00:00 GMT' });
    expect(a.enc.headers!.get('date')).toBe('Mon, 01 Jan 2024 00:00:00 GMT');
    const b = setup();
    b.stream.decodeHeaders(req(), true);
    b.respond(200);
    expect(b.enc.headers!.get('date')).toBe('Tue, 02 Jan 2024 03:04:05 GMT');
  });

  it('HTTP/1.1 connection: close on the request closes the connection after the response', () => {
    const { stream, respond, enc, owner } = setup();
    stream.decodeHeaders(req({ connection: 'close' }), true);
    respond(200);
    expect(enc.headers!.get('connection')).toBe('close');
    expect(owner.drainState).toBe('Closing');
    // The request was complete: the close need not linger.
    expect(owner.deferredCloseChecks).toEqual([true]);
  });

  it('a draining server asks HTTP/1 clients to close', () => {
    const { stream, respond, enc, owner, rt, counter } = setup();
    rt.drain.draining = true;
    stream.decodeHeaders(req(), true);
    respond(200);
    expect(owner.drainSequences).toBe(1);
    expect(counter('downstream_cx_drain_close')).toBe(1);
    expect(enc.headers!.get('connection')).toBe('close');
  });

  it('HTTP/1.0 keep-alive is echoed when the response has a length', () => {
    const { stream, respond, enc, owner } = setup();
    owner.proto = 'HTTP/1.0';
    stream.decodeHeaders(req({ connection: 'keep-alive' }), true);
    respond(200, { 'content-length': '0' });
    expect(enc.headers!.get('connection')).toBe('keep-alive');
    expect(owner.drainState).toBe('NotDraining');
  });
});

describe('stream timers', () => {
  it('stream_idle_timeout answers 408 while the request is incomplete (flag SI)', () => {
    const { stream, disp, enc, counter, rt } = setup();
    stream.decodeHeaders(req(), false);
    disp.advance(200_000);
    stream.decodeData(new BufferChain('x'), false);
    disp.advance(299_999);
    expect(enc.events).toEqual([]);
    disp.advance(1);
    expect(enc.events).toEqual(['headers 408', 'data "stream timeout" end']);
    expect(counter('downstream_rq_idle_timeout')).toBe(1);
    expect(rt.accessLog.entries[0]).toMatchObject({ code: 408, flags: 'SI', details: 'stream_idle_timeout' });
  });

  it('stream_idle_timeout answers 504 once the request is complete', () => {
    const { stream, disp, enc } = setup({ streamIdleTimeoutMs: 1000 });
    stream.decodeHeaders(req(), true);
    disp.advance(1000);
    expect(enc.events).toEqual(['headers 504', 'data "stream timeout" end']);
  });

  it("a route's idle_timeout replaces stream_idle_timeout", () => {
    const { stream, disp, enc, rt } = setup({ streamIdleTimeoutMs: 1000 });
    const route: Route = {
      name: 'slow',
      directResponse: undefined,
      routeEntry: {
        clusterName: () => 'c',
        finalizeRequestHeaders: () => undefined,
        finalizeResponseHeaders: () => undefined,
        timeoutMs: 0,
        idleTimeoutMs: 5000,
        retryPolicy: undefined,
        autoHostRewrite: false,
      },
    };
    rt.routes.routeToReturn = route;
    stream.decodeHeaders(req(), true);
    disp.advance(4999);
    expect(enc.events).toEqual([]);
    disp.advance(1);
    expect(enc.events).toEqual(['headers 504', 'data "stream timeout" end']);
  });

  it('request_timeout answers 408 unless the whole request arrived in time', () => {
    const { stream, disp, enc, counter, rt } = setup({ requestTimeoutMs: 500 });
    stream.decodeHeaders(req(), false);
    disp.advance(500);
    expect(enc.events).toEqual(['headers 408', 'data "request timeout" end']);
    expect(counter('downstream_rq_timeout')).toBe(1);
    expect(rt.accessLog.entries[0]).toMatchObject({ details: 'request_overall_timeout' });
    const ok = setup({ requestTimeoutMs: 500 });
    ok.stream.decodeHeaders(req(), false);
    ok.stream.decodeData(new BufferChain('done'), true);
    ok.disp.advance(10_000);
    expect(ok.enc.events).toEqual([]);
  });

  it('request_headers_timeout answers 408 when headers do not arrive in time', () => {
    const { disp, enc, counter, rt } = setup({ requestHeadersTimeoutMs: 100 });
    disp.advance(99);
    expect(enc.events).toEqual([]);
    disp.advance(1);
    expect(counter('downstream_rq_header_timeout')).toBe(1);
    expect(enc.events).toEqual(['headers 408', 'data "request header timeout" end']);
    expect(rt.accessLog.entries[0]).toMatchObject({ details: 'request_header_timeout' });
    const ok = setup({ requestHeadersTimeoutMs: 100 });
    ok.stream.decodeHeaders(req(), true);
    ok.disp.advance(10_000);
    expect(ok.counter('downstream_rq_header_timeout')).toBe(0);
  });

  it('max_stream_duration answers with a timeout even while the stream is active', () => {
    const { stream, disp, enc, counter, rt } = setup({ maxStreamDurationMs: 1000 });
    stream.decodeHeaders(req(), false);
    for (let i = 0; i < 4; i++) {
      disp.advance(250);
      stream.decodeData(new BufferChain('.'), false);
    }
    expect(enc.events).toEqual(['headers 408', 'data "downstream duration timeout" end']);
    expect(counter('downstream_rq_max_duration_reached')).toBe(1);
    expect(rt.accessLog.entries[0]).toMatchObject({ details: 'max_duration_timeout' });
  });

  it('timers stop when the stream ends', () => {
    const { stream, disp, respond, enc } = setup({ requestTimeoutMs: 500, maxStreamDurationMs: 600 });
    stream.decodeHeaders(req(), true);
    respond(200);
    disp.advance(1_000_000);
    expect(enc.events).toEqual(['headers 200 end']);
    expect(disp.timers.every((t) => !t.enabled())).toBe(true);
  });
});

describe('resets', () => {
  it('a peer reset counts downstream_rq_rx_reset and destroys the filters once', () => {
    const { stream, router, counter, owner, rt } = setup();
    stream.decodeHeaders(req(), false);
    stream.onResetStream('RemoteReset', '');
    stream.onResetStream('RemoteReset', '');
    expect(counter('downstream_rq_rx_reset')).toBe(1);
    expect(router.destroyed).toBe(1);
    expect(owner.destroyedStreams).toEqual([stream]);
    expect(rt.accessLog.entries).toEqual([{ code: undefined, flags: '', details: '', bytesReceived: 0, bytesSent: 0 }]);
  });

  it('a connection termination after a remote close logs DC with downstream_remote_disconnect', () => {
    const { stream, owner, rt } = setup();
    stream.decodeHeaders(req(), false);
    owner.remoteClosed = true;
    stream.onConnectionTermination(undefined, 'downstream_remote_disconnect');
    expect(rt.accessLog.entries).toEqual([{ code: undefined, flags: 'DC', details: 'downstream_remote_disconnect', bytesReceived: 0, bytesSent: 0 }]);
  });

  it('a filter reset sends a codec reset and counts downstream_rq_tx_reset', () => {
    const { stream, router, enc, counter, owner } = setup();
    stream.decodeHeaders(req(), false);
    router.decoderCallbacks.resetStream();
    expect(enc.s.resets).toEqual(['LocalReset']);
    expect(enc.s.callbacks).toEqual([]);
    expect(counter('downstream_rq_tx_reset')).toBe(1);
    expect(owner.drainState).toBe('Closing');
  });

  it('a malformed request reported by the codec gets its local reply and DPE', () => {
    const { stream, enc, rt } = setup();
    stream.sendLocalReply(400, 'Bad Request', 'http1.invalid_method');
    expect(enc.events).toEqual(['headers 400', 'data "Bad Request" end']);
    expect(rt.accessLog.entries[0]).toMatchObject({ code: 400, flags: 'DPE', details: 'http1.invalid_method' });
  });
});

describe('CONNECT_ERROR for a tunnel whose upstream connection failed (RFC 9113 §8.5)', () => {
  /** Starts the response, then has the router abort it with `flag` (the HCM resets the stream). */
  function abortAfterResponseStarted(headers: HeaderMapImpl, flag: 'UC' | 'UF' | 'UR' | 'UPE', proto: 'HTTP/1.1' | 'HTTP/2' = 'HTTP/2') {
    const s = setup({ upgrades: new Map([['websocket', true], ['connect', true]]) });
    s.owner.proto = proto;
    s.stream.decodeHeaders(headers, false);
    s.respond(200, {}, false);
    s.router.decoderCallbacks.sendLocalReply(503, '', { details: 'upstream_reset_after_response_started', responseFlag: flag });
    return s;
  }
  const connect = () => HeaderMapImpl.fromObject({ ':method': 'CONNECT', ':authority': 'example.com:443' });
  const extendedConnect = () =>
    HeaderMapImpl.fromObject({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/chat', ':authority': 'example.com', ':scheme': 'http' });

  it.each([
    ['a CONNECT, connection termination (UC)', connect, 'UC', 'ConnectError'],
    ['a CONNECT, connection failure (UF)', connect, 'UF', 'ConnectError'],
    ['an extended CONNECT (RFC 8441), UC', extendedConnect, 'UC', 'ConnectError'],
    ['a CONNECT, upstream stream reset (UR)', connect, 'UR', 'LocalReset'],
    ['a CONNECT, upstream protocol error (UPE)', connect, 'UPE', 'ProtocolError'],
    ['a GET, UC', () => req(), 'UC', 'LocalReset'],
  ] as const)('%s -> %s', (_label, headers, flag, reason) => {
    const { enc, counter } = abortAfterResponseStarted(headers(), flag);
    expect(enc.s.resets).toEqual([reason]);
    expect(counter('downstream_rq_tx_reset')).toBe(1);
  });

  it('an HTTP/1.1 CONNECT is reset with ConnectError too (the codec closes the connection)', () => {
    const { enc, owner } = abortAfterResponseStarted(connect(), 'UC', 'HTTP/1.1');
    expect(enc.s.resets).toEqual(['ConnectError']);
    expect(owner.drainState).toBe('Closing');
  });

  it('a peer CONNECT_ERROR counts downstream_rq_rx_reset', () => {
    const { stream, counter } = setup();
    stream.decodeHeaders(req(), false);
    stream.onResetStream('ConnectError', 'http2.remote_reset');
    expect(counter('downstream_rq_rx_reset')).toBe(1);
  });
});

describe('stream info for the access log', () => {
  it('records the connection id, the SNI and the request / response timestamps', () => {
    const log: string[] = [];
    const router = new RecordingFilter('R', log);
    router.decodeHeadersStatus = 'StopIteration';
    router.consumeData = true;
    const rt = makeRuntime({}, (fm) => fm.addStreamDecoderFilter(router));
    const disp = new FakeDispatcher();
    const conn = new FakeConnection(disp);
    conn.requestedServerName = () => 'api.example.com';
    const stream = new ActiveStream(new FakeOwner(rt, conn), new FakeEncoder());
    const info = stream.info;
    expect(info.connectionId).toBe(7);
    expect(info.requestedServerName).toBe('api.example.com');
    expect(info.startMonotonic).toBe(1000);
    stream.decodeHeaders(req(), false);
    disp.advance(5);
    expect(info.lastDownstreamRxMonotonic).toBeUndefined();
    stream.decodeData(new BufferChain('body'), true);
    expect(info.lastDownstreamRxMonotonic).toBe(1005);
    disp.advance(10);
    router.decoderCallbacks.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200' }), false, 'via_upstream');
    disp.advance(3);
    expect(info.lastDownstreamTxMonotonic).toBeUndefined();
    router.decoderCallbacks.encodeData(new BufferChain('done'), true);
    expect(info.lastDownstreamTxMonotonic).toBe(1018);
    expect(info.endMonotonic).toBe(1018);
  });

  it('leaves the last-byte-sent time unset when the stream is reset', () => {
    const { stream, disp } = setup();
    stream.decodeHeaders(req(), true);
    expect(stream.info.lastDownstreamRxMonotonic).toBe(1000);
    disp.advance(7);
    stream.onResetStream('RemoteReset', '');
    expect(stream.info.lastDownstreamTxMonotonic).toBeUndefined();
    expect(stream.info.endMonotonic).toBe(1007);
  });
});
