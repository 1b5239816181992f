/**
 * A real sluice for HTTP end-to-end tests: a Server (listener, HTTP connection manager, router,
 * cluster manager with static loopback clusters, the codec layer's HTTP pools) built from an
 * Envoy-style bootstrap, listening on 127.0.0.1:0; plus a small node:http origin that echoes what
 * it received, and a client helper with a timeout on every request.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpConnPoolFactory } from '../../codecs/index.js';
import { routerFactory } from '../../filters/http/router/config.js';
import { HCM_TYPE_URL, hcmFactory } from '../../filters/network/http-connection-manager/config.js';
import { FilterRegistry } from '../../src/config/filter-registry.js';
import { loadBootstrap } from '../../src/config/load.js';
import { Server } from '../../src/server/server.js';
import { LOOPBACK, waitFor, withTimeout } from './net-helpers.js';
import { silentLogger } from './silent-logger.js';

export interface HttpProxyOptions {
  /** Static clusters of one 127.0.0.1 host each: name -> port. */
  readonly clusters: Readonly<Record<string, number>>;
  /** The HCM's route_config; default: every path to the first cluster. */
  readonly routeConfig?: unknown;
  /** More HttpConnectionManager fields (access_log, timeouts, ...). */
  readonly hcm?: Readonly<Record<string, unknown>>;
  /** Whole cluster configs added after `clusters` (several hosts, circuit breakers...): see clusterConfig(). */
  readonly clusterConfigs?: readonly unknown[];
  /** More listener fields (per_connection_buffer_limit_bytes, ...). */
  readonly listener?: Readonly<Record<string, unknown>>;
}

function staticCluster(name: string, port: number): unknown {
  return {
    name,
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: LOOPBACK, port_value: port } } } }] }],
    },
  };
}

/**
 * A STATIC cluster of 127.0.0.1 hosts, one per port (none: a cluster without endpoints); `hostnames`
 * gives each endpoint's `hostname`; `extra` adds cluster fields (circuit_breakers, lb_policy...).
 */
export function clusterConfig(
  name: string,
  ports: readonly number[],
  extra: Readonly<Record<string, unknown>> = {},
  hostnames: readonly string[] = [],
): unknown {
  const lbEndpoints = ports.map((port, i) => ({
    endpoint: {
      address: { socket_address: { address: LOOPBACK, port_value: port } },
      ...(hostnames[i] !== undefined ? { hostname: hostnames[i] } : {}),
    },
  }));
  return {
    name,
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: lbEndpoints.length > 0 ? [{ lb_endpoints: lbEndpoints }] : [] },
    ...extra,
  };
}

export class HttpProxy {
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(options: HttpProxyOptions): Promise<HttpProxy> {
    const clusterNames = Object.keys(options.clusters);
    const routeConfig = options.routeConfig ?? {
      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterNames[0] } }] }],
    };
    const bootstrap = {
      static_resources: {
        listeners: [
          {
            name: 'http',
            address: { socket_address: { address: LOOPBACK, port_value: 0 } },
            ...options.listener,
            filter_chains: [
              {
                filters: [
                  {
                    name: 'envoy.filters.network.http_connection_manager',
                    typed_config: {
                      '@type': HCM_TYPE_URL,
                      stat_prefix: 'e2e',
                      route_config: routeConfig,
                      http_filters: [{ name: 'envoy.filters.http.router' }],
                      ...options.hcm,
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [...clusterNames.map((n) => staticCluster(n, options.clusters[n]!)), ...(options.clusterConfigs ?? [])],
      },
    };
    const registry = new FilterRegistry().registerNetworkFilter(hcmFactory).registerHttpFilter(routerFactory);
    const server = new Server({
      bootstrap: loadBootstrap(bootstrap, registry),
      registry,
      logger: silentLogger,
      drainTimeMs: 1000,
      createHttpConnPoolFactory: (dispatcher) => createHttpConnPoolFactory({ dispatcher }),
    });
    await server.start();
    const port = server.listenerManager.status()[0]!.address.port;
    return new HttpProxy(server, port);
  }

  /** A counter by full name; 0 when it was never created. */
  counter(name: string): number {
    return this.server.stats.findCounter(name)?.value() ?? 0;
  }

  gauge(name: string): number {
    return this.server.stats.findGauge(name)?.value() ?? 0;
  }

  close(): Promise<void> {
    return this.server.shutdown();
  }
}

/** What the echo origin saw of one request. */
export interface EchoedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly bodyLength: number;
  readonly bodySha256: string;
}

/** An origin that answers every request with a JSON description of it. */
export class EchoOrigin {
  readonly requests: EchoedRequest[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<EchoOrigin> {
    let origin: EchoOrigin | undefined;
    const server = http.createServer((req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on('end', () => {
        const seen: EchoedRequest = { method: req.method!, url: req.url!, headers: req.headers, bodyLength: length, bodySha256: hash.digest('hex') };
        origin!.requests.push(seen);
        const body = JSON.stringify(seen);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-origin': 'echo' });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    origin = new EchoOrigin(server, (server.address() as AddressInfo).port);
    return origin;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface ClientResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request on a fresh connection (no agent keep-alive), with a timeout. */
export function request(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string },
  timeoutMs = 5000,
): Promise<ClientResponse> {
  const p = new Promise<ClientResponse>((resolve, reject) => {
    const req = http.request(
      { host: LOOPBACK, port, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
  return withTimeout(p, timeoutMs, `${options.method ?? 'GET'} ${options.path}`);
}

/** A file access log in a fresh temp directory (the default format unless `format` is given). */
export class AccessLogFile {
  private constructor(
    private readonly dir: string,
    readonly path: string,
  ) {}

  static create(): AccessLogFile {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-'));
    return new AccessLogFile(dir, join(dir, 'access.log'));
  }

  /** The HCM `access_log` entry for this file. */
  config(format?: string): unknown[] {
    const typed = format === undefined ? { path: this.path } : { path: this.path, log_format: { text_format: format } };
    return [{ name: 'envoy.access_loggers.file', typed_config: typed }];
  }

  /** The lines written so far, each with its newline. */
  current(): string[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8')
      .split(/(?<=\n)/)
      .filter((l) => l !== '');
  }

  /** Waits until the log holds at least `n` lines and returns them. */
  async lines(n: number, timeoutMs = 3000): Promise<string[]> {
    await waitFor(() => this.current().length >= n, timeoutMs, `${n} access log lines (have ${this.current().length})`);
    return this.current();
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A node:http origin with a handler of the test's own; `close` ends its connections too. */
export class HttpOrigin {
  private constructor(
    readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(handler: http.RequestListener): Promise<HttpOrigin> {
    const server = http.createServer(handler);
    await withTimeout(new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve)), 2000, 'origin listen');
    return new HttpOrigin(server, (server.address() as AddressInfo).port);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 2000, 'origin close');
  }
}
