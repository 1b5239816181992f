/**
 * Peers for the protocol-matrix end-to-end tests: origins that speak HTTP/1.1, h2c (prior
 * knowledge) or both on one port (by sniffing the HTTP/2 preface), with one request handler for
 * either (node's http / http2-compat API), and clients for both protocols that return status,
 * headers, body and trailers alike. Every wait has a timeout; everything binds 127.0.0.1:0.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { clusterConfig } from './http-harness.js';
import { LOOPBACK, withTimeout } from './net-helpers.js';

export type Proto = 'h1' | 'h2';

/** The Envoy HttpProtocolOptions type URL for `typed_extension_protocol_options`. */
export const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/**
 * A STATIC cluster of one 127.0.0.1 host whose upstream protocol is set through
 * `typed_extension_protocol_options` (`explicit_http_config`), or `downstream` for
 * `use_downstream_protocol_config`; `http2Options` is its `http2_protocol_options`.
 */
export function protocolCluster(
  name: string,
  port: number,
  proto: Proto | 'downstream',
  extra: Readonly<Record<string, unknown>> = {},
  http2Options: Readonly<Record<string, unknown>> = {},
): unknown {
  const choice =
    proto === 'downstream'
      ? { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: http2Options } }
      : { explicit_http_config: proto === 'h2' ? { http2_protocol_options: http2Options } : { http_protocol_options: {} } };
  return clusterConfig(name, [port], {
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, ...choice },
    },
    ...extra,
  });
}

/** Either protocol's server request / response (node's http2 compat API mirrors http's). */
export type OriginRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type OriginResponse = http.ServerResponse | http2.Http2ServerResponse;
export type OriginHandler = (req: OriginRequest, res: OriginResponse) => void;

/** A Duplex over `sock` that first yields `first` (bytes already read from it). */
function replay(sock: net.Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read: () => {
      sock.resume();
    },
    write: (chunk: Buffer, _enc, cb) => {
      sock.write(chunk, cb);
    },
    final: (cb) => {
      sock.end();
      cb();
    },
    destroy: (err, cb) => {
      sock.destroy();
      cb(err);
    },
  });
  d.push(first);
  sock.on('data', (c: Buffer) => {
    if (!d.push(c)) sock.pause();
  });
  sock.on('end', () => d.push(null));
  sock.on('close', () => d.destroy());
  sock.on('error', (e) => d.destroy(e));
  return d;
}

/** An origin speaking HTTP/1.1, h2c, or both (`any`: the HTTP/2 preface picks h2c per connection). */
export class Origin {
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly listener: net.Server,
    readonly port: number,
    private readonly h2: http2.Http2Server | undefined,
  ) {
    listener.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(proto: Proto | 'any', handler: OriginHandler): Promise<Origin> {
    const h1 = http.createServer(handler as http.RequestListener);
    const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
    let listener: net.Server;
    if (proto === 'h1') listener = h1;
    else if (proto === 'h2') listener = h2;
    else {
      const preface = Buffer.from('PRI * HTTP/2.0');
      listener = net.createServer((sock) => {
        const chunks: Buffer[] = [];
        const onData = (chunk: Buffer): void => {
          chunks.push(chunk);
          const seen = Buffer.concat(chunks);
          if (seen.length < preface.length && preface.subarray(0, seen.length).equals(seen)) return;
          sock.off('data', onData);
          // Node's servers read a net.Socket's handle directly, past anything unshift()ed: hand
          // them a plain Duplex that replays the sniffed bytes first.
          (seen.subarray(0, preface.length).equals(preface) ? h2 : h1).emit('connection', replay(sock, seen));
        };
        sock.on('data', onData);
      });
    }
    await withTimeout(new Promise<void>((resolve) => listener.listen(0, LOOPBACK, resolve)), 2000, 'origin listen');
    return new Origin(listener, (listener.address() as AddressInfo).port, proto === 'h1' ? undefined : h2);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.h2 !== undefined && this.h2 !== this.listener) this.h2.close();
    await withTimeout(new Promise<void>((resolve) => this.listener.close(() => resolve())), 2000, 'origin close');
  }
}

/** What a client got back, whichever protocol carried it. */
export interface Reply {
  readonly status: number;
  /** Response headers without pseudo-headers. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  /** Response trailers ({} when none). */
  readonly trailers: Readonly<Record<string, string | string[] | undefined>>;
  /** The 1xx statuses received before the final response. */
  readonly informational: readonly number[];
}

export interface ClientRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | string[]>>;
  /** Sent as one write (h1: content-length unless `chunked`). */
  readonly body?: Buffer;
  /** h1: send the body chunked (no content-length); implied by `trailers`. */
  readonly chunked?: boolean;
  /** Request trailers (h1: chunked trailers; h2: a trailing HEADERS frame). */
  readonly trailers?: Readonly<Record<string, string>>;
  /** h2: send content-length even with trailers (h1 cannot: trailers need chunked). */
  readonly withLength?: boolean;
}

/** A client for one downstream protocol: h1 opens a connection per request, h2 shares one session. */
export interface ProtocolClient {
  readonly proto: Proto;
  request(req: ClientRequest, timeoutMs?: number): Promise<Reply>;
  close(): Promise<void>;
}

function stripPseudo(h: Readonly<Record<string, unknown>>): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) out[k] = v as string | string[] | undefined;
  return out;
}

class H1Client implements ProtocolClient {
  readonly proto = 'h1' as const;
  constructor(
    private readonly port: number,
    private readonly agent: http.Agent | false,
  ) {}

  request(r: ClientRequest, timeoutMs = 10_000): Promise<Reply> {
    const p = new Promise<Reply>((resolve, reject) => {
      const informational: number[] = [];
      const chunked = r.chunked === true || r.trailers !== undefined;
      const headers: Record<string, string | string[]> = { ...r.headers };
      if (r.body !== undefined && !chunked) headers['content-length'] = String(r.body.length);
      const req = http.request({ host: LOOPBACK, port: this.port, method: r.method ?? 'GET', path: r.path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), trailers: { ...res.trailers }, informational }),
        );
        res.on('error', reject);
      });
      req.on('information', (info: http.InformationEvent) => informational.push(info.statusCode));
      req.on('error', reject);
      if (chunked) req.setHeader('transfer-encoding', 'chunked');
      const expectContinue = typeof headers['expect'] === 'string' && headers['expect'].toLowerCase() === '100-continue';
      const finish = (): void => {
        if (r.body !== undefined) req.write(r.body);
        if (r.trailers !== undefined) req.addTrailers(r.trailers);
        req.end();
      };
      if (expectContinue) {
        req.flushHeaders();
        req.on('continue', finish);
      } else {
        finish();
      }
    });
    return withTimeout(p, timeoutMs, `h1 ${r.method ?? 'GET'} ${r.path}`);
  }

  close(): Promise<void> {
    if (this.agent !== false) this.agent.destroy();
    return Promise.resolve();
  }
}

class H2Client implements ProtocolClient {
  readonly proto = 'h2' as const;
  constructor(readonly session: http2.ClientHttp2Session) {}

  request(r: ClientRequest, timeoutMs = 10_000): Promise<Reply> {
    const p = new Promise<Reply>((resolve, reject) => {
      const informational: number[] = [];
      const hasBody = r.body !== undefined || r.trailers !== undefined;
      const headers: http2.OutgoingHttpHeaders = { ':method': r.method ?? 'GET', ':path': r.path, ...r.headers };
      if (r.body !== undefined && r.chunked !== true && (r.trailers === undefined || r.withLength === true)) {
        headers['content-length'] = String(r.body.length);
      }
      const stream = this.session.request(headers, { endStream: !hasBody, waitForTrailers: r.trailers !== undefined });
      let status = 0;
      let resHeaders: Record<string, string | string[] | undefined> = {};
      let trailers: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      stream.on('headers', (h) => informational.push(Number(h[':status'])));
      stream.on('response', (h) => {
        status = Number(h[':status']);
        resHeaders = stripPseudo(h);
      });
      stream.on('trailers', (t) => {
        trailers = stripPseudo(t);
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve({ status, headers: resHeaders, body: Buffer.concat(chunks), trailers, informational }));
      stream.on('error', reject);
      if (r.trailers !== undefined) stream.on('wantTrailers', () => stream.sendTrailers({ ...r.trailers }));
      if (hasBody) {
        const expectContinue = typeof r.headers?.['expect'] === 'string' && r.headers['expect'].toLowerCase() === '100-continue';
        const finish = (): void => {
          stream.end(r.body);
        };
        if (expectContinue) stream.once('continue', finish);
        else finish();
      }
    });
    return withTimeout(p, timeoutMs, `h2 ${r.method ?? 'GET'} ${r.path}`);
  }

  close(): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve) => {
        if (this.session.closed || this.session.destroyed) resolve();
        else this.session.close(() => resolve());
      }),
      2000,
      'h2 session close',
    ).catch(() => {
      this.session.destroy();
    });
  }
}

/**
 * An h2c (prior knowledge) session to 127.0.0.1:`port`, connected; with `waitForSettings`, also
 * after the server's first SETTINGS arrived (node reports defaults in remoteSettings until then).
 */
export async function connectH2(port: number, options: http2.ClientSessionOptions = {}, waitForSettings = false): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://${LOOPBACK}:${port}`, options);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      let pending = waitForSettings ? 2 : 1;
      const done = (): void => {
        if (--pending === 0) resolve();
      };
      session.once('connect', done);
      if (waitForSettings) session.once('remoteSettings', done);
      session.once('error', reject);
    }),
    3000,
    waitForSettings ? 'h2 connect and SETTINGS' : 'h2 connect',
  );
  session.on('error', () => {});
  return session;
}

/** A client of `proto` for the proxy at `port`: h1 with a connection per request (`agent: false`) unless `keepAlive`. */
export async function protocolClient(proto: Proto, port: number, keepAlive = false): Promise<ProtocolClient> {
  if (proto === 'h2') return new H2Client(await connectH2(port));
  return new H1Client(port, keepAlive ? new http.Agent({ keepAlive: true, maxSockets: Infinity }) : false);
}
