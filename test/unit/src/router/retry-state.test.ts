import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../codecs/index.js';
import type { RetryPolicy } from '../../../../src/api/router.js';
import { JitteredExponentialBackOff, parseRetryOn, RetryState, type UpstreamResetReason } from '../../../../src/router/retry-state.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { ClusterInfoImpl } from '../../../../src/upstream/cluster-info.js';

function policy(p: Partial<Omit<RetryPolicy, 'retryOn'>> & { retryOn?: string[] } = {}): RetryPolicy {
  return {
    retryOn: new Set(p.retryOn ?? []),
    numRetries: p.numRetries ?? 1,
    perTryTimeoutMs: p.perTryTimeoutMs ?? 0,
    retriableStatusCodes: p.retriableStatusCodes ?? new Set(),
    baseIntervalMs: p.baseIntervalMs ?? 25,
    maxIntervalMs: p.maxIntervalMs ?? 250,
  };
}

function cluster(maxRetries = 3) {
  const store = new StatsStore();
  const info = new ClusterInfoImpl({ name: 'c', hosts: [], circuitBreakers: { default: { maxRetries } } }, store);
  const counter = (n: string) => store.counter(`cluster.c.${n}`).value();
  return { info, counter };
}

const req = (headers: Record<string, string> = {}) => HeaderMapImpl.fromObject({ ':method': 'GET', ':path': '/', ...headers });
const resp = (status: number, extra: Record<string, string> = {}) => HeaderMapImpl.fromObject({ ':status': String(status), ...extra });

describe('RetryState.create', () => {
  it('no retry_on anywhere: no state, and the retry headers are removed anyway', () => {
    const h = req({ 'x-envoy-max-retries': '3' });
    expect(RetryState.create(undefined, h, cluster().info)).toBeUndefined();
    expect(RetryState.create(policy(), h, cluster().info)).toBeUndefined();
    expect(h.has('x-envoy-max-retries')).toBe(false);
  });

  it('x-envoy-retry-on alone enables retries; unknown values in it are ignored', () => {
    const h = req({ 'x-envoy-retry-on': 'bogus, 5xx', 'x-envoy-max-retries': '4' });
    const s = RetryState.create(undefined, h, cluster().info)!;
    expect(s.retriesRemaining()).toBe(4);
    expect(s.wouldRetryFromHeaders(resp(500))).toBe(true);
    expect(h.has('x-envoy-retry-on')).toBe(false);
    expect(h.has('x-envoy-max-retries')).toBe(false);
    expect(RetryState.create(undefined, req({ 'x-envoy-retry-on': 'bogus' }), cluster().info)).toBeUndefined();
  });

  it('the header conditions add to the route policy; a bad max-retries header is ignored', () => {
    const s = RetryState.create(policy({ retryOn: ['retriable-4xx'], numRetries: 2 }), req({ 'x-envoy-retry-on': 'gateway-error', 'x-envoy-max-retries': 'x' }), cluster().info)!;
    expect(s.retriesRemaining()).toBe(2);
    expect(s.wouldRetryFromHeaders(resp(409))).toBe(true);
    expect(s.wouldRetryFromHeaders(resp(502))).toBe(true);
    expect(s.wouldRetryFromHeaders(resp(500))).toBe(false);
  });

  it('x-envoy-retriable-status-codes adds codes', () => {
    const s = RetryState.create(policy({ retryOn: ['retriable-status-codes'], retriableStatusCodes: new Set([418]) }), req({ 'x-envoy-retriable-status-codes': '429, 420,x' }), cluster().info)!;
    expect([418, 429, 420, 421].map((c) => s.wouldRetryFromHeaders(resp(c)))).toEqual([true, true, true, false]);
  });
});

describe('retry conditions', () => {
  const statuses = [200, 404, 409, 418, 500, 501, 502, 503, 504];
  it.each<[string[], number[]]>([
    [['5xx'], [500, 501, 502, 503, 504]],
    [['gateway-error'], [502, 503, 504]],
    [['retriable-4xx'], [409]],
    [['retriable-status-codes'], [418, 501]],
    [['reset', 'connect-failure', 'refused-stream'], []],
  ])('%j retries the statuses %j', (retryOn, retried) => {
    const s = RetryState.create(policy({ retryOn, retriableStatusCodes: new Set([418, 501]) }), req(), cluster().info)!;
    expect(statuses.filter((c) => s.wouldRetryFromHeaders(resp(c)))).toEqual(retried);
  });

  it('never retries a response shed by an upstream Envoy (x-envoy-overloaded / ratelimited)', () => {
    const s = RetryState.create(policy({ retryOn: ['5xx'] }), req(), cluster().info)!;
    expect(s.wouldRetryFromHeaders(resp(503, { 'x-envoy-overloaded': 'true' }))).toBe(false);
    expect(s.wouldRetryFromHeaders(resp(429, { 'x-envoy-ratelimited': 'true' }))).toBe(false);
  });

  const reasons: UpstreamResetReason[] = [
    'Overflow',
    'LocalConnectionFailure',
    'RemoteConnectionFailure',
    'ConnectionTimeout',
    'ConnectionFailure',
    'ConnectionTermination',
    'LocalReset',
    'RemoteReset',
    'RemoteRefusedStreamReset',
    'ProtocolError',
  ];
  it.each<[string[], UpstreamResetReason[]]>([
    [['5xx'], reasons.filter((r) => r !== 'Overflow')],
    [['gateway-error'], reasons.filter((r) => r !== 'Overflow')],
    [['reset'], reasons.filter((r) => r !== 'Overflow')],
    [['connect-failure'], ['LocalConnectionFailure', 'RemoteConnectionFailure', 'ConnectionTimeout', 'ConnectionFailure']],
    [['refused-stream'], ['RemoteRefusedStreamReset']],
    [['retriable-4xx', 'retriable-status-codes'], []],
  ])('%j retries the resets %j', (retryOn, retried) => {
    const s = RetryState.create(policy({ retryOn }), req(), cluster().info)!;
    expect(reasons.filter((r) => s.wouldRetryFromReset(r))).toEqual(retried);
  });
});

describe('budget, circuit breaker and stats', () => {
  it('counts down num_retries, then NoRetryLimitExceeded', () => {
    const c = cluster(10);
    const s = RetryState.create(policy({ retryOn: ['5xx'], numRetries: 2 }), req(), c.info)!;
    expect(s.shouldRetryHeaders(resp(503))).toBe('Yes');
    expect(s.shouldRetryReset('RemoteReset')).toBe('Yes');
    expect(s.shouldRetryHeaders(resp(503))).toBe('NoRetryLimitExceeded');
    expect(c.counter('upstream_rq_retry')).toBe(2);
    expect(c.counter('upstream_rq_retry_limit_exceeded')).toBe(1);
    expect(c.counter('upstream_rq_retry_success')).toBe(0);
    expect(c.info.resourceManager().retries.count()).toBe(0);
  });

  it('a granted retry holds the retries breaker until the next decision; a later "No" is a success', () => {
    const c = cluster(10);
    const s = RetryState.create(policy({ retryOn: ['5xx'], numRetries: 3 }), req(), c.info)!;
    expect(s.shouldRetryHeaders(resp(500))).toBe('Yes');
    expect(c.info.resourceManager().retries.count()).toBe(1);
    expect(s.shouldRetryHeaders(resp(200))).toBe('No');
    expect(c.info.resourceManager().retries.count()).toBe(0);
    expect(c.counter('upstream_rq_retry_success')).toBe(1);
  });

  it('the breaker full: NoOverflow and upstream_rq_retry_overflow; a retry is still consumed', () => {
    const c = cluster(1);
    const a = RetryState.create(policy({ retryOn: ['5xx'], numRetries: 2 }), req(), c.info)!;
    const b = RetryState.create(policy({ retryOn: ['5xx'], numRetries: 2 }), req(), c.info)!;
    expect(a.shouldRetryHeaders(resp(500))).toBe('Yes');
    expect(b.shouldRetryHeaders(resp(500))).toBe('NoOverflow');
    expect(b.retriesRemaining()).toBe(1);
    expect(c.counter('upstream_rq_retry_overflow')).toBe(1);
    a.release();
    expect(c.info.resourceManager().retries.count()).toBe(0);
    expect(b.shouldRetryHeaders(resp(500))).toBe('Yes');
  });

  it('release() is idempotent; Overflow resets are never retried', () => {
    const c = cluster();
    const s = RetryState.create(policy({ retryOn: ['5xx'] }), req(), c.info)!;
    expect(s.shouldRetryReset('Overflow')).toBe('No');
    expect(s.shouldRetryReset('ConnectionTermination')).toBe('Yes');
    s.release();
    s.release();
    expect(c.info.resourceManager().retries.count()).toBe(0);
  });
});

describe('backoff', () => {
  it('Envoy jitter: random % interval, the interval doubling up to the max', () => {
    const values = [1_000_003, 7, 99, 12345, 0, 4_294_967_295, 77];
    let i = 0;
    const b = new JitteredExponentialBackOff(25, 250, () => values[i++]!);
    // Intervals: 25, 50, 100, 200, 250, 250, 250.
    expect([1, 2, 3, 4, 5, 6, 7].map(() => b.nextBackOffMs())).toEqual([1_000_003 % 25, 7, 99, 12345 % 200, 0, 4_294_967_295 % 250, 77]);
  });

  it('uses the policy intervals', () => {
    const s = RetryState.create(policy({ retryOn: ['5xx'], baseIntervalMs: 10, maxIntervalMs: 15 }), req(), cluster().info, () => 14)!;
    expect([s.nextBackOffMs(), s.nextBackOffMs(), s.nextBackOffMs()]).toEqual([4, 14, 14]);
  });

  it('parseRetryOn ignores unknown tokens and whitespace', () => {
    expect(parseRetryOn('5xx, nope ,reset')).toBe(parseRetryOn(['5xx', 'reset']));
    expect(parseRetryOn('')).toBe(0);
  });
});
