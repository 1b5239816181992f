/**
 * A real L4 proxy for tests: one TcpListener on 127.0.0.1:0 whose single filter chain runs the
 * given network filters (parsed from Envoy-style typed_configs by their factories), over a real
 * ClusterManagerImpl with static clusters. Every downstream and upstream ConnectionImpl is recorded,
 * so tests can look at what the proxy holds (bufferedWriteBytes) without reaching into filters.
 */
import type { FactoryContext, NamedNetworkFilterConfigFactory } from '../../src/api/filter-config.js';
import type { Connection, NetworkFilterFactoryCb } from '../../src/api/network.js';
import { NodeDispatcher } from '../../src/common/dispatcher.js';
import { ClientConnectionImpl, ConnectionImpl } from '../../src/network/connection.js';
import { TcpListener } from '../../src/network/listener.js';
import { LifecycleNotifier } from '../../src/server/lifecycle-notifier.js';
import { StatsStore } from '../../src/stats/store.js';
import { ClusterManagerImpl } from '../../src/upstream/cluster-manager.js';
import type { ClusterOptions } from '../../src/upstream/cluster-options.js';
import { LOOPBACK, waitFor } from './net-helpers.js';
import { silentLogger } from './silent-logger.js';

/** One network filter of the chain, built from its factory and typed_config (see `filterSpec`). */
export interface L4FilterSpec {
  build(ctx: FactoryContext, path: string): NetworkFilterFactoryCb;
}

/** A filter of the chain: `factory` with `typedConfig`, parsed as the config loader would. */
export function filterSpec<C>(factory: NamedNetworkFilterConfigFactory<C>, typedConfig: unknown): L4FilterSpec {
  return { build: (ctx, path) => factory.createFilterFactory(factory.parseConfig(typedConfig, path), ctx) };
}

export interface L4HarnessOptions {
  readonly filters: readonly L4FilterSpec[];
  readonly clusters: readonly ClusterOptions[];
  /** The listener's per_connection_buffer_limit_bytes (default 1 MiB). */
  readonly perConnectionBufferLimitBytes?: number;
}

export class L4Harness {
  private constructor(
    /** Every downstream connection the listener accepted, in accept order. */
    readonly downstreams: readonly ConnectionImpl[],
    /** Every upstream connection the pools created, in creation order. */
    readonly upstreams: readonly ClientConnectionImpl[],
    readonly store: StatsStore,
    readonly dispatcher: NodeDispatcher,
    readonly clusterManager: ClusterManagerImpl,
    readonly listener: TcpListener,
    readonly port: number,
  ) {}

  static async start(options: L4HarnessOptions): Promise<L4Harness> {
    const store = new StatsStore();
    const dispatcher = new NodeDispatcher({ name: 'l4-harness' });
    const upstreams: ClientConnectionImpl[] = [];
    const clusterManager = new ClusterManagerImpl({
      clusters: options.clusters,
      scope: store,
      dispatcher,
      connectionFactory: (address, bufferLimit) => {
        const c = new ClientConnectionImpl(dispatcher, address, { bufferLimit });
        upstreams.push(c);
        return c;
      },
    });
    const listenerScope = store.createScope('listener.l4_harness');
    const ctx: FactoryContext = {
      clusterManager,
      scope: store,
      listenerScope,
      dispatcher,
      logger: silentLogger,
      drainDecision: { drainClose: () => false, addOnDrainCloseCb: () => () => {} },
      lifecycleNotifier: new LifecycleNotifier(),
      listenerName: 'l4_harness',
      httpFilterFactory: () => undefined,
    };
    const cbs = options.filters.map((f, i) => f.build(ctx, `filters[${i}].typed_config`));
    const downstreams: ConnectionImpl[] = [];
    const listener = new TcpListener({
      name: 'l4_harness',
      address: { address: LOOPBACK, port: 0 },
      dispatcher,
      scope: listenerScope,
      ...(options.perConnectionBufferLimitBytes !== undefined ? { perConnectionBufferLimitBytes: options.perConnectionBufferLimitBytes } : {}),
      filterChainFactory: () => ({
        name: 'l4',
        createNetworkFilters(conn: Connection) {
          if (conn instanceof ConnectionImpl) downstreams.push(conn);
          for (const cb of cbs) cb(conn, conn);
        },
      }),
    });
    const bound = await listener.listen();
    return new L4Harness(downstreams, upstreams, store, dispatcher, clusterManager, listener, bound.port);
  }

  /** A counter's value by full name (`tcp.p.downstream_cx_total`); 0 when never created. */
  counter(name: string): number {
    return this.store.findCounter(name)?.value() ?? 0;
  }

  gauge(name: string): number {
    return this.store.findGauge(name)?.value() ?? 0;
  }

  /** Waits until the listener accepted `n` connections; returns the n-th (1-based). */
  async downstream(n: number, timeoutMs = 2000): Promise<ConnectionImpl> {
    await waitFor(() => this.downstreams.length >= n, timeoutMs, `downstream connection #${n}`);
    return this.downstreams[n - 1]!;
  }

  /** Closes the listener, every downstream connection and every upstream pool. */
  async close(): Promise<void> {
    await this.listener.stop();
    this.listener.closeConnections('NoFlush');
    await this.clusterManager.shutdown();
  }
}

/** A static cluster of one host on 127.0.0.1. */
export function loopbackCluster(name: string, port: number, extra: Partial<ClusterOptions> = {}): ClusterOptions {
  return { name, connectTimeoutMs: 1000, hosts: [{ address: LOOPBACK, port }], ...extra };
}
