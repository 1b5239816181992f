/**
 * The retry decisions of one request (Envoy's RetryStateImpl), without timers: the router asks
 * whether a response or a reset should be retried, and on "Yes" asks for the backoff to wait.
 *
 * - The route's retry_on conditions are merged with the request's `x-envoy-retry-on`;
 *   `x-envoy-max-retries` overrides num_retries; `x-envoy-retriable-status-codes` adds codes.
 *   Those request headers are removed (they are instructions to this proxy, not the upstream).
 * - A granted retry holds one unit of the cluster's `retries` circuit breaker until the next
 *   decision or release(); when none is left the answer is NoOverflow (`upstream_rq_retry_overflow`).
 * - Backoff is Envoy's fully jittered exponential: a random value below the current interval,
 *   the interval doubling from base_interval up to max_interval.
 */
import type { RequestHeaderMap, ResponseHeaderMap, StreamResetReason } from '../api/http-codec.js';
import type { RetryPolicy } from '../api/router.js';
import type { ClusterInfo } from '../api/upstream.js';
import { DEFAULT_RETRY_BASE_INTERVAL_MS } from './route-config-schema.js';

/** Why an attempt failed before a response: codec resets plus the pool's connect failures. */
export type UpstreamResetReason = StreamResetReason | 'LocalConnectionFailure' | 'RemoteConnectionFailure' | 'ConnectionTimeout';

export type RetryStatus = 'Yes' | 'No' | 'NoOverflow' | 'NoRetryLimitExceeded';

const RETRY_5XX = 1;
const RETRY_GATEWAY_ERROR = 2;
const RETRY_CONNECT_FAILURE = 4;
const RETRY_RETRIABLE_4XX = 8;
const RETRY_REFUSED_STREAM = 16;
const RETRY_RETRIABLE_STATUS_CODES = 32;
const RETRY_RESET = 64;

const RETRY_ON_BITS: Readonly<Record<string, number>> = {
  '5xx': RETRY_5XX,
  'gateway-error': RETRY_GATEWAY_ERROR,
  'connect-failure': RETRY_CONNECT_FAILURE,
  'retriable-4xx': RETRY_RETRIABLE_4XX,
  'refused-stream': RETRY_REFUSED_STREAM,
  'retriable-status-codes': RETRY_RETRIABLE_STATUS_CODES,
  reset: RETRY_RESET,
};

/** Parses a retry_on list (config or `x-envoy-retry-on`); unknown conditions are ignored. */
export function parseRetryOn(value: string | Iterable<string>): number {
  let bits = 0;
  const tokens = typeof value === 'string' ? value.split(',') : value;
  for (const t of tokens) bits |= RETRY_ON_BITS[t.trim()] ?? 0;
  return bits;
}

const DIGITS = /^\d+$/;

function isConnectFailure(reason: UpstreamResetReason): boolean {
  return (
    reason === 'LocalConnectionFailure' ||
    reason === 'RemoteConnectionFailure' ||
    reason === 'ConnectionTimeout' ||
    reason === 'ConnectionFailure' ||
    reason === 'ConnectTimeout'
  );
}

/** A uint32-range random integer source (Envoy's Random::RandomGenerator::random()). */
export type RandomSource = () => number;

export const defaultRandom: RandomSource = () => Math.floor(Math.random() * 0x1_0000_0000);

/** Envoy's JitteredExponentialBackOffStrategy. */
export class JitteredExponentialBackOff {
  private next: number;

  constructor(
    base: number,
    private readonly max: number,
    private readonly random: RandomSource,
  ) {
    this.next = base;
  }

  nextBackOffMs(): number {
    const backoff = this.next;
    this.next = this.next > this.max / 2 ? this.max : this.next * 2;
    return Math.min(this.random() % backoff, this.max);
  }
}

export class RetryState {
  private retryOn: number;
  private remaining: number;
  private readonly statusCodes: Set<number>;
  private readonly backoff: JitteredExponentialBackOff;
  /** A granted retry holds a unit of the `retries` resource until the next decision. */
  private outstanding = false;

  private constructor(
    policy: RetryPolicy | undefined,
    headers: RequestHeaderMap,
    private readonly cluster: ClusterInfo,
    random: RandomSource,
  ) {
    this.retryOn = policy === undefined ? 0 : parseRetryOn(policy.retryOn);
    this.remaining = policy?.numRetries ?? 1;
    this.statusCodes = new Set(policy?.retriableStatusCodes ?? []);
    const base = policy?.baseIntervalMs ?? DEFAULT_RETRY_BASE_INTERVAL_MS;
    this.backoff = new JitteredExponentialBackOff(base, policy?.maxIntervalMs ?? base * 10, random);
    const retryOnHeader = headers.get('x-envoy-retry-on');
    if (retryOnHeader !== undefined) this.retryOn |= parseRetryOn(retryOnHeader);
    const maxRetries = headers.get('x-envoy-max-retries');
    if (this.retryOn !== 0 && maxRetries !== undefined && DIGITS.test(maxRetries)) this.remaining = Number(maxRetries);
    const codes = headers.get('x-envoy-retriable-status-codes');
    if (codes !== undefined) {
      for (const c of codes.split(',')) {
        const t = c.trim();
        if (DIGITS.test(t)) this.statusCodes.add(Number(t));
      }
    }
  }

  /**
   * The retry state of a request, or undefined when nothing could ever be retried (no retry_on
   * from the route or the request). Removes the `x-envoy-retry-on` and `x-envoy-max-retries`
   * request headers either way, as Envoy does.
   */
  static create(policy: RetryPolicy | undefined, headers: RequestHeaderMap, cluster: ClusterInfo, random: RandomSource = defaultRandom): RetryState | undefined {
    let state: RetryState | undefined;
    if ((policy !== undefined && policy.retryOn.size > 0) || headers.has('x-envoy-retry-on')) {
      state = new RetryState(policy, headers, cluster, random);
      if (state.retryOn === 0) state = undefined;
    }
    headers.remove('x-envoy-retry-on');
    headers.remove('x-envoy-max-retries');
    return state;
  }

  retriesRemaining(): number {
    return this.remaining;
  }

  /** Envoy's wouldRetryFromHeaders: does this response call for a retry under the policy? */
  wouldRetryFromHeaders(headers: ResponseHeaderMap): boolean {
    // Never retry a response shed by an overloaded or rate-limiting upstream Envoy.
    if (headers.has('x-envoy-overloaded') || headers.has('x-envoy-ratelimited')) return false;
    const status = Number(headers.get(':status'));
    const on = this.retryOn;
    if (on & RETRY_5XX && status >= 500 && status < 600) return true;
    if (on & RETRY_GATEWAY_ERROR && (status === 502 || status === 503 || status === 504)) return true;
    if (on & RETRY_RETRIABLE_4XX && status === 409) return true;
    if (on & RETRY_RETRIABLE_STATUS_CODES && this.statusCodes.has(status)) return true;
    return false;
  }

  /** Envoy's wouldRetryFromReset. An Overflow (circuit breaker) is never retried. */
  wouldRetryFromReset(reason: UpstreamResetReason): boolean {
    if (reason === 'Overflow') return false;
    const on = this.retryOn;
    // A reset counts as a "5xx" (it becomes one) and as a gateway error.
    if (on & (RETRY_5XX | RETRY_GATEWAY_ERROR | RETRY_RESET)) return true;
    if (on & RETRY_REFUSED_STREAM && reason === 'RemoteRefusedStreamReset') return true;
    if (on & RETRY_CONNECT_FAILURE && isConnectFailure(reason)) return true;
    return false;
  }

  shouldRetryHeaders(headers: ResponseHeaderMap): RetryStatus {
    return this.shouldRetry(this.wouldRetryFromHeaders(headers));
  }

  shouldRetryReset(reason: UpstreamResetReason): RetryStatus {
    return this.shouldRetry(this.wouldRetryFromReset(reason));
  }

  /** The wait before the retry just granted. */
  nextBackOffMs(): number {
    return this.backoff.nextBackOffMs();
  }

  /** Gives back the retries resource held by a granted retry (the request is over or decided). */
  release(): void {
    if (this.outstanding) {
      this.outstanding = false;
      this.cluster.resourceManager().retries.dec();
    }
  }

  private shouldRetry(would: boolean): RetryStatus {
    const stats = this.cluster.stats;
    // A retry was granted before and this answer needs none: that retry succeeded.
    if (this.outstanding && !would) stats.upstream_rq_retry_success.inc();
    this.release();
    if (!would) return 'No';
    if (this.remaining === 0) {
      this.cluster.statsScope.counter('upstream_rq_retry_limit_exceeded').inc();
      return 'NoRetryLimitExceeded';
    }
    this.remaining--;
    const retries = this.cluster.resourceManager().retries;
    if (!retries.canCreate()) {
      stats.upstream_rq_retry_overflow.inc();
      return 'NoOverflow';
    }
    retries.inc();
    this.outstanding = true;
    stats.upstream_rq_retry.inc();
    return 'Yes';
  }
}
