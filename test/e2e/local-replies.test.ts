/**
 * Every local reply sluice makes, end to end, with its status, body and the exact fields of the
 * default access log line (Envoy's default format), including the response flag: UH, UO, UT, UF,
 * UC, URX, DC, DPE, SI. (NR is covered in http1-proxy.test.ts.)
 */
import type * as http from 'node:http';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogFile, clusterConfig, HttpOrigin, HttpProxy, request, type ClientResponse } from '../support/http-harness.js';
import { closedPort, connectPeer, waitFor } from '../support/net-helpers.js';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function origin(handler: http.RequestListener): Promise<HttpOrigin> {
  const o = await HttpOrigin.start(handler);
  cleanups.push(() => o.close());
  return o;
}

async function proxy(options: Omit<Parameters<typeof HttpProxy.start>[0], 'hcm'>, hcm: Record<string, unknown> = {}): Promise<{ p: HttpProxy; log: AccessLogFile }> {
  const log = AccessLogFile.create();
  cleanups.push(() => log.remove());
  const p = await HttpProxy.start({ ...options, hcm: { access_log: log.config(), ...hcm } });
  cleanups.push(() => p.close());
  return { p, log };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface LineFields {
  readonly method?: string;
  readonly path?: string;
  readonly protocol?: string;
  readonly code: number;
  readonly flags: string;
  readonly rx?: number;
  /** A number, or a regexp source for it. */
  readonly tx: number | string;
  /** `-` or digits. */
  readonly serviceTime?: 'none' | 'some';
  readonly userAgent?: string;
  readonly requestId?: 'uuid' | 'none';
  readonly authority?: string;
  /** `-` when no host was chosen. */
  readonly upstream: string;
}

/** The whole default-format line, field by field (only the start time and duration are free). */
function defaultLine(f: LineFields): RegExp {
  return new RegExp(
    '^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] ' +
      `"${escape(f.method ?? 'GET')} ${escape(f.path ?? '/')} ${escape(f.protocol ?? 'HTTP/1.1')}" ` +
      `${f.code} ${escape(f.flags)} ${f.rx ?? 0} ${typeof f.tx === 'number' ? f.tx : f.tx} \\d+ ${f.serviceTime === 'some' ? '\\d+' : '-'} ` +
      `"-" "${escape(f.userAgent ?? '-')}" "${f.requestId === 'none' ? '-' : UUID}" "${escape(f.authority ?? 'a.test')}" "${escape(f.upstream)}"\\n$`,
  );
}

function get(port: number, path: string, extra: Record<string, string> = {}): Promise<ClientResponse> {
  return request(port, { path, headers: { host: 'a.test', ...extra } });
}

describe('local replies and their access log lines', () => {
  it('503 UH: a cluster without endpoints', async () => {
    const { p, log } = await proxy({ clusters: {}, clusterConfigs: [clusterConfig('empty', [])], routeConfig: routeTo('empty') });
    const res = await get(p.port, '/uh');
    expect(res.status).toBe(503);
    expect(res.body.toString()).toBe('no healthy upstream');
    expect(res.headers['content-type']).toBe('text/plain');
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/uh', code: 503, flags: 'UH', tx: 19, upstream: '-' }));
    expect(p.counter('cluster.empty.upstream_rq_503')).toBe(1);
  });

  it('503 UF: the upstream refuses the connection (default format)', async () => {
    const dead = await closedPort();
    const { p, log } = await proxy({ clusters: { backend: dead }, routeConfig: routeTo('backend') });
    const res = await get(p.port, '/uf');
    expect(res.status).toBe(503);
    const body = res.body.toString();
    expect(body).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure, transport failure reason: .+$/);
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/uf', code: 503, flags: 'UF', tx: body.length, upstream: `127.0.0.1:${dead}` }));
    expect(p.counter('cluster.backend.upstream_cx_connect_fail')).toBe(1);
  });

  it('503 UC: the upstream closes the connection before answering', async () => {
    const o = await origin((req) => req.socket.destroy());
    const { p, log } = await proxy({ clusters: { backend: o.port }, routeConfig: routeTo('backend') });
    const res = await get(p.port, '/uc');
    expect(res.status).toBe(503);
    expect(res.body.toString()).toBe('upstream connect error or disconnect/reset before headers. reset reason: connection termination');
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/uc', code: 503, flags: 'UC', tx: res.body.length, upstream: `127.0.0.1:${o.port}` }));
  });

  it('502 UPE: the upstream answers with something that is not HTTP/1', async () => {
    const raw = net.createServer((socket) => socket.once('data', () => socket.write('HELLO THERE\r\n\r\n')));
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => raw.close(() => resolve())));
    const port = (raw.address() as net.AddressInfo).port;
    const { p, log } = await proxy({ clusters: { backend: port }, routeConfig: routeTo('backend') });
    const res = await get(p.port, '/upe');
    expect(res.status).toBe(502);
    expect(res.body.toString()).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: protocol error/);
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/upe', code: 502, flags: 'UPE', tx: res.body.length, upstream: `127.0.0.1:${port}` }));
  });

  it('503 UO with x-envoy-overloaded: the circuit breaker sheds the third of three slow requests', async () => {
    const held: http.ServerResponse[] = [];
    const o = await origin((_req, res) => held.push(res));
    const { p, log } = await proxy({
      clusters: {},
      clusterConfigs: [
        clusterConfig('guarded', [o.port], {
          circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: 1, max_pending_requests: 1 }] },
        }),
      ],
      routeConfig: routeTo('guarded'),
    });
    const first = get(p.port, '/slow/1');
    await waitFor(() => held.length === 1, 3000, 'the first request at the origin');
    const second = get(p.port, '/slow/2');
    await waitFor(() => p.gauge('cluster.guarded.upstream_rq_pending_active') === 1, 3000, 'the second request pending');
    const third = await get(p.port, '/slow/3');
    expect(third.status).toBe(503);
    expect(third.headers['x-envoy-overloaded']).toBe('true');
    expect(third.body.toString()).toBe('upstream connect error or disconnect/reset before headers. reset reason: overflow');
    expect(p.counter('cluster.guarded.upstream_rq_pending_overflow')).toBe(1);
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/slow/3', code: 503, flags: 'UO', tx: third.body.length, upstream: `127.0.0.1:${o.port}` }));
    // The held requests complete once the origin answers; the second reuses the one connection.
    held.shift()!.end('one');
    expect((await first).body.toString()).toBe('one');
    await waitFor(() => held.length === 1, 3000, 'the second request at the origin');
    held.shift()!.end('two');
    expect((await second).body.toString()).toBe('two');
    expect(p.counter('cluster.guarded.upstream_cx_total')).toBe(1);
  });

  it('504 UT: the route timeout fires on a slow origin', async () => {
    const held: http.ServerResponse[] = [];
    const o = await origin((_req, res) => held.push(res));
    const { p, log } = await proxy({ clusters: { backend: o.port }, routeConfig: routeTo('backend', { timeout: '0.2s' }) });
    const started = Date.now();
    const res = await get(p.port, '/ut');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(res.status).toBe(504);
    expect(res.body.toString()).toBe('upstream request timeout');
    expect(held).toHaveLength(1);
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/ut', code: 504, flags: 'UT', tx: 24, upstream: `127.0.0.1:${o.port}` }));
    expect(p.counter('cluster.backend.upstream_rq_timeout')).toBe(1);
    expect(p.counter('cluster.backend.upstream_rq_504')).toBe(1);
  });

  it('URX: retries exhausted on 503, the last upstream response goes through', async () => {
    const o = await origin((_req, res) => {
      res.writeHead(503, { 'content-length': '4' });
      res.end('nope');
    });
    const { p, log } = await proxy({
      clusters: { backend: o.port },
      routeConfig: routeTo('backend', { retry_policy: { retry_on: '5xx', num_retries: 1, retry_back_off: { base_interval: '0.001s' } } }),
    });
    const res = await get(p.port, '/urx');
    expect(res.status).toBe(503);
    expect(res.body.toString()).toBe('nope');
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/urx', code: 503, flags: 'URX', tx: 4, serviceTime: 'some', upstream: `127.0.0.1:${o.port}` }));
  });

  it('DC: the client disconnects mid-response', async () => {
    let originRes: http.ServerResponse | undefined;
    const o = await origin((_req, res) => {
      originRes = res;
      res.writeHead(200, { 'content-length': '100000' });
      res.write('x'.repeat(1000));
    });
    const { p, log } = await proxy({ clusters: { backend: o.port }, routeConfig: routeTo('backend') });
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write('GET /dc HTTP/1.1\r\nhost: a.test\r\n\r\n');
    await peer.waitForBytes(1000 + 100, 3000);
    expect(peer.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    peer.destroy();
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/dc', code: 200, flags: 'DC', tx: 1000, serviceTime: 'some', upstream: `127.0.0.1:${o.port}` }));
    // The upstream request was abandoned with the downstream one.
    await waitFor(() => originRes!.destroyed, 3000, 'the origin to see its connection reset');
    expect(p.counter('http.e2e.downstream_cx_destroy_remote_active_rq')).toBe(1);
  });

  it('DC: the client disconnects before the response starts (code 0)', async () => {
    const held: http.ServerResponse[] = [];
    const o = await origin((_req, res) => held.push(res));
    const { p, log } = await proxy({ clusters: { backend: o.port }, routeConfig: routeTo('backend') });
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write('GET /gone HTTP/1.1\r\nhost: a.test\r\n\r\n');
    await waitFor(() => held.length === 1, 3000, 'the request at the origin');
    peer.destroy();
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ path: '/gone', code: 0, flags: 'DC', tx: 0, upstream: `127.0.0.1:${o.port}` }));
    await waitFor(() => held[0]!.destroyed, 3000, 'the origin to see its connection reset');
  });

  it('400 DPE: a malformed request', async () => {
    const o = await origin((_req, res) => res.end());
    const { p, log } = await proxy({ clusters: { backend: o.port }, routeConfig: routeTo('backend') });
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write('GET /bad HTTP/1.1\r\nhost: a.test\r\nbad header line\r\n\r\n');
    await peer.waitForEnd(3000);
    const text = peer.text();
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(text.endsWith('\r\n\r\nBad Request')).toBe(true);
    const [line] = await log.lines(1);
    expect(line).toMatch(defaultLine({ method: '-', path: '-', code: 400, flags: 'DPE', tx: 11, requestId: 'none', authority: '-', upstream: '-' }));
  });

  it('431 DPE: request headers over max_request_headers_kb', async () => {
    const o = await origin((_req, res) => res.end());
    const { p, log } = await proxy({ clusters: { backend: o.port }, routeConfig: routeTo('backend') }, { max_request_headers_kb: 1 });
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write(`GET /big HTTP/1.1\r\nhost: a.test\r\nx-big: ${'b'.repeat(2048)}\r\n\r\n`);
    await peer.waitForEnd(3000);
    expect(peer.text()).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const [line] = await log.lines(1);
    expect(line).toMatch(/" 431 DPE 0 31 /);
  });

  it('408 SI: stream_idle_timeout while the request body stalls; 504 SI once the request is complete', async () => {
    const held: http.ServerResponse[] = [];
    const o = await origin((_req, res) => held.push(res));
    const { p, log } = await proxy({ clusters: { backend: o.port }, routeConfig: routeTo('backend', { timeout: '0s' }) }, { stream_idle_timeout: '0.2s' });
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write('POST /stall HTTP/1.1\r\nhost: a.test\r\ncontent-length: 10\r\n\r\n12345');
    await peer.waitForEnd(3000);
    expect(peer.text()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    const [first] = await log.lines(1);
    expect(first).toMatch(defaultLine({ method: 'POST', path: '/stall', code: 408, flags: 'SI', rx: 5, tx: 14, upstream: `127.0.0.1:${o.port}` }));
    // A complete request whose origin never answers (and no route timeout): 504.
    const res = await get(p.port, '/silent');
    expect(res.status).toBe(504);
    expect(res.body.toString()).toBe('stream timeout');
    const lines = await log.lines(2);
    expect(lines[1]).toMatch(defaultLine({ path: '/silent', code: 504, flags: 'SI', tx: 14, upstream: `127.0.0.1:${o.port}` }));
    expect(p.counter('http.e2e.downstream_rq_idle_timeout')).toBe(2);
  });
});

function routeTo(cluster: string, route: Record<string, unknown> = {}): unknown {
  return { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, ...route } }] }] };
}
