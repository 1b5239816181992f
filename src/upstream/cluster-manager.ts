import type { Dispatcher } from '../api/dispatcher.js';
import type { Scope } from '../api/stats.js';
import type {
  ClusterManager,
  HttpConnPool,
  HttpConnPoolFactory,
  LoadBalancer,
  LoadBalancerContext,
  TcpConnPool,
  ThreadLocalCluster,
  UpstreamProtocol,
} from '../api/upstream.js';
import { ClusterInfoImpl } from './cluster-info.js';
import type { ClusterOptions } from './cluster-options.js';
import { HostImpl, type ConnectionFactory } from './host.js';
import { HostSet } from './host-set.js';
import { createLoadBalancer, type RandomSource } from './load-balancers.js';
import { TcpConnPoolImpl } from './tcp-pool.js';

export interface ClusterManagerOptions {
  readonly clusters: readonly ClusterOptions[];
  /** The root stats scope; clusters publish under `cluster.<name>.`. */
  readonly scope: Scope;
  readonly dispatcher: Dispatcher;
  /** Makes upstream connections (src/network's ClientConnectionImpl in production). */
  readonly connectionFactory: ConnectionFactory;
  /** Makes HTTP pools; the codec layer supplies it (see setHttpConnPoolFactory). */
  readonly httpConnPoolFactory?: HttpConnPoolFactory;
  readonly random?: RandomSource;
}

/** The pool operations the cluster manager needs beyond the api (ConnPoolBase has them). */
interface ClosablePool {
  closeConnections(): void;
}

function isClosable(p: object): p is ClosablePool {
  return typeof (p as Partial<ClosablePool>).closeConnections === 'function';
}

type PoolKey = 'tcp' | UpstreamProtocol;
type AnyPool = TcpConnPoolImpl | HttpConnPool;

/**
 * One static cluster on this worker (Envoy's ThreadLocalClusterManagerImpl::ClusterEntry): its
 * info, hosts, load balancer and the pools, one per (host, protocol), created on first use and
 * dropped when they go idle (their connections all closed), which bounds memory by what is in use.
 */
export class ThreadLocalClusterImpl implements ThreadLocalCluster {
  readonly hostSet: HostSet;
  private readonly lb: LoadBalancer;
  private readonly pools = new Map<HostImpl, Map<PoolKey, AnyPool>>();
  private shutdownWaiters: Array<() => void> = [];

  constructor(
    private readonly clusterInfo: ClusterInfoImpl,
    private readonly manager: ClusterManagerImpl,
    connectionFactory: ConnectionFactory,
    random: RandomSource | undefined,
  ) {
    // One transport per cluster (TLS contexts, session cache, `cluster.<name>.ssl.*` stats).
    const transport = clusterInfo.options.createTransport?.(clusterInfo.statsScope);
    const factory: ConnectionFactory =
      transport === undefined ? connectionFactory : (address, bufferLimit) => connectionFactory(address, bufferLimit, transport);
    const hosts = clusterInfo.options.hosts.map(
      (h) => new HostImpl(clusterInfo, { address: h.address, port: h.port }, factory, h.weight ?? 1, h.hostname ?? ''),
    );
    this.hostSet = new HostSet(hosts, clusterInfo.stats.membership_healthy, clusterInfo.stats.membership_total);
    this.lb = createLoadBalancer(clusterInfo, this.hostSet, random);
  }

  info(): ClusterInfoImpl {
    return this.clusterInfo;
  }

  loadBalancer(): LoadBalancer {
    return this.lb;
  }

  hosts(): readonly HostImpl[] {
    return this.hostSet.hosts;
  }

  tcpConnPool(ctx: LoadBalancerContext | undefined): TcpConnPool | undefined {
    const host = this.chooseHost(ctx);
    if (host === undefined) return undefined;
    const pool = this.poolFor(host, 'tcp', () => new TcpConnPoolImpl(host, this.manager.dispatcher));
    return pool as TcpConnPoolImpl | undefined;
  }

  httpConnPool(protocol: UpstreamProtocol, ctx: LoadBalancerContext | undefined): HttpConnPool | undefined {
    const host = this.chooseHost(ctx);
    if (host === undefined) return undefined;
    const factory = this.manager.httpConnPoolFactory();
    const pool = this.poolFor(host, protocol, () => factory(host, protocol));
    return pool as HttpConnPool | undefined;
  }

  /** Pools currently held (for tests and admin). */
  poolCount(): number {
    let n = 0;
    for (const m of this.pools.values()) n += m.size;
    return n;
  }

  /** Drains every pool (Envoy's drainConnections on all pools of the cluster). */
  drainConnections(): void {
    for (const m of [...this.pools.values()]) for (const p of [...m.values()]) p.drainConnections();
  }

  /** Closes every pool's connections; resolves once every pool went idle. */
  shutdown(): Promise<void> {
    const all: Array<[HostImpl, PoolKey, AnyPool]> = [];
    for (const [host, m] of this.pools) for (const [key, p] of m) all.push([host, key, p]);
    for (const [, , p] of all) {
      if (isClosable(p)) p.closeConnections();
      else p.drainConnections();
    }
    // A pool that was idle already reports nothing more.
    for (const [host, key, p] of all) if (p.isIdle()) this.onPoolIdle(host, key, p);
    if (this.pools.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.shutdownWaiters.push(resolve));
  }

  private chooseHost(ctx: LoadBalancerContext | undefined): HostImpl | undefined {
    const host = this.lb.chooseHost(ctx) as HostImpl | undefined;
    if (host === undefined) this.clusterInfo.stats.upstream_cx_none_healthy.inc();
    return host;
  }

  private poolFor(host: HostImpl, key: PoolKey, create: () => AnyPool): AnyPool | undefined {
    let byKey = this.pools.get(host);
    const existing = byKey?.get(key);
    if (existing !== undefined) return existing;
    const limit = this.clusterInfo.resourceManager().connectionPools;
    if (!limit.canCreate()) {
      this.clusterInfo.stats.upstream_cx_pool_overflow.inc();
      return undefined;
    }
    const pool = create();
    limit.inc();
    if (byKey === undefined) {
      byKey = new Map();
      this.pools.set(host, byKey);
    }
    byKey.set(key, pool);
    pool.addIdleCallback(() => this.onPoolIdle(host, key, pool));
    return pool;
  }

  private onPoolIdle(host: HostImpl, key: PoolKey, pool: AnyPool): void {
    const byKey = this.pools.get(host);
    if (byKey?.get(key) !== pool) return;
    byKey.delete(key);
    if (byKey.size === 0) this.pools.delete(host);
    this.clusterInfo.resourceManager().connectionPools.dec();
    if (this.pools.size === 0 && this.shutdownWaiters.length > 0) {
      const waiters = this.shutdownWaiters;
      this.shutdownWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/**
 * Envoy's ClusterManagerImpl for static clusters on one worker: builds every cluster from plain
 * options at construction and hands out thread-local clusters by name.
 */
export class ClusterManagerImpl implements ClusterManager {
  readonly dispatcher: Dispatcher;
  private readonly clusters = new Map<string, ThreadLocalClusterImpl>();
  private httpFactory: HttpConnPoolFactory | undefined;

  constructor(opts: ClusterManagerOptions) {
    this.dispatcher = opts.dispatcher;
    this.httpFactory = opts.httpConnPoolFactory;
    const cmScope = opts.scope.createScope('cluster_manager');
    for (const c of opts.clusters) {
      if (this.clusters.has(c.name)) throw new Error(`cluster manager: duplicate cluster name '${c.name}'`);
      const info = new ClusterInfoImpl(c, opts.scope);
      this.clusters.set(c.name, new ThreadLocalClusterImpl(info, this, opts.connectionFactory, opts.random));
      cmScope.counter('cluster_added').inc();
    }
    cmScope.gauge('active_clusters').set(this.clusters.size);
  }

  getThreadLocalCluster(name: string): ThreadLocalClusterImpl | undefined {
    return this.clusters.get(name);
  }

  clusterNames(): readonly string[] {
    return [...this.clusters.keys()];
  }

  /** Every cluster, in configuration order (admin /clusters). */
  allClusters(): readonly ThreadLocalClusterImpl[] {
    return [...this.clusters.values()];
  }

  /** The codec layer registers its pool factory here (src/ cannot import codecs/). */
  setHttpConnPoolFactory(factory: HttpConnPoolFactory): void {
    this.httpFactory = factory;
  }

  httpConnPoolFactory(): HttpConnPoolFactory {
    if (this.httpFactory === undefined) {
      throw new Error('cluster manager: no HttpConnPoolFactory registered (setHttpConnPoolFactory)');
    }
    return this.httpFactory;
  }

  /** Drains the connections of every pool of every cluster. */
  drainConnections(): void {
    for (const c of this.clusters.values()) c.drainConnections();
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.clusters.values()].map((c) => c.shutdown()));
  }
}
