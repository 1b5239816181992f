/**
 * In-memory fakes for unit tests of the L4 network filters (tcp_proxy, connection_limit): a
 * dispatcher with a manual clock, a scriptable Connection that records what is done to it, and a
 * cluster manager whose TCP pools hand out fake upstream connections on command.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type { DeferredDeletable, Dispatcher, Timer } from '../../src/api/dispatcher.js';
import type {
  Address,
  ClientConnection,
  ConnectionCloseType,
  FilterManager,
  NetworkFilterFactoryCb,
  ReadFilter,
  ReadFilterCallbacks,
  WriteFilter,
} from '../../src/api/network.js';
import type { Scope } from '../../src/api/stats.js';
import type {
  Cancellable,
  ClusterInfo,
  ClusterManager,
  ClusterStats,
  Host,
  HttpConnPool,
  LoadBalancer,
  PoolFailureReason,
  ResourceLimit,
  ResourceManager,
  TcpConnPool,
  TcpConnectionData,
  TcpPoolCallbacks,
  TcpUpstreamCallbacks,
  ThreadLocalCluster,
} from '../../src/api/upstream.js';
import { BufferChain } from '../../src/common/buffer-chain.js';
import { StatsStore } from '../../src/stats/store.js';
import { FakeConnectionBase } from './fake-connection-base.js';

class ManualTimer implements Timer {
  deadline = -1;
  constructor(
    private readonly owner: ManualDispatcher,
    readonly cb: () => void,
  ) {}
  enableTimer(ms: number): void {
    this.deadline = this.owner.now + ms;
  }
  disableTimer(): void {
    this.deadline = -1;
  }
  enabled(): boolean {
    return this.deadline >= 0;
  }
}

/** Timers fire only from advance(); the clock moves only with it. */
export class ManualDispatcher implements Dispatcher {
  now = 0;
  private readonly timers: ManualTimer[] = [];

  createTimer(cb: () => void): Timer {
    const t = new ManualTimer(this, cb);
    this.timers.push(t);
    return t;
  }
  deferredDelete(d: DeferredDeletable): void {
    d.onDeferredDelete();
  }
  post(cb: () => void): void {
    cb();
  }
  approximateMonotonicTime(): number {
    return this.now;
  }
  systemTime(): number {
    return this.now;
  }
  /** Timers currently armed. */
  armedTimers(): number {
    return this.timers.filter((t) => t.enabled()).length;
  }
  /** Moves the clock by `ms`, firing due timers in deadline order at their deadlines. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (t.enabled() && t.deadline <= end && (next === undefined || t.deadline < next.deadline)) next = t;
      }
      if (next === undefined) break;
      this.now = Math.max(this.now, next.deadline);
      next.deadline = -1;
      next.cb();
    }
    this.now = end;
  }
}

/**
 * A connection that records writes, closes and readDisable calls. `holdFlush` makes a FlushWrite
 * close stay in 'Closing' until finishFlush(), as a socket with unsent bytes would.
 */
export class FakeConnection extends FakeConnectionBase {
  readonly written: Buffer[] = [];
  writeEnded = false;
  holdFlush = false;
  continueReadingCalls = 0;
  private readonly readFilters: ReadFilter[] = [];

  addReadFilter(filter: ReadFilter): void {
    this.readFilters.push(filter);
    filter.initializeReadFilterCallbacks(this.readCallbacks());
  }
  addFilter(filter: ReadFilter & WriteFilter): void {
    this.addReadFilter(filter);
  }
  /** Runs onNewConnection down the chain until a filter stops. */
  initializeReadFilters(): boolean {
    for (const f of this.readFilters) {
      if (this.st !== 'Open' || f.onNewConnection() === 'StopIteration') break;
    }
    return this.readFilters.length > 0;
  }
  /** Delivers bytes read from the socket to the read filters. */
  receive(data: Buffer | string, endStream = false): BufferChain {
    const buf = new BufferChain(data);
    this.rx += buf.length;
    for (const f of this.readFilters) {
      if (f.onData(buf, endStream) === 'StopIteration') break;
    }
    return buf;
  }
  write(data: BufferInstance, endStream: boolean): void {
    const n = data.length;
    if (n > 0) this.written.push(Buffer.concat(data.slices() as Buffer[], n));
    data.drain(n);
    this.tx += n;
    if (endStream) this.writeEnded = true;
  }
  writtenBytes(): Buffer {
    return Buffer.concat(this.written);
  }
  close(type: ConnectionCloseType, details = ''): void {
    if (!this.recordClose(type, details)) return;
    if (type === 'FlushWrite' && this.holdFlush) {
      this.st = 'Closing';
      return;
    }
    this.st = 'Closed';
    this.raise('LocalClose');
  }
  /** Completes a held FlushWrite. */
  finishFlush(): void {
    if (this.st !== 'Closing') return;
    this.st = 'Closed';
    this.raise('LocalClose');
  }
  /** Pretends `n` more bytes left the socket (sending counts as activity). */
  addTxBytes(n: number): void {
    this.tx += n;
  }
  private readCallbacks(): ReadFilterCallbacks {
    return {
      connection: () => this,
      continueReading: () => {
        this.continueReadingCalls++;
      },
      injectReadDataToFilterChain: () => {},
    };
  }
}

/** Installs the filters a factory callback adds onto a FakeConnection and starts them. */
export function installFilters(conn: FakeConnection, cbs: readonly NetworkFilterFactoryCb[]): void {
  const fm: FilterManager = {
    addReadFilter: (f) => conn.addReadFilter(f),
    addWriteFilter: (f) => conn.addWriteFilter(f),
    addFilter: (f) => conn.addFilter(f),
  };
  for (const cb of cbs) cb(fm, conn);
  conn.initializeReadFilters();
}

class Limit implements ResourceLimit {
  n = 0;
  constructor(public maxValue: number) {}
  canCreate(): boolean {
    return this.n < this.maxValue;
  }
  inc(): void {
    this.n++;
  }
  dec(): void {
    this.n--;
  }
  count(): number {
    return this.n;
  }
  max(): number {
    return this.maxValue;
  }
}

const CLUSTER_STAT_NAMES = [
  'upstream_cx_total',
  'upstream_cx_connect_fail',
  'upstream_cx_connect_timeout',
  'upstream_cx_overflow',
  'upstream_cx_destroy',
  'upstream_cx_destroy_local',
  'upstream_cx_destroy_remote',
  'upstream_cx_rx_bytes_total',
  'upstream_cx_tx_bytes_total',
  'upstream_cx_max_requests',
  'upstream_cx_none_healthy',
  'upstream_rq_total',
  'upstream_rq_pending_total',
  'upstream_rq_pending_overflow',
  'upstream_rq_pending_failure_eject',
  'upstream_rq_cancelled',
  'upstream_rq_timeout',
  'upstream_rq_per_try_timeout',
  'upstream_rq_retry',
  'upstream_rq_retry_success',
  'upstream_rq_retry_overflow',
  'upstream_rq_rx_reset',
  'upstream_rq_tx_reset',
  'upstream_rq_completed',
] as const;

function clusterStats(scope: Scope): ClusterStats {
  const s: Record<string, unknown> = {};
  for (const n of CLUSTER_STAT_NAMES) s[n] = scope.counter(n);
  for (const n of ['upstream_cx_active', 'upstream_rq_active', 'upstream_rq_pending_active']) s[n] = scope.gauge(n);
  return s as unknown as ClusterStats;
}

/** One outstanding pool request, resolved by the test. */
export class PendingTcpConnection implements Cancellable {
  cancelled: 'Default' | 'CloseExcess' | undefined;
  constructor(
    readonly pool: FakeTcpPool,
    readonly cb: TcpPoolCallbacks,
  ) {}
  cancel(policy: 'Default' | 'CloseExcess'): void {
    this.cancelled = policy;
  }
  /** Completes the connect: returns the fake upstream connection and its registered callbacks. */
  ready(): { upstream: FakeConnection; callbacks: () => TcpUpstreamCallbacks } {
    const upstream = new FakeConnection(this.pool.dispatcher);
    let registered: TcpUpstreamCallbacks | undefined;
    const data: TcpConnectionData = {
      connection: () => upstream,
      addUpstreamCallbacks: (cb) => {
        registered = cb;
        upstream.addConnectionCallbacks(cb);
      },
    };
    this.pool.host.activeConnections++;
    this.cb.onPoolReady(data, this.pool.host);
    return {
      upstream,
      callbacks: () => {
        if (registered === undefined) throw new Error('no upstream callbacks registered');
        return registered;
      },
    };
  }
  fail(reason: PoolFailureReason = 'RemoteConnectionFailure'): void {
    this.pool.cluster.info().stats.upstream_cx_connect_fail.inc();
    this.cb.onPoolFailure(reason, 'connection refused', this.pool.host);
  }
}

/** Delivers upstream data through the registered TcpUpstreamCallbacks. */
export function upstreamData(cb: TcpUpstreamCallbacks, data: Buffer | string, endStream = false): BufferChain {
  const buf = new BufferChain(data);
  cb.onUpstreamData(buf, endStream);
  return buf;
}

export class FakeTcpPool implements TcpConnPool {
  readonly requests: PendingTcpConnection[] = [];
  /** When set, newConnection fails inline with this reason (and returns undefined). */
  failInline: PoolFailureReason | undefined;
  constructor(
    readonly cluster: FakeCluster,
    readonly host: FakeHost,
    readonly dispatcher: Dispatcher,
  ) {}
  newConnection(cb: TcpPoolCallbacks): Cancellable | undefined {
    const p = new PendingTcpConnection(this, cb);
    this.requests.push(p);
    if (this.failInline !== undefined) {
      p.fail(this.failInline);
      return undefined;
    }
    return p;
  }
}

export class FakeHost implements Host {
  weight = 1;
  activeRequests = 0;
  activeConnections = 0;
  readonly address: Address = { address: '127.0.0.1', port: 1, family: 'IPv4' };
  readonly addressString = '127.0.0.1:1';
  readonly hostname = '';
  healthy = true;
  constructor(readonly cluster: ClusterInfo) {}
  health(): 'Healthy' | 'Unhealthy' {
    return this.healthy ? 'Healthy' : 'Unhealthy';
  }
  onRequestStart(): void {}
  onRequestEnd(): void {}
  onConnectionOpen(): void {}
  onConnectionClose(): void {}
  createConnection(): ClientConnection {
    throw new Error('FakeHost.createConnection is not used by these tests');
  }
}

export class FakeCluster implements ThreadLocalCluster {
  readonly host: FakeHost;
  readonly pool: FakeTcpPool;
  readonly connections = new Limit(1024);
  private readonly infoValue: ClusterInfo;

  constructor(name: string, store: StatsStore, dispatcher: Dispatcher) {
    const statsScope = store.createScope(`cluster.${name}`);
    const rm: ResourceManager = {
      connections: this.connections,
      pendingRequests: new Limit(1024),
      requests: new Limit(1024),
      retries: new Limit(3),
      connectionPools: new Limit(1024),
    };
    this.infoValue = {
      name,
      connectTimeoutMs: 5000,
      perConnectionBufferLimitBytes: 1 << 20,
      maxRequestsPerConnection: 0,
      idleTimeoutMs: 0,
      upstreamProtocol: 'http1',
      useDownstreamProtocol: false,
      http2Options: undefined,
      stats: clusterStats(statsScope),
      statsScope,
      resourceManager: () => rm,
    };
    this.host = new FakeHost(this.infoValue);
    this.pool = new FakeTcpPool(this, this.host, dispatcher);
  }
  info(): ClusterInfo {
    return this.infoValue;
  }
  loadBalancer(): LoadBalancer {
    return { chooseHost: () => (this.host.healthy ? this.host : undefined) };
  }
  hosts(): readonly Host[] {
    return [this.host];
  }
  tcpConnPool(): TcpConnPool | undefined {
    if (!this.host.healthy) {
      this.infoValue.stats.upstream_cx_none_healthy.inc();
      return undefined;
    }
    return this.pool;
  }
  httpConnPool(): HttpConnPool | undefined {
    return undefined;
  }
}

export class FakeClusterManager implements ClusterManager {
  readonly clusters = new Map<string, FakeCluster>();
  readonly lookups: string[] = [];
  constructor(
    readonly store: StatsStore,
    readonly dispatcher: Dispatcher,
  ) {}
  add(name: string): FakeCluster {
    const c = new FakeCluster(name, this.store, this.dispatcher);
    this.clusters.set(name, c);
    return c;
  }
  getThreadLocalCluster(name: string): ThreadLocalCluster | undefined {
    this.lookups.push(name);
    return this.clusters.get(name);
  }
  clusterNames(): readonly string[] {
    return [...this.clusters.keys()];
  }
  async shutdown(): Promise<void> {}
}

/** Reads a counter or gauge by full name; 0 when never created. */
export function statValue(store: StatsStore, fullName: string): number {
  return store.findCounter(fullName)?.value() ?? store.findGauge(fullName)?.value() ?? 0;
}
