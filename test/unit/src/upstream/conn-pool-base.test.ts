import { beforeEach, describe, expect, it } from 'vitest';
import type { Cancellable, Host, PoolFailureReason } from '../../../../src/api/upstream.js';
import { StatsStore } from '../../../../src/stats/store.js';
import type { ClusterInfoImpl } from '../../../../src/upstream/cluster-info.js';
import type { ClusterOptions } from '../../../../src/upstream/cluster-options.js';
import { ActiveClient, ConnPoolBase } from '../../../../src/upstream/conn-pool-base.js';
import type { HostImpl } from '../../../../src/upstream/host.js';
import { ManualDispatcher } from '../../../support/l4-fakes.js';
import { clusterInfo, hostsFor } from './helpers.js';

interface Ctx {
  readonly id: number;
  onReady?: (client: FakeClient) => void;
  onFailure?: (reason: PoolFailureReason) => void;
}

/** A client whose connection is driven by the test: connected(), remoteClose(), endStream(). */
class FakeClient extends ActiveClient {
  streams = 0;
  connectCalls = 0;
  closeCalls = 0;
  readonly ctxs: number[] = [];

  constructor(
    private readonly pool: FakePool,
    concurrency: number,
  ) {
    super(pool.host.cluster.maxRequestsPerConnection, concurrency);
  }
  connect(): void {
    this.connectCalls++;
    if (this.pool.failConnect) throw new Error('bad address');
  }
  numActiveStreams(): number {
    return this.streams;
  }
  close(): void {
    this.closeCalls++;
    this.pool.onConnectionEvent(this, 'LocalClose', 'closed by pool');
  }
  closingWithIncompleteStream(): boolean {
    return this.streams > 0;
  }
  connected(): void {
    this.pool.onConnectionEvent(this, 'Connected');
  }
  remoteClose(): void {
    this.pool.onConnectionEvent(this, 'RemoteClose', 'connection reset');
    const n = this.streams;
    this.streams = 0;
    for (let i = 0; i < n; i++) this.pool.onStreamClosed(this, false);
  }
  endStream(): void {
    this.streams--;
    this.pool.onStreamClosed(this, false);
  }
}

class FakePool extends ConnPoolBase<FakeClient, Ctx> {
  readonly clients: FakeClient[] = [];
  readonly ready: Array<[number, FakeClient]> = [];
  readonly failures: Array<[number, PoolFailureReason, string, Host | undefined]> = [];
  failInstantiate = false;
  failConnect = false;

  constructor(
    host: Host,
    dispatcher: ManualDispatcher,
    private readonly concurrency = 1,
  ) {
    super(host, dispatcher);
  }
  newStream(ctx: Ctx): Cancellable | undefined {
    return this.newStreamImpl(ctx);
  }
  setLimit(client: FakeClient, n: number): void {
    this.updateConcurrentStreamLimit(client, n);
  }
  protected instantiateActiveClient(): FakeClient {
    if (this.failInstantiate) throw new Error('no socket');
    const c = new FakeClient(this, this.concurrency);
    this.clients.push(c);
    return c;
  }
  protected onPoolReady(client: FakeClient, ctx: Ctx): void {
    client.streams++;
    client.ctxs.push(ctx.id);
    this.ready.push([ctx.id, client]);
    ctx.onReady?.(client);
  }
  protected onPoolFailure(host: Host | undefined, reason: PoolFailureReason, details: string, ctx: Ctx): void {
    this.failures.push([ctx.id, reason, details, host]);
    ctx.onFailure?.(reason);
  }
}

let store: StatsStore;
let dispatcher: ManualDispatcher;

function setup(opts: Partial<ClusterOptions> = {}, concurrency = 1): { pool: FakePool; info: ClusterInfoImpl; host: HostImpl } {
  const info = clusterInfo({ connectTimeoutMs: 250, idleTimeoutMs: 1000, ...opts }, store);
  const host = hostsFor(info, [1])[0]!;
  return { pool: new FakePool(host, dispatcher, concurrency), info, host };
}

const stat = (name: string): number =>
  store.findCounter(`cluster.c.${name}`)?.value() ?? store.findGauge(`cluster.c.${name}`)?.value() ?? -1;

beforeEach(() => {
  store = new StatsStore();
  dispatcher = new ManualDispatcher();
});

describe('ConnPoolBase', () => {
  it('queues a stream, connects, attaches it and moves the client Connecting -> Busy -> Ready', () => {
    const { pool, host } = setup();
    const handle = pool.newStream({ id: 1 });
    expect(handle).toBeDefined();
    expect(pool.counts()).toEqual({ connecting: 1, ready: 0, busy: 0, draining: 0, pending: 1, activeStreams: 0 });
    expect(pool.connectingCapacity()).toBe(1);
    const client = pool.clients[0]!;
    expect(client.connectCalls).toBe(1);
    expect(client.state).toBe('Connecting');
    dispatcher.now = 7;
    client.connected();
    expect(client.state).toBe('Busy');
    expect(pool.ready.map(([id]) => id)).toEqual([1]);
    expect(pool.counts()).toEqual({ connecting: 0, ready: 0, busy: 1, draining: 0, pending: 0, activeStreams: 1 });
    expect(pool.connectingCapacity()).toBe(0);
    expect([stat('upstream_cx_total'), stat('upstream_cx_active'), stat('upstream_rq_total'), stat('upstream_rq_active')]).toEqual([
      1, 1, 1, 1,
    ]);
    expect([stat('upstream_rq_pending_total'), stat('upstream_rq_pending_active')]).toEqual([1, 0]);
    expect(store.findHistogram('cluster.c.upstream_cx_connect_ms')!.quantile(0)).toBe(7);
    expect([host.activeConnections, host.activeRequests, host.stats.rq_total]).toEqual([1, 1, 1]);

    client.endStream();
    expect(client.state).toBe('Ready');
    expect(host.activeRequests).toBe(0);
    // A ready client serves the next stream at once: no handle, no new connection.
    expect(pool.newStream({ id: 2 })).toBeUndefined();
    expect(pool.clients.length).toBe(1);
    expect(client.ctxs).toEqual([1, 2]);
    // Handing out the stream made the client busy again.
    expect(client.state).toBe('Busy');
  });

  it('opens no connection while connecting capacity covers the pending streams (multiplexed)', () => {
    const { pool } = setup({}, 10);
    for (let i = 0; i < 5; i++) expect(pool.newStream({ id: i })).toBeDefined();
    expect(pool.clients.length).toBe(1);
    expect(pool.connectingCapacity()).toBe(10);
    pool.clients[0]!.connected();
    expect(pool.clients[0]!.ctxs).toEqual([0, 1, 2, 3, 4]);
    expect(pool.clients[0]!.state).toBe('Ready');
    expect(pool.counts().activeStreams).toBe(5);
  });

  it('opens one connection per pending stream at concurrency 1', () => {
    const { pool } = setup();
    for (let i = 0; i < 3; i++) pool.newStream({ id: i });
    expect(pool.clients.length).toBe(3);
    expect(pool.connectingCapacity()).toBe(3);
    pool.clients[1]!.connected();
    expect(pool.clients[1]!.ctxs).toEqual([0]);
    expect(pool.counts().pending).toBe(2);
  });

  it('fails a stream with Overflow over max_pending_requests', () => {
    const { pool } = setup({ circuitBreakers: { default: { maxPendingRequests: 2 } } });
    expect(pool.newStream({ id: 1 })).toBeDefined();
    expect(pool.newStream({ id: 2 })).toBeDefined();
    expect(pool.newStream({ id: 3 })).toBeUndefined();
    expect(pool.failures).toEqual([[3, 'Overflow', '', undefined]]);
    expect(stat('upstream_rq_pending_overflow')).toBe(1);
    expect(stat('circuit_breakers.default.rq_pending_open')).toBe(1);
    expect(pool.counts().pending).toBe(2);
  });

  it('counts upstream_cx_overflow and waits for the existing connection at max_connections', () => {
    const { pool, info } = setup({ circuitBreakers: { default: { maxConnections: 1 } } });
    pool.newStream({ id: 1 });
    pool.newStream({ id: 2 });
    expect(pool.clients.length).toBe(1);
    expect(stat('upstream_cx_overflow')).toBe(1);
    expect(stat('circuit_breakers.default.cx_open')).toBe(1);
    expect(info.resourceManager().connections.count()).toBe(1);
    const c = pool.clients[0]!;
    c.connected();
    expect(c.ctxs).toEqual([1]);
    c.endStream();
    expect(c.ctxs).toEqual([1, 2]);
    expect(pool.clients.length).toBe(1);
  });

  it('fails pending streams with Timeout on the connect timeout', () => {
    const { pool, host } = setup();
    pool.newStream({ id: 1 });
    pool.newStream({ id: 2 });
    dispatcher.advance(249);
    expect(pool.failures).toEqual([]);
    dispatcher.advance(1);
    expect(pool.failures.map(([id, r]) => [id, r])).toEqual([
      [1, 'Timeout'],
      [2, 'Timeout'],
    ]);
    expect(pool.failures[0]![3]).toBe(host);
    expect(stat('upstream_cx_connect_timeout')).toBe(2);
    expect(stat('upstream_cx_connect_fail')).toBe(2);
    expect(stat('upstream_rq_pending_failure_eject')).toBe(2);
    expect(stat('upstream_cx_active')).toBe(0);
    expect(host.stats.cx_connect_fail).toBe(2);
    expect(pool.isIdle()).toBe(true);
  });

  it('fails every pending stream when a connect fails, with the failure reason', () => {
    const { pool } = setup({}, 10);
    pool.newStream({ id: 1 });
    pool.newStream({ id: 2 });
    pool.clients[0]!.remoteClose();
    expect(pool.failures).toEqual([
      [1, 'RemoteConnectionFailure', 'connection reset', pool.host],
      [2, 'RemoteConnectionFailure', 'connection reset', pool.host],
    ]);
    expect([stat('upstream_cx_connect_fail'), stat('upstream_cx_destroy'), stat('upstream_cx_destroy_remote')]).toEqual([1, 1, 1]);
    expect([stat('upstream_rq_pending_active'), stat('upstream_cx_active')]).toEqual([0, 0]);
    expect(pool.clients[0]!.state).toBe('Closed');
  });

  it('queues a retry issued from onPoolFailure instead of failing it in the same sweep', () => {
    const { pool } = setup();
    let retried: Cancellable | undefined;
    pool.newStream({
      id: 1,
      onFailure: () => {
        retried = pool.newStream({ id: 2 });
      },
    });
    pool.clients[0]!.remoteClose();
    expect(pool.failures.map(([id]) => id)).toEqual([1]);
    expect(retried).toBeDefined();
    expect(pool.clients.length).toBe(2);
    pool.clients[1]!.connected();
    expect(pool.clients[1]!.ctxs).toEqual([2]);
  });

  it('drains a client after max_requests_per_connection and closes it after its last stream', () => {
    const { pool } = setup({ maxRequestsPerConnection: 2 });
    pool.newStream({ id: 1 });
    const c = pool.clients[0]!;
    c.connected();
    c.endStream();
    pool.newStream({ id: 2 });
    expect(c.state).toBe('Draining');
    expect(stat('upstream_cx_max_requests')).toBe(1);
    expect(pool.counts().draining).toBe(1);
    // The draining client takes nothing new.
    pool.newStream({ id: 3 });
    expect(pool.clients.length).toBe(2);
    c.endStream();
    expect(c.closeCalls).toBe(1);
    expect(c.state).toBe('Closed');
    expect(stat('upstream_cx_destroy_local')).toBe(1);
    expect(stat('upstream_cx_destroy_with_active_rq')).toBe(0);
  });

  it('cancels a pending stream (Default keeps the connection, CloseExcess closes it)', () => {
    const { pool } = setup();
    const idle: number[] = [];
    pool.addIdleCallback(() => idle.push(1));
    const h1 = pool.newStream({ id: 1 })!;
    h1.cancel('Default');
    expect(stat('upstream_rq_cancelled')).toBe(1);
    expect(stat('upstream_rq_pending_active')).toBe(0);
    expect(pool.counts().pending).toBe(0);
    expect(pool.clients[0]!.state).toBe('Connecting');
    pool.clients[0]!.connected();
    expect(pool.clients[0]!.ctxs).toEqual([]);
    expect(pool.clients[0]!.state).toBe('Ready');
    expect(dispatcher.armedTimers()).toBe(1); // the idle timer

    const { pool: pool2 } = setup();
    pool2.addIdleCallback(() => idle.push(2));
    const h2 = pool2.newStream({ id: 2 })!;
    h2.cancel('CloseExcess');
    expect(pool2.clients[0]!.closeCalls).toBe(1);
    expect(pool2.isIdle()).toBe(true);
    expect(idle).toEqual([2]);
    // A second cancel is a no-op.
    h2.cancel('CloseExcess');
    expect(stat('upstream_rq_cancelled')).toBe(2);
  });

  it('CloseExcess keeps a connecting client that other pending streams still need', () => {
    const { pool } = setup();
    const a = pool.newStream({ id: 1 })!;
    pool.newStream({ id: 2 });
    a.cancel('CloseExcess');
    // One of the two connecting clients is excess now.
    expect(pool.clients.filter((c) => c.closeCalls === 1).length).toBe(1);
    expect(pool.counts().connecting).toBe(1);
    expect(pool.connectingCapacity()).toBe(1);
  });

  it('closes a connected client without streams after the idle timeout', () => {
    const { pool } = setup();
    const idle: string[] = [];
    pool.addIdleCallback(() => idle.push('idle'));
    pool.newStream({ id: 1 });
    const c = pool.clients[0]!;
    c.connected();
    c.endStream();
    dispatcher.advance(999);
    expect(c.state).toBe('Ready');
    dispatcher.advance(1);
    expect(c.state).toBe('Closed');
    expect(stat('upstream_cx_idle_timeout')).toBe(1);
    expect(idle).toEqual(['idle']);
  });

  it('drainConnections closes idle clients and drains busy ones', () => {
    const { pool } = setup();
    pool.newStream({ id: 1 });
    pool.newStream({ id: 2 });
    const [a, b] = pool.clients;
    a!.connected();
    b!.connected();
    a!.endStream();
    pool.drainConnections();
    expect(a!.state).toBe('Closed');
    expect(b!.state).toBe('Draining');
    b!.endStream();
    expect(b!.state).toBe('Closed');
    expect(pool.isIdle()).toBe(true);
    // New streams still get new connections.
    expect(pool.newStream({ id: 3 })).toBeDefined();
  });

  it('drainForDeletion refuses new streams', () => {
    const { pool } = setup();
    pool.drainForDeletion();
    expect(pool.newStream({ id: 1 })).toBeUndefined();
    expect(pool.failures).toEqual([[1, 'LocalConnectionFailure', 'pool_draining_for_deletion', undefined]]);
  });

  it('closeConnections fails pending streams and closes every client', () => {
    const { pool } = setup({ circuitBreakers: { default: { maxConnections: 1 } } });
    pool.newStream({ id: 1 });
    const c = pool.clients[0]!;
    c.connected();
    pool.newStream({ id: 2 });
    pool.closeConnections();
    expect(pool.failures.map(([id, r]) => [id, r])).toEqual([[2, 'LocalConnectionFailure']]);
    expect(c.state).toBe('Closed');
    expect([stat('upstream_cx_destroy_with_active_rq'), stat('upstream_cx_destroy_local_with_active_rq')]).toEqual([1, 1]);
  });

  it('follows the peer concurrency limit (HTTP/2 SETTINGS)', () => {
    const { pool } = setup({}, 100);
    pool.newStream({ id: 1 });
    const c = pool.clients[0]!;
    c.connected();
    pool.setLimit(c, 1);
    expect(c.state).toBe('Busy');
    expect(pool.newStream({ id: 2 })).toBeDefined();
    // Busy clients do not count as connecting capacity: one more connection.
    expect(pool.clients.length).toBe(2);
    pool.setLimit(c, 2);
    expect(c.ctxs).toEqual([1, 2]);
    // Above the configured limit is capped.
    pool.setLimit(c, 1000);
    expect(c.concurrentStreamLimit).toBe(100);
  });

  it('fails with Overflow at max_requests when attaching', () => {
    const { pool } = setup({ circuitBreakers: { default: { maxRequests: 1 } } }, 10);
    pool.newStream({ id: 1 });
    pool.clients[0]!.connected();
    expect(pool.newStream({ id: 2 })).toBeUndefined();
    expect(pool.failures).toEqual([[2, 'Overflow', '', pool.host]]);
    expect(stat('upstream_rq_pending_overflow')).toBe(1);
  });

  it('a remote close of a busy client counts destroy_with_active_rq and ends its streams', () => {
    const { pool, host } = setup();
    pool.newStream({ id: 1 });
    const c = pool.clients[0]!;
    c.connected();
    c.remoteClose();
    expect([stat('upstream_cx_destroy_remote_with_active_rq'), stat('upstream_rq_active'), stat('upstream_cx_connect_fail')]).toEqual([
      1, 0, 0,
    ]);
    expect([host.activeRequests, host.activeConnections]).toEqual([0, 0]);
    expect(pool.isIdle()).toBe(true);
  });

  it('opens a connection for a host with none even over max_connections', () => {
    const { pool, info } = setup({ circuitBreakers: { default: { maxConnections: 0 } } });
    expect(info.resourceManager().connections.canCreate()).toBe(false);
    pool.newStream({ id: 1 });
    expect(pool.clients.length).toBe(1);
    expect(stat('upstream_cx_overflow')).toBe(1);
    pool.newStream({ id: 2 });
    expect(pool.clients.length).toBe(1);
    expect(stat('upstream_cx_overflow')).toBe(2);
  });

  it('fails the stream when no client can be made (FailedToCreateConnection)', () => {
    const { pool } = setup();
    pool.failInstantiate = true;
    expect(pool.newStream({ id: 1 })).toBeUndefined();
    expect(pool.failures).toEqual([[1, 'LocalConnectionFailure', 'no socket', pool.host]]);
    expect([stat('upstream_rq_pending_active'), stat('upstream_cx_total')]).toEqual([0, 0]);
    expect(pool.isIdle()).toBe(true);
  });

  it('treats a connect() that throws as a failed connect', () => {
    const { pool } = setup();
    pool.failConnect = true;
    expect(pool.newStream({ id: 1 })).toBeUndefined();
    expect(pool.failures).toEqual([[1, 'LocalConnectionFailure', 'bad address', pool.host]]);
    expect([stat('upstream_cx_connect_fail'), stat('upstream_cx_active'), stat('upstream_cx_destroy_local')]).toEqual([1, 0, 1]);
    expect(pool.isIdle()).toBe(true);
  });
});
