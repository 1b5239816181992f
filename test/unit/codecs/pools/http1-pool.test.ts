import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1ConnPoolImpl } from '../../../../codecs/pools/http1-pool.js';
import { defaultClientCodecFactory } from '../../../../codecs/pools/pool-factory.js';
import type { ClusterOptions } from '../../../../src/upstream/cluster-options.js';
import { closedPort, PeerServer, waitFor, withTimeout } from '../../../support/net-helpers.js';
import { hostSetup, idle, requestHeaders, startExchange, type Exchange, type HostSetup } from './helpers.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Origin {
  readonly port: number;
  /** Accepted TCP connections. */
  readonly connections: Socket[];
  readonly requests: string[];
}

const servers: http.Server[] = [];
const peerServers: PeerServer[] = [];
const pools: Http1ConnPoolImpl[] = [];

afterEach(async () => {
  for (const p of pools.splice(0)) p.closeConnections();
  await Promise.all(peerServers.splice(0).map((s) => s.close()));
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return withTimeout(new Promise<void>((r) => s.close(() => r())), 2000, 'origin close');
    }),
  );
});

async function origin(handler: Handler): Promise<Origin> {
  const connections: Socket[] = [];
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.on('connection', (s: Socket) => connections.push(s));
  servers.push(server);
  await withTimeout(new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r())), 2000, 'origin listen');
  return { port: (server.address() as AddressInfo).port, connections, requests };
}

async function rawOrigin(): Promise<PeerServer> {
  const s = await PeerServer.start();
  peerServers.push(s);
  return s;
}

const hello: Handler = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello ${req.url}`);
};

function pool(port: number, opts: Partial<ClusterOptions> = {}): { pool: Http1ConnPoolImpl; setup: HostSetup } {
  const setup = hostSetup(port, opts);
  const p = new Http1ConnPoolImpl(setup.host, { dispatcher: setup.dispatcher, codecFactory: defaultClientCodecFactory });
  pools.push(p);
  return { pool: p, setup };
}

async function run(p: Http1ConnPoolImpl, path: string): Promise<Exchange> {
  const ex = startExchange(p, { path });
  expect(await ex.done()).toBe('complete');
  return ex;
}

describe('HTTP/1 pool: keep-alive', () => {
  it('sends a request and hands back the response with protocol HTTP/1.1', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p, { path: '/a' });
    expect(ex.handle).toBeDefined();
    expect(await ex.done()).toBe('complete');
    expect(ex.protocol).toBe('HTTP/1.1');
    expect(ex.status).toBe(200);
    expect(ex.body).toBe('hello /a');
    expect(setup.counter('upstream_cx_http1_total')).toBe(1);
    expect(setup.counter('upstream_cx_http2_total')).toBe(0);
    expect(setup.counter('upstream_rq_total')).toBe(1);
    expect(setup.gauge('upstream_rq_active')).toBe(0);
    expect(setup.host.stats.rq_active).toBe(0);
    expect(p.counts()).toMatchObject({ ready: 1, busy: 0, activeStreams: 0 });
  });

  it('two sequential requests use one upstream connection', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    expect((await run(p, '/1')).body).toBe('hello /1');
    expect((await run(p, '/2')).body).toBe('hello /2');
    expect(o.connections.length).toBe(1);
    expect(o.requests).toEqual(['GET /1', 'GET /2']);
    expect(setup.counter('upstream_cx_total')).toBe(1);
  });

  it('a pending stream gets the connection when the stream before it ends (max_connections 1)', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port, { circuitBreakers: { default: { maxConnections: 1 } } });
    const a = startExchange(p, { path: '/a' });
    const b = startExchange(p, { path: '/b' });
    expect(b.handle).toBeDefined();
    expect(await a.done()).toBe('complete');
    expect(await b.done()).toBe('complete');
    expect(b.body).toBe('hello /b');
    expect(o.connections.length).toBe(1);
    // Each attempt to open a second connection counts: at newStream and again once /a got the
    // first connection with /b still pending.
    expect(setup.counter('upstream_cx_overflow')).toBe(2);
  });

  it('concurrent requests get a connection each', async () => {
    const held: http.ServerResponse[] = [];
    const o = await origin((_req, res) => {
      held.push(res);
      if (held.length === 3) for (const r of held) r.end('x');
    });
    const { pool: p, setup } = pool(o.port);
    const exchanges = [0, 1, 2].map((i) => startExchange(p, { path: `/${i}` }));
    await Promise.all(exchanges.map((e) => e.done()));
    expect(exchanges.every((e) => e.status === 200)).toBe(true);
    expect(o.connections.length).toBe(3);
    expect(setup.counter('upstream_cx_http1_total')).toBe(3);
    expect(p.counts()).toMatchObject({ ready: 3, activeStreams: 0 });
  });

  it('sends a request body', async () => {
    const o = await origin((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(String(n)));
    });
    const { pool: p } = pool(o.port);
    const ex = startExchange(p, { method: 'POST', path: '/upload', body: 'y'.repeat(200_000) });
    expect(await ex.done()).toBe('complete');
    expect(ex.body).toBe('200000');
  });

  it('a `connection: close` response is not reused', async () => {
    const o = await origin((req, res) => {
      res.setHeader('connection', 'close');
      res.end(`bye ${req.url}`);
    });
    const { pool: p, setup } = pool(o.port);
    expect((await run(p, '/1')).body).toBe('bye /1');
    expect(setup.counter('upstream_cx_close_notify')).toBe(1);
    await waitFor(() => setup.counter('upstream_cx_destroy') === 1, 2000, 'first connection closed');
    expect((await run(p, '/2')).body).toBe('bye /2');
    expect(o.connections.length).toBe(2);
  });

  it('an HTTP/1.0 response without keep-alive is not reused; we close it', async () => {
    const raw = await rawOrigin();
    const { pool: p, setup } = pool(raw.port);
    const ex = startExchange(p, { path: '/old' });
    const peer = await raw.accepted();
    await peer.waitForText('\r\n\r\n');
    await peer.write('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok');
    expect(await ex.done()).toBe('complete');
    expect(ex.body).toBe('ok');
    // The upstream left its side open: the pool closes it.
    await peer.waitForEnd();
    expect(setup.counter('upstream_cx_destroy_local')).toBe(1);
    expect(setup.counter('upstream_cx_close_notify')).toBe(1);
    expect(p.isIdle()).toBe(true);
  });

  it('a body delimited by the close completes at EOF', async () => {
    const raw = await rawOrigin();
    const { pool: p, setup } = pool(raw.port);
    const ex = startExchange(p, { path: '/eof' });
    const peer = await raw.accepted();
    await peer.waitForText('\r\n\r\n');
    await peer.write('HTTP/1.1 200 OK\r\n\r\nhello ');
    peer.end('world');
    expect(await ex.done()).toBe('complete');
    expect(ex.body).toBe('hello world');
    expect(ex.reset).toBeUndefined();
    await idle(p);
    expect(setup.counter('upstream_cx_destroy')).toBe(1);
  });

  it('max_requests_per_connection closes a connection after N requests', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port, { maxRequestsPerConnection: 2 });
    await run(p, '/1');
    await run(p, '/2');
    await waitFor(() => setup.counter('upstream_cx_destroy_local') === 1, 2000, 'used-up connection closed');
    await run(p, '/3');
    expect(o.connections.length).toBe(2);
    expect(setup.counter('upstream_cx_max_requests')).toBe(1);
  });

  it('an upstream that closed an idle keep-alive connection is not used again', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    await run(p, '/1');
    o.connections[0]!.destroy();
    await waitFor(() => setup.counter('upstream_cx_destroy_remote') === 1, 2000, 'remote close seen');
    await run(p, '/2');
    expect(o.connections.length).toBe(2);
  });

  it('closes a connection idle for the idle timeout', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port, { idleTimeoutMs: 30 });
    await run(p, '/1');
    await idle(p);
    expect(setup.counter('upstream_cx_idle_timeout')).toBe(1);
  });
});

describe('HTTP/1 pool: resets and failures', () => {
  it('the upstream resetting before the response resets the stream', async () => {
    const o = await origin((req) => req.socket.destroy());
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p);
    expect(await ex.done()).toBe('reset');
    expect(ex.reset?.reason).toBe('ConnectionTermination');
    expect(setup.counter('upstream_cx_destroy_remote_with_active_rq')).toBe(1);
    expect(setup.gauge('upstream_rq_active')).toBe(0);
    expect(setup.host.stats.rq_active).toBe(0);
    expect(p.isIdle()).toBe(true);
  });

  it('a local reset closes the connection; the next request gets a new one', async () => {
    let first = true;
    const o = await origin((req, res) => {
      if (first) {
        first = false;
        res.write('partial');
        return;
      }
      hello(req, res);
    });
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p, { path: '/hang' });
    await waitFor(() => ex.status === 200, 2000, 'response headers');
    ex.encoder!.stream().resetStream('LocalReset');
    expect(ex.reset?.reason).toBe('LocalReset');
    expect(setup.counter('upstream_cx_destroy_local_with_active_rq')).toBe(1);
    expect(p.counts()).toMatchObject({ activeStreams: 0, ready: 0, busy: 0 });
    expect((await run(p, '/next')).body).toBe('hello /next');
    expect(o.connections.length).toBe(2);
  });

  it('a response before the request was fully sent closes the connection after it', async () => {
    const o = await origin((_req, res) => res.end('early'));
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p, { method: 'POST', path: '/early', manual: true });
    await ex.ready();
    const headers = requestHeaders('POST', '/early', { 'content-length': '10' });
    expect(ex.encoder!.encodeHeaders(headers, false).ok).toBe(true);
    expect(await ex.done()).toBe('complete');
    expect(ex.body).toBe('early');
    await idle(p);
    expect(setup.counter('upstream_cx_destroy_local')).toBe(1);
    expect(o.connections.length).toBe(1);
  });

  it('a malformed response is a protocol error', async () => {
    const raw = await rawOrigin();
    const { pool: p, setup } = pool(raw.port);
    const ex = startExchange(p);
    const peer = await raw.accepted();
    await peer.waitForText('\r\n\r\n');
    await peer.write('HTTP/1.1 abc nonsense\r\n\r\n');
    expect(await ex.done()).toBe('reset');
    expect(ex.reset?.reason).toBe('ProtocolError');
    expect(setup.counter('upstream_cx_protocol_error')).toBe(1);
    await peer.waitForEnd();
    expect(p.isIdle()).toBe(true);
  });

  it('a refused connect fails the stream with RemoteConnectionFailure', async () => {
    const port = await closedPort();
    const { pool: p, setup } = pool(port);
    const ex = startExchange(p);
    expect(await ex.done()).toBe('failure');
    expect(ex.failure?.reason).toBe('RemoteConnectionFailure');
    expect(ex.failure?.host).toBe(setup.host);
    expect(setup.counter('upstream_cx_connect_fail')).toBe(1);
    expect(setup.counter('upstream_rq_pending_failure_eject')).toBe(1);
    expect(p.isIdle()).toBe(true);
  });

  it('max_pending_requests overflow fails at once with Overflow', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port, { circuitBreakers: { default: { maxPendingRequests: 1 } } });
    const first = startExchange(p);
    const second = startExchange(p);
    expect(second.handle).toBeUndefined();
    expect(second.failure).toEqual({ reason: 'Overflow', details: '', host: undefined });
    expect(setup.counter('upstream_rq_pending_overflow')).toBe(1);
    expect(await first.done()).toBe('complete');
  });

  it('a cancelled pending stream gets no callback and sends nothing', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p);
    ex.handle!.cancel('Default');
    await waitFor(() => p.counts().ready === 1, 2000, 'connection ready');
    expect(ex.events).toEqual([]);
    expect(setup.counter('upstream_rq_cancelled')).toBe(1);
    expect(o.requests).toEqual([]);
  });

  it('drainConnections closes idle connections and lets busy ones finish', async () => {
    let held: http.ServerResponse | undefined;
    const o = await origin((req, res) => {
      if (req.url === '/slow') held = res;
      else hello(req, res);
    });
    const { pool: p, setup } = pool(o.port);
    await run(p, '/fast');
    const slow = startExchange(p, { path: '/slow' });
    // The idle connection took /slow; open a second, idle one.
    await run(p, '/fast2');
    await waitFor(() => held !== undefined, 2000, '/slow at origin');
    p.drainConnections();
    await waitFor(() => setup.counter('upstream_cx_destroy') === 1, 2000, 'idle connection closed');
    expect(p.counts()).toMatchObject({ draining: 1, ready: 0 });
    held!.end('slow');
    expect(await slow.done()).toBe('complete');
    await idle(p);
    expect(setup.counter('upstream_cx_destroy')).toBe(2);
  });
});
