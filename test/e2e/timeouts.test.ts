/**
 * Every timeout of the HTTP path firing end to end (and not firing while there is activity): the
 * route timeout (before and after the response started), per_try_timeout, stream_idle_timeout,
 * request_timeout against a slowloris body, request_headers_timeout against slow headers, the
 * connection idle_timeout and max_connection_duration, and max_stream_duration.
 */
import type * as http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogFile, HttpOrigin, HttpProxy, request } from '../support/http-harness.js';
import { connectPeer, sleep, waitFor, type Peer } from '../support/net-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** An origin that answers after `delayMs` (or holds the request when delayMs < 0) with its URL. */
async function delayedOrigin(delayMs: number): Promise<{ origin: HttpOrigin; held: http.ServerResponse[]; seen: string[] }> {
  const held: http.ServerResponse[] = [];
  const seen: string[] = [];
  const origin = await HttpOrigin.start((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.url!);
      if (delayMs < 0) {
        held.push(res);
        return;
      }
      const t = setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`answer ${req.url}`);
      }, delayMs);
      res.on('close', () => clearTimeout(t));
    });
  });
  cleanups.push(() => origin.close());
  return { origin, held, seen };
}

async function proxy(
  port: number,
  options: { route?: Record<string, unknown>; hcm?: Record<string, unknown>; format?: string } = {},
): Promise<{ p: HttpProxy; log: AccessLogFile }> {
  const log = AccessLogFile.create();
  cleanups.push(() => log.remove());
  const p = await HttpProxy.start({
    clusters: { backend: port },
    routeConfig: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend', ...options.route } }] }] },
    hcm: { access_log: log.config(options.format ?? '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n'), ...options.hcm },
  });
  cleanups.push(() => p.close());
  return { p, log };
}

async function peerTo(port: number): Promise<Peer> {
  const peer = await connectPeer(port);
  cleanups.push(() => peer.destroy());
  return peer;
}

/** Writes `pieces` one every `everyMs` until done or `stop()` says so. */
async function drip(peer: Peer, pieces: readonly string[], everyMs: number, stop: () => boolean = () => false): Promise<void> {
  for (const piece of pieces) {
    if (stop() || peer.closed || peer.ended) return;
    await peer.write(piece);
    await sleep(everyMs);
  }
}

describe('route timeouts', () => {
  it('the route timeout does not fire while the origin answers in time', async () => {
    const { origin } = await delayedOrigin(100);
    const { p } = await proxy(origin.port, { route: { timeout: '1s' } });
    const res = await request(p.port, { path: '/in-time' });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('answer /in-time');
    expect(p.counter('cluster.backend.upstream_rq_timeout')).toBe(0);
  });

  it('the route timeout counts from the end of the request: a slow upload longer than it succeeds', async () => {
    const seenHeaders: http.IncomingHttpHeaders[] = [];
    const origin = await HttpOrigin.start((req, res) => {
      seenHeaders.push(req.headers);
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`got ${n}`));
    });
    cleanups.push(() => origin.close());
    const { p } = await proxy(origin.port, { route: { timeout: '0.3s' } });
    const peer = await peerTo(p.port);
    await peer.write('POST /upload HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n');
    // 10 chunks 60 ms apart: 600 ms of upload, twice the route timeout.
    await drip(peer, [...Array.from({ length: 10 }, () => '3\r\nabc\r\n'), '0\r\n\r\n'], 60);
    await peer.waitForText('got 30', 3000);
    expect(peer.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(p.counter('cluster.backend.upstream_rq_timeout')).toBe(0);
    // The origin is told its budget.
    expect(seenHeaders[0]!['x-envoy-expected-rq-timeout-ms']).toBe('300');
  });

  it('after the response started, the route timeout resets the stream: a cut body, logged 200 UT', async () => {
    const origin = await HttpOrigin.start((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
    });
    cleanups.push(() => origin.close());
    const { p, log } = await proxy(origin.port, { route: { timeout: '0.3s' } });
    const peer = await peerTo(p.port);
    const started = Date.now();
    await peer.write('GET /cut HTTP/1.1\r\nhost: a\r\n\r\n');
    await waitFor(() => peer.ended || peer.closed, 3000, 'the connection to end');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const text = peer.text();
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text.endsWith('\r\n\r\npartial')).toBe(true);
    expect(await log.lines(1)).toEqual(['200 UT upstream_response_timeout\n']);
    expect(p.counter('cluster.backend.upstream_rq_timeout')).toBe(1);
  });

  it('per_try_timeout without retries answers 504 UT', async () => {
    const { origin, held } = await delayedOrigin(-1);
    const { p, log } = await proxy(origin.port, { route: { timeout: '5s', retry_policy: { per_try_timeout: '0.2s' } } });
    const started = Date.now();
    const res = await request(p.port, { path: '/per-try' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(res.status).toBe(504);
    expect(res.body.toString()).toBe('upstream request timeout');
    expect(held).toHaveLength(1);
    expect(await log.lines(1)).toEqual(['504 UT upstream_per_try_timeout\n']);
    expect(p.counter('cluster.backend.upstream_rq_per_try_timeout')).toBe(1);
  });
});

describe('stream and request timeouts', () => {
  it('stream_idle_timeout is reset by each body chunk: a slow but steady upload completes', async () => {
    const echo = await HttpOrigin.start((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`got ${n}`));
    });
    cleanups.push(() => echo.close());
    const { p } = await proxy(echo.port, { hcm: { stream_idle_timeout: '0.4s' } });
    const peer = await peerTo(p.port);
    // 12 chunks 50 ms apart: 600 ms in all, longer than the idle timeout, never idle for long.
    const chunks = Array.from({ length: 12 }, () => '5\r\nabcde\r\n');
    await peer.write('POST /steady HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n');
    await drip(peer, [...chunks, '0\r\n\r\n'], 50);
    await peer.waitForText('got 60', 3000);
    expect(peer.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(p.counter('http.e2e.downstream_rq_idle_timeout')).toBe(0);
  });

  it('request_timeout ends a slowloris body with 408 even though bytes keep coming', async () => {
    const { origin, seen } = await delayedOrigin(0);
    const { p, log } = await proxy(origin.port, { hcm: { request_timeout: '0.3s', stream_idle_timeout: '10s' } });
    const peer = await peerTo(p.port);
    const started = Date.now();
    await peer.write('POST /slowloris HTTP/1.1\r\nhost: a\r\ncontent-length: 1000\r\n\r\n');
    await drip(peer, Array.from({ length: 100 }, () => 'x'), 20, () => peer.ended);
    await peer.waitForEnd(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const text = peer.text();
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(text.endsWith('\r\n\r\nrequest timeout')).toBe(true);
    expect(text.toLowerCase()).toContain('\r\nconnection: close\r\n');
    expect(await log.lines(1)).toEqual(['408 - request_overall_timeout\n']);
    expect(p.counter('http.e2e.downstream_rq_timeout')).toBe(1);
    // The request never completed, so the origin never answered one.
    expect(seen).toEqual([]);
  });

  it('request_timeout does not fire once the request is complete, however slow the response', async () => {
    const { origin } = await delayedOrigin(500);
    const { p } = await proxy(origin.port, { hcm: { request_timeout: '0.2s' } });
    const res = await request(p.port, { path: '/slow-answer' });
    expect(res.status).toBe(200);
    expect(p.counter('http.e2e.downstream_rq_timeout')).toBe(0);
  });

  it('request_headers_timeout answers 408 to headers that trickle in, then closes', async () => {
    const { origin, seen } = await delayedOrigin(0);
    const { p, log } = await proxy(origin.port, { hcm: { request_headers_timeout: '0.3s', stream_idle_timeout: '10s' } });
    const peer = await peerTo(p.port);
    const started = Date.now();
    await peer.write('GET /slow-headers HTTP/1.1\r\nhost: a\r\n');
    let answered = false;
    await drip(peer, Array.from({ length: 100 }, (_, i) => `x-h${i}: v\r\n`), 20, () => (answered = peer.text().length > 0));
    expect(answered).toBe(true);
    await peer.waitForEnd(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    // Envoy's local reply: 408 while the request is incomplete, and the connection goes.
    const text = peer.text();
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(text.toLowerCase()).toContain('\r\nconnection: close\r\n');
    expect(text.endsWith('\r\n\r\nrequest header timeout')).toBe(true);
    expect(await log.lines(1)).toEqual(['408 - request_header_timeout\n']);
    expect(p.counter('http.e2e.downstream_rq_header_timeout')).toBe(1);
    expect(seen).toEqual([]);
  });

  it('max_stream_duration answers 504 for a complete request whose response is late', async () => {
    const { origin, held } = await delayedOrigin(-1);
    const { p, log } = await proxy(origin.port, { hcm: { common_http_protocol_options: { max_stream_duration: '0.2s' } } });
    const res = await request(p.port, { path: '/long' });
    expect(res.status).toBe(504);
    expect(res.body.toString()).toBe('downstream duration timeout');
    expect(held).toHaveLength(1);
    expect(await log.lines(1)).toEqual(['504 - max_duration_timeout\n']);
    expect(p.counter('http.e2e.downstream_rq_max_duration_reached')).toBe(1);
  });
});

describe('connection timeouts', () => {
  it('idle_timeout closes an idle keep-alive connection, not one with a request in flight', async () => {
    const { origin } = await delayedOrigin(500);
    const { p } = await proxy(origin.port, { hcm: { common_http_protocol_options: { idle_timeout: '0.3s' } } });
    const peer = await peerTo(p.port);
    // In flight for 500 ms, longer than the idle timeout: the connection stays.
    await peer.write('GET /busy HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForText('answer /busy', 3000);
    expect(peer.ended).toBe(false);
    const answered = Date.now();
    await peer.waitForEnd(3000);
    expect(Date.now() - answered).toBeGreaterThanOrEqual(250);
    expect(peer.text().toLowerCase()).not.toContain('connection: close');
    expect(p.counter('http.e2e.downstream_cx_idle_timeout')).toBe(1);
  });

  it('idle_timeout closes a connection that never sent a byte', async () => {
    const { origin } = await delayedOrigin(0);
    const { p } = await proxy(origin.port, { hcm: { common_http_protocol_options: { idle_timeout: '0.2s' } } });
    const peer = await peerTo(p.port);
    const started = Date.now();
    await peer.waitForEnd(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(peer.text()).toBe('');
    expect(p.counter('http.e2e.downstream_cx_idle_timeout')).toBe(1);
  });

  it('max_connection_duration: the response in flight says connection: close, then the connection closes', async () => {
    const { origin } = await delayedOrigin(400);
    const { p } = await proxy(origin.port, { hcm: { common_http_protocol_options: { max_connection_duration: '0.2s' } } });
    const peer = await peerTo(p.port);
    await peer.write('GET /first HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForEnd(3000);
    const text = peer.text();
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text.toLowerCase()).toContain('\r\nconnection: close\r\n');
    expect(text.endsWith('\r\n\r\nd\r\nanswer /first\r\n0\r\n\r\n')).toBe(true);
    expect(p.counter('http.e2e.downstream_cx_max_duration_reached')).toBe(1);
  });

  it('max_connection_duration closes an idle connection at once', async () => {
    const { origin } = await delayedOrigin(0);
    const { p } = await proxy(origin.port, { hcm: { common_http_protocol_options: { max_connection_duration: '0.3s' } } });
    const peer = await peerTo(p.port);
    await peer.write('GET /quick HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForText('answer /quick', 3000);
    expect(peer.text().toLowerCase()).not.toContain('connection: close');
    const started = Date.now();
    await peer.waitForEnd(3000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(p.counter('http.e2e.downstream_cx_max_duration_reached')).toBe(1);
  });
});
