import { describe, expect, it } from 'vitest';
import { parseTcpProxyConfig } from '../../../../../filters/network/tcp-proxy/config.js';
import { TcpProxyFilter, TcpProxySharedConfig } from '../../../../../filters/network/tcp-proxy/tcp-proxy.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import { StatsStore } from '../../../../../src/stats/store.js';
import {
  FakeClusterManager,
  FakeConnection,
  ManualDispatcher,
  statValue,
  upstreamData,
  type FakeCluster,
} from '../../../../support/l4-fakes.js';

interface Setup {
  store: StatsStore;
  dispatcher: ManualDispatcher;
  cm: FakeClusterManager;
  cluster: FakeCluster;
  downstream: FakeConnection;
  filter: TcpProxyFilter;
  stat(name: string): number;
}

function setup(extra: Record<string, unknown> = {}, opts: { random?: () => number; start?: boolean } = {}): Setup {
  const store = new StatsStore();
  const dispatcher = new ManualDispatcher();
  const cm = new FakeClusterManager(store, dispatcher);
  const cluster = cm.add('backend');
  const config = parseTcpProxyConfig({ stat_prefix: 'tp', cluster: 'backend', ...extra }, 'typed_config');
  const shared = new TcpProxySharedConfig(config, store, opts.random);
  const filter = new TcpProxyFilter(shared, cm);
  const downstream = new FakeConnection(dispatcher);
  downstream.addReadFilter(filter);
  if (opts.start !== false) downstream.initializeReadFilters();
  return { store, dispatcher, cm, cluster, downstream, filter, stat: (n) => statValue(store, n) };
}

function connected(s: Setup) {
  const req = s.cluster.pool.requests.at(-1);
  if (req === undefined) throw new Error('no pool request');
  const { upstream, callbacks } = req.ready();
  return { upstream, cb: callbacks() };
}

describe('TcpProxyFilter: new connection', () => {
  it('disables reads, enables half-close, counts, asks the pool and stops the chain', () => {
    const s = setup({}, { start: false });
    expect(s.filter.onNewConnection()).toBe('StopIteration');
    expect(s.downstream.readDisableCalls).toEqual([true]);
    expect(s.downstream.readEnabled()).toBe(false);
    expect(s.downstream.isHalfCloseEnabled()).toBe(true);
    expect(s.stat('tcp.tp.downstream_cx_total')).toBe(1);
    expect(s.cm.lookups).toEqual(['backend']);
    expect(s.cluster.pool.requests).toHaveLength(1);
    expect(s.filter.connecting()).toBe(true);
  });

  it('on pool ready: enables reads, half-close upstream, resumes the chain', () => {
    const s = setup();
    const { upstream } = connected(s);
    expect(s.downstream.readDisableCalls).toEqual([true, false]);
    expect(s.downstream.readEnabled()).toBe(true);
    expect(upstream.isHalfCloseEnabled()).toBe(true);
    expect(s.downstream.continueReadingCalls).toBe(1);
    expect(s.filter.connecting()).toBe(false);
  });

  it('unknown cluster: downstream_cx_no_route and a NoFlush close', () => {
    const s = setup({ cluster: 'missing' });
    expect(s.stat('tcp.tp.downstream_cx_no_route')).toBe(1);
    expect(s.downstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_no_route' }]);
    expect(s.downstream.state()).toBe('Closed');
  });

  it('no healthy host: the cluster counts upstream_cx_none_healthy, the downstream is closed', () => {
    const s = setup({}, { start: false });
    s.cluster.host.healthy = false;
    s.downstream.initializeReadFilters();
    expect(s.stat('cluster.backend.upstream_cx_none_healthy')).toBe(1);
    expect(s.stat('tcp.tp.downstream_cx_no_route')).toBe(0);
    expect(s.downstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_no_healthy_upstream' }]);
  });

  it('connection circuit breaker open: upstream_cx_overflow, no pool request', () => {
    const s = setup({}, { start: false });
    s.cluster.connections.maxValue = 0;
    s.downstream.initializeReadFilters();
    expect(s.stat('cluster.backend.upstream_cx_overflow')).toBe(1);
    expect(s.cluster.pool.requests).toHaveLength(0);
    expect(s.downstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_upstream_overflow' }]);
  });

  it('weighted clusters pick by weight', () => {
    let r = 0;
    const store = new StatsStore();
    const config = parseTcpProxyConfig(
      { stat_prefix: 'w', weighted_clusters: { clusters: [{ name: 'a', weight: 3 }, { name: 'b', weight: 1 }] } },
      'tc',
    );
    const shared = new TcpProxySharedConfig(config, store, () => r);
    const picks = [0, 0.5, 0.74, 0.75, 0.999].map((v) => {
      r = v;
      return shared.pickCluster();
    });
    expect(picks).toEqual(['a', 'a', 'a', 'b', 'b']);
  });
});

describe('TcpProxyFilter: connect attempts', () => {
  it('retries until max_connect_attempts, then closes the downstream NoFlush', () => {
    const s = setup({ max_connect_attempts: 3 });
    s.cluster.pool.requests[0]!.fail('RemoteConnectionFailure');
    expect(s.cluster.pool.requests).toHaveLength(2);
    s.cluster.pool.requests[1]!.fail('Timeout');
    expect(s.cluster.pool.requests).toHaveLength(3);
    expect(s.downstream.state()).toBe('Open');
    s.cluster.pool.requests[2]!.fail('LocalConnectionFailure');
    expect(s.cluster.pool.requests).toHaveLength(3);
    expect(s.filter.attempts()).toBe(3);
    expect(s.stat('cluster.backend.upstream_cx_connect_fail')).toBe(3);
    expect(s.stat('cluster.backend.upstream_cx_connect_attempts_exceeded')).toBe(1);
    expect(s.downstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_connect_attempts_exceeded' }]);
  });

  it('a later attempt that succeeds carries the connection', () => {
    const s = setup({ max_connect_attempts: 2 });
    s.cluster.pool.requests[0]!.fail();
    const { upstream } = connected(s);
    s.downstream.receive('hi');
    expect(upstream.writtenBytes().toString()).toBe('hi');
    expect(s.downstream.state()).toBe('Open');
  });

  it('failures reported inline (newConnection returns nothing) are retried without recursion trouble', () => {
    const s = setup({ max_connect_attempts: 4 }, { start: false });
    s.cluster.pool.failInline = 'Overflow';
    s.downstream.initializeReadFilters();
    expect(s.cluster.pool.requests).toHaveLength(4);
    expect(s.filter.connecting()).toBe(false);
    expect(s.downstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_connect_attempts_exceeded' }]);
  });

  it('a downstream close while connecting cancels the request (CloseExcess) and stops retrying', () => {
    const s = setup({ max_connect_attempts: 5 });
    const req = s.cluster.pool.requests[0]!;
    s.downstream.remoteClose();
    expect(req.cancelled).toBe('CloseExcess');
    req.fail();
    expect(s.cluster.pool.requests).toHaveLength(1);
  });

  it('a connection handed over after the downstream closed is closed at once', () => {
    const s = setup();
    const req = s.cluster.pool.requests[0]!;
    s.downstream.remoteClose();
    const { upstream } = req.ready();
    expect(upstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_downstream_closed' }]);
  });
});

describe('TcpProxyFilter: data', () => {
  it('moves bytes both ways, drains the source buffers and counts them', () => {
    const s = setup();
    const { upstream, cb } = connected(s);
    const down = s.downstream.receive('hello ');
    expect(down.length).toBe(0);
    expect(s.filter.onData(new BufferChain(''), false)).toBe('StopIteration');
    s.downstream.receive('world');
    expect(upstream.writtenBytes().toString()).toBe('hello world');
    const up = upstreamData(cb, 'reply');
    expect(up.length).toBe(0);
    expect(s.downstream.writtenBytes().toString()).toBe('reply');
    expect(s.stat('tcp.tp.downstream_cx_rx_bytes_total')).toBe(11);
    expect(s.stat('tcp.tp.downstream_cx_tx_bytes_total')).toBe(5);
  });

  it('propagates half-close both ways without closing anything', () => {
    const s = setup();
    const { upstream, cb } = connected(s);
    s.downstream.receive('last', true);
    expect(upstream.writtenBytes().toString()).toBe('last');
    expect(upstream.writeEnded).toBe(true);
    expect(s.downstream.writeEnded).toBe(false);
    upstreamData(cb, 'bye', true);
    expect(s.downstream.writeEnded).toBe(true);
    expect(s.downstream.closes).toEqual([]);
    expect(upstream.closes).toEqual([]);
  });
});

describe('TcpProxyFilter: close propagation', () => {
  it('the upstream closing closes the downstream FlushWrite', () => {
    const s = setup();
    const { upstream } = connected(s);
    upstream.remoteClose();
    expect(s.downstream.closes).toEqual([{ type: 'FlushWrite', details: 'tcp_proxy_upstream_closed' }]);
  });

  it('the downstream closing remotely flushes the upstream; a finished flush is not counted', () => {
    const s = setup();
    const { upstream } = connected(s);
    s.downstream.remoteClose();
    expect(upstream.closes).toEqual([{ type: 'FlushWrite', details: 'tcp_proxy_downstream_closed' }]);
    expect(s.stat('tcp.tp.upstream_flush_total')).toBe(0);
    expect(s.dispatcher.armedTimers()).toBe(0);
  });

  it('an upstream still flushing is drained and counted until it closes', () => {
    const s = setup();
    const { upstream } = connected(s);
    upstream.holdFlush = true;
    s.downstream.remoteClose();
    expect(upstream.state()).toBe('Closing');
    expect(s.stat('tcp.tp.upstream_flush_total')).toBe(1);
    expect(s.stat('tcp.tp.upstream_flush_active')).toBe(1);
    upstream.finishFlush();
    expect(s.stat('tcp.tp.upstream_flush_total')).toBe(1);
    expect(s.stat('tcp.tp.upstream_flush_active')).toBe(0);
  });

  it('data from a draining upstream resets it', () => {
    const s = setup();
    const { upstream, cb } = connected(s);
    upstream.holdFlush = true;
    s.downstream.remoteClose();
    const buf = upstreamData(cb, 'late');
    expect(buf.length).toBe(0);
    expect(upstream.closes.at(-1)).toEqual({ type: 'NoFlush', details: 'tcp_proxy_data_after_downstream_close' });
    expect(s.stat('tcp.tp.upstream_flush_active')).toBe(0);
    expect(s.downstream.written).toEqual([]);
  });

  it('a draining upstream that goes idle is closed and counted as idle_timeout', () => {
    const s = setup({ idle_timeout: '1s' });
    const { upstream } = connected(s);
    upstream.holdFlush = true;
    s.downstream.remoteClose();
    s.dispatcher.advance(1000);
    expect(upstream.closes.at(-1)).toEqual({ type: 'NoFlush', details: 'tcp_proxy_idle_timeout' });
    expect(s.stat('tcp.tp.idle_timeout')).toBe(1);
    expect(s.stat('tcp.tp.upstream_flush_active')).toBe(0);
  });

  it('a local downstream close closes the upstream NoFlush', () => {
    const s = setup();
    const { upstream } = connected(s);
    s.downstream.close('NoFlush', 'test');
    expect(upstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_downstream_closed' }]);
    expect(s.stat('tcp.tp.upstream_flush_total')).toBe(0);
  });
});

describe('TcpProxyFilter: watermarks', () => {
  it('downstream write buffer above high pauses upstream reads; below low resumes', () => {
    const s = setup();
    const { upstream } = connected(s);
    s.downstream.raiseAboveHighWatermark();
    expect(upstream.readDisableCalls).toEqual([true]);
    expect(s.stat('cluster.backend.upstream_flow_control_paused_reading_total')).toBe(1);
    s.downstream.raiseBelowLowWatermark();
    expect(upstream.readDisableCalls).toEqual([true, false]);
    expect(s.stat('cluster.backend.upstream_flow_control_resumed_reading_total')).toBe(1);
  });

  it('upstream write buffer above high pauses downstream reads; below low resumes', () => {
    const s = setup();
    const { upstream } = connected(s);
    upstream.raiseAboveHighWatermark();
    expect(s.downstream.readDisableCalls).toEqual([true, false, true]);
    expect(s.downstream.readEnabled()).toBe(false);
    expect(s.stat('tcp.tp.downstream_flow_control_paused_reading_total')).toBe(1);
    upstream.raiseBelowLowWatermark();
    expect(s.downstream.readEnabled()).toBe(true);
    expect(s.stat('tcp.tp.downstream_flow_control_resumed_reading_total')).toBe(1);
  });

  it('watermarks of a closed side change nothing', () => {
    const s = setup();
    const { upstream } = connected(s);
    upstream.holdFlush = true;
    s.downstream.remoteClose();
    upstream.raiseAboveHighWatermark();
    s.downstream.raiseAboveHighWatermark();
    expect(upstream.readDisableCalls).toEqual([]);
    expect(s.stat('tcp.tp.downstream_flow_control_paused_reading_total')).toBe(0);
    expect(s.stat('cluster.backend.upstream_flow_control_paused_reading_total')).toBe(0);
  });
});

describe('TcpProxyFilter: timers', () => {
  it('idle_timeout closes the downstream NoFlush after no traffic', () => {
    const s = setup({ idle_timeout: '1s' });
    const { upstream } = connected(s);
    s.dispatcher.advance(999);
    expect(s.downstream.state()).toBe('Open');
    s.dispatcher.advance(1);
    expect(s.downstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_idle_timeout' }]);
    expect(upstream.closes).toEqual([{ type: 'NoFlush', details: 'tcp_proxy_downstream_closed' }]);
    expect(s.stat('tcp.tp.idle_timeout')).toBe(1);
  });

  it('traffic either way restarts the idle period', () => {
    const s = setup({ idle_timeout: '1s' });
    const { cb } = connected(s);
    s.dispatcher.advance(600);
    s.downstream.receive('x');
    s.dispatcher.advance(600);
    expect(s.downstream.state()).toBe('Open');
    upstreamData(cb, 'y');
    s.dispatcher.advance(999);
    expect(s.downstream.state()).toBe('Open');
    s.dispatcher.advance(1);
    expect(s.downstream.state()).toBe('Closed');
    expect(s.dispatcher.now).toBe(2200);
  });

  it('bytes leaving a socket count as activity', () => {
    const s = setup({ idle_timeout: '1s' });
    connected(s);
    s.dispatcher.advance(500);
    s.downstream.addTxBytes(100);
    s.dispatcher.advance(500);
    expect(s.downstream.state()).toBe('Open');
    s.dispatcher.advance(1000);
    expect(s.downstream.state()).toBe('Closed');
  });

  it('idle_timeout "0s" arms no timer', () => {
    const s = setup({ idle_timeout: '0s' });
    connected(s);
    expect(s.dispatcher.armedTimers()).toBe(0);
    s.dispatcher.advance(10 * 3_600_000);
    expect(s.downstream.state()).toBe('Open');
  });

  it('the default idle_timeout is one hour', () => {
    const s = setup();
    connected(s);
    s.dispatcher.advance(3_600_000 - 1);
    expect(s.downstream.state()).toBe('Open');
    s.dispatcher.advance(1);
    expect(s.downstream.state()).toBe('Closed');
  });

  it('max_downstream_connection_duration closes NoFlush even with traffic', () => {
    const s = setup({ max_downstream_connection_duration: '2s', idle_timeout: '0s' });
    const { upstream } = connected(s);
    for (let i = 0; i < 19; i++) {
      s.dispatcher.advance(100);
      s.downstream.receive('z');
    }
    expect(s.downstream.state()).toBe('Open');
    s.dispatcher.advance(100);
    expect(s.downstream.closes).toEqual([{ type: 'NoFlush', details: 'max_downstream_connection_duration_reached' }]);
    expect(upstream.state()).toBe('Closed');
    expect(s.stat('tcp.tp.max_downstream_connection_duration')).toBe(1);
  });

  it('max_downstream_connection_duration runs from accept, also while connecting', () => {
    const s = setup({ max_downstream_connection_duration: '1s' });
    const req = s.cluster.pool.requests[0]!;
    s.dispatcher.advance(1000);
    expect(s.downstream.state()).toBe('Closed');
    expect(req.cancelled).toBe('CloseExcess');
    expect(s.dispatcher.armedTimers()).toBe(0);
  });
});
