/**
 * The server (Envoy's InstanceImpl, one worker): owns the dispatcher, the stats store, the cluster
 * manager, the listeners and the admin listener, and runs their lifecycle:
 *
 *   start()    admin, then every listener; state INITIALIZING -> LIVE
 *   drain()    stop accepting, tell filters to drain (DrainDecision), wait for the active
 *              connections up to the drain time; state DRAINING
 *   shutdown() close what is left (connections, upstream pools), run the ShutdownExit callbacks
 *              (access log flushes), stop admin; idempotent
 *
 * It never imports codecs/ or filters/: the filter registry and the HTTP pool factory come in from
 * main.ts.
 */
import type { Dispatcher } from '../api/dispatcher.js';
import type { Logger } from '../api/logger.js';
import type { Address } from '../api/network.js';
import type { HttpConnPoolFactory } from '../api/upstream.js';
import { AdminServer, type AdminResponse, type ServerState } from '../admin/admin-server.js';
import { NodeDispatcher } from '../common/dispatcher.js';
import type { ClusterConfig } from '../config/cluster-config.js';
import type { FilterRegistry } from '../config/filter-registry.js';
import type { LoadedBootstrap } from '../config/load.js';
import { formatAddress } from '../network/address.js';
import { ClientConnectionImpl } from '../network/connection.js';
import { TlsClientTransport } from '../network/tls/client-transport.js';
import type { UpstreamTlsContextConfig } from '../network/tls/tls-config.js';
import { StatsStore } from '../stats/store.js';
import { ClusterManagerImpl } from '../upstream/cluster-manager.js';
import type { CircuitBreakerThresholds, ClusterOptions } from '../upstream/cluster-options.js';
import { DrainManager } from './drain-manager.js';
import { LifecycleNotifier } from './lifecycle-notifier.js';
import { ListenerManager } from './listener-manager.js';

export interface ServerConfig {
  readonly bootstrap: LoadedBootstrap;
  readonly registry: FilterRegistry;
  readonly logger: Logger;
  /** How long drain() waits for active connections. */
  readonly drainTimeMs: number;
  /**
   * Makes the codec layer's HTTP pool factory on the server's dispatcher (main.ts supplies it;
   * src/ cannot import codecs/). Without it, clusters serve TCP pools only.
   */
  readonly createHttpConnPoolFactory?: (dispatcher: Dispatcher) => HttpConnPoolFactory;
  /** For /server_info. */
  readonly version?: string;
  readonly commandLineOptions?: Readonly<Record<string, unknown>>;
  /** POST /quitquitquit on the admin listener. */
  readonly onQuit?: () => void;
}

/** Upstream connections may take this long to close on shutdown before we stop waiting. */
const UPSTREAM_SHUTDOWN_GRACE_MS = 2000;

/** ShutdownExit callbacks (access log flushes) may take this long before we stop waiting. */
const SHUTDOWN_EXIT_GRACE_MS = 5000;

/** Envoy's `server.state` gauge values. */
const STATE_GAUGE: Record<ServerState, number> = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 };

function thresholds(t: ClusterConfig['circuitBreakers']['default']): CircuitBreakerThresholds {
  return {
    maxConnections: t.maxConnections,
    maxPendingRequests: t.maxPendingRequests,
    maxRequests: t.maxRequests,
    maxRetries: t.maxRetries,
    maxConnectionPools: t.maxConnectionPools,
    trackRemaining: t.trackRemaining,
  };
}

/**
 * The TLS transport of a cluster with an UpstreamTlsContext. Without configured alpn_protocols an
 * HTTP/2 cluster offers `h2` (Envoy's ALPN fallback from the HTTP/2 pool); HTTP/1 clusters offer
 * nothing, which every HTTP/1.1 server takes as HTTP/1.1.
 */
function upstreamTlsTransport(c: ClusterConfig, tls: UpstreamTlsContextConfig): ClusterOptions['createTransport'] {
  const alpnFallback = c.upstreamProtocol === 'http2' && !c.useDownstreamProtocol ? ['h2'] : [];
  return (scope) => new TlsClientTransport(tls, { scope, alpnFallback });
}

/** Maps a parsed cluster onto the cluster manager's plain options. */
export function clusterOptions(c: ClusterConfig): ClusterOptions {
  return {
    name: c.name,
    connectTimeoutMs: c.connectTimeoutMs,
    lbPolicy: c.lbPolicy,
    hosts: c.endpoints.map((e) => ({ address: e.address.address, port: e.address.port, weight: e.loadBalancingWeight, hostname: e.hostname })),
    circuitBreakers: { default: thresholds(c.circuitBreakers.default), high: thresholds(c.circuitBreakers.high) },
    perConnectionBufferLimitBytes: c.perConnectionBufferLimitBytes,
    maxRequestsPerConnection: c.maxRequestsPerConnection,
    idleTimeoutMs: c.idleTimeoutMs,
    upstreamProtocol: c.upstreamProtocol,
    useDownstreamProtocol: c.useDownstreamProtocol,
    http2Options: { ...c.http2Options, ...(c.maxHeadersCount !== undefined ? { maxHeadersCount: c.maxHeadersCount } : {}) },
    healthyPanicThresholdPercent: c.healthyPanicThresholdPercent,
    leastRequest: { choiceCount: c.leastRequestChoiceCount, activeRequestBias: c.leastRequestActiveRequestBias },
    ...(c.altStatName !== '' ? { altStatName: c.altStatName } : {}),
    ...(c.transportSocket !== undefined ? { createTransport: upstreamTlsTransport(c, c.transportSocket) } : {}),
  };
}

export class Server {
  readonly dispatcher = new NodeDispatcher({ name: 'main' });
  readonly stats = new StatsStore();
  readonly clusterManager: ClusterManagerImpl;
  readonly drainManager = new DrainManager();
  /** Filters' shutdown work (Envoy's ServerLifecycleNotifier), run by shutdown(). */
  readonly lifecycleNotifier = new LifecycleNotifier();
  readonly listenerManager: ListenerManager;
  readonly admin: AdminServer | undefined;
  private readonly logger: Logger;
  private stateValue: ServerState = 'PRE_INITIALIZING';
  private drainPromise: Promise<void> | undefined;
  private shutdownPromise: Promise<void> | undefined;

  constructor(private readonly config: ServerConfig) {
    this.logger = config.logger;
    const { bootstrap } = config;
    const dispatcher = this.dispatcher;
    const upstreamLogger = config.logger.child({ side: 'upstream' });
    this.clusterManager = new ClusterManagerImpl({
      clusters: bootstrap.clusters.map(clusterOptions),
      scope: this.stats,
      dispatcher,
      connectionFactory: (address, bufferLimit, transport) =>
        new ClientConnectionImpl(dispatcher, address, { bufferLimit, logger: upstreamLogger, ...(transport !== undefined ? { transport } : {}) }),
      ...(config.createHttpConnPoolFactory !== undefined ? { httpConnPoolFactory: config.createHttpConnPoolFactory(dispatcher) } : {}),
    });
    this.listenerManager = new ListenerManager(bootstrap.listeners, {
      dispatcher,
      scope: this.stats,
      clusterManager: this.clusterManager,
      registry: config.registry,
      logger: config.logger,
      drainDecision: this.drainManager,
      lifecycleNotifier: this.lifecycleNotifier,
    });
    this.admin = bootstrap.admin === undefined ? undefined : this.createAdmin(bootstrap.admin.address);
    this.stats.gauge('server.concurrency').set(1);
    this.setState('PRE_INITIALIZING');
  }

  state(): ServerState {
    return this.stateValue;
  }

  /** Binds the admin listener, then every listener. Rejects (and releases what it bound) on failure. */
  async start(): Promise<void> {
    this.setState('INITIALIZING');
    if (this.admin !== undefined) {
      const a = this.config.bootstrap.admin!.address;
      try {
        await this.admin.start();
      } catch (e) {
        throw new Error(`cannot bind the admin listener to ${formatAddress(a)}: ${(e as Error).message}`);
      }
    }
    try {
      await this.listenerManager.start();
    } catch (e) {
      await this.admin?.stop();
      throw e;
    }
    this.setState('LIVE');
  }

  /** The listeners with their bound addresses (`127.0.0.1:8080`), for logs. */
  listenerAddresses(): { name: string; address: string }[] {
    return this.listenerManager.status().map((l) => ({ name: l.name, address: formatAddress(l.address) }));
  }

  /** The admin listener's bound address, when there is one. */
  adminAddress(): Address | undefined {
    return this.admin?.address();
  }

  /**
   * Graceful drain: stop accepting, ask every connection to finish (filters see drainClose()), and
   * wait for them up to the drain time. Resolves when they are gone or the time is up; what is
   * left is closed by shutdown().
   */
  drain(): Promise<void> {
    this.drainPromise ??= this.runDrain();
    return this.drainPromise;
  }

  private async runDrain(): Promise<void> {
    this.setState('DRAINING');
    await this.listenerManager.stopListeners();
    this.drainManager.startDrain();
    const active = this.listenerManager.numConnections();
    if (active === 0) return;
    this.logger.info({ connections: active, drainTimeMs: this.config.drainTimeMs }, 'waiting for active connections');
    const allClosed = await this.listenerManager.waitForConnectionsToClose(this.config.drainTimeMs);
    if (!allClosed) {
      this.logger.warn({ connections: this.listenerManager.numConnections() }, 'drain time is up; closing the remaining connections');
    }
  }

  /** Closes everything now: listeners, connections, upstream pools, admin. Idempotent. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.runShutdown();
    return this.shutdownPromise;
  }

  private async runShutdown(): Promise<void> {
    if (this.stateValue !== 'DRAINING') this.setState('DRAINING');
    this.drainManager.startDrain();
    await this.listenerManager.stopListeners();
    this.listenerManager.closeConnections('NoFlush');
    let timer: NodeJS.Timeout | undefined;
    const upstreamClosed = await Promise.race([
      this.clusterManager.shutdown().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), UPSTREAM_SHUTDOWN_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!upstreamClosed) this.logger.warn('upstream connections did not close in time');
    // After the connections closed (their streams' access log entries are queued by now): flush.
    const exited = await this.lifecycleNotifier.runStage('ShutdownExit', SHUTDOWN_EXIT_GRACE_MS, this.logger);
    if (!exited) this.logger.warn('shutdown callbacks (access log flushes) did not finish in time');
    await this.admin?.stop();
  }

  private setState(state: ServerState): void {
    this.stateValue = state;
    this.stats.gauge('server.state').set(STATE_GAUGE[state]);
    this.stats.gauge('server.live').set(state === 'LIVE' ? 1 : 0);
  }

  private createAdmin(address: Address): AdminServer {
    const admin = new AdminServer({
      address: address.address,
      port: address.port,
      store: this.stats,
      clusterManager: this.clusterManager,
      state: () => this.stateValue,
      logger: this.config.logger.child({ admin: true }),
      ...(this.config.version !== undefined ? { version: this.config.version } : {}),
      ...(this.config.commandLineOptions !== undefined ? { commandLineOptions: this.config.commandLineOptions } : {}),
      ...(this.config.onQuit !== undefined ? { onQuit: this.config.onQuit } : {}),
    });
    admin.addHandler('/listeners', 'print listener info', false, (r) => this.listenersPage(r.query.get('format') === 'json'), [
      { id: 'format', help: 'File format to use', choices: ['text', 'json'] },
    ]);
    admin.addHandler('/drain_listeners', 'drain listeners', true, () => {
      void this.drain();
      return { status: 200, body: 'OK\n' };
    });
    return admin;
  }

  /** Envoy's /listeners: `name::address` lines, or listener_statuses in JSON. */
  private listenersPage(json: boolean): AdminResponse {
    const status = this.listenerManager.status();
    if (!json) {
      return { status: 200, body: status.map((l) => `${l.name}::${formatAddress(l.address)}\n`).join('') };
    }
    const listener_statuses = status.map((l) => ({
      name: l.name,
      local_address: { socket_address: { address: l.address.address, port_value: l.address.port } },
    }));
    return { status: 200, body: JSON.stringify({ listener_statuses }, null, 1), contentType: 'application/json' };
  }
}
