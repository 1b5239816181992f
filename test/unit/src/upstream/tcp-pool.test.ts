import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type { ClientConnection, ConnectionEvent } from '../../../../src/api/network.js';
import type { Host, PoolFailureReason, TcpConnectionData, TcpPoolCallbacks } from '../../../../src/api/upstream.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ClientConnectionImpl } from '../../../../src/network/connection.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { HostImpl, type ConnectionFactory } from '../../../../src/upstream/host.js';
import { TcpConnPoolImpl } from '../../../../src/upstream/tcp-pool.js';
import { clusterInfo } from './helpers.js';

const WAIT_MS = 3000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function listen(onConn: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer((s) => {
    sockets.push(s);
    onConn(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

/** A port nobody listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Setup {
  pool: TcpConnPoolImpl;
  host: HostImpl;
  store: StatsStore;
  connections: ClientConnection[];
}

function setup(port: number, connectTimeoutMs = 2000): Setup {
  const dispatcher = new NodeDispatcher();
  const store = new StatsStore();
  const connections: ClientConnection[] = [];
  const factory: ConnectionFactory = (address, bufferLimit) => {
    const c = new ClientConnectionImpl(dispatcher, address, { bufferLimit });
    connections.push(c);
    return c;
  };
  const info = clusterInfo({ connectTimeoutMs }, store);
  const host = new HostImpl(info, { address: '127.0.0.1', port }, factory);
  return { pool: new TcpConnPoolImpl(host, dispatcher), host, store, connections };
}

type Outcome =
  | { ok: true; data: TcpConnectionData; host: Host }
  | { ok: false; reason: PoolFailureReason; details: string; host: Host | undefined };

function request(pool: TcpConnPoolImpl): { outcome: Promise<Outcome>; handle: ReturnType<TcpConnPoolImpl['newConnection']> } {
  let resolve!: (o: Outcome) => void;
  const outcome = new Promise<Outcome>((r) => (resolve = r));
  const cb: TcpPoolCallbacks = {
    onPoolReady: (data, host) => resolve({ ok: true, data, host }),
    onPoolFailure: (reason, details, host) => resolve({ ok: false, reason, details, host }),
  };
  const handle = pool.newConnection(cb);
  return { outcome: withTimeout(outcome, 'pool callback'), handle };
}

/** Collects upstream bytes and events through TcpUpstreamCallbacks. */
function attach(data: TcpConnectionData) {
  const chunks: Buffer[] = [];
  const events: ConnectionEvent[] = [];
  let onChange = (): void => {};
  data.addUpstreamCallbacks({
    onUpstreamData: (buf: BufferInstance, _end: boolean) => {
      chunks.push(buf.toBuffer());
      buf.drain(buf.length);
      onChange();
    },
    onEvent: (e) => {
      events.push(e);
      onChange();
    },
    onAboveWriteBufferHighWatermark: () => {},
    onBelowWriteBufferLowWatermark: () => {},
  });
  const until = (pred: () => boolean, what: string): Promise<void> =>
    withTimeout(
      new Promise<void>((r) => {
        if (pred()) return r();
        onChange = () => {
          if (pred()) r();
        };
      }),
      what,
    );
  return { chunks, events, until, text: () => Buffer.concat(chunks).toString() };
}

const stat = (store: StatsStore, name: string): number => store.findCounter(`cluster.c.${name}`)?.value() ?? store.findGauge(`cluster.c.${name}`)?.value() ?? -1;

describe('TcpConnPoolImpl over 127.0.0.1', () => {
  it('connects, relays bytes both ways and ends the stream when the user closes', async () => {
    const port = await listen((s) => s.on('data', (d) => s.write(Buffer.concat([Buffer.from('echo:'), d]))));
    const { pool, host, store } = setup(port);
    const { outcome, handle } = request(pool);
    expect(handle).toBeDefined();
    const o = await outcome;
    if (!o.ok) throw new Error(`pool failure ${o.reason}`);
    expect(o.host).toBe(host);
    const up = attach(o.data);
    const conn = o.data.connection();
    expect(conn.state()).toBe('Open');
    expect(conn.readEnabled()).toBe(true);
    conn.write(new BufferChain('ping'), false);
    await up.until(() => up.text() === 'echo:ping', 'echo');
    expect([stat(store, 'upstream_cx_total'), stat(store, 'upstream_cx_active'), stat(store, 'upstream_rq_active')]).toEqual([1, 1, 1]);
    expect(host.activeConnections).toBe(1);
    conn.close('NoFlush');
    expect(up.events).toEqual(['LocalClose']);
    expect([stat(store, 'upstream_cx_active'), stat(store, 'upstream_rq_active'), stat(store, 'upstream_cx_destroy_local')]).toEqual([0, 0, 1]);
    expect(stat(store, 'upstream_cx_tx_bytes_total')).toBe(4);
    expect(stat(store, 'upstream_cx_rx_bytes_total')).toBe(9);
    expect(pool.isIdle()).toBe(true);
  });

  it('keeps bytes the upstream sends first until the user is attached', async () => {
    const port = await listen((s) => s.write('greeting'));
    const { pool } = setup(port);
    const o = await request(pool).outcome;
    if (!o.ok) throw new Error('expected ready');
    const up = attach(o.data);
    await up.until(() => up.text() === 'greeting', 'greeting');
    o.data.connection().close('NoFlush');
  });

  it('relays a remote close to the user and releases the stream', async () => {
    const port = await listen((s) => setTimeout(() => s.destroy(), 20));
    const { pool, store, host } = setup(port);
    const o = await request(pool).outcome;
    if (!o.ok) throw new Error('expected ready');
    const up = attach(o.data);
    await up.until(() => up.events.length > 0, 'remote close');
    expect(up.events).toEqual(['RemoteClose']);
    expect([stat(store, 'upstream_cx_destroy_remote'), stat(store, 'upstream_cx_destroy_remote_with_active_rq')]).toEqual([1, 1]);
    expect([host.activeRequests, host.activeConnections]).toEqual([0, 0]);
  });

  it('counts a refused connect as upstream_cx_connect_fail and fails the request', async () => {
    const port = await closedPort();
    const { pool, store, host } = setup(port);
    const o = await request(pool).outcome;
    expect(o.ok).toBe(false);
    if (o.ok) return;
    expect(o.reason).toBe('RemoteConnectionFailure');
    expect(o.details).toMatch(/ECONNREFUSED/);
    expect(o.host).toBe(host);
    expect([stat(store, 'upstream_cx_connect_fail'), stat(store, 'upstream_rq_pending_failure_eject'), stat(store, 'upstream_cx_active')]).toEqual([1, 1, 0]);
    expect(host.stats.cx_connect_fail).toBe(1);
    expect(pool.isIdle()).toBe(true);
  });

  it('hands each user its own connection and serves several at once', async () => {
    let accepted = 0;
    const port = await listen(() => accepted++);
    const { pool, connections } = setup(port);
    const a = request(pool);
    const b = request(pool);
    const [oa, ob] = await Promise.all([a.outcome, b.outcome]);
    if (!oa.ok || !ob.ok) throw new Error('expected ready');
    expect(oa.data.connection()).not.toBe(ob.data.connection());
    expect(connections.length).toBe(2);
    expect(pool.counts()).toMatchObject({ busy: 2, pending: 0, activeStreams: 2 });
    oa.data.connection().close('NoFlush');
    ob.data.connection().close('NoFlush');
    expect(pool.isIdle()).toBe(true);
  });

  it('CloseExcess cancel closes the connection being made for the request', async () => {
    const port = await listen(() => {});
    const { pool, connections, store } = setup(port);
    const { handle } = request(pool);
    expect(handle).toBeDefined();
    handle!.cancel('CloseExcess');
    expect(connections[0]!.state()).toBe('Closed');
    expect(stat(store, 'upstream_rq_cancelled')).toBe(1);
    expect(pool.isIdle()).toBe(true);
  });
});
