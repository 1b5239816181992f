import { describe, expect, it } from 'vitest';
import { StatsStore } from '../../../../src/stats/store.js';
import { ClusterInfoImpl } from '../../../../src/upstream/cluster-info.js';
import { ResourceManagerImpl } from '../../../../src/upstream/resource-manager.js';

describe('ResourceManagerImpl', () => {
  it("has Envoy's defaults", () => {
    const rm = new ResourceManagerImpl();
    expect([rm.connections.max(), rm.pendingRequests.max(), rm.requests.max(), rm.retries.max(), rm.connectionPools.max()]).toEqual([
      1024, 1024, 1024, 3, 0xffffffff,
    ]);
  });

  it('opens the breaker at the maximum and publishes open/remaining gauges', () => {
    const store = new StatsStore();
    const rm = new ResourceManagerImpl({ maxRetries: 2, trackRemaining: true }, store.createScope('cluster.x.circuit_breakers.default'));
    const open = store.findGauge('cluster.x.circuit_breakers.default.rq_retry_open')!;
    const remaining = store.findGauge('cluster.x.circuit_breakers.default.remaining_retries')!;
    expect([open.value(), remaining.value()]).toEqual([0, 2]);
    rm.retries.inc();
    expect(rm.retries.canCreate()).toBe(true);
    rm.retries.inc();
    expect(rm.retries.canCreate()).toBe(false);
    expect([open.value(), remaining.value(), rm.retries.count()]).toEqual([1, 0, 2]);
    rm.retries.dec();
    expect([open.value(), remaining.value()]).toEqual([0, 1]);
    rm.retries.dec();
    rm.retries.dec();
    expect(rm.retries.count()).toBe(0);
    expect(store.findGauge('cluster.x.circuit_breakers.default.remaining_cx')!.value()).toBe(1024);
  });

  it('publishes no remaining_* gauges without track_remaining', () => {
    const store = new StatsStore();
    new ResourceManagerImpl({}, store.createScope('cb'));
    expect([...store.gauges()].map((g) => g.name).sort()).toEqual([
      'cb.cx_open',
      'cb.cx_pool_open',
      'cb.rq_open',
      'cb.rq_pending_open',
      'cb.rq_retry_open',
    ]);
  });
});

describe('ClusterInfoImpl', () => {
  it('resolves options with defaults and uses alt_stat_name for stats', () => {
    const store = new StatsStore();
    const info = new ClusterInfoImpl(
      {
        name: 'svc',
        altStatName: 'svc_alt',
        hosts: [],
        maxRequestsPerConnection: 5,
        upstreamProtocol: 'http2',
        http2Options: { max_concurrent_streams: 10 },
        circuitBreakers: { high: { maxConnections: 7 } },
      },
      store,
    );
    expect(info.stats.upstream_rq_total.name).toBe('cluster.svc_alt.upstream_rq_total');
    expect(info.statsScope.prefix).toBe('cluster.svc_alt');
    expect([info.maxRequestsPerConnection, info.upstreamProtocol, info.useDownstreamProtocol, info.lbPolicy]).toEqual([
      5,
      'http2',
      false,
      'ROUND_ROBIN',
    ]);
    expect(info.http2Options).toEqual({ max_concurrent_streams: 10 });
    expect(info.healthyPanicThreshold).toBe(0.5);
    expect(info.resourceManagerFor('High').connections.max()).toBe(7);
    expect(info.resourceManager().connections.max()).toBe(1024);
    expect(store.findGauge('cluster.svc_alt.circuit_breakers.high.cx_open')).toBeDefined();
  });
});
