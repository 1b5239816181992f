import type { Dispatcher } from '../api/dispatcher.js';
import type { ConnectionEvent } from '../api/network.js';
import type { Counter, Histogram } from '../api/stats.js';
import type { Cancellable, ClusterStats, Host, PoolFailureReason, ResourceManager } from '../api/upstream.js';
import type { ActiveClient, ActiveClientState } from './active-client.js';
import { IntrusiveList, type ListNode } from '../common/intrusive-list.js';

export { ActiveClient, zeroToUnlimited, type ActiveClientState } from './active-client.js';

export type CancelPolicy = 'Default' | 'CloseExcess';

interface PendingOwner<Ctx> {
  onPendingStreamCancel(stream: PendingStream<Ctx>, policy: CancelPolicy): void;
}

/**
 * A stream waiting for a connection (Envoy's PendingStream): the caller's handle to cancel it.
 * Once attached or failed it is out of every list and cancel() does nothing.
 */
export class PendingStream<Ctx> implements Cancellable, ListNode<PendingStream<Ctx>> {
  listPrev: PendingStream<Ctx> | undefined;
  listNext: PendingStream<Ctx> | undefined;
  listOwner: IntrusiveList<PendingStream<Ctx>> | undefined;

  constructor(
    private readonly owner: PendingOwner<Ctx>,
    readonly context: Ctx,
  ) {}

  cancel(policy: CancelPolicy): void {
    this.owner.onPendingStreamCancel(this, policy);
  }
}

/** Streams-per-connection and connection counts, for tests and /clusters-like views. */
export interface PoolCounts {
  readonly connecting: number;
  readonly ready: number;
  readonly busy: number;
  readonly draining: number;
  readonly pending: number;
  readonly activeStreams: number;
}

/** How many connections one call may open (Envoy's tryCreateNewConnections loop). */
const MAX_CONNECTIONS_PER_ATTEMPT = 3;

/**
 * Envoy's ConnPoolImplBase: the protocol-independent half of every upstream connection pool.
 *
 * - Clients live in one list per state (connecting, ready, busy, draining) and move only through
 *   transitionActiveClientState(); the most recently readied client is reused first, so spare
 *   connections go idle and time out.
 * - Streams that find no ready client wait in a FIFO of PendingStreams (Cancellable handles).
 *   A new connection is opened only while the pending streams outnumber what the connecting
 *   clients will be able to carry (`connecting capacity`), and within max_connections (over the
 *   limit: `upstream_cx_overflow`; a pool with no connection at all still opens one, as Envoy).
 * - Circuit breakers: max_pending_requests (-> onPoolFailure('Overflow'),
 *   `upstream_rq_pending_overflow`), max_requests (the same at attach time), max_connections.
 * - The connect timeout (cluster connect_timeout) closes the client
 *   (`upstream_cx_connect_timeout`); any close before Connected counts `upstream_cx_connect_fail`
 *   and fails every pending stream with Timeout / RemoteConnectionFailure /
 *   LocalConnectionFailure (`upstream_rq_pending_failure_eject`).
 * - max_requests_per_connection: the client drains after its last allowed stream
 *   (`upstream_cx_max_requests`) and closes when that stream ends.
 * - A connected client with no streams closes after the cluster idle timeout
 *   (`upstream_cx_idle_timeout`).
 * - Idle callbacks run whenever the pool holds no connection and no pending stream.
 *
 * Subclasses supply the client (instantiateActiveClient) and the protocol-specific halves of
 * attach and failure (onPoolReady, onPoolFailure).
 */
export abstract class ConnPoolBase<C extends ActiveClient, Ctx> implements PendingOwner<Ctx> {
  private readonly connectingClients = new IntrusiveList<ActiveClient>();
  private readonly readyClients = new IntrusiveList<ActiveClient>();
  private readonly busyClients = new IntrusiveList<ActiveClient>();
  private readonly drainingClients = new IntrusiveList<ActiveClient>();
  private readonly pendingStreams = new IntrusiveList<PendingStream<Ctx>>();
  /** Pending streams being failed by purgePendingStreams (a cancel from a callback finds them here). */
  private readonly pendingToPurge = new IntrusiveList<PendingStream<Ctx>>();
  private connectingStreamCapacity = 0;
  private activeStreams = 0;
  private readonly idleCallbacks: Array<() => void> = [];
  private drainingForDeletion = false;
  /** Idle callbacks ran for the current idle period (they run once per period). */
  private idleNotified = false;
  private upstreamReadyScheduled = false;
  private lastCreateError = '';
  protected readonly stats: ClusterStats;
  protected readonly resources: ResourceManager;
  private readonly destroyWithActiveRq: Counter;
  private readonly destroyLocalWithActiveRq: Counter;
  private readonly destroyRemoteWithActiveRq: Counter;
  private readonly idleTimeoutCounter: Counter;
  private readonly connectMs: Histogram;
  private readonly lengthMs: Histogram;

  constructor(
    readonly host: Host,
    protected readonly dispatcher: Dispatcher,
  ) {
    const cluster = host.cluster;
    this.stats = cluster.stats;
    this.resources = cluster.resourceManager();
    const scope = cluster.statsScope;
    this.destroyWithActiveRq = scope.counter('upstream_cx_destroy_with_active_rq');
    this.destroyLocalWithActiveRq = scope.counter('upstream_cx_destroy_local_with_active_rq');
    this.destroyRemoteWithActiveRq = scope.counter('upstream_cx_destroy_remote_with_active_rq');
    this.idleTimeoutCounter = scope.counter('upstream_cx_idle_timeout');
    this.connectMs = scope.histogram('upstream_cx_connect_ms');
    this.lengthMs = scope.histogram('upstream_cx_length_ms');
  }

  /** Makes an unconnected client in state Connecting; the pool calls its connect() next. */
  protected abstract instantiateActiveClient(): C;
  /** Hands the new stream on `client` to the caller described by `context`. */
  protected abstract onPoolReady(client: C, context: Ctx): void;
  protected abstract onPoolFailure(
    host: Host | undefined,
    reason: PoolFailureReason,
    details: string,
    context: Ctx,
  ): void;
  /** Hook: a client finished connecting (before pending streams are attached). */
  protected onConnected(_client: C): void {}
  /** Hook: a client failed to connect (before pending streams are failed). */
  protected onConnectFailed(_client: C): void {}

  /** The idle timeout of connected clients without streams; 0 disables. */
  protected idleTimeoutMs(): number {
    return this.host.cluster.idleTimeoutMs;
  }

  /**
   * Envoy's newStreamImpl: attach to a ready client now, or queue a pending stream and open
   * connections as capacity requires. Undefined when a callback already ran.
   */
  protected newStreamImpl(context: Ctx): Cancellable | undefined {
    if (this.drainingForDeletion) {
      this.onPoolFailure(undefined, 'LocalConnectionFailure', 'pool_draining_for_deletion', context);
      return undefined;
    }
    const ready = this.readyClients.front();
    if (ready !== undefined) {
      this.attachStreamToClient(ready as C, context);
      return undefined;
    }
    if (!this.resources.pendingRequests.canCreate()) {
      this.onPoolFailure(undefined, 'Overflow', '', context);
      this.stats.upstream_rq_pending_overflow.inc();
      return undefined;
    }
    const pending = this.newPendingStream(context);
    this.tryCreateNewConnections();
    // A connect that failed inline already failed the stream.
    return pending.listOwner !== undefined ? pending : undefined;
  }

  onPendingStreamCancel(stream: PendingStream<Ctx>, policy: CancelPolicy): void {
    if (!this.pendingToPurge.remove(stream) && !this.pendingStreams.remove(stream)) return;
    this.destroyPendingStream();
    if (policy === 'CloseExcess') {
      const client = this.connectingClients.front();
      if (client !== undefined && this.connectingConnectionIsExcess(client)) {
        this.transitionActiveClientState(client, 'Draining');
        client.close();
      }
    }
    this.stats.upstream_rq_cancelled.inc();
    this.checkForIdleAndNotify();
  }

  /** The only way a client changes state (and list). */
  transitionActiveClientState(client: ActiveClient, state: ActiveClientState): void {
    if (client.state === 'Closed') return;
    const list = this.owningList(state);
    if (list !== undefined) list.pushFront(client);
    else client.listOwner?.remove(client);
    client.state = state;
  }

  /**
   * Clients report Connected and closes here (Envoy's onConnectionEvent). On a close, report it
   * here first and only then end the client's streams with onStreamClosed: a client still in the
   * ready/busy lists while its streams end would be handed new streams.
   */
  onConnectionEvent(client: C, event: ConnectionEvent, failureReason = ''): void {
    if (event === 'Connected') this.onClientConnected(client);
    else this.onClientClosed(client, event, failureReason);
  }

  /**
   * A stream on `client` ended; the client's numActiveStreams() must already exclude it.
   * `delayAttaching` defers serving pending streams to the next loop turn, for a connection that
   * may be closed right after its response (Envoy issue 2715).
   */
  onStreamClosed(client: C, delayAttaching: boolean): void {
    this.activeStreams--;
    this.host.onRequestEnd();
    this.stats.upstream_rq_active.dec();
    this.resources.requests.dec();
    if (client.state === 'Draining' && client.numActiveStreams() === 0) {
      client.close();
      return;
    }
    if (client.state === 'Busy' && client.currentUnusedCapacity() > 0) {
      this.transitionActiveClientState(client, 'Ready');
      // With nothing pending there is nothing to attach (a new stream takes a ready client
      // directly), so no loop turn is spent on it.
      if (!this.pendingStreams.isEmpty()) {
        if (delayAttaching) this.scheduleOnUpstreamReady();
        else this.onUpstreamReady();
      }
    }
    if (client.state === 'Ready' && client.numActiveStreams() === 0) this.armIdleTimer(client);
  }

  /**
   * The peer changed how many streams `client` may carry at once (HTTP/2 SETTINGS
   * MAX_CONCURRENT_STREAMS), capped by the configured limit.
   */
  updateConcurrentStreamLimit(client: C, limit: number): void {
    const before = client.currentUnusedCapacity();
    client.concurrentStreamLimit = Math.min(limit, client.configuredStreamLimit);
    const after = client.currentUnusedCapacity();
    if (!client.hasHandshakeCompleted) this.connectingStreamCapacity += after - before;
    if (client.state === 'Ready' && after === 0) {
      this.transitionActiveClientState(client, 'Busy');
    } else if (client.state === 'Busy' && after > 0) {
      this.transitionActiveClientState(client, 'Ready');
      this.onUpstreamReady();
    }
  }

  /**
   * Envoy's drainConnections(DrainExistingConnections): idle connections close now, the rest take
   * no new streams and close after their last one. New streams get new connections.
   */
  drainConnections(): void {
    this.closeIdleConnectionsForDrainingPool();
    for (let c = this.readyClients.front(); c !== undefined; c = this.readyClients.front()) {
      this.transitionActiveClientState(c, 'Draining');
    }
    for (let c = this.busyClients.front(); c !== undefined; c = this.busyClients.front()) {
      this.transitionActiveClientState(c, 'Draining');
    }
  }

  /**
   * DrainAndDelete: as drainConnections, and the pool takes no new streams; idle callbacks tell
   * when the last connection is gone.
   */
  drainForDeletion(): void {
    this.drainingForDeletion = true;
    this.drainConnections();
    this.checkForIdleAndNotify();
  }

  /** Closes every connection now and fails what is pending (shutdown). */
  closeConnections(): void {
    this.drainingForDeletion = true;
    this.purgePendingStreams('pool_closed', 'LocalConnectionFailure');
    for (const list of [this.readyClients, this.busyClients, this.drainingClients, this.connectingClients]) {
      for (const c of list.toArray()) c.close();
    }
    this.checkForIdleAndNotify();
  }

  /** No connections and no pending streams. */
  isIdle(): boolean {
    return (
      this.pendingStreams.isEmpty() &&
      this.readyClients.isEmpty() &&
      this.busyClients.isEmpty() &&
      this.drainingClients.isEmpty() &&
      this.connectingClients.isEmpty()
    );
  }

  /** `cb` runs each time the pool becomes idle (once per idle period). */
  addIdleCallback(cb: () => void): void {
    this.idleCallbacks.push(cb);
  }

  hasPendingStreams(): boolean {
    return !this.pendingStreams.isEmpty();
  }

  counts(): PoolCounts {
    return {
      connecting: this.connectingClients.size,
      ready: this.readyClients.size,
      busy: this.busyClients.size,
      draining: this.drainingClients.size,
      pending: this.pendingStreams.size,
      activeStreams: this.activeStreams,
    };
  }

  /** Streams the connecting clients will be able to carry once connected. */
  connectingCapacity(): number {
    return this.connectingStreamCapacity;
  }

  private owningList(state: ActiveClientState): IntrusiveList<ActiveClient> | undefined {
    switch (state) {
      case 'Connecting':
        return this.connectingClients;
      case 'Ready':
        return this.readyClients;
      case 'Busy':
        return this.busyClients;
      case 'Draining':
        return this.drainingClients;
      case 'Closed':
        return undefined;
    }
  }

  private newPendingStream(context: Ctx): PendingStream<Ctx> {
    const stream = new PendingStream<Ctx>(this, context);
    this.idleNotified = false;
    this.stats.upstream_rq_pending_total.inc();
    this.stats.upstream_rq_pending_active.inc();
    this.resources.pendingRequests.inc();
    this.pendingStreams.pushBack(stream);
    return stream;
  }

  private destroyPendingStream(): void {
    this.stats.upstream_rq_pending_active.dec();
    this.resources.pendingRequests.dec();
  }

  private tryCreateNewConnections(): void {
    for (let i = 0; i < MAX_CONNECTIONS_PER_ATTEMPT; i++) {
      const result = this.tryCreateNewConnection();
      if (result === 'Created') continue;
      if (result === 'Failed' && this.connectingStreamCapacity === 0) {
        // No connection can be made and none is on its way: nothing would ever serve them.
        this.purgePendingStreams(this.lastCreateError, 'LocalConnectionFailure');
      }
      break;
    }
  }

  /** Opens one connection if the pending streams need it. */
  private tryCreateNewConnection(): 'Created' | 'NotNeeded' | 'Limited' | 'Failed' {
    if (this.pendingStreams.size <= this.connectingStreamCapacity) return 'NotNeeded';
    const canCreate = this.resources.connections.canCreate();
    if (!canCreate) this.stats.upstream_cx_overflow.inc();
    // Over the limit because of other hosts' connections, a host with none still gets one, or its
    // pending streams could wait forever.
    const hasNone =
      this.readyClients.isEmpty() &&
      this.busyClients.isEmpty() &&
      this.drainingClients.isEmpty() &&
      this.connectingClients.isEmpty();
    if (!canCreate && !hasNone) return 'Limited';
    let client: C;
    try {
      client = this.instantiateActiveClient();
    } catch (e) {
      // Envoy's FailedToCreateConnection (e.g. a connection that cannot even be set up).
      this.lastCreateError = e instanceof Error ? e.message : String(e);
      return 'Failed';
    }
    this.idleNotified = false;
    client.createdAt = this.dispatcher.approximateMonotonicTime();
    this.stats.upstream_cx_total.inc();
    this.stats.upstream_cx_active.inc();
    this.host.onConnectionOpen();
    this.resources.connections.inc();
    client.connectTimer = this.dispatcher.createTimer(() => this.onConnectTimeout(client));
    client.connectTimer.enableTimer(this.host.cluster.connectTimeoutMs);
    this.connectingStreamCapacity += client.currentUnusedCapacity();
    this.transitionActiveClientState(client, 'Connecting');
    try {
      client.connect();
    } catch (e) {
      // A connect that throws is a failed connect attempt: report it as one.
      this.onConnectionEvent(client, 'LocalClose', e instanceof Error ? e.message : String(e));
      return 'Failed';
    }
    return canCreate ? 'Created' : 'Limited';
  }

  private onConnectTimeout(client: C): void {
    if (client.hasHandshakeCompleted || client.state === 'Closed') return;
    this.stats.upstream_cx_connect_timeout.inc();
    client.timedOut = true;
    client.close();
  }

  private attachStreamToClient(client: C, context: Ctx): void {
    if (!this.resources.requests.canCreate()) {
      this.onPoolFailure(this.host, 'Overflow', '', context);
      this.stats.upstream_rq_pending_overflow.inc();
      return;
    }
    const capacity = client.currentUnusedCapacity();
    client.remainingStreams--;
    if (client.remainingStreams === 0) {
      this.stats.upstream_cx_max_requests.inc();
      this.transitionActiveClientState(client, 'Draining');
    } else if (capacity === 1) {
      this.transitionActiveClientState(client, 'Busy');
    }
    client.idleTimer?.disableTimer();
    this.activeStreams++;
    this.host.onRequestStart();
    this.stats.upstream_rq_total.inc();
    this.stats.upstream_rq_active.inc();
    this.resources.requests.inc();
    this.onPoolReady(client, context);
  }

  private onUpstreamReady(): void {
    for (;;) {
      const client = this.readyClients.front();
      const stream = this.pendingStreams.front();
      if (client === undefined || stream === undefined) break;
      // Out of the list first: the stream's handle is dead once its callback runs.
      this.pendingStreams.remove(stream);
      this.destroyPendingStream();
      this.attachStreamToClient(client as C, stream.context);
    }
    if (!this.pendingStreams.isEmpty()) this.tryCreateNewConnections();
  }

  private scheduleOnUpstreamReady(): void {
    if (this.upstreamReadyScheduled) return;
    this.upstreamReadyScheduled = true;
    this.dispatcher.post(() => {
      this.upstreamReadyScheduled = false;
      this.onUpstreamReady();
    });
  }

  private onClientConnected(client: C): void {
    if (client.state === 'Closed' || client.hasHandshakeCompleted) return;
    client.connectTimer?.disableTimer();
    client.connectTimer = undefined;
    this.connectingStreamCapacity -= client.currentUnusedCapacity();
    client.hasHandshakeCompleted = true;
    this.connectMs.recordValue(this.dispatcher.approximateMonotonicTime() - client.createdAt);
    if (client.state === 'Connecting') {
      this.transitionActiveClientState(client, client.currentUnusedCapacity() > 0 ? 'Ready' : 'Busy');
    }
    this.onConnected(client);
    if (client.state === 'Ready') this.onUpstreamReady();
    if (client.state === 'Ready' && client.numActiveStreams() === 0) this.armIdleTimer(client);
    else if (client.state === 'Draining' && client.numActiveStreams() === 0) client.close();
    this.checkForIdleAndNotify();
  }

  private onClientClosed(client: C, event: ConnectionEvent, failureReason: string): void {
    if (client.state === 'Closed') return;
    client.connectTimer?.disableTimer();
    client.connectTimer = undefined;
    client.idleTimer?.disableTimer();
    client.idleTimer = undefined;
    const wasConnecting = !client.hasHandshakeCompleted;
    if (wasConnecting) this.connectingStreamCapacity -= client.currentUnusedCapacity();
    // No stream may be attached from here on; onStreamClosed must not see spare capacity.
    client.remainingStreams = 0;

    const remote = event === 'RemoteClose';
    this.stats.upstream_cx_destroy.inc();
    (remote ? this.stats.upstream_cx_destroy_remote : this.stats.upstream_cx_destroy_local).inc();
    if (client.closingWithIncompleteStream()) {
      this.destroyWithActiveRq.inc();
      (remote ? this.destroyRemoteWithActiveRq : this.destroyLocalWithActiveRq).inc();
    }

    // Out of the lists before any callback runs, so a retry from onPoolFailure cannot pick it.
    client.listOwner?.remove(client);
    client.state = 'Closed';
    this.releaseResources(client);

    if (wasConnecting) {
      client.hasHandshakeCompleted = true;
      this.stats.upstream_cx_connect_fail.inc();
      countConnectFail(this.host);
      this.onConnectFailed(client);
      const reason: PoolFailureReason = client.timedOut
        ? 'Timeout'
        : remote
          ? 'RemoteConnectionFailure'
          : 'LocalConnectionFailure';
      this.purgePendingStreams(failureReason, reason);
    }

    this.dispatcher.deferredDelete(client);
    this.checkForIdleAndNotify();
    if (!this.pendingStreams.isEmpty()) this.tryCreateNewConnections();
  }

  private releaseResources(client: C): void {
    if (client.resourcesReleased) return;
    client.resourcesReleased = true;
    this.stats.upstream_cx_active.dec();
    this.host.onConnectionClose();
    this.resources.connections.dec();
    this.lengthMs.recordValue(this.dispatcher.approximateMonotonicTime() - client.createdAt);
    const cs = client.connectionStats();
    if (cs !== undefined) {
      this.stats.upstream_cx_rx_bytes_total.inc(cs.rxBytes);
      this.stats.upstream_cx_tx_bytes_total.inc(cs.txBytes);
    }
  }

  /**
   * Fails every pending stream. They move to a side list first, so a retry that calls newStream
   * from onPoolFailure queues normally instead of being failed in the same sweep.
   */
  private purgePendingStreams(details: string, reason: PoolFailureReason): void {
    this.pendingToPurge.takeAll(this.pendingStreams);
    for (let s = this.pendingToPurge.front(); s !== undefined; s = this.pendingToPurge.front()) {
      this.pendingToPurge.remove(s);
      this.destroyPendingStream();
      this.stats.upstream_rq_pending_failure_eject.inc();
      this.onPoolFailure(this.host, reason, details, s.context);
    }
  }

  /** Closing `client` would still leave enough connecting capacity for the pending streams. */
  private connectingConnectionIsExcess(client: ActiveClient): boolean {
    return this.pendingStreams.size <= this.connectingStreamCapacity - client.currentUnusedCapacity();
  }

  private closeIdleConnectionsForDrainingPool(): void {
    const toClose: ActiveClient[] = [];
    for (const c of this.readyClients.toArray()) if (c.numActiveStreams() === 0) toClose.push(c);
    if (this.pendingStreams.isEmpty()) toClose.push(...this.connectingClients.toArray());
    for (const c of toClose) c.close();
  }

  private armIdleTimer(client: C): void {
    const ms = this.idleTimeoutMs();
    if (ms <= 0) return;
    if (client.idleTimer === undefined) {
      client.idleTimer = this.dispatcher.createTimer(() => {
        if (client.state !== 'Ready' || client.numActiveStreams() !== 0) return;
        this.idleTimeoutCounter.inc();
        client.close();
      });
    }
    client.idleTimer.enableTimer(ms);
  }

  private checkForIdleAndNotify(): void {
    if (this.idleNotified || !this.isIdle()) return;
    this.idleNotified = true;
    for (const cb of [...this.idleCallbacks]) cb();
  }
}

/** Hosts of this package count connect failures for /clusters (`cx_connect_fail`). */
function countConnectFail(host: Host): void {
  const h = host as Host & { onConnectFail?: () => void };
  h.onConnectFail?.();
}
