/**
 * The protocol matrix: downstream {HTTP/1.1, h2c} x upstream {HTTP/1.1, h2c}, the upstream chosen
 * by the cluster's `typed_extension_protocol_options` (explicit_http_config). Each combination: a
 * GET with the header translation checked at the origin (host <-> :authority, hop-by-hop fields,
 * te, cookies), hop-by-hop response fields, 1 MiB bodies with and without a length, trailers both
 * ways where the protocols can carry them (and dropped where they cannot, as Envoy does), HEAD,
 * 100-continue answered by sluice, an upstream break after the response started, backpressure
 * from a client that stops reading, and 100 concurrent requests. Last, the other ways a cluster
 * picks its protocol (use_downstream_protocol_config, the deprecated cluster field, none) and a
 * protocol mismatch. Real sockets: node:http / node:http2 clients and origins.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterConfig, HttpProxy } from '../support/http-harness.js';
import { connectPeer, pattern, sleep, waitFor, withTimeout } from '../support/net-helpers.js';
import {
  connectH2,
  Origin,
  protocolClient,
  protocolCluster,
  type OriginRequest,
  type OriginResponse,
  type Proto,
  type ProtocolClient,
  type Reply,
} from '../support/protocol-peers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** What the origin saw of a request (its JSON reply on /echo). */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly trailers: Record<string, string | string[] | undefined>;
  /** Every cookie field as it came on the wire (rawHeaders), to tell joined from crumbled. */
  readonly rawCookies: string[];
  readonly bodyLength: number;
  readonly bodySha256: string;
}

/**
 * /echo: JSON of what arrived. /mirror: the request body streamed back. /trailers: a body without
 * a length, then trailers. /trailers-cl: the same with a content-length. /hop: a response with
 * hop-by-hop headers (an HTTP/1 origin only can send them).
 */
/** Bytes /flood has handed to its response so far (one flood per test). */
let floodWritten = 0;
const FLOOD_TOTAL = 96 * 1024 * 1024;
const FLOOD_CHUNK = Buffer.alloc(64 * 1024, 0x5a);

/** /flood: FLOOD_TOTAL bytes as fast as the response takes them (its write() backpressure). */
function flood(res: OriginResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(FLOOD_TOTAL) });
  // Both response classes have write(chunk): boolean; the union's overloads are not callable as one.
  const w = res as unknown as { write(chunk: Buffer): boolean; once(e: 'drain', f: () => void): void; end(): void };
  const pump = (): void => {
    while (floodWritten < FLOOD_TOTAL) {
      floodWritten += FLOOD_CHUNK.length;
      if (!w.write(FLOOD_CHUNK)) {
        w.once('drain', pump);
        return;
      }
    }
    w.end();
  };
  pump();
}

function handler(req: OriginRequest, res: OriginResponse): void {
  const url = req.url ?? '';
  if (url.startsWith('/flood')) {
    flood(res);
    return;
  }
  if (url.startsWith('/mirror')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...(req.headers['content-length'] !== undefined ? { 'content-length': req.headers['content-length'] } : {}) });
    req.pipe(res as NodeJS.WritableStream);
    return;
  }
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (c: Buffer) => {
    hash.update(c);
    length += c.length;
  });
  req.on('end', () => {
    if (url.startsWith('/trailers')) {
      const body = 'trailing';
      const withLength = url.startsWith('/trailers-cl');
      res.writeHead(200, { 'content-type': 'text/plain', ...(withLength ? { 'content-length': String(body.length) } : {}) });
      res.addTrailers({ 'x-checksum': 'abc123', 'x-count': '1' });
      res.end(body);
      return;
    }
    if (url.startsWith('/reset-mid')) {
      // Headers and part of a body, then the exchange breaks (RST_STREAM, or the socket on HTTP/1).
      res.writeHead(200, { 'content-type': 'text/plain' });
      if ('stream' in res) res.write('partial', () => res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      else res.write('partial', () => res.socket?.destroy());
      return;
    }
    if (url.startsWith('/hop')) {
      res.setHeader('connection', 'keep-alive, upgrade');
      res.setHeader('keep-alive', 'timeout=5');
      res.setHeader('upgrade', 'h2c');
      res.setHeader('proxy-connection', 'keep-alive');
      res.setHeader('content-type', 'text/plain');
      res.end('hop');
      return;
    }
    const seen: Seen = {
      method: req.method!,
      url,
      httpVersion: req.httpVersion,
      headers: { ...req.headers },
      trailers: { ...req.trailers },
      rawCookies: req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1]!.toLowerCase() === 'cookie'),
      bodyLength: length,
      bodySha256: hash.digest('hex'),
    };
    const body = JSON.stringify(seen);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-origin': 'matrix' });
    res.end(body);
  });
}

interface Setup {
  readonly proxy: HttpProxy;
  readonly origin: Origin;
  readonly client: ProtocolClient;
}

async function setup(down: Proto, up: Proto | 'downstream', keepAlive = false, http2Options: Record<string, unknown> = {}): Promise<Setup> {
  const origin = await Origin.start(up === 'downstream' ? 'any' : up, handler);
  cleanups.push(() => origin.close());
  const proxy = await HttpProxy.start({ clusters: {}, clusterConfigs: [protocolCluster('backend', origin.port, up, {}, http2Options)], routeConfig: ROUTES });
  cleanups.push(() => proxy.close());
  const client = await protocolClient(down, proxy.port, keepAlive);
  cleanups.push(() => client.close());
  return { proxy, origin, client };
}

const ROUTES = {
  virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }],
};

const COMBOS: ReadonlyArray<readonly [Proto, Proto]> = [
  ['h1', 'h1'],
  ['h1', 'h2'],
  ['h2', 'h1'],
  ['h2', 'h2'],
];

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

/** A GET whose response body is not read until resume(), which resolves with the byte count. */
async function pausedDownload(proto: Proto, port: number, path: string): Promise<{ resume(): Promise<number> }> {
  let body: NodeJS.ReadableStream;
  if (proto === 'h1') {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false });
    cleanups.push(() => void req.destroy());
    body = await withTimeout(new Promise<http.IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    }), 5000, `${path} response`);
  } else {
    const session = await connectH2(port);
    cleanups.push(() => void session.destroy());
    const stream = session.request({ ':path': path });
    await withTimeout(new Promise<void>((resolve, reject) => {
      stream.on('response', () => resolve());
      stream.on('error', reject);
    }), 5000, `${path} response`);
    body = stream;
  }
  body.pause();
  return {
    resume: () =>
      withTimeout(
        new Promise<number>((resolve, reject) => {
          let n = 0;
          body.on('data', (c: Buffer) => {
            n += c.length;
          });
          body.on('end', () => resolve(n));
          body.on('error', reject);
          body.resume();
        }),
        20_000,
        `${path} body`,
      ),
  };
}

describe.each(COMBOS)('downstream %s -> upstream %s', (down, up) => {
  const upVersion = up === 'h2' ? '2.0' : '1.1';

  it('proxies a GET with the request headers translated', async () => {
    const { proxy, client } = await setup(down, up);
    const headers: Record<string, string | string[]> =
      down === 'h1'
        ? { 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', te: 'trailers, deflate', cookie: 'a=1; b=2', 'x-custom': 'yes' }
        : { te: 'trailers', cookie: ['a=1', 'b=2'], 'x-custom': 'yes' };
    const r = await client.request({ path: '/echo?x=1', headers });
    expect(r.status).toBe(200);
    expect(r.headers['x-origin']).toBe('matrix');
    expect(r.headers['server']).toBe('sluice');
    const seen = JSON.parse(r.body.toString()) as Seen;
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/echo?x=1');
    expect(seen.httpVersion).toBe(upVersion);
    const authority = `127.0.0.1:${proxy.port}`;
    if (up === 'h2') {
      // host -> :authority; node's http2 server shows no host header.
      expect(seen.headers[':authority']).toBe(authority);
      expect(seen.headers['host']).toBeUndefined();
      expect(seen.headers[':scheme']).toBe('http');
    } else {
      expect(seen.headers['host']).toBe(authority);
    }
    for (const h of HOP_BY_HOP) expect(seen.headers[h], h).toBeUndefined();
    expect(seen.headers['te']).toBe('trailers');
    // Crumbled HTTP/2 cookies are joined with "; " (RFC 9113 §8.2.3); an HTTP/1 cookie stays whole.
    expect(seen.headers['cookie']).toBe('a=1; b=2');
    // One field upstream either way: sluice joins crumbled cookies and, like Envoy, never splits
    // them for an HTTP/2 upstream (RFC 9113 §8.2.3 allows but does not require it).
    expect(seen.rawCookies).toEqual(['a=1; b=2']);
    expect(seen.headers['x-custom']).toBe('yes');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(proxy.counter(`cluster.backend.upstream_cx_http${up === 'h2' ? 2 : 1}_total`)).toBe(1);
    expect(proxy.counter(`cluster.backend.upstream_cx_http${up === 'h2' ? 1 : 2}_total`)).toBe(0);
    expect(proxy.counter(`http.e2e.downstream_rq_http${down === 'h2' ? 2 : 1}_total`)).toBe(1);
  });

  // Only an HTTP/1 origin can send hop-by-hop fields.
  if (up === 'h1') it('removes hop-by-hop response headers', async () => {
    const { client } = await setup(down, up);
    const r = await client.request({ path: '/hop' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('hop');
    for (const h of ['keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) expect(r.headers[h], h).toBeUndefined();
    if (down === 'h2') expect(r.headers['connection']).toBeUndefined();
  });

  it('proxies a 1 MiB POST body both ways', async () => {
    const { client } = await setup(down, up);
    const body = pattern(1024 * 1024, 7);
    const r = await client.request({ method: 'POST', path: '/mirror', body });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(body.length);
    expect(sha256(r.body)).toBe(sha256(body));
    const e = await client.request({ method: 'POST', path: '/echo', body });
    const seen = JSON.parse(e.body.toString()) as Seen;
    expect(seen.bodyLength).toBe(body.length);
    expect(seen.bodySha256).toBe(sha256(body));
    expect(seen.headers['content-length']).toBe(String(body.length));
  });

  it('proxies a 1 MiB body without a length (chunked on HTTP/1)', async () => {
    const { client } = await setup(down, up);
    const body = pattern(1024 * 1024, 3);
    const r = await client.request({ method: 'POST', path: '/mirror', body, chunked: true });
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(sha256(body));
    const e = await client.request({ method: 'POST', path: '/echo', body, chunked: true });
    const seen = JSON.parse(e.body.toString()) as Seen;
    expect(seen.bodySha256).toBe(sha256(body));
    expect(seen.headers['content-length']).toBeUndefined();
    if (up === 'h1') expect(seen.headers['transfer-encoding']).toBe('chunked');
  });

  it('passes request trailers', async () => {
    const { client } = await setup(down, up);
    const r = await client.request({ method: 'POST', path: '/echo', body: Buffer.from('body'), trailers: { 'x-req-trailer': 'v1' } });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body.toString()) as Seen;
    expect(seen.bodyLength).toBe(4);
    expect(seen.trailers).toEqual({ 'x-req-trailer': 'v1' });
  });

  it('passes response trailers on a response without a length', async () => {
    const { client } = await setup(down, up);
    const r = await client.request({ path: '/trailers' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('trailing');
    expect(r.trailers).toEqual({ 'x-checksum': 'abc123', 'x-count': '1' });
    if (down === 'h1') expect(r.headers['transfer-encoding']).toBe('chunked');
  });

  // An HTTP/1 request with trailers is chunked: only an HTTP/2 client can send a length and trailers.
  if (down === 'h2') it('drops request trailers only where HTTP/1 cannot carry them (a request with a length)', async () => {
    const { client } = await setup(down, up);
    const r = await client.request({ method: 'POST', path: '/echo', body: Buffer.from('sized'), trailers: { 'x-req-trailer': 'v2' }, withLength: true });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body.toString()) as Seen;
    expect(seen.bodyLength).toBe(5);
    expect(seen.headers['content-length']).toBe('5');
    expect(seen.trailers).toEqual(up === 'h2' ? { 'x-req-trailer': 'v2' } : {});
  });

  // node's HTTP/1 origin itself drops trailers on a sized response.
  if (up === 'h2') it('drops response trailers for an HTTP/1 client when the response has a length', async () => {
    const { client } = await setup(down, up);
    const r = await client.request({ path: '/trailers-cl' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('trailing');
    expect(r.headers['content-length']).toBe('8');
    expect(r.trailers).toEqual(down === 'h2' ? { 'x-checksum': 'abc123', 'x-count': '1' } : {});
    if (down === 'h1') expect(r.headers['transfer-encoding']).toBeUndefined();
  });

  it('answers HEAD with the length and no body', async () => {
    const { client } = await setup(down, up);
    const r = await client.request({ method: 'HEAD', path: '/echo' });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0);
    expect(Number(r.headers['content-length'])).toBeGreaterThan(0);
    // A keep-alive client can go on with the next request on the same connection/session.
    const g = await client.request({ path: '/echo?after-head' });
    expect((JSON.parse(g.body.toString()) as Seen).url).toBe('/echo?after-head');
  });

  it('answers expect: 100-continue itself and does not forward expect', async () => {
    const { client } = await setup(down, up);
    const r = await client.request({ method: 'POST', path: '/echo', headers: { expect: '100-continue' }, body: Buffer.from('after-continue') });
    expect(r.status).toBe(200);
    expect(r.informational).toEqual([100]);
    const seen = JSON.parse(r.body.toString()) as Seen;
    expect(seen.headers['expect']).toBeUndefined();
    expect(seen.bodyLength).toBe('after-continue'.length);
  });

  it('resets the downstream when the upstream breaks after the response started', async () => {
    const { proxy, client } = await setup(down, up);
    const outcome = await client.request({ path: '/reset-mid' }).then(
      (r) => r,
      (e: unknown) => e as Error,
    );
    if (down === 'h1') {
      // The connection closes mid-body (the chunked body never ends).
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as Error).message).toMatch(/aborted|socket hang up|ECONNRESET/);
    } else {
      // RST_STREAM with NO_ERROR, as Envoy's codec sends for a local reset (reasonToReset):
      // node's client then ends the stream without an error, holding the part it got.
      expect(outcome).not.toBeInstanceOf(Error);
      expect((outcome as Reply).body.toString()).toBe('partial');
    }
    expect(proxy.counter('http.e2e.downstream_rq_tx_reset')).toBe(1);
    await waitFor(() => proxy.gauge('http.e2e.downstream_rq_active') === 0, 3000, 'no active stream');
    expect(proxy.counter('http.e2e.downstream_rq_2xx')).toBe(1);
    expect(proxy.counter(up === 'h2' ? 'cluster.backend.upstream_rq_rx_reset' : 'cluster.backend.upstream_cx_destroy_remote_with_active_rq')).toBe(1);
  });

  it('stalls the origin while the client does not read, then delivers everything', async () => {
    // An HTTP/2 upstream can send a whole stream window unasked: Envoy's 256 MiB default would let
    // this flood in; the window configured here is what bounds it (Envoy's edge advice: 64 KiB).
    const { proxy } = await setup(down, up, false, { initial_stream_window_size: 65536, initial_connection_window_size: 1048576 });
    floodWritten = 0;
    const reader = await pausedDownload(down, proxy.port, '/flood');
    let last = -1;
    while (floodWritten !== last) {
      last = floodWritten;
      await sleep(250);
    }
    // Stalled well short of the end: what sits in sluice is bounded (the rest is kernel buffers).
    expect(floodWritten).toBeGreaterThan(0);
    expect(floodWritten).toBeLessThan(FLOOD_TOTAL / 2);
    const got = await reader.resume();
    expect(got).toBe(FLOOD_TOTAL);
    expect(floodWritten).toBe(FLOOD_TOTAL);
  });

  it('serves 100 concurrent requests', async () => {
    const { proxy, client } = await setup(down, up, true);
    const n = 100;
    const replies = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        client.request({ method: i % 2 === 0 ? 'GET' : 'POST', path: `/echo?i=${i}`, ...(i % 2 === 1 ? { body: pattern(1000 + i, i) } : {}) }),
      ),
    );
    replies.forEach((r, i) => {
      expect(r.status).toBe(200);
      const seen = JSON.parse(r.body.toString()) as Seen;
      expect(seen.url).toBe(`/echo?i=${i}`);
      expect(seen.bodyLength).toBe(i % 2 === 1 ? 1000 + i : 0);
      if (i % 2 === 1) expect(seen.bodySha256).toBe(sha256(pattern(1000 + i, i)));
    });
    expect(proxy.counter('http.e2e.downstream_rq_2xx')).toBe(n);
    expect(proxy.counter('cluster.backend.upstream_rq_total')).toBe(n);
    if (up === 'h2') {
      // One connection multiplexes the burst (assumed 100 streams until the SETTINGS arrive).
      expect(proxy.counter('cluster.backend.upstream_cx_http2_total')).toBe(1);
    } else {
      const cx = proxy.counter('cluster.backend.upstream_cx_http1_total');
      expect(cx).toBeGreaterThanOrEqual(1);
      expect(cx).toBeLessThanOrEqual(n);
    }
  });
});

describe('the upstream protocol chosen by the cluster', () => {
  it('use_downstream_protocol_config: HTTP/1.1 -> HTTP/1.1, HTTP/2 -> HTTP/2, HTTP/1.0 -> HTTP/1.1', async () => {
    const { proxy } = await setup('h1', 'downstream');
    const h1 = await protocolClient('h1', proxy.port);
    const h2 = await protocolClient('h2', proxy.port);
    cleanups.push(() => h2.close());
    const a = JSON.parse((await h1.request({ path: '/echo?via=h1' })).body.toString()) as Seen;
    const b = JSON.parse((await h2.request({ path: '/echo?via=h2' })).body.toString()) as Seen;
    expect(a.httpVersion).toBe('1.1');
    expect(b.httpVersion).toBe('2.0');
    const peer = await connectPeer(proxy.port);
    cleanups.push(() => peer.destroy());
    await peer.write('GET /echo?via=h10 HTTP/1.0\r\nhost: h10.example\r\n\r\n');
    await peer.waitForEnd(3000);
    const body = peer.text().split('\r\n\r\n')[1]!;
    const c = JSON.parse(body) as Seen;
    expect(c.httpVersion).toBe('1.1');
    expect(c.headers['host']).toBe('h10.example');
    // The HTTP/1.0 request reuses the HTTP/1.1 upstream connection: one pool per protocol.
    expect(proxy.counter('cluster.backend.upstream_cx_http1_total')).toBe(1);
    expect(proxy.counter('cluster.backend.upstream_cx_http2_total')).toBe(1);
    expect(proxy.counter('cluster.backend.upstream_rq_total')).toBe(3);
  });

  it("the deprecated cluster field http2_protocol_options selects HTTP/2", async () => {
    const origin = await Origin.start('h2', handler);
    cleanups.push(() => origin.close());
    const proxy = await HttpProxy.start({
      clusters: {},
      clusterConfigs: [clusterConfig('backend', [origin.port], { http2_protocol_options: { max_concurrent_streams: 10 } })],
      routeConfig: ROUTES,
    });
    cleanups.push(() => proxy.close());
    const client = await protocolClient('h1', proxy.port);
    const seen = JSON.parse((await client.request({ path: '/echo' })).body.toString()) as Seen;
    expect(seen.httpVersion).toBe('2.0');
    expect(proxy.counter('cluster.backend.upstream_cx_http2_total')).toBe(1);
  });

  it.each([
    ['h2', 'h1', 'protocol error'],
    ['h1', 'h2', 'protocol error, transport failure reason: http1.codec_error'],
  ] as const)('a %s cluster to an origin that speaks only %s fails fast with 502 (UPE)', async (clusterProto, originProto, reason) => {
    const origin = await Origin.start(originProto, handler);
    cleanups.push(() => origin.close());
    const proxy = await HttpProxy.start({ clusters: {}, clusterConfigs: [protocolCluster('backend', origin.port, clusterProto)], routeConfig: ROUTES });
    cleanups.push(() => proxy.close());
    const client = await protocolClient('h1', proxy.port);
    const r = await client.request({ path: '/echo' }, 5000);
    expect(r.status).toBe(502);
    expect(r.body.toString()).toBe(`upstream connect error or disconnect/reset before headers. reset reason: ${reason}`);
    expect(proxy.counter('cluster.backend.upstream_cx_protocol_error')).toBe(1);
  });

  it('a cluster without protocol options speaks HTTP/1.1 to an origin that has both', async () => {
    const origin = await Origin.start('any', handler);
    cleanups.push(() => origin.close());
    const proxy = await HttpProxy.start({ clusters: { backend: origin.port }, routeConfig: ROUTES });
    cleanups.push(() => proxy.close());
    const client = await protocolClient('h2', proxy.port);
    cleanups.push(() => client.close());
    const seen = JSON.parse((await client.request({ path: '/echo' })).body.toString()) as Seen;
    expect(seen.httpVersion).toBe('1.1');
    expect(proxy.counter('cluster.backend.upstream_cx_http1_total')).toBe(1);
  });
});
