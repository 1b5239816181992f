import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import { headersObject } from '../../../../support/headers-object.js';
import { POST, setup } from './harness.js';

describe('router: answers without an upstream', () => {
  it('no route: 404 route_not_found (NR)', () => {
    const t = setup({ routes: [{ match: { path: '/only' }, route: { cluster: 'backend' } }] });
    expect(t.send().status).toBe('StopIteration');
    expect(t.cb.localReplies).toEqual([{ code: 404, body: '', options: { details: 'route_not_found', responseFlag: 'NR' } }]);
    expect([...t.cb.info.responseFlags]).toEqual(['NR']);
    expect(t.cluster.streams).toHaveLength(0);
  });

  it('direct response: status and body, details direct_response', () => {
    const t = setup({ routes: [{ name: 'dr', match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'hi' } } }] });
    t.send();
    expect(t.cb.localReplies).toEqual([{ code: 200, body: 'hi', options: { details: 'direct_response' } }]);
    expect(t.cb.info.routeName).toBe('dr');
  });

  it('redirect: the Location goes with the local reply', () => {
    const t = setup({ routes: [{ match: { prefix: '/' }, redirect: { https_redirect: true, response_code: 'PERMANENT_REDIRECT' } }] });
    t.send({ ':path': '/x?y=1' });
    expect(t.cb.localReplies).toEqual([{ code: 308, body: '', options: { details: 'direct_response', headers: { location: 'https://example.com/x?y=1' } } }]);
  });

  it('unknown cluster: 503 cluster_not_found (NC)', () => {
    const t = setup({ routes: [{ match: { prefix: '/' }, route: { cluster: 'nope' } }] });
    t.send();
    expect(t.cb.localReplies).toEqual([{ code: 503, body: '', options: { details: 'cluster_not_found', responseFlag: 'NC' } }]);
  });

  it('no healthy host: 503 no healthy upstream (UH), charged to the cluster', () => {
    const t = setup();
    t.cluster.healthy = false;
    t.send();
    expect(t.cb.localReplies).toEqual([{ code: 503, body: 'no healthy upstream', options: { details: 'no_healthy_upstream', responseFlag: 'UH' } }]);
    expect([t.cluster.counter('upstream_rq_503'), t.cluster.counter('upstream_rq_5xx'), t.cluster.counter('upstream_rq_completed')]).toEqual([1, 1, 1]);
  });

  it('a later body is dropped after a local reply', () => {
    const t = setup({ routes: [] });
    t.send(POST, false);
    expect(t.data('abc', true)).toBe('StopIterationNoBuffer');
    expect(t.cb.localReplies).toHaveLength(1);
  });
});

describe('router: forwarding', () => {
  it('a GET goes upstream and the response comes back with the route mutations and service time', () => {
    const t = setup({
      routes: [{ name: 'r', match: { prefix: '/' }, route: { cluster: 'backend' }, response_headers_to_add: [{ header: { key: 'x-route', value: 'yes' } }] }],
    });
    t.send();
    expect(t.cluster.requested).toEqual([{ protocol: 'http1', ctx: { downstreamProtocol: 'HTTP/1.1' } }]);
    const p = t.cluster.last();
    const enc = p.ready();
    expect(enc.headers).toEqual({
      ':method': 'GET',
      ':scheme': 'http',
      ':authority': 'example.com',
      ':path': '/',
      'x-envoy-expected-rq-timeout-ms': '15000',
    });
    expect(enc.headersEndStream).toBe(true);
    t.d.advance(7);
    p.respond(200, false, { 'content-length': '2' });
    p.data('ok', true);
    expect(t.cb.encoded.map((e) => ({ ...e, headers: e.headers === undefined ? undefined : headersObject(e.headers) }))).toEqual([
      {
        kind: 'headers',
        headers: { ':status': '200', 'content-length': '2', 'x-envoy-upstream-service-time': '7', 'x-route': 'yes' },
        endStream: false,
        details: 'via_upstream',
      },
      { kind: 'data', headers: undefined, data: 'ok', endStream: true },
    ]);
    expect(t.cb.localReplies).toEqual([]);
    expect([t.cluster.counter('upstream_rq_200'), t.cluster.counter('upstream_rq_2xx'), t.cluster.counter('upstream_rq_completed')]).toEqual([1, 1, 1]);
    expect(t.cluster.store.histogram('cluster.backend.upstream_rq_time').sampleSum()).toBe(7);
    expect(t.cb.info.routeName).toBe('r');
    expect(t.cb.info.upstreamCluster).toBe('backend');
    expect(t.cb.info.upstreamHost).toEqual({ address: '127.0.0.1', port: 8080 });
    expect(t.d.pendingDelays()).toEqual([]);
    expect(enc.s.resets).toEqual([]);
    expect(enc.s.callbacks.size).toBe(0);
  });

  it('dynamic_stats: false charges upstream_rq_completed only', () => {
    const t = setup({ router: { dynamicStats: false } });
    t.send();
    t.cluster.last().ready();
    t.cluster.last().respond(204, true);
    expect([t.cluster.counter('upstream_rq_204'), t.cluster.counter('upstream_rq_2xx'), t.cluster.counter('upstream_rq_completed')]).toEqual([0, 0, 1]);
  });

  it('suppress_envoy_headers: no x-envoy-* headers either way', () => {
    const t = setup({ router: { suppressEnvoyHeaders: true }, action: { prefix_rewrite: '/v2' } });
    t.send({ ':path': '/x' });
    const p = t.cluster.last();
    const enc = p.ready();
    expect(enc.headers).toEqual({ ':method': 'GET', ':scheme': 'http', ':authority': 'example.com', ':path': '/v2x' });
    p.respond(200, true);
    expect(headersObject(t.cb.encoded[0]!.headers)).toEqual({ ':status': '200' });
  });

  it('prefix rewrite keeps the original path in x-envoy-original-path', () => {
    const t = setup({ action: { prefix_rewrite: '/v2' } });
    t.send({ ':path': '/x?q' });
    const enc = t.cluster.last().ready();
    expect(enc.headers![':path']).toBe('/v2x?q');
    expect(enc.headers!['x-envoy-original-path']).toBe('/x?q');
  });

  it('auto_host_rewrite uses the host name of the chosen host', () => {
    const t = setup({ action: { auto_host_rewrite: true }, hostname: 'backend.internal' });
    t.send();
    expect(t.cluster.last().ready().headers![':authority']).toBe('backend.internal');
    const t2 = setup({ action: { auto_host_rewrite: true } });
    t2.send();
    expect(t2.cluster.last().ready().headers![':authority']).toBe('example.com');
  });

  it('a bad :scheme is replaced from x-forwarded-proto, else from the connection', () => {
    const t = setup();
    t.send({ ':scheme': 'ftp', 'x-forwarded-proto': 'https' });
    expect(t.cluster.last().ready().headers![':scheme']).toBe('https');
    const t2 = setup();
    t2.cb.ssl = true;
    t2.send({ ':scheme': 'x' });
    expect(t2.cluster.last().ready().headers![':scheme']).toBe('https');
  });

  it('upstream protocol: the cluster setting, or the downstream one with use_downstream_protocol', () => {
    const t = setup({ cluster: { upstreamProtocol: 'http2' } });
    t.send();
    expect(t.cluster.requested[0]!.protocol).toBe('http2');
    const t2 = setup({ cluster: { useDownstreamProtocol: true } });
    t2.cb.info.protocol = 'HTTP/2';
    t2.send();
    expect(t2.cluster.requested[0]).toEqual({ protocol: 'http2', ctx: { downstreamProtocol: 'HTTP/2' } });
  });

  it('weighted clusters: the route picks with the HCM random value', () => {
    const t = setup({
      routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'other', weight: 1 }, { name: 'backend', weight: 1 }] } } }],
    });
    t.cb.randomValue = 1;
    t.send();
    expect(t.cluster.streams).toHaveLength(1);
    expect(t.cb.info.upstreamCluster).toBe('backend');
  });

  it('a body that arrives before the stream is buffered under a watermark, then flushed', () => {
    const t = setup();
    t.cb.bufferLimit = 4;
    t.send(POST, false);
    expect(t.data('abc', false)).toBe('StopIterationNoBuffer');
    expect(t.cb.readDisabled()).toBe(0);
    t.data('de', false);
    expect(t.cb.aboveCalls).toBe(1);
    const enc = t.cluster.last().ready();
    expect(enc.headersEndStream).toBe(false);
    expect(enc.data).toEqual([{ data: 'abcde', endStream: false }]);
    expect(t.cb.belowCalls).toBe(1);
    t.data('f', false);
    expect(t.router.decodeTrailers(HeaderMapImpl.fromObject({ 'x-t': '1' }))).toBe('StopIteration');
    expect(enc.data).toEqual([
      { data: 'abcde', endStream: false },
      { data: 'f', endStream: false },
    ]);
    expect(headersObject(enc.trailers)).toEqual({ 'x-t': '1' });
  });

  it('trailers that arrive before the stream follow the buffered body', () => {
    const t = setup();
    t.send(POST, false);
    t.data('abc', false);
    t.router.decodeTrailers(HeaderMapImpl.fromObject({ 'x-t': '1' }));
    const enc = t.cluster.last().ready();
    expect(enc.data).toEqual([{ data: 'abc', endStream: false }]);
    expect(headersObject(enc.trailers)).toEqual({ 'x-t': '1' });
  });

  it('a synchronous pool: the request goes out from decodeHeaders', () => {
    const t = setup();
    t.cluster.pool.immediate = (p) => p.ready();
    t.send(POST, false);
    t.data('abc', true);
    const enc = t.cluster.last().encoder!;
    expect(enc.headersEndStream).toBe(false);
    expect(enc.data).toEqual([{ data: 'abc', endStream: true }]);
  });

  it('1xx headers are forwarded and end any retrying', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx' } } });
    t.send();
    const p = t.cluster.last();
    p.ready();
    p.decoder.decode1xxHeaders(HeaderMapImpl.fromObject({ ':status': '100' }));
    p.respond(503, true);
    expect(t.cb.encoded.map((e) => [e.kind, e.headers?.get(':status')])).toEqual([
      ['1xx', '100'],
      ['headers', '503'],
    ]);
    expect(t.cluster.streams).toHaveLength(1);
  });

  it('informational headers other than 101 through decodeHeaders are skipped', () => {
    const t = setup();
    t.send();
    const p = t.cluster.last();
    p.ready();
    p.respond(103, false);
    p.respond(200, true);
    expect(t.cb.encoded.map((e) => e.headers?.get(':status'))).toEqual(['200']);
  });

  it('the codec refusing the headers: 503 with filter_removed_required_request_headers (DPE)', () => {
    const t = setup();
    t.send();
    const enc = t.cluster.last().ready('HTTP/1.1', { ok: false, code: 'CodecClientError', message: 'missing required header: :path' });
    expect(t.cb.localReplies).toEqual([
      {
        code: 503,
        body: 'missing required header: :path',
        options: { details: 'filter_removed_required_request_headers{missing_required_header:_:path}', responseFlag: 'DPE' },
      },
    ]);
    expect(enc.s.resets).toEqual(['LocalReset']);
    expect(t.d.pendingDelays()).toEqual([]);
  });

  it('a response that completes before the request resets the upstream and drops the rest', () => {
    const t = setup();
    t.send(POST, false);
    const p = t.cluster.last();
    const enc = p.ready();
    t.data('abc', false);
    p.respond(413, true);
    expect(enc.s.resets).toEqual(['LocalReset']);
    expect(t.cb.encoded.map((e) => [e.headers?.get(':status'), e.endStream])).toEqual([['413', true]]);
    t.data('def', true);
    expect(enc.data).toEqual([{ data: 'abc', endStream: false }]);
    expect(t.d.pendingDelays()).toEqual([]);
  });
});

describe('router: flow control', () => {
  it("the upstream stream's watermarks read-disable the downstream; the attempt's end undoes it", () => {
    const t = setup();
    t.send(POST, false);
    const enc = t.cluster.last().ready();
    enc.s.above();
    expect(t.cb.readDisabled()).toBe(1);
    enc.s.below();
    expect(t.cb.readDisabled()).toBe(0);
    enc.s.above();
    t.router.onDestroy();
    expect(t.cb.readDisabled()).toBe(0);
    expect(enc.s.resets).toEqual(['LocalReset']);
  });

  it('a full downstream before the response: the upstream read-disable waits for the response', () => {
    const t = setup();
    t.send();
    t.cb.setDownstreamAbove(true);
    const p = t.cluster.last();
    const enc = p.ready();
    expect(enc.s.readDisables).toEqual([]);
    p.respond(200, false);
    expect(enc.s.readDisables).toEqual([true]);
    t.cb.setDownstreamAbove(false);
    expect(enc.s.readDisables).toEqual([true, false]);
  });

  it('a deferred read-disable cancelled before the response never reaches the stream', () => {
    const t = setup();
    t.send();
    const p = t.cluster.last();
    const enc = p.ready();
    t.cb.setDownstreamAbove(true);
    t.cb.setDownstreamAbove(false);
    p.respond(200, false);
    expect(enc.s.readDisables).toEqual([]);
  });

  it('a full downstream during the response pauses the upstream; completion undoes it and unsubscribes', () => {
    const t = setup();
    t.send();
    const p = t.cluster.last();
    const enc = p.ready();
    p.respond(200, false);
    t.cb.setDownstreamAbove(true);
    expect(enc.s.readDisables).toEqual([true]);
    p.data('x', true);
    expect(enc.s.readDisables).toEqual([true, false]);
    expect(t.cb.watermarkSubscribers.size).toBe(0);
  });
});

describe('router: destruction', () => {
  it('cancels a pending pool request and every timer', () => {
    const t = setup();
    t.send();
    expect(t.d.pendingDelays()).toEqual([15_000]);
    t.router.onDestroy();
    expect(t.cluster.last().cancelled).toBe('Default');
    expect(t.d.pendingDelays()).toEqual([]);
  });

  it('during a backoff: no retry happens and the retry budget is returned', () => {
    const t = setup({ action: { retry_policy: { retry_on: 'reset' } } });
    t.send();
    t.cluster.last().ready().s.remoteReset('RemoteReset');
    expect(t.cluster.info().resourceManager().retries.count()).toBe(1);
    t.router.onDestroy();
    t.d.advance(1000);
    expect(t.cluster.streams).toHaveLength(1);
    expect(t.cluster.info().resourceManager().retries.count()).toBe(0);
  });

  it('after completion nothing is reset', () => {
    const t = setup();
    t.send();
    const p = t.cluster.last();
    const enc = p.ready();
    p.respond(200, true);
    t.router.onDestroy();
    expect(enc.s.resets).toEqual([]);
  });

  it('a stream the pool hands over after the attempt was abandoned is reset at once', () => {
    const t = setup();
    t.send();
    const p = t.cluster.last();
    t.router.onDestroy();
    const enc = p.ready();
    expect(enc.s.resets).toEqual(['LocalReset']);
    expect(enc.headers).toBeUndefined();
    expect(t.cb.watermarkSubscribers.size).toBe(0);
  });

  it('late callbacks from an abandoned attempt are ignored', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx' } } });
    t.send();
    const p1 = t.cluster.last();
    p1.ready();
    p1.respond(503, false);
    p1.data('late', true);
    expect(t.cb.encoded).toEqual([]);
  });
});

describe('router: first upstream byte time (%RESPONSE_DURATION%)', () => {
  it('is when the response headers arrived, not the body', () => {
    const t = setup();
    t.send();
    const p = t.cluster.last();
    p.ready();
    t.d.advance(12);
    expect(t.cb.info.firstUpstreamRxMonotonic).toBeUndefined();
    p.respond(200, false);
    t.d.advance(5);
    p.data('ok', true);
    expect(t.cb.info.firstUpstreamRxMonotonic).toBe(1012);
  });

  it('a 1xx is the first byte', () => {
    const t = setup();
    t.send();
    const p = t.cluster.last();
    p.ready();
    t.d.advance(3);
    p.decoder.decode1xxHeaders(HeaderMapImpl.fromObject({ ':status': '100' }));
    t.d.advance(4);
    p.respond(200, true);
    expect(t.cb.info.firstUpstreamRxMonotonic).toBe(1003);
  });

  it('is of the last attempt after a retry', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx' } }, random: [30] });
    t.send();
    const p1 = t.cluster.last();
    p1.ready();
    t.d.advance(2);
    p1.respond(503, true);
    expect(t.cb.info.firstUpstreamRxMonotonic).toBe(1002);
    t.d.advance(5);
    const p2 = t.cluster.last();
    p2.ready();
    t.d.advance(8);
    p2.respond(200, true);
    expect(t.cb.info.firstUpstreamRxMonotonic).toBe(1015);
  });
});
