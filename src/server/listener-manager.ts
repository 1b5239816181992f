/**
 * Builds the listeners of the bootstrap (Envoy's ListenerManagerImpl for static listeners): for
 * each filter chain, the network filter factories of its filters; for each listener, a TcpListener
 * whose filter-chain factory matches the accepted socket and installs those filters on the new
 * connection. Stats go under `listener.<stat_prefix or address>.` (`listener.127.0.0.1_8080.`).
 * It also counts the connections of all its listeners, so that a drain can wait for them.
 */
import type { Dispatcher } from '../api/dispatcher.js';
import type { DrainDecision, FactoryContext, ServerLifecycleNotifier } from '../api/filter-config.js';
import type { Logger } from '../api/logger.js';
import type { Address, Connection, ConnectionCloseType, ConnectionEvent, NetworkFilterFactoryCb } from '../api/network.js';
import type { Scope } from '../api/stats.js';
import type { ClusterManager } from '../api/upstream.js';
import type { FilterRegistry } from '../config/filter-registry.js';
import type { LoadedFilterChain, LoadedListenerConfig } from '../config/load.js';
import { addressStatName, formatAddress } from '../network/address.js';
import { TcpListener, type FilterChain } from '../network/listener.js';
import { TlsServerTransportFactory } from '../network/tls/server-transport.js';
import { FilterChainMatcher } from './filter-chain-matcher.js';
import { NEVER_DRAIN } from './drain-manager.js';

export interface ListenerManagerDeps {
  readonly dispatcher: Dispatcher;
  /** The root stats scope. */
  readonly scope: Scope;
  readonly clusterManager: ClusterManager;
  readonly registry: FilterRegistry;
  readonly logger: Logger;
  readonly drainDecision: DrainDecision;
  /** Where filters register their shutdown work (access log flushes). */
  readonly lifecycleNotifier: ServerLifecycleNotifier;
}

/** What /listeners shows of a listener. */
export interface ListenerStatus {
  readonly name: string;
  /** The bound address (the real port when 0 was configured). */
  readonly address: Address;
}

/** The `listener.<x>.` scope name of a listener: its stat_prefix, else its configured address. */
export function listenerStatName(l: LoadedListenerConfig): string {
  return l.statPrefix !== '' ? l.statPrefix : addressStatName(l.address);
}

function buildChain(chain: LoadedFilterChain, ctx: FactoryContext, track: (c: Connection) => void): FilterChain {
  const factories: NetworkFilterFactoryCb[] = chain.filters.map((f) => f.factory.createFilterFactory(f.config, ctx));
  const tls =
    chain.transportSocket === undefined
      ? undefined
      : new TlsServerTransportFactory(chain.transportSocket, {
          scope: ctx.listenerScope,
          dispatcher: ctx.dispatcher,
          connectTimeoutMs: chain.transportSocketConnectTimeoutMs ?? 0,
        });
  return {
    name: chain.name,
    ...(tls !== undefined ? { createTransportSocket: (socket, info) => tls.create(socket, info) } : {}),
    createNetworkFilters(connection: Connection): void {
      track(connection);
      for (const install of factories) install(connection, connection);
    },
  };
}

export class ListenerManager {
  private readonly listeners: TcpListener[] = [];
  private readonly connections = new Set<Connection>();
  private zeroWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(configs: readonly LoadedListenerConfig[], deps: ListenerManagerDeps) {
    const track = (c: Connection) => this.track(c);
    for (const l of configs) {
      const listenerScope = deps.scope.createScope(`listener.${listenerStatName(l)}`);
      const logger = deps.logger.child({ listener: l.name });
      const ctx: FactoryContext = {
        clusterManager: deps.clusterManager,
        scope: deps.scope,
        listenerScope,
        dispatcher: deps.dispatcher,
        logger,
        drainDecision: l.drainType === 'MODIFY_ONLY' ? NEVER_DRAIN : deps.drainDecision,
        lifecycleNotifier: deps.lifecycleNotifier,
        listenerName: l.name,
        httpFilterFactory: (name) => deps.registry.httpFilterFactory(name),
      };
      const matcher = new FilterChainMatcher(
        l.filterChains.map((c) => ({ match: c.match, value: buildChain(c, ctx, track) })),
        l.defaultFilterChain === undefined ? undefined : buildChain(l.defaultFilterChain, ctx, track),
      );
      this.listeners.push(
        new TcpListener({
          name: l.name,
          address: l.address,
          dispatcher: deps.dispatcher,
          scope: listenerScope,
          filterChainFactory: (info) =>
            matcher.find({
              destinationPort: info.localAddress.port,
              serverName: info.requestedServerName,
              transportProtocol: info.detectedTransportProtocol,
              applicationProtocols: info.applicationProtocols,
            }),
          listenerFilters: l.listenerFilters.map((f) => f.factory.createFilter(f.config, ctx)),
          listenerFiltersTimeoutMs: l.listenerFiltersTimeoutMs,
          continueOnListenerFiltersTimeout: l.continueOnListenerFiltersTimeout,
          perConnectionBufferLimitBytes: l.perConnectionBufferLimitBytes,
          ...(l.tcpBacklogSize !== undefined ? { backlog: l.tcpBacklogSize } : {}),
          logger,
        }),
      );
    }
  }

  /** Binds every listener; on a failure, stops those already bound and rejects with the cause. */
  async start(): Promise<void> {
    for (const l of this.listeners) {
      try {
        await l.listen();
      } catch (e) {
        await this.stopListeners();
        const where = formatAddress(l.address());
        throw new Error(`cannot bind listener "${l.name}" to ${where}: ${(e as Error).message}`);
      }
    }
  }

  status(): ListenerStatus[] {
    return this.listeners.map((l) => ({ name: l.name, address: l.address() }));
  }

  /** Stops accepting on every listener (the ports are released); connections stay. */
  async stopListeners(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.listeners.map((l) => l.stop()));
  }

  isStopped(): boolean {
    return this.stopped;
  }

  numConnections(): number {
    return this.connections.size;
  }

  /** Resolves true once no connection is left, or false after `timeoutMs`. */
  waitForConnectionsToClose(timeoutMs: number): Promise<boolean> {
    if (this.connections.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.zeroWaiters = this.zeroWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.zeroWaiters.push(done);
    });
  }

  closeConnections(type: ConnectionCloseType): void {
    for (const l of this.listeners) l.closeConnections(type);
  }

  private track(connection: Connection): void {
    this.connections.add(connection);
    connection.addConnectionCallbacks({
      onEvent: (event: ConnectionEvent) => {
        if (event === 'Connected' || !this.connections.delete(connection)) return;
        if (this.connections.size === 0) {
          const waiters = this.zeroWaiters;
          this.zeroWaiters = [];
          for (const w of waiters) w();
        }
      },
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    });
  }
}
