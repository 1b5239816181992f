import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionLimitFactory } from '../../filters/network/connection-limit/config.js';
import { tcpProxyFactory } from '../../filters/network/tcp-proxy/config.js';
import type { ConnectionCallbacks } from '../../src/api/network.js';
import type { ConnectionImpl } from '../../src/network/connection.js';
import { L4Harness, filterSpec, loopbackCluster, type L4FilterSpec } from '../support/l4-harness.js';
import {
  EchoServer,
  PeerServer,
  closedPort,
  connectPeer,
  sleep,
  waitFor,
  withTimeout,
  type Peer,
} from '../support/net-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function tcpProxy(extra: Record<string, unknown> = {}): L4FilterSpec {
  return filterSpec(tcpProxyFactory, {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    stat_prefix: 'e2e',
    cluster: 'backend',
    ...extra,
  });
}

async function startProxy(upstreamPort: number, options: { filters?: L4FilterSpec[]; bufferLimit?: number; clusterBufferLimit?: number } = {}): Promise<L4Harness> {
  const h = await L4Harness.start({
    filters: options.filters ?? [tcpProxy()],
    clusters: [
      loopbackCluster('backend', upstreamPort, options.clusterBufferLimit !== undefined ? { perConnectionBufferLimitBytes: options.clusterBufferLimit } : {}),
    ],
    ...(options.bufferLimit !== undefined ? { perConnectionBufferLimitBytes: options.bufferLimit } : {}),
  });
  cleanups.push(() => h.close());
  return h;
}

async function peerServer(): Promise<PeerServer> {
  const s = await PeerServer.start();
  cleanups.push(() => s.close());
  return s;
}

async function client(port: number): Promise<Peer> {
  const p = await connectPeer(port);
  cleanups.push(() => p.destroy());
  return p;
}

/** Writes `data` in 64 KiB pieces, honouring backpressure; resolves once all is handed to the kernel. */
function writeAll(socket: net.Socket, data: Buffer, chunk = 64 * 1024): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const onError = (e: Error): void => reject(e);
    socket.once('error', onError);
    const pump = (): void => {
      while (off < data.length) {
        const end = Math.min(off + chunk, data.length);
        const ok = socket.write(data.subarray(off, end));
        off = end;
        if (!ok) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.off('error', onError);
      resolve();
    };
    pump();
  });
}

/** Records the largest bufferedWriteBytes() of `conn`, sampled at every watermark crossing and every 1 ms. */
function trackBuffered(conn: ConnectionImpl): { max(): number; stop(): void; aboveEvents(): number } {
  let max = 0;
  let above = 0;
  const sample = (): void => {
    max = Math.max(max, conn.bufferedWriteBytes());
  };
  const cb: ConnectionCallbacks = {
    onEvent: () => {},
    onAboveWriteBufferHighWatermark: () => {
      above++;
      sample();
    },
    onBelowWriteBufferLowWatermark: sample,
  };
  conn.addConnectionCallbacks(cb);
  const timer = setInterval(sample, 1);
  return {
    max: () => max,
    aboveEvents: () => above,
    stop: () => {
      clearInterval(timer);
      conn.removeConnectionCallbacks(cb);
    },
  };
}

/**
 * The proxy closed our connection: a FIN, or an RST when the proxy's socket still held bytes we
 * sent (the kernel resets a socket closed with unread data).
 */
function closedByProxy(peer: Peer, timeoutMs = 2000): Promise<void> {
  return waitFor(() => peer.ended || peer.closed, timeoutMs, 'the proxy to close the connection');
}

/** Node reads at most this much from a socket per 'data' event. */
const SOCKET_CHUNK = 64 * 1024;

describe('tcp_proxy end to end', () => {
  it('carries 64 MiB to an echo upstream and back byte for byte', async () => {
    const echo = await EchoServer.start();
    cleanups.push(() => echo.close());
    const h = await startProxy(echo.port);
    const size = 64 * 1024 * 1024;
    const data = randomBytes(size);
    const socket = net.connect({ host: '127.0.0.1', port: h.port, allowHalfOpen: true });
    cleanups.push(() => void socket.destroy());
    const hash = createHash('sha256');
    let received = 0;
    socket.on('data', (c: Buffer) => {
      hash.update(c);
      received += c.length;
    });
    const ended = new Promise<void>((resolve) => socket.on('end', resolve));
    await withTimeout(new Promise((r) => socket.once('connect', r)), 2000, 'connect');
    await withTimeout(writeAll(socket, data), 20_000, 'writing 64 MiB');
    socket.end();
    await withTimeout(ended, 20_000, 'the echoed 64 MiB and FIN');
    expect(received).toBe(size);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(h.counter('tcp.e2e.downstream_cx_total')).toBe(1);
    expect(h.counter('tcp.e2e.downstream_cx_rx_bytes_total')).toBe(size);
    expect(h.counter('tcp.e2e.downstream_cx_tx_bytes_total')).toBe(size);
    expect(h.counter('cluster.backend.upstream_cx_total')).toBe(1);
    await waitFor(() => h.downstreams[0]!.state() === 'Closed', 2000, 'the downstream connection to close');
    expect(h.gauge('tcp.e2e.downstream_cx_rx_bytes_buffered')).toBe(0);
    expect(h.gauge('tcp.e2e.downstream_cx_tx_bytes_buffered')).toBe(0);
  });

  it('keeps a slow downstream reader bounded and pauses the upstream', async () => {
    const limit = 256 * 1024;
    const server = await peerServer();
    const h = await startProxy(server.port, { bufferLimit: limit });
    const c = await client(h.port);
    c.pause();
    const upstream = await server.accepted();
    const downstream = await h.downstream(1);
    const tracked = trackBuffered(downstream);
    cleanups.push(() => tracked.stop());
    // The upstream sends far more than the proxy, the kernel buffers and the client hold.
    const size = 48 * 1024 * 1024;
    const data = randomBytes(size);
    const sending = writeAll(upstream.socket, data);
    await waitFor(() => h.counter('cluster.backend.upstream_flow_control_paused_reading_total') >= 1, 10_000, 'the upstream to be paused');
    // Let it push against the closed window for a while.
    await sleep(200);
    expect(tracked.aboveEvents()).toBeGreaterThanOrEqual(1);
    expect(tracked.max()).toBeGreaterThan(limit);
    expect(tracked.max()).toBeLessThanOrEqual(limit + SOCKET_CHUNK);
    expect(downstream.bufferedWriteBytes()).toBeLessThanOrEqual(limit + SOCKET_CHUNK);
    expect(h.gauge('tcp.e2e.downstream_cx_tx_bytes_buffered')).toBeGreaterThan(0);
    expect(h.gauge('tcp.e2e.downstream_cx_tx_bytes_buffered')).toBeLessThanOrEqual(limit + SOCKET_CHUNK);
    // The proxy stopped reading the upstream, so the sender is blocked well short of the end.
    expect(h.counter('tcp.e2e.downstream_cx_tx_bytes_total')).toBeLessThan(size);
    // Once the client reads again everything arrives, intact.
    c.resume();
    await withTimeout(sending, 20_000, 'the upstream to finish sending');
    await c.waitForBytes(size, 20_000);
    expect(createHash('sha256').update(c.received()).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(h.counter('cluster.backend.upstream_flow_control_resumed_reading_total')).toBeGreaterThanOrEqual(1);
    expect(tracked.max()).toBeLessThanOrEqual(limit + SOCKET_CHUNK);
  });

  it('keeps an upstream that stops reading bounded and pauses the downstream', async () => {
    const limit = 256 * 1024;
    const server = await peerServer();
    const h = await startProxy(server.port, { clusterBufferLimit: limit });
    const c = await client(h.port);
    const upstreamPeer = await server.accepted();
    upstreamPeer.pause();
    await waitFor(() => h.upstreams.length === 1, 2000, 'the upstream connection');
    const upstreamConn = h.upstreams[0]!;
    const tracked = trackBuffered(upstreamConn);
    cleanups.push(() => tracked.stop());
    const size = 48 * 1024 * 1024;
    const data = randomBytes(size);
    const sending = writeAll(c.socket, data);
    await waitFor(() => h.counter('tcp.e2e.downstream_flow_control_paused_reading_total') >= 1, 10_000, 'the downstream to be paused');
    await sleep(200);
    expect(tracked.max()).toBeGreaterThan(limit);
    expect(tracked.max()).toBeLessThanOrEqual(limit + SOCKET_CHUNK);
    expect(h.counter('tcp.e2e.downstream_cx_rx_bytes_total')).toBeLessThan(size);
    upstreamPeer.resume();
    await withTimeout(sending, 20_000, 'the client to finish sending');
    await upstreamPeer.waitForBytes(size, 20_000);
    expect(createHash('sha256').update(upstreamPeer.received()).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(h.counter('tcp.e2e.downstream_flow_control_resumed_reading_total')).toBeGreaterThanOrEqual(1);
  });

  it('propagates a client half-close upstream; the reverse direction keeps flowing', async () => {
    const server = await peerServer();
    const h = await startProxy(server.port);
    const c = await client(h.port);
    const up = await server.accepted();
    c.end('request');
    await up.waitForEnd();
    expect(up.text()).toBe('request');
    expect(c.ended).toBe(false);
    await up.write('response part 1, ');
    await c.waitForText('response part 1, ');
    up.end('part 2');
    await c.waitForEnd();
    expect(c.text()).toBe('response part 1, part 2');
    // Both directions ended: the proxy closes both connections.
    await c.waitForClose();
    await up.waitForClose();
    await waitFor(() => h.downstreams[0]!.state() === 'Closed' && h.upstreams[0]!.state() === 'Closed', 2000, 'proxy connections closed');
  });

  it('propagates an upstream half-close downstream; the client can still send', async () => {
    const server = await peerServer();
    const h = await startProxy(server.port);
    const c = await client(h.port);
    const up = await server.accepted();
    up.end('greeting');
    await c.waitForEnd();
    expect(c.text()).toBe('greeting');
    expect(c.closed).toBe(false);
    await c.write('still talking');
    await up.waitForText('still talking');
    expect(up.ended).toBe(false);
    c.end();
    await up.waitForEnd();
    await c.waitForClose();
    expect(h.counter('tcp.e2e.downstream_cx_total')).toBe(1);
  });

  it('an upstream reset closes the client after what was already sent', async () => {
    const server = await peerServer();
    const h = await startProxy(server.port);
    const c = await client(h.port);
    const up = await server.accepted();
    await up.write('partial');
    await c.waitForText('partial');
    up.reset();
    await closedByProxy(c);
    expect(c.text()).toBe('partial');
    expect(h.downstreams[0]!.localCloseReason()).toBe('tcp_proxy_upstream_closed');
  });

  it('a client that closes mid-stream closes the upstream', async () => {
    const server = await peerServer();
    const h = await startProxy(server.port);
    const c = await client(h.port);
    const up = await server.accepted();
    await c.write('hello');
    await up.waitForText('hello');
    c.reset();
    await closedByProxy(up);
    expect(h.upstreams[0]!.state()).toBe('Closed');
  });

  it('retries an unreachable upstream max_connect_attempts times, then closes the client', async () => {
    const port = await closedPort();
    const h = await startProxy(port, { filters: [tcpProxy({ max_connect_attempts: 3 })] });
    const c = await client(h.port);
    await closedByProxy(c, 5000);
    expect(c.bytesReceived).toBe(0);
    expect(h.counter('cluster.backend.upstream_cx_connect_fail')).toBe(3);
    expect(h.counter('cluster.backend.upstream_cx_total')).toBe(3);
    expect(h.counter('cluster.backend.upstream_cx_connect_attempts_exceeded')).toBe(1);
    expect(h.downstreams[0]!.localCloseReason()).toBe('tcp_proxy_connect_attempts_exceeded');
  });

  it('closes a connection to a cluster that does not exist (downstream_cx_no_route)', async () => {
    const h = await startProxy(1, { filters: [tcpProxy({ cluster: 'nowhere' })] });
    const c = await client(h.port);
    await closedByProxy(c);
    expect(h.counter('tcp.e2e.downstream_cx_no_route')).toBe(1);
  });

  it('idle_timeout closes a silent connection, and traffic keeps one open', async () => {
    const server = await peerServer();
    const h = await startProxy(server.port, { filters: [tcpProxy({ idle_timeout: '0.2s' })] });
    // A chatty connection: a byte every 50 ms for 500 ms.
    const chatty = await client(h.port);
    const chattyUp = await server.accepted();
    const started = Date.now();
    let lastWriteAt = 0;
    for (let i = 0; i < 10; i++) {
      lastWriteAt = Date.now();
      await chatty.write('x');
      await sleep(50);
    }
    await chattyUp.waitForBytes(10);
    expect(chatty.ended || chatty.closed).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    // Now silence: closed after the timeout counted from the last byte, not before.
    await closedByProxy(chatty, 2000);
    const idleFor = Date.now() - lastWriteAt;
    // Timers run on libuv's millisecond loop clock: allow for its truncation.
    expect(idleFor).toBeGreaterThanOrEqual(198);
    await closedByProxy(chattyUp);
    expect(h.counter('tcp.e2e.idle_timeout')).toBe(1);
  });

  it('max_downstream_connection_duration closes a busy connection', async () => {
    const server = await peerServer();
    const h = await startProxy(server.port, { filters: [tcpProxy({ max_downstream_connection_duration: '0.3s', idle_timeout: '0s' })] });
    const t0 = Date.now();
    const c = await client(h.port);
    await server.accepted();
    const chatter = setInterval(() => c.socket.write('.'), 20);
    cleanups.push(() => clearInterval(chatter));
    await closedByProxy(c, 3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(298);
    expect(h.counter('tcp.e2e.max_downstream_connection_duration')).toBe(1);
  });
});

describe('connection_limit end to end (in front of tcp_proxy)', () => {
  function limit(extra: Record<string, unknown> = {}): L4FilterSpec {
    return filterSpec(connectionLimitFactory, { stat_prefix: 'cl', max_connections: 2, ...extra });
  }

  it('max_connections 2: the third connection is closed; after one closes a new one is accepted', async () => {
    const server = await peerServer();
    const h = await startProxy(server.port, { filters: [limit(), tcpProxy()] });
    const a = await client(h.port);
    await server.accepted();
    const b = await client(h.port);
    await server.accepted();
    const c = await client(h.port);
    await closedByProxy(c);
    expect(c.bytesReceived).toBe(0);
    expect(h.counter('connection_limit.cl.limited_connections')).toBe(1);
    expect(h.gauge('connection_limit.cl.active_connections')).toBe(2);
    expect(server.peers).toHaveLength(2);
    // The accepted ones work.
    await b.write('b');
    await server.peers[1]!.waitForText('b');
    // A reset ends the connection at once (a FIN would only half-close it: tcp_proxy keeps the
    // other direction open).
    a.reset();
    await waitFor(() => h.gauge('connection_limit.cl.active_connections') === 1, 2000, 'a slot to be freed');
    const d = await client(h.port);
    const dUp = await server.accepted();
    await d.write('d');
    await dUp.waitForText('d');
    expect(h.counter('connection_limit.cl.limited_connections')).toBe(1);
    expect(h.gauge('connection_limit.cl.active_connections')).toBe(2);
  });

  it('with delay: the rejected connection is closed no earlier than the delay', async () => {
    const server = await peerServer();
    const h = await startProxy(server.port, { filters: [limit({ delay: '0.3s' }), tcpProxy()] });
    await client(h.port);
    await server.accepted();
    await client(h.port);
    await server.accepted();
    const t0 = performance.now();
    const c = await client(h.port);
    await c.write('ignored');
    await closedByProxy(c, 3000);
    const elapsed = performance.now() - t0;
    // libuv's loop clock has millisecond resolution: allow for its truncation.
    expect(elapsed).toBeGreaterThanOrEqual(298);
    expect(h.counter('connection_limit.cl.limited_connections')).toBe(1);
    expect(server.peers).toHaveLength(2);
    expect(c.bytesReceived).toBe(0);
  });
});
