/**
 * HTTP/2 on both sides of a real sluice: a node:http2 client (h2c, prior knowledge) -> sluice ->
 * a node:http2 origin on an `http2_protocol_options` cluster. Exercises the server and client
 * codecs together: bodies both ways, trailers both ways, resets, and backpressure end to end (a
 * client that stops reading stops the origin, with bounded buffering in between).
 */
import { createHash } from 'node:crypto';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpConnPoolFactory } from '../../../codecs/index.js';
import { routerFactory } from '../../../filters/http/router/config.js';
import { HCM_TYPE_URL, hcmFactory } from '../../../filters/network/http-connection-manager/config.js';
import { FilterRegistry } from '../../../src/config/filter-registry.js';
import { loadBootstrap } from '../../../src/config/load.js';
import { Server } from '../../../src/server/server.js';
import { LOOPBACK, pattern, sleep, waitFor, withTimeout } from '../../support/net-helpers.js';
import { silentLogger as silent } from '../../support/silent-logger.js';

/** The origin: /bytes/<n> sends pattern(n) as fast as flow control allows; /echo streams the body back. */
class Origin {
  /** Bytes of the current /bytes response the origin got rid of (write callbacks run). */
  written = 0;
  readonly seen: http2.IncomingHttpHeaders[] = [];
  /** /echo streams closed (node reports sluice's RST_STREAM(NO_ERROR) as a plain close). */
  echoClosed = 0;
  private constructor(readonly server: http2.Http2Server, readonly port: number) {}

  static async start(): Promise<Origin> {
    const server = http2.createServer();
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    const origin = new Origin(server, (server.address() as AddressInfo).port);
    server.on('stream', (stream, headers) => origin.onStream(stream, headers));
    return origin;
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    this.seen.push(headers);
    stream.on('close', () => {
      if (headers[':path'] === '/echo') this.echoClosed++;
    });
    stream.on('error', () => {});
    const path = headers[':path'] ?? '';
    const bytes = /^\/bytes\/(\d+)/.exec(path);
    if (bytes !== null) {
      const n = Number(bytes[1]);
      this.written = 0;
      stream.respond({ ':status': 200, 'content-length': n });
      const body = pattern(n);
      const chunk = 16_384;
      const writeMore = (offset: number): void => {
        while (offset < n) {
          const piece = body.subarray(offset, offset + chunk);
          offset += piece.length;
          const ok = stream.write(piece, () => {
            this.written += piece.length;
          });
          if (!ok) {
            stream.once('drain', () => writeMore(offset));
            return;
          }
        }
        stream.end();
      };
      writeMore(0);
      return;
    }
    if (path === '/echo') {
      stream.respond({ ':status': 200, 'x-origin': 'h2' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-origin-trailer': 'done' }));
      stream.pipe(stream);
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(`hello ${headers[':method']} ${path}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function startProxy(originPort: number): Promise<{ server: Server; port: number }> {
  const bootstrap = {
    static_resources: {
      listeners: [
        {
          name: 'h2',
          address: { socket_address: { address: LOOPBACK, port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM_TYPE_URL,
                    stat_prefix: 'h2e2e',
                    route_config: {
                      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'h2origin' } }] }],
                    },
                    http_filters: [{ name: 'envoy.filters.http.router' }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'h2origin',
          connect_timeout: '1s',
          // Small upstream windows, so that backpressure shows within a few windows.
          http2_protocol_options: { initial_stream_window_size: 65_535, initial_connection_window_size: 65_535 },
          load_assignment: {
            cluster_name: 'h2origin',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: LOOPBACK, port_value: originPort } } } }] }],
          },
        },
      ],
    },
  };
  const registry = new FilterRegistry().registerNetworkFilter(hcmFactory).registerHttpFilter(routerFactory);
  const server = new Server({
    bootstrap: loadBootstrap(bootstrap, registry),
    registry,
    logger: silent,
    drainTimeMs: 500,
    createHttpConnPoolFactory: (dispatcher) => createHttpConnPoolFactory({ dispatcher }),
  });
  await server.start();
  return { server, port: server.listenerManager.status()[0]!.address.port };
}

interface Reply {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
}

function collect(req: http2.ClientHttp2Stream, timeoutMs = 10_000): Promise<Reply> {
  return withTimeout(
    new Promise<Reply>((resolve, reject) => {
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      req.on('response', (h) => (headers = h));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
      req.on('error', reject);
    }),
    timeoutMs,
    'response',
  );
}

let origin: Origin;
let proxy: { server: Server; port: number };
let client: http2.ClientHttp2Session;

beforeAll(async () => {
  origin = await Origin.start();
  proxy = await startProxy(origin.port);
  client = http2.connect(`http://${LOOPBACK}:${proxy.port}`);
  await withTimeout(new Promise<void>((resolve) => client.once('connect', () => resolve())), 2000, 'client connect');
});

afterAll(async () => {
  client.close();
  await proxy.server.shutdown();
  await origin.close();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('HTTP/2 downstream and upstream through sluice', () => {
  it('forwards a request and its response', async () => {
    const res = await collect(client.request({ ':path': '/hello?x=1', 'x-client': 'node' }));
    expect(res.headers[':status']).toBe(200);
    expect(res.body.toString()).toBe('hello GET /hello?x=1');
    const seen = origin.seen.at(-1)!;
    expect(seen[':authority']).toBe(`${LOOPBACK}:${proxy.port}`);
    expect(seen['x-client']).toBe('node');
    expect(seen[':scheme']).toBe('http');
  });

  it('streams a large response through both codecs intact', async () => {
    const n = 8 * 1024 * 1024 + 3;
    const res = await collect(client.request({ ':path': `/bytes/${n}` }), 20_000);
    expect(res.body.length).toBe(n);
    expect(sha(res.body)).toBe(sha(pattern(n)));
  });

  it('streams a large upload back with trailers both ways', async () => {
    const body = pattern(3 * 1024 * 1024, 7);
    const req = client.request({ ':method': 'POST', ':path': '/echo', te: 'trailers' }, { waitForTrailers: true });
    req.on('wantTrailers', () => req.sendTrailers({ 'x-client-trailer': 'sent' }));
    const done = collect(req, 20_000);
    req.end(body);
    const res = await done;
    expect(res.headers['x-origin']).toBe('h2');
    expect(sha(res.body)).toBe(sha(body));
    expect(res.trailers?.['x-origin-trailer']).toBe('done');
  });

  it('a client that stops reading stops the origin, with bounded buffering in between', async () => {
    const n = 32 * 1024 * 1024;
    const req = client.request({ ':path': `/bytes/${n}` });
    req.pause();
    const done = collect(req, 30_000);
    req.pause();
    // Let the pipeline fill up, then check the origin could not push everything.
    let last = -1;
    for (let i = 0; i < 50 && origin.written !== last; i++) {
      last = origin.written;
      await sleep(40);
    }
    // The client's window (64 KiB) + the downstream stream's buffer limit (1 MiB) + the upstream
    // window (64 KiB) + socket buffers: far from the 32 MiB the origin wants to send.
    expect(origin.written).toBeLessThan(2.5 * 1024 * 1024);
    req.resume();
    const res = await done;
    expect(res.body.length).toBe(n);
    expect(sha(res.body)).toBe(sha(pattern(n)));
  });

  it('a client reset reaches the origin as a reset', async () => {
    const req = client.request({ ':method': 'POST', ':path': '/echo' });
    req.on('error', () => {});
    req.write('partial');
    const seen = origin.seen.length;
    await waitFor(() => origin.seen.length > seen, 2000, 'origin stream');
    const before = origin.echoClosed;
    req.close(http2.constants.NGHTTP2_CANCEL);
    // Without the RST_STREAM the origin stream would wait for the rest of the body forever.
    await waitFor(() => origin.echoClosed > before, 3000, 'the origin stream to close');
  });
});
