import type { Gauge, Scope } from '../api/stats.js';
import type { ResourceLimit, ResourceManager } from '../api/upstream.js';
import type { CircuitBreakerThresholds } from './cluster-options.js';

/** Envoy's default for every circuit breaker except retries. */
export const DEFAULT_MAX = 1024;
export const DEFAULT_MAX_RETRIES = 3;
/** max_connection_pools is unlimited by default (UINT32_MAX in Envoy). */
export const UNLIMITED = 0xffffffff;

/**
 * One resource: a count against a maximum, with Envoy's `<resource>_open` gauge (1 while the
 * breaker is open, i.e. nothing more can be created) and optionally `remaining_<resource>`.
 */
export class ManagedResource implements ResourceLimit {
  private current = 0;

  constructor(
    private readonly limit: number,
    private readonly openGauge: Gauge | undefined,
    private readonly remainingGauge: Gauge | undefined,
  ) {
    this.update();
  }

  canCreate(): boolean {
    return this.current < this.limit;
  }

  inc(): void {
    this.current++;
    this.update();
  }

  dec(): void {
    if (this.current === 0) return;
    this.current--;
    this.update();
  }

  count(): number {
    return this.current;
  }

  max(): number {
    return this.limit;
  }

  private update(): void {
    if (this.openGauge !== undefined) this.openGauge.set(this.current >= this.limit ? 1 : 0);
    if (this.remainingGauge !== undefined) this.remainingGauge.set(Math.max(0, this.limit - this.current));
  }
}

/**
 * Envoy's ResourceManagerImpl for one priority. With a scope (`cluster.<name>.circuit_breakers.
 * <priority>.`) it publishes cx_open, cx_pool_open, rq_pending_open, rq_open, rq_retry_open and,
 * with trackRemaining, remaining_cx, remaining_cx_pools, remaining_pending, remaining_rq,
 * remaining_retries.
 */
export class ResourceManagerImpl implements ResourceManager {
  readonly connections: ManagedResource;
  readonly pendingRequests: ManagedResource;
  readonly requests: ManagedResource;
  readonly retries: ManagedResource;
  readonly connectionPools: ManagedResource;

  constructor(t: CircuitBreakerThresholds = {}, scope?: Scope) {
    const track = t.trackRemaining === true;
    const open = (n: string): Gauge | undefined => scope?.gauge(n);
    const remaining = (n: string): Gauge | undefined => (track ? scope?.gauge(n) : undefined);
    this.connections = new ManagedResource(t.maxConnections ?? DEFAULT_MAX, open('cx_open'), remaining('remaining_cx'));
    this.pendingRequests = new ManagedResource(
      t.maxPendingRequests ?? DEFAULT_MAX,
      open('rq_pending_open'),
      remaining('remaining_pending'),
    );
    this.requests = new ManagedResource(t.maxRequests ?? DEFAULT_MAX, open('rq_open'), remaining('remaining_rq'));
    this.retries = new ManagedResource(
      t.maxRetries ?? DEFAULT_MAX_RETRIES,
      open('rq_retry_open'),
      remaining('remaining_retries'),
    );
    this.connectionPools = new ManagedResource(
      t.maxConnectionPools ?? UNLIMITED,
      open('cx_pool_open'),
      remaining('remaining_cx_pools'),
    );
  }
}
