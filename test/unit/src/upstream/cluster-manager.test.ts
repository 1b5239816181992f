import { describe, expect, it } from 'vitest';
import type { Cancellable, HttpConnPool, HttpConnPoolFactory, TcpPoolCallbacks, UpstreamProtocol } from '../../../../src/api/upstream.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { ClusterManagerImpl } from '../../../../src/upstream/cluster-manager.js';
import type { ClusterOptions } from '../../../../src/upstream/cluster-options.js';
import { HealthFlag, type ConnectionFactory } from '../../../../src/upstream/host.js';
import { FakeConnection, ManualDispatcher } from '../../../support/l4-fakes.js';
import { sequence } from './helpers.js';

function make(clusters: ClusterOptions[], httpFactory?: HttpConnPoolFactory) {
  const dispatcher = new ManualDispatcher();
  const store = new StatsStore();
  const connections: Array<{ conn: FakeConnection; port: number; limit: number }> = [];
  const connectionFactory: ConnectionFactory = (address, limit) => {
    const conn = new FakeConnection(dispatcher);
    connections.push({ conn, port: address.port, limit });
    return conn;
  };
  const cm = new ClusterManagerImpl({
    clusters,
    scope: store,
    dispatcher,
    connectionFactory,
    random: sequence([0]),
    ...(httpFactory !== undefined ? { httpConnPoolFactory: httpFactory } : {}),
  });
  return { cm, store, dispatcher, connections };
}

const twoHosts: ClusterOptions = {
  name: 'backend',
  hosts: [
    { address: '127.0.0.1', port: 8001 },
    { address: '127.0.0.1', port: 8002, weight: 1, hostname: 'b.local' },
  ],
  perConnectionBufferLimitBytes: 4096,
};

const tcpCallbacks = (): TcpPoolCallbacks & { ready: number; failures: string[] } => {
  const cb = {
    ready: 0,
    failures: [] as string[],
    onPoolReady: () => {
      cb.ready++;
    },
    onPoolFailure: (reason: string) => {
      cb.failures.push(reason);
    },
  };
  return cb;
};

class FakeHttpPool implements HttpConnPool {
  idleCbs: Array<() => void> = [];
  drained = 0;
  idle = true;
  constructor(
    readonly host: HttpConnPool['host'],
    readonly protocol: UpstreamProtocol,
  ) {}
  newStream(): Cancellable | undefined {
    return undefined;
  }
  isIdle(): boolean {
    return this.idle;
  }
  drainConnections(): void {
    this.drained++;
  }
  addIdleCallback(cb: () => void): void {
    this.idleCbs.push(cb);
  }
}

describe('ClusterManagerImpl', () => {
  it('builds static clusters with Envoy stat names and settings', () => {
    const { cm, store } = make([twoHosts, { name: 'other', hosts: [], lbPolicy: 'RANDOM', connectTimeoutMs: 100 }]);
    expect(cm.clusterNames()).toEqual(['backend', 'other']);
    const c = cm.getThreadLocalCluster('backend')!;
    expect(c.info().name).toBe('backend');
    expect(c.info().connectTimeoutMs).toBe(5000);
    expect(c.info().perConnectionBufferLimitBytes).toBe(4096);
    expect(c.info().idleTimeoutMs).toBe(3_600_000);
    expect(c.info().upstreamProtocol).toBe('http1');
    expect(c.info().stats.upstream_cx_total.name).toBe('cluster.backend.upstream_cx_total');
    expect(c.hosts().map((h) => h.addressString)).toEqual(['127.0.0.1:8001', '127.0.0.1:8002']);
    expect(c.hosts()[1]!.hostname).toBe('b.local');
    expect(store.findGauge('cluster.backend.membership_total')!.value()).toBe(2);
    expect(store.findGauge('cluster.backend.membership_healthy')!.value()).toBe(2);
    expect(store.findGauge('cluster_manager.active_clusters')!.value()).toBe(2);
    expect(store.findCounter('cluster_manager.cluster_added')!.value()).toBe(2);
    expect(cm.getThreadLocalCluster('missing')).toBeUndefined();
  });

  it('rejects duplicate cluster names', () => {
    expect(() => make([twoHosts, twoHosts])).toThrow(/duplicate cluster name 'backend'/);
  });

  it('hands out one TCP pool per host, picked by the load balancer, with the buffer limit', () => {
    const { cm, connections } = make([twoHosts]);
    const c = cm.getThreadLocalCluster('backend')!;
    const p1 = c.tcpConnPool(undefined)!;
    const p2 = c.tcpConnPool(undefined)!;
    const p3 = c.tcpConnPool(undefined)!;
    expect(p1.host.addressString).toBe('127.0.0.1:8001');
    expect(p2.host.addressString).toBe('127.0.0.1:8002');
    expect(p3).toBe(p1);
    expect(c.poolCount()).toBe(2);
    const cb = tcpCallbacks();
    expect(p1.newConnection(cb)).toBeDefined();
    expect(connections).toEqual([expect.objectContaining({ port: 8001, limit: 4096 })]);
  });

  it('counts upstream_cx_none_healthy when no host can be chosen', () => {
    const { cm, store } = make([{ ...twoHosts, healthyPanicThresholdPercent: 0 }]);
    const c = cm.getThreadLocalCluster('backend')!;
    for (const h of c.hosts()) h.healthFlagSet(HealthFlag.FAILED_ACTIVE_HC);
    expect(c.tcpConnPool(undefined)).toBeUndefined();
    expect(store.findCounter('cluster.backend.upstream_cx_none_healthy')!.value()).toBe(1);
  });

  it('enforces max_connection_pools (upstream_cx_pool_overflow) and frees a slot when a pool goes idle', () => {
    const { cm, store, connections } = make([{ ...twoHosts, circuitBreakers: { default: { maxConnectionPools: 1 } } }]);
    const c = cm.getThreadLocalCluster('backend')!;
    const p1 = c.tcpConnPool(undefined)!;
    expect(c.tcpConnPool(undefined)).toBeUndefined();
    expect(store.findCounter('cluster.backend.upstream_cx_pool_overflow')!.value()).toBe(1);
    // The first pool connects and its connection closes: the pool is idle and dropped.
    p1.newConnection(tcpCallbacks());
    connections[0]!.conn.remoteClose();
    expect(c.poolCount()).toBe(0);
    expect(c.tcpConnPool(undefined)).toBeDefined();
  });

  it('gets HTTP pools from the registered factory, one per (host, protocol)', () => {
    const made: FakeHttpPool[] = [];
    const factory: HttpConnPoolFactory = (host, protocol) => {
      const p = new FakeHttpPool(host, protocol);
      made.push(p);
      return p;
    };
    const { cm } = make([{ ...twoHosts, hosts: [twoHosts.hosts[0]!] }]);
    const c = cm.getThreadLocalCluster('backend')!;
    expect(() => c.httpConnPool('http1', undefined)).toThrow(/no HttpConnPoolFactory/);
    cm.setHttpConnPoolFactory(factory);
    const h1 = c.httpConnPool('http1', undefined)!;
    const h2 = c.httpConnPool('http2', undefined)!;
    expect(c.httpConnPool('http1', undefined)).toBe(h1);
    expect([h1.protocol, h2.protocol]).toEqual(['http1', 'http2']);
    expect(made.length).toBe(2);
    // Going idle drops the pool; the next request makes a new one.
    made[0]!.idleCbs[0]!();
    expect(c.httpConnPool('http1', undefined)).not.toBe(h1);
    expect(made.length).toBe(3);
  });

  it('shutdown closes every pool connection and resolves when all are gone', async () => {
    const { cm, connections } = make([twoHosts]);
    const c = cm.getThreadLocalCluster('backend')!;
    const pool = c.tcpConnPool(undefined)!;
    const cb = tcpCallbacks();
    pool.newConnection(cb);
    connections[0]!.conn.raise('Connected');
    expect(cb.ready).toBe(1);
    const timeout = (ms: number) => new Promise<string>((r) => setTimeout(() => r('timeout'), ms));
    expect(await Promise.race([cm.shutdown().then(() => 'closed'), timeout(2000)])).toBe('closed');
    expect(connections[0]!.conn.state()).toBe('Closed');
    expect(connections[0]!.conn.closes).toEqual([{ type: 'NoFlush', details: 'tcp_pool_close' }]);
    expect(c.poolCount()).toBe(0);
    // Nothing left: resolves at once.
    expect(await Promise.race([cm.shutdown().then(() => 'closed'), timeout(2000)])).toBe('closed');
  });

  it('shutdown drains pools without closeConnections and waits until they report idle', async () => {
    const made: FakeHttpPool[] = [];
    const { cm } = make([twoHosts], (host, protocol) => {
      const p = new FakeHttpPool(host, protocol);
      p.idle = false;
      made.push(p);
      return p;
    });
    cm.getThreadLocalCluster('backend')!.httpConnPool('http2', undefined);
    let state = 'pending';
    const done = cm.shutdown().then(() => (state = 'closed'));
    await new Promise((r) => setTimeout(r, 20));
    expect(state).toBe('pending');
    expect(made[0]!.drained).toBe(1);
    made[0]!.idle = true;
    made[0]!.idleCbs[0]!();
    await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
    expect(state).toBe('closed');
  });
});
