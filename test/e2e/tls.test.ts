/**
 * TLS through a real sluice: a listener with tls_inspector and filter chains chosen by SNI
 * (server_names, exact and wildcard), by transport protocol (plaintext) and a catch-all chain;
 * ALPN picking HTTP/2 or HTTP/1.1; upstream TLS to node https origins with trusted_ca and sni, and
 * a CA mismatch answered 503 UF with the TLS failure reason in the access log. Certificates come
 * from the openssl command line (test/support/tls-certs.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpConnPoolFactory } from '../../codecs/index.js';
import { routerFactory } from '../../filters/http/router/config.js';
import { TLS_INSPECTOR_TYPE_URL, tlsInspectorFactory } from '../../filters/listener/tls-inspector/config.js';
import { HCM_TYPE_URL, hcmFactory } from '../../filters/network/http-connection-manager/config.js';
import { ConfigError } from '../../src/config/config-error.js';
import { FilterRegistry } from '../../src/config/filter-registry.js';
import { loadBootstrap } from '../../src/config/load.js';
import { DOWNSTREAM_TLS_CONTEXT_TYPE_URL, UPSTREAM_TLS_CONTEXT_TYPE_URL } from '../../src/network/tls/tls-config.js';
import { Server } from '../../src/server/server.js';
import { EchoOrigin, request, type EchoedRequest } from '../support/http-harness.js';
import { LOOPBACK, waitFor, withTimeout } from '../support/net-helpers.js';
import { createTestPki, type TestCert, type TestPki } from '../support/tls-certs.js';
import { silentLogger } from '../support/silent-logger.js';

const VERIFY_FAILED = 'TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end';

function registry(): FilterRegistry {
  return new FilterRegistry().registerNetworkFilter(hcmFactory).registerHttpFilter(routerFactory).registerListenerFilter(tlsInspectorFactory);
}

function downstreamTls(cert: TestCert): unknown {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: cert.certPath }, private_key: { filename: cert.keyPath } }],
        alpn_protocols: ['h2', 'http/1.1'],
      },
    },
  };
}

function hcm(statPrefix: string, logPath?: string): unknown {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE_URL,
      stat_prefix: statPrefix,
      route_config: {
        virtual_hosts: [
          {
            name: 'all',
            domains: ['*'],
            routes: [
              { match: { prefix: '/tls-origin' }, route: { cluster: 'tls_origin' } },
              { match: { prefix: '/bad-tls' }, route: { cluster: 'bad_tls_origin' } },
              { match: { prefix: '/h2-tls-origin' }, route: { cluster: 'h2_tls_origin' } },
              { match: { prefix: '/' }, route: { cluster: 'origin' } },
            ],
          },
        ],
      },
      http_filters: [{ name: 'envoy.filters.http.router' }],
      ...(logPath !== undefined
        ? {
            access_log: [
              {
                name: 'envoy.access_loggers.file',
                typed_config: { path: logPath, log_format: { text_format_source: { inline_string: '%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%\n' } } },
              },
            ],
          }
        : {}),
    },
  };
}

function cluster(name: string, port: number, transportSocket?: unknown, extra: Record<string, unknown> = {}): unknown {
  return {
    ...extra,
    name,
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: LOOPBACK, port_value: port } } } }] }] },
    ...(transportSocket !== undefined ? { transport_socket: transportSocket } : {}),
  };
}

function upstreamTls(pki: TestPki): unknown {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL,
      sni: 'origin.test',
      common_tls_context: { validation_context: { trusted_ca: { filename: pki.ca.certPath } } },
    },
  };
}

interface HttpsOrigin {
  readonly port: number;
  readonly serverNames: Array<string | false>;
  close(): Promise<void>;
}

async function startHttpsOrigin(cert: TestCert): Promise<HttpsOrigin> {
  const serverNames: Array<string | false> = [];
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    serverNames.push((req.socket as TLSSocket & { servername: string | false }).servername);
    req.resume();
    req.on('end', () => res.end(`tls origin saw ${req.method} ${req.url}`));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    serverNames,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TLS HTTP/2-only origin (node refuses clients that do not offer ALPN h2). */
async function startH2TlsOrigin(cert: TestCert): Promise<HttpsOrigin> {
  const serverNames: Array<string | false> = [];
  const server = http2.createSecureServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    serverNames.push((req.socket as TLSSocket & { servername: string | false }).servername);
    req.resume();
    req.on('end', () => res.end(`h2 tls origin saw ${req.method} ${req.url} over ${req.httpVersion}`));
  });
  server.on('tlsClientError', () => {});
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    serverNames,
    close: () => {
      for (const s of sessions) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The subject CN of a peer certificate, when it has one. */
function commonName(cert: tls.PeerCertificate): string | undefined {
  const cn = (cert.subject as tls.PeerCertificate['subject'] | undefined)?.CN;
  return Array.isArray(cn) ? cn.join(',') : cn;
}

interface HttpsResponse {
  readonly status: number;
  readonly body: string;
  readonly httpVersion: string;
  readonly peerCn: string | undefined;
  readonly alpn: string | false;
}

describe('TLS end to end', () => {
  let pki: TestPki;
  let certs: Record<'a' | 'b' | 'dflt', TestCert>;
  let origin: EchoOrigin;
  let tlsOrigin: HttpsOrigin;
  let strangerOrigin: HttpsOrigin;
  let h2Origin: HttpsOrigin;
  let server: Server;
  let port: number;
  let logDir: string;
  let logPath: string;

  beforeAll(async () => {
    pki = createTestPki();
    certs = { a: pki.ca.issue('a.test'), b: pki.ca.issue('b.test', { dns: ['b.test', '*.b.test'] }), dflt: pki.ca.issue('default.test') };
    origin = await EchoOrigin.start();
    tlsOrigin = await startHttpsOrigin(pki.ca.issue('origin.test'));
    strangerOrigin = await startHttpsOrigin(pki.otherCa.issue('origin.test'));
    h2Origin = await startH2TlsOrigin(pki.ca.issue('origin.test'));
    logDir = mkdtempSync(join(tmpdir(), 'sluice-tls-e2e-'));
    logPath = join(logDir, 'access.log');
    const bootstrap = {
      static_resources: {
        listeners: [
          {
            name: 'edge',
            stat_prefix: 'edge',
            address: { socket_address: { address: LOOPBACK, port_value: 0 } },
            listener_filters: [{ name: 'tls_inspector', typed_config: { '@type': TLS_INSPECTOR_TYPE_URL } }],
            filter_chains: [
              { name: 'a', filter_chain_match: { server_names: ['a.test'] }, transport_socket: downstreamTls(certs.a), filters: [hcm('a', logPath)] },
              { name: 'b', filter_chain_match: { server_names: ['b.test', '*.b.test'] }, transport_socket: downstreamTls(certs.b), filters: [hcm('b')] },
              { name: 'plain', filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: [hcm('plain')] },
              { name: 'default', transport_socket: downstreamTls(certs.dflt), filters: [hcm('default')] },
            ],
          },
        ],
        clusters: [
          cluster('origin', origin.port),
          cluster('tls_origin', tlsOrigin.port, upstreamTls(pki)),
          cluster('bad_tls_origin', strangerOrigin.port, upstreamTls(pki)),
          cluster('h2_tls_origin', h2Origin.port, upstreamTls(pki), {
            typed_extension_protocol_options: {
              'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
                explicit_http_config: { http2_protocol_options: {} },
              },
            },
          }),
        ],
      },
    };
    const reg = registry();
    server = new Server({
      bootstrap: loadBootstrap(bootstrap, reg),
      registry: reg,
      logger: silentLogger,
      drainTimeMs: 1000,
      createHttpConnPoolFactory: (dispatcher) => createHttpConnPoolFactory({ dispatcher }),
    });
    await server.start();
    port = server.listenerManager.status()[0]!.address.port;
  });

  afterAll(async () => {
    await server?.shutdown();
    await origin?.close();
    await tlsOrigin?.close();
    await strangerOrigin?.close();
    await h2Origin?.close();
    pki?.cleanup();
    if (logDir !== undefined) rmSync(logDir, { recursive: true, force: true });
  });

  const counter = (name: string): number => server.stats.findCounter(name)?.value() ?? 0;

  /** One HTTPS/1.1 request on a fresh connection. */
  function get(path: string, servername: string | undefined, alpn: string[] = ['http/1.1']): Promise<HttpsResponse> {
    const p = new Promise<HttpsResponse>((resolve, reject) => {
      // https hands its options to tls.connect, ALPNProtocols included (the typings leave it out).
      const options: https.RequestOptions & { ALPNProtocols: string[] } = {
        host: LOOPBACK,
        port,
        path,
        ca: pki.ca.cert,
        agent: false,
        ALPNProtocols: alpn,
        ...(servername !== undefined ? { servername } : {}),
        checkServerIdentity: () => undefined,
      };
      const req = https.request(options, (res) => {
        const socket = res.socket as TLSSocket;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            body: Buffer.concat(chunks).toString(),
            httpVersion: res.httpVersion,
            peerCn: commonName(socket.getPeerCertificate()),
            alpn: socket.alpnProtocol ?? false,
          }),
        );
      });
      req.on('error', reject);
      req.end();
    });
    return withTimeout(p, 5000, `GET ${path} (${servername ?? 'no SNI'})`);
  }

  it('picks the chain by exact SNI: its certificate and its HCM', async () => {
    const before = counter('http.a.downstream_rq_2xx');
    const res = await get('/hello', 'a.test');
    expect(res.status).toBe(200);
    expect(res.peerCn).toBe('a.test');
    expect(res.httpVersion).toBe('1.1');
    expect(res.alpn).toBe('http/1.1');
    const seen = JSON.parse(res.body) as EchoedRequest;
    expect(seen.url).toBe('/hello');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(counter('http.a.downstream_rq_2xx')).toBe(before + 1);
    expect(counter('http.a.downstream_cx_ssl_total')).toBeGreaterThanOrEqual(1);
  });

  it('picks the chain by SNI, exact and wildcard', async () => {
    expect((await get('/', 'b.test')).peerCn).toBe('b.test');
    expect((await get('/', 'api.b.test')).peerCn).toBe('b.test');
    expect(counter('http.b.downstream_rq_2xx')).toBe(2);
  });

  it('sends a client without SNI, or with an unknown one, to the chain without match criteria', async () => {
    const before = counter('http.default.downstream_rq_2xx');
    expect((await get('/', undefined)).peerCn).toBe('default.test');
    expect((await get('/', 'unknown.test')).peerCn).toBe('default.test');
    expect(counter('http.default.downstream_rq_2xx')).toBe(before + 2);
  });

  it('serves plaintext on the raw_buffer chain', async () => {
    const res = await request(port, { path: '/plain' });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body.toString()) as EchoedRequest).headers['x-forwarded-proto']).toBe('http');
    expect(counter('http.plain.downstream_rq_2xx')).toBe(1);
  });

  it('speaks HTTP/2 when ALPN picks h2', async () => {
    const before = counter('http.a.downstream_cx_http2_total');
    const session = http2.connect(`https://${LOOPBACK}:${port}`, { servername: 'a.test', ca: pki.ca.cert, checkServerIdentity: () => undefined });
    session.on('error', () => {});
    try {
      await withTimeout(new Promise((resolve) => session.once('connect', resolve)), 3000, 'h2 connect');
      expect(session.alpnProtocol).toBe('h2');
      const res = await withTimeout(
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = session.request({ ':path': '/over-h2', ':method': 'GET' });
          let status = 0;
          let body = '';
          req.on('response', (h) => (status = Number(h[':status'])));
          req.setEncoding('utf8');
          req.on('data', (d: string) => (body += d));
          req.on('end', () => resolve({ status, body }));
          req.on('error', reject);
          req.end();
        }),
        5000,
        'h2 request',
      );
      expect(res.status).toBe(200);
      const seen = JSON.parse(res.body) as EchoedRequest;
      expect(seen.url).toBe('/over-h2');
      expect(seen.headers['x-forwarded-proto']).toBe('https');
      expect(counter('http.a.downstream_cx_http2_total')).toBe(before + 1);
    } finally {
      session.destroy();
    }
  });

  it("negotiates by the server's preference (h2 first) and serves HTTP/1.1 when only http/1.1 is offered", async () => {
    const s = tls.connect({ host: LOOPBACK, port, servername: 'a.test', ca: pki.ca.cert, ALPNProtocols: ['http/1.1', 'h2'], checkServerIdentity: () => undefined });
    s.on('error', () => {});
    const handshakes = counter('listener.edge.ssl.handshake');
    try {
      await withTimeout(new Promise((resolve) => s.once('secureConnect', resolve)), 3000, 'handshake');
      expect(s.alpnProtocol).toBe('h2');
      // TLS 1.3: the client is done before the server has read its Finished.
      await waitFor(() => counter('listener.edge.ssl.handshake') === handshakes + 1, 3000, 'the server side of the handshake');
    } finally {
      s.destroy();
    }
    const before = counter('http.a.downstream_cx_http1_total');
    const h1 = await get('/', 'a.test', ['http/1.1']);
    expect(h1.alpn).toBe('http/1.1');
    expect(h1.httpVersion).toBe('1.1');
    expect(counter('http.a.downstream_cx_http1_total')).toBe(before + 1);
  });

  it('counts listener ssl and tls_inspector stats', () => {
    // a.test 1, b.test 2, no/unknown SNI 2, h2 1, ALPN 2; the plaintext request made none.
    expect(counter('listener.edge.ssl.handshake')).toBe(8);
    expect(counter('listener.edge.ssl.connection_error')).toBe(0);
    expect(counter('tls_inspector.tls_found')).toBe(counter('listener.edge.ssl.handshake'));
    expect(counter('tls_inspector.tls_not_found')).toBe(1);
    expect(counter('tls_inspector.sni_not_found')).toBe(1);
  });

  it('proxies to a TLS origin, verified against trusted_ca, with SNI', async () => {
    const res = await get('/tls-origin/x', 'a.test');
    expect(res.status).toBe(200);
    expect(res.body).toBe('tls origin saw GET /tls-origin/x');
    expect(tlsOrigin.serverNames).toEqual(['origin.test']);
    expect(counter('cluster.tls_origin.ssl.handshake')).toBe(1);
  });

  it('offers ALPN h2 to an HTTP/2 TLS origin (the pool fallback) and speaks HTTP/2 to it', async () => {
    const res = await get('/h2-tls-origin/y', 'a.test');
    expect(res.status).toBe(200);
    expect(res.body).toBe('h2 tls origin saw GET /h2-tls-origin/y over 2.0');
    expect(h2Origin.serverNames).toEqual(['origin.test']);
    expect(counter('cluster.h2_tls_origin.ssl.handshake')).toBe(1);
  });

  it('answers 503 UF with the TLS failure reason when the origin has another CA', async () => {
    const res = await get('/bad-tls', 'a.test');
    expect(res.status).toBe(503);
    expect(res.body).toBe(
      `upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: ${VERIFY_FAILED}`,
    );
    expect(counter('cluster.bad_tls_origin.ssl.fail_verify_error')).toBe(1);
    expect(counter('cluster.bad_tls_origin.upstream_cx_connect_fail')).toBe(1);
    let lines: string[] = [];
    await waitFor(
      () => {
        lines = readFileSync(logPath, 'utf8').split('\n').filter((l) => l.startsWith('503'));
        return lines.length > 0;
      },
      3000,
      'the 503 access log line',
    );
    expect(lines).toEqual([`503 UF ${VERIFY_FAILED}`]);
  });
});

describe('TLS configuration errors', () => {
  it('names the field of an unreadable certificate', () => {
    const bootstrap = {
      static_resources: {
        listeners: [
          {
            address: { socket_address: { address: LOOPBACK, port_value: 0 } },
            filter_chains: [
              {
                transport_socket: {
                  name: 'envoy.transport_sockets.tls',
                  typed_config: {
                    '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL,
                    common_tls_context: { tls_certificates: [{ certificate_chain: { filename: '/nope.pem' }, private_key: { filename: '/nope.key' } }] },
                  },
                },
                filters: [hcm('x')],
              },
            ],
          },
        ],
        clusters: [cluster('origin', 1), cluster('tls_origin', 1), cluster('bad_tls_origin', 1), cluster('h2_tls_origin', 1)],
      },
    };
    let error: unknown;
    try {
      loadBootstrap(bootstrap, registry());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const base = 'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0]';
    expect((error as ConfigError).message).toBe(
      `${base}.certificate_chain.filename: cannot read "/nope.pem": ENOENT\n${base}.private_key.filename: cannot read "/nope.key": ENOENT`,
    );
  });

  it('reads transport_socket_connect_timeout', () => {
    const pki = createTestPki();
    try {
      const leaf = pki.ca.issue('a.test');
      const loaded = loadBootstrap(
        {
          static_resources: {
            listeners: [
              {
                address: { socket_address: { address: LOOPBACK, port_value: 0 } },
                filter_chains: [{ transport_socket: downstreamTls(leaf), transport_socket_connect_timeout: '0.25s', filters: [hcm('x')] }],
              },
            ],
            clusters: [cluster('origin', 1), cluster('tls_origin', 1), cluster('bad_tls_origin', 1), cluster('h2_tls_origin', 1)],
          },
        },
        registry(),
      );
      const chain = loaded.listeners[0]!.filterChains[0]!;
      expect(chain.transportSocketConnectTimeoutMs).toBe(250);
      expect(chain.transportSocket!.common.alpnProtocols).toEqual(['h2', 'http/1.1']);
    } finally {
      pki.cleanup();
    }
  });

  it('names the field of a bad cluster trusted_ca', () => {
    const bootstrap = {
      static_resources: {
        clusters: [
          cluster('c', 1, {
            name: 'envoy.transport_sockets.tls',
            typed_config: { '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL, common_tls_context: { validation_context: { trusted_ca: { filename: '/nope-ca.pem' } } } },
          }),
        ],
      },
    };
    expect(() => loadBootstrap(bootstrap, registry())).toThrow(
      'static_resources.clusters[0].transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.filename: cannot read "/nope-ca.pem": ENOENT',
    );
  });
});
