import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import type { HeaderMap, StreamResetReason } from '../../../../../src/api/http-codec.js';
import type { PoolFailureReason } from '../../../../../src/api/upstream.js';
import { setup } from './harness.js';

function obj(h: HeaderMap | undefined): Record<string, string> {
  const o: Record<string, string> = {};
  h?.forEach((n, v) => {
    o[n] = o[n] === undefined ? v : `${o[n]},${v}`;
  });
  return o;
}

const POST = { ':method': 'POST' };

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
    expect(t.cb.encoded.map((e) => ({ ...e, headers: e.headers === undefined ? undefined : obj(e.headers) }))).toEqual([
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
    expect(obj(t.cb.encoded[0]!.headers)).toEqual({ ':status': '200' });
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
    expect(obj(enc.trailers)).toEqual({ 'x-t': '1' });
  });

  it('trailers that arrive before the stream follow the buffered body', () => {
    const t = setup();
    t.send(POST, false);
    t.data('abc', false);
    t.router.decodeTrailers(HeaderMapImpl.fromObject({ 'x-t': '1' }));
    const enc = t.cluster.last().ready();
    expect(enc.data).toEqual([{ data: 'abc', endStream: false }]);
    expect(obj(enc.trailers)).toEqual({ 'x-t': '1' });
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

describe('router: timeouts', () => {
  it('the route timeout runs from the end of the request: 504 UT upstream_response_timeout', () => {
    const t = setup();
    t.send(POST, false);
    const enc = t.cluster.last().ready();
    t.d.advance(20_000);
    expect(t.cb.localReplies).toEqual([]);
    t.data('x', true);
    expect(t.d.pendingDelays()).toEqual([15_000]);
    t.d.advance(14_999);
    expect(t.cb.localReplies).toEqual([]);
    t.d.advance(1);
    expect(t.cb.localReplies).toEqual([{ code: 504, body: 'upstream request timeout', options: { details: 'upstream_response_timeout', responseFlag: 'UT' } }]);
    expect(enc.s.resets).toEqual(['LocalReset']);
    expect([t.cluster.counter('upstream_rq_timeout'), t.cluster.counter('upstream_rq_504')]).toEqual([1, 1]);
  });

  it('x-envoy-upstream-rq-timeout-ms overrides the route timeout and is not forwarded', () => {
    const t = setup();
    t.send({ 'x-envoy-upstream-rq-timeout-ms': '50' });
    const enc = t.cluster.last().ready();
    expect(enc.headers!['x-envoy-upstream-rq-timeout-ms']).toBeUndefined();
    expect(enc.headers!['x-envoy-expected-rq-timeout-ms']).toBe('50');
    t.d.advance(50);
    expect(t.cb.localReplies.map((r) => r.code)).toEqual([504]);
  });

  it('an unparsable timeout header is removed and ignored', () => {
    const t = setup();
    t.send({ 'x-envoy-upstream-rq-timeout-ms': '5s' });
    const enc = t.cluster.last().ready();
    expect(enc.headers!['x-envoy-upstream-rq-timeout-ms']).toBeUndefined();
    expect(enc.headers!['x-envoy-expected-rq-timeout-ms']).toBe('15000');
  });

  it('timeout 0s disables the route timeout', () => {
    const t = setup({ action: { timeout: '0s' } });
    t.send();
    const enc = t.cluster.last().ready();
    expect(enc.headers!['x-envoy-expected-rq-timeout-ms']).toBeUndefined();
    expect(t.d.pendingDelays()).toEqual([]);
  });

  it('a timeout after the response started resets the downstream stream', () => {
    const t = setup();
    t.send();
    const p = t.cluster.last();
    const enc = p.ready();
    p.respond(200, false);
    t.d.advance(15_000);
    expect(t.cb.localReplies).toEqual([]);
    expect(t.cb.resets).toEqual([{ reason: 'LocalReset', details: 'upstream_response_timeout' }]);
    expect(enc.s.resets).toEqual(['LocalReset']);
    // Only what was never answered is charged.
    expect(t.cluster.counter('upstream_rq_504')).toBe(0);
  });

  it('x-envoy-upstream-rq-timeout-alt-response: a timeout answers 204', () => {
    const t = setup();
    t.send({ 'x-envoy-upstream-rq-timeout-alt-response': '' });
    const enc = t.cluster.last().ready();
    expect(enc.headers!['x-envoy-upstream-rq-timeout-alt-response']).toBeUndefined();
    t.d.advance(15_000);
    expect(t.cb.localReplies).toEqual([{ code: 204, body: '', options: { details: 'upstream_response_timeout', responseFlag: 'UT' } }]);
  });

  it('per-try timeout without a retry: 504 upstream_per_try_timeout', () => {
    const t = setup({ action: { retry_policy: { retry_on: 'connect-failure', per_try_timeout: '0.1s' } } });
    t.send();
    const enc = t.cluster.last().ready();
    expect(enc.headers!['x-envoy-expected-rq-timeout-ms']).toBe('100');
    expect(t.d.pendingDelays()).toEqual([100, 15_000]);
    t.d.advance(100);
    expect(t.cb.localReplies).toEqual([{ code: 504, body: 'upstream request timeout', options: { details: 'upstream_per_try_timeout', responseFlag: 'UT' } }]);
    expect(enc.s.resets).toEqual(['LocalReset']);
    expect(t.cluster.counter('upstream_rq_per_try_timeout')).toBe(1);
    expect(t.d.pendingDelays()).toEqual([]);
  });

  it('the per-try timer starts once the stream exists and the request is complete', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx', per_try_timeout: '0.1s' } } });
    t.send(POST, false);
    t.cluster.last().ready();
    t.d.advance(500);
    expect(t.d.pendingDelays()).toEqual([]);
    t.data('x', true);
    expect(t.d.pendingDelays()).toEqual([100, 15_000]);

    const t2 = setup({ action: { retry_policy: { retry_on: '5xx', per_try_timeout: '0.1s' } } });
    t2.send();
    t2.d.advance(500);
    expect(t2.d.pendingDelays()).toEqual([14_500]);
    t2.cluster.last().ready();
    expect(t2.d.pendingDelays()).toEqual([100, 14_500]);
  });

  it('a per-try timeout is retried like a reset', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx', per_try_timeout: '0.1s' } }, random: [10] });
    t.send();
    const first = t.cluster.last().ready();
    t.d.advance(100);
    expect(first.s.resets).toEqual(['LocalReset']);
    expect(t.d.pendingDelays()).toEqual([10, 14_900]);
    t.d.advance(10);
    expect(t.cluster.streams).toHaveLength(2);
    const p2 = t.cluster.last();
    const second = p2.ready();
    expect(second.headers!['x-envoy-expected-rq-timeout-ms']).toBe('100');
    expect(second.headers!['x-envoy-expected-rq-timeout-ms']).toBe('100');
    p2.respond(200, true);
    expect(t.cb.encoded.map((e) => e.headers?.get(':status'))).toEqual(['200']);
    expect(t.cb.localReplies).toEqual([]);
    expect([t.cluster.counter('upstream_rq_per_try_timeout'), t.cluster.counter('upstream_rq_retry'), t.cluster.counter('upstream_rq_retry_success')]).toEqual([1, 1, 1]);
  });

  it('the per-try timeout stops counting once the response started', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx', per_try_timeout: '0.1s' } } });
    t.send();
    const p = t.cluster.last();
    p.ready();
    p.respond(200, false);
    t.d.advance(100);
    expect(t.cb.resets).toEqual([]);
    t.d.advance(14_900);
    expect(t.cb.resets).toEqual([{ reason: 'LocalReset', details: 'upstream_response_timeout' }]);
  });

  it('a per-try timeout not below the route timeout is ignored', () => {
    const t = setup({ action: { timeout: '1s', retry_policy: { retry_on: '5xx', per_try_timeout: '2s' } } });
    t.send();
    expect(t.cluster.last().ready().headers!['x-envoy-expected-rq-timeout-ms']).toBe('1000');
    expect(t.d.pendingDelays()).toEqual([1000]);
  });

  it('x-envoy-upstream-rq-per-try-timeout-ms sets the per-try timeout', () => {
    const t = setup();
    t.send({ 'x-envoy-upstream-rq-per-try-timeout-ms': '30' });
    const enc = t.cluster.last().ready();
    expect(enc.headers!['x-envoy-upstream-rq-per-try-timeout-ms']).toBeUndefined();
    expect(enc.headers!['x-envoy-expected-rq-timeout-ms']).toBe('30');
    expect(t.d.pendingDelays()).toEqual([30, 15_000]);
  });
});

describe('router: retries', () => {
  it('retries 503s with jittered backoff until num_retries, then forwards the last one with URX', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx', num_retries: 2 } }, random: [30] });
    t.send();
    const p1 = t.cluster.last();
    const e1 = p1.ready();
    p1.respond(503, true);
    // Both directions were complete: the stream goes back to the pool, no reset.
    expect(e1.s.resets).toEqual([]);
    // 30 % 25 = 5 ms.
    expect(t.d.pendingDelays()).toEqual([5, 15_000]);
    t.d.advance(4);
    expect(t.cluster.streams).toHaveLength(1);
    t.d.advance(1);
    expect(t.cluster.streams).toHaveLength(2);
    const p2 = t.cluster.last();
    const e2 = p2.ready();
    expect(e2.headers!['x-envoy-expected-rq-timeout-ms']).toBe('14995');
    p2.respond(503, false);
    expect(e2.s.resets).toEqual(['LocalReset']);
    // 30 % 50 = 30 ms.
    expect(t.d.pendingDelays()).toEqual([30, 14_995]);
    t.d.advance(30);
    const p3 = t.cluster.last();
    expect(p3.ready().headers!['x-envoy-expected-rq-timeout-ms']).toBe('14965');
    p3.respond(503, true, { 'x-last': 'yes' });
    expect(t.cb.encoded.map((e) => [e.headers?.get(':status'), e.headers?.get('x-last')])).toEqual([['503', 'yes']]);
    expect([...t.cb.info.responseFlags]).toEqual(['URX']);
    expect([
      t.cluster.counter('upstream_rq_retry'),
      t.cluster.counter('upstream_rq_retry_limit_exceeded'),
      t.cluster.counter('upstream_rq_retry_success'),
      t.cluster.counter('upstream_rq_503'),
      t.cluster.counter('upstream_rq_completed'),
    ]).toEqual([2, 1, 0, 1, 1]);
    expect(t.cluster.info().resourceManager().retries.count()).toBe(0);
  });

  it('replays the buffered body and trailers on the retry', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx' } } });
    t.send(POST, false);
    const p1 = t.cluster.last();
    const e1 = p1.ready();
    t.data('abc', false);
    t.data('def', false);
    t.router.decodeTrailers(HeaderMapImpl.fromObject({ 'x-t': '1' }));
    expect(e1.body()).toBe('abcdef');
    p1.respond(503, true);
    t.d.advance(0);
    const e2 = t.cluster.last().ready();
    expect(e2.headersEndStream).toBe(false);
    expect(e2.data).toEqual([{ data: 'abcdef', endStream: false }]);
    expect(obj(e2.trailers)).toEqual({ 'x-t': '1' });
  });

  it('a body ending the request is replayed with end of stream', () => {
    const t = setup({ action: { retry_policy: { retry_on: 'reset' } } });
    t.send(POST, false);
    const e1 = t.cluster.last().ready();
    t.data('abc', true);
    e1.s.remoteReset('ConnectionTermination');
    t.d.advance(0);
    const e2 = t.cluster.last().ready();
    expect([e2.headersEndStream, e2.data]).toEqual([false, [{ data: 'abc', endStream: true }]]);
  });

  it('a headers-only request is retried headers-only', () => {
    const t = setup({ action: { retry_policy: { retry_on: 'reset' } } });
    t.send();
    t.cluster.last().ready().s.remoteReset('RemoteReset');
    t.d.advance(0);
    const e2 = t.cluster.last().ready();
    expect([e2.headersEndStream, e2.data]).toEqual([true, []]);
  });

  it('a retry before the request is complete: the buffered part, then the rest as it comes', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx' } } });
    t.send(POST, false);
    const p1 = t.cluster.last();
    const e1 = p1.ready();
    t.data('abc', false);
    p1.respond(503, true);
    expect(e1.s.resets).toEqual(['LocalReset']);
    // During the backoff the body is only kept.
    t.data('de', false);
    t.d.advance(0);
    const e2 = t.cluster.last().ready();
    expect(e2.data).toEqual([{ data: 'abcde', endStream: false }]);
    t.data('f', true);
    expect(e2.data).toEqual([
      { data: 'abcde', endStream: false },
      { data: 'f', endStream: true },
    ]);
    expect(e1.body()).toBe('abc');
  });

  it('a body above the buffer limit gives up retries (retry_or_shadow_abandoned)', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx' } } });
    t.cb.bufferLimit = 4;
    t.send(POST, false);
    const p1 = t.cluster.last();
    const e1 = p1.ready();
    t.data('abc', false);
    t.data('de', true);
    expect(t.cluster.counter('retry_or_shadow_abandoned')).toBe(1);
    expect(e1.data).toEqual([
      { data: 'abc', endStream: false },
      { data: 'de', endStream: true },
    ]);
    p1.respond(503, true);
    expect(t.cluster.streams).toHaveLength(1);
    expect(t.cb.encoded.map((e) => e.headers?.get(':status'))).toEqual(['503']);
    expect(t.cb.info.responseFlags.size).toBe(0);
  });

  it('the body outgrowing the limit during a backoff: 507', () => {
    const t = setup({ action: { retry_policy: { retry_on: 'reset' } } });
    t.cb.bufferLimit = 4;
    t.send(POST, false);
    const e1 = t.cluster.last().ready();
    t.data('abc', false);
    e1.s.remoteReset('RemoteReset');
    expect(t.d.pendingDelays()).toEqual([0]);
    t.data('de', false);
    expect(t.cb.localReplies).toEqual([
      { code: 507, body: 'exceeded request buffer limit while retrying upstream', options: { details: 'request_payload_exceeded_retry_buffer_limit' } },
    ]);
    expect(t.d.pendingDelays()).toEqual([]);
    t.d.advance(1000);
    expect(t.cluster.streams).toHaveLength(1);
    expect(t.cluster.info().resourceManager().retries.count()).toBe(0);
  });

  it('connect failures: retried, and when the retry fails too the body says so (UF, URX)', () => {
    const t = setup({ action: { retry_policy: { retry_on: 'connect-failure' } } });
    t.send();
    t.cluster.last().fail('RemoteConnectionFailure', 'delayed connect error: 111');
    t.d.advance(0);
    t.cluster.last().fail('RemoteConnectionFailure', 'delayed connect error: 111');
    expect(t.cb.localReplies).toEqual([
      {
        code: 503,
        body: 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111',
        options: {
          details: 'upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}',
          responseFlag: 'UF',
        },
      },
    ]);
    expect([...t.cb.info.responseFlags].sort()).toEqual(['UF', 'URX']);
    expect([t.cluster.counter('upstream_rq_retry'), t.cluster.counter('upstream_rq_retry_limit_exceeded')]).toEqual([1, 1]);
  });

  it('a pool overflow is never retried: 503 UO with x-envoy-overloaded', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx,connect-failure' } } });
    t.send();
    t.cluster.last().fail('Overflow');
    expect(t.cluster.streams).toHaveLength(1);
    expect(t.cb.localReplies).toEqual([
      {
        code: 503,
        body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
        options: { details: 'upstream_reset_before_response_started{overflow}', responseFlag: 'UO', headers: { 'x-envoy-overloaded': 'true' } },
      },
    ]);
  });

  it('the retries circuit breaker open: the response goes through with UO', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx' } }, cluster: { circuitBreakers: { default: { maxRetries: 0 } } } });
    t.send();
    const p = t.cluster.last();
    p.ready();
    p.respond(500, true);
    expect(t.cb.encoded.map((e) => e.headers?.get(':status'))).toEqual(['500']);
    expect([...t.cb.info.responseFlags]).toEqual(['UO']);
    expect(t.cluster.counter('upstream_rq_retry_overflow')).toBe(1);
  });

  it('x-envoy-retry-on enables retries without a route policy and is not forwarded', () => {
    const t = setup();
    t.send({ 'x-envoy-retry-on': 'gateway-error', 'x-envoy-max-retries': '1' });
    const p1 = t.cluster.last();
    const e1 = p1.ready();
    expect(e1.headers!['x-envoy-retry-on']).toBeUndefined();
    expect(e1.headers!['x-envoy-max-retries']).toBeUndefined();
    p1.respond(502, true);
    t.d.advance(0);
    expect(t.cluster.streams).toHaveLength(2);
  });

  it('x-envoy-max-retries: 0 forbids retries (URX)', () => {
    const t = setup({ action: { retry_policy: { retry_on: '5xx', num_retries: 3 } } });
    t.send({ 'x-envoy-max-retries': '0' });
    const p = t.cluster.last();
    p.ready();
    p.respond(503, true);
    expect(t.cluster.streams).toHaveLength(1);
    expect([...t.cb.info.responseFlags]).toEqual(['URX']);
  });

  it('the cluster gone during the backoff: 503 no healthy upstream', () => {
    const t = setup({ action: { retry_policy: { retry_on: 'reset' } } });
    t.send();
    t.cluster.last().ready().s.remoteReset('RemoteReset');
    t.cm.clusters.delete('backend');
    t.d.advance(0);
    expect(t.cb.localReplies).toEqual([{ code: 503, body: 'no healthy upstream', options: { details: 'no_healthy_upstream', responseFlag: 'UH' } }]);
    expect(t.d.pendingDelays()).toEqual([]);
  });

  it('a reset after the response started is not retried: the downstream is reset (UR)', () => {
    const t = setup({ action: { retry_policy: { retry_on: 'reset' } } });
    t.send();
    const p = t.cluster.last();
    const enc = p.ready();
    p.respond(200, false);
    p.data('part', false);
    enc.s.remoteReset('RemoteReset');
    expect(t.cluster.streams).toHaveLength(1);
    expect(t.cb.localReplies).toEqual([]);
    expect(t.cb.resets).toEqual([{ reason: 'LocalReset', details: 'upstream_reset_after_response_started{remote_reset}' }]);
    expect([...t.cb.info.responseFlags]).toEqual(['UR']);
  });
});

describe('router: failures before the response', () => {
  it.each<[StreamResetReason, string, number, string, string]>([
    ['ConnectionTermination', '', 503, 'UC', 'connection termination'],
    ['RemoteReset', '', 503, 'UR', 'remote reset'],
    ['RemoteRefusedStreamReset', '', 503, 'UR', 'remote refused stream reset'],
    ['ProtocolError', '', 502, 'UPE', 'protocol error'],
    ['LocalReset', '', 503, 'LR', 'local reset'],
    ['ConnectionFailure', '', 503, 'UF', 'connection failure'],
    ['ConnectionTermination', 'tls error', 503, 'UC', 'connection termination'],
  ])('stream reset %s %s: %d %s', (reason, transport, code, flag, text) => {
    const t = setup();
    t.send();
    t.cluster.last().ready().s.remoteReset(reason, transport);
    const tail = transport === '' ? '' : `, transport failure reason: ${transport}`;
    const detailTail = transport === '' ? '' : `,${transport.replace(/ /g, '_')}`;
    expect(t.cb.localReplies).toEqual([
      {
        code,
        body: `upstream connect error or disconnect/reset before headers. reset reason: ${text}${tail}`,
        options: { details: `upstream_reset_before_response_started{${text.replace(/ /g, '_')}${detailTail}}`, responseFlag: flag },
      },
    ]);
    expect(t.cluster.counter(`upstream_rq_${code}`)).toBe(1);
    expect(t.d.pendingDelays()).toEqual([]);
  });

  it.each<[PoolFailureReason, string]>([
    ['RemoteConnectionFailure', 'remote connection failure'],
    ['LocalConnectionFailure', 'local connection failure'],
    ['Timeout', 'connection timeout'],
  ])('pool failure %s: 503 UF', (reason, text) => {
    const t = setup();
    t.send();
    t.cluster.last().fail(reason, 'why');
    expect(t.cb.localReplies).toEqual([
      {
        code: 503,
        body: `upstream connect error or disconnect/reset before headers. reset reason: ${text}, transport failure reason: why`,
        options: { details: `upstream_reset_before_response_started{${text.replace(/ /g, '_')},why}`, responseFlag: 'UF' },
      },
    ]);
    expect(t.cb.info.upstreamTransportFailureReason).toBe('why');
  });

  it('a synchronous pool overflow answers from decodeHeaders; suppress_envoy_headers drops x-envoy-overloaded', () => {
    const t = setup({ router: { suppressEnvoyHeaders: true } });
    t.cluster.pool.immediate = (p) => p.fail('Overflow');
    expect(t.send().status).toBe('StopIteration');
    expect(t.cb.localReplies).toEqual([
      {
        code: 503,
        body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
        options: { details: 'upstream_reset_before_response_started{overflow}', responseFlag: 'UO' },
      },
    ]);
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
