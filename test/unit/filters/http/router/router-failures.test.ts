import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import type { StreamResetReason } from '../../../../../src/api/http-codec.js';
import type { PoolFailureReason } from '../../../../../src/api/upstream.js';
import { headersObject } from '../../../../support/headers-object.js';
import { POST, setup } from './harness.js';

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
    expect(headersObject(e2.trailers)).toEqual({ 'x-t': '1' });
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

