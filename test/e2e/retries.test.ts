/**
 * Retries end to end: a real sluice in front of origins that fail on purpose (5xx, a closed port,
 * a hang past the per-try timeout), checked by what the client gets, what the origins saw, the
 * cluster's retry counters and the access log's response flags.
 */
import { createHash, randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogFile, clusterConfig, EchoOrigin, HttpOrigin, HttpProxy, request } from '../support/http-harness.js';
import { closedPort, waitFor } from '../support/net-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Seen {
  readonly url: string;
  readonly bodySha256: string;
}

/** An origin whose n-th request (0-based) is answered by `answer(n, req, res)` once its body is in. */
async function scriptedOrigin(answer: (n: number, req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ origin: HttpOrigin; seen: Seen[] }> {
  const seen: Seen[] = [];
  const origin = await HttpOrigin.start((req, res) => {
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => hash.update(c));
    req.on('end', () => {
      const n = seen.length;
      seen.push({ url: req.url!, bodySha256: hash.digest('hex') });
      answer(n, req, res);
    });
  });
  cleanups.push(() => origin.close());
  return { origin, seen };
}

function reply(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function proxyWithLog(
  options: Omit<Parameters<typeof HttpProxy.start>[0], 'hcm'>,
  format = '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %UPSTREAM_HOST%\n',
): Promise<{ p: HttpProxy; log: AccessLogFile }> {
  const log = AccessLogFile.create();
  cleanups.push(() => log.remove());
  const p = await HttpProxy.start({ ...options, hcm: { access_log: log.config(format) } });
  cleanups.push(() => p.close());
  return { p, log };
}

function routeWithRetries(cluster: string, retryPolicy: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown {
  return {
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster, retry_policy: retryPolicy, ...extra } }],
      },
    ],
  };
}

const FAST_BACKOFF = { base_interval: '0.001s', max_interval: '0.005s' };

describe('retries through sluice', () => {
  it('retries 503 twice, then passes the 200 through, replaying the request body', async () => {
    const { origin, seen } = await scriptedOrigin((n, _req, res) => (n < 2 ? reply(res, 503, 'busy') : reply(res, 200, 'third time')));
    const { p, log } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', { retry_on: '5xx', num_retries: 3, retry_back_off: FAST_BACKOFF }),
    });
    const body = randomBytes(64 * 1024);
    const res = await request(p.port, { method: 'POST', path: '/retry-me', body });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('third time');
    const hash = createHash('sha256').update(body).digest('hex');
    expect(seen.map((s) => s.url)).toEqual(['/retry-me', '/retry-me', '/retry-me']);
    expect(seen.map((s) => s.bodySha256)).toEqual([hash, hash, hash]);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(2);
    expect(p.counter('cluster.backend.upstream_rq_retry_success')).toBe(1);
    expect(p.counter('cluster.backend.upstream_rq_503')).toBe(0);
    expect(p.counter('cluster.backend.upstream_rq_200')).toBe(1);
    expect(await log.lines(1)).toEqual([`200 - via_upstream 127.0.0.1:${origin.port}\n`]);
  });

  it('exhausted retries pass the last upstream 5xx through with URX', async () => {
    const { origin, seen } = await scriptedOrigin((n, _req, res) => reply(res, 503, `no ${n}`));
    const { p, log } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', { retry_on: '5xx', num_retries: 2, retry_back_off: FAST_BACKOFF }),
    });
    const res = await request(p.port, { path: '/always-503' });
    expect(res.status).toBe(503);
    // Envoy forwards the upstream's own last response, not a local reply.
    expect(res.body.toString()).toBe('no 2');
    expect(res.headers['content-type']).toBe('text/plain');
    expect(seen).toHaveLength(3);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(2);
    expect(p.counter('cluster.backend.upstream_rq_retry_limit_exceeded')).toBe(1);
    expect(p.counter('cluster.backend.upstream_rq_retry_success')).toBe(0);
    expect(await log.lines(1)).toEqual([`503 URX via_upstream 127.0.0.1:${origin.port}\n`]);
  });

  it('retries a connect failure on the other host of the cluster', async () => {
    const dead = await closedPort();
    const good = await EchoOrigin.start();
    cleanups.push(() => good.close());
    const { p } = await proxyWithLog({
      clusters: {},
      clusterConfigs: [clusterConfig('pair', [dead, good.port])],
      routeConfig: routeWithRetries('pair', { retry_on: 'connect-failure', num_retries: 2, retry_back_off: FAST_BACKOFF }),
    });
    // Round robin alternates hosts: at least three of four requests start on the dead one.
    for (let i = 0; i < 4; i++) {
      const res = await request(p.port, { path: `/cf/${i}` });
      expect(res.status).toBe(200);
    }
    expect(good.requests.map((r) => r.url)).toEqual(['/cf/0', '/cf/1', '/cf/2', '/cf/3']);
    const retries = p.counter('cluster.pair.upstream_rq_retry');
    expect(retries).toBeGreaterThanOrEqual(3);
    expect(retries).toBe(p.counter('cluster.pair.upstream_cx_connect_fail'));
    expect(p.counter('cluster.pair.upstream_rq_retry_success')).toBe(retries);
  });

  it('exhausted connect-failure retries answer 503 with UF,URX', async () => {
    const dead = await closedPort();
    const { p, log } = await proxyWithLog({
      clusters: { backend: dead },
      routeConfig: routeWithRetries('backend', { retry_on: 'connect-failure', num_retries: 1, retry_back_off: FAST_BACKOFF }),
    });
    const res = await request(p.port, { path: '/' });
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(
      /^upstream connect error or disconnect\/reset before headers\. retried and the latest reset reason: remote connection failure, transport failure reason: .+/,
    );
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(1);
    expect(p.counter('cluster.backend.upstream_cx_connect_fail')).toBe(2);
    const [line] = await log.lines(1);
    expect(line).toMatch(new RegExp(`^503 UF,URX upstream_reset_before_response_started\\{remote_connection_failure,.+\\} 127\\.0\\.0\\.1:${dead}\\n$`));
  });

  it('per_try_timeout fires on a hung attempt and the retry succeeds', async () => {
    const hung: http.ServerResponse[] = [];
    const { origin, seen } = await scriptedOrigin((n, _req, res) => {
      if (n === 0) hung.push(res);
      else reply(res, 200, 'second try');
    });
    const { p, log } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', { retry_on: '5xx', num_retries: 1, per_try_timeout: '0.2s', retry_back_off: FAST_BACKOFF }, { timeout: '5s' }),
    });
    const started = Date.now();
    const res = await request(p.port, { path: '/slow-then-fast' });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('second try');
    // Not before the per-try timeout, and well before the 5 s route timeout.
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(seen).toHaveLength(2);
    expect(hung).toHaveLength(1);
    expect(p.counter('cluster.backend.upstream_rq_per_try_timeout')).toBe(1);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(1);
    expect(p.counter('cluster.backend.upstream_rq_timeout')).toBe(0);
    expect(await log.lines(1)).toEqual([`200 - via_upstream 127.0.0.1:${origin.port}\n`]);
    // The timed-out attempt's upstream connection was reset, not left hanging.
    await waitFor(() => hung[0]!.destroyed, 3000, 'the first attempt to be reset');
  });

  it('per_try_timeout on every attempt ends in 504 UT with URX', async () => {
    const { origin, seen } = await scriptedOrigin(() => {});
    const { p, log } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', { retry_on: '5xx', num_retries: 1, per_try_timeout: '0.1s', retry_back_off: FAST_BACKOFF }, { timeout: '5s' }),
    });
    const res = await request(p.port, { path: '/never' });
    expect(res.status).toBe(504);
    expect(res.body.toString()).toBe('upstream request timeout');
    expect(seen).toHaveLength(2);
    expect(p.counter('cluster.backend.upstream_rq_per_try_timeout')).toBe(2);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(1);
    expect(await log.lines(1)).toEqual([`504 UT,URX upstream_per_try_timeout 127.0.0.1:${origin.port}\n`]);
  });

  it('does not retry a 5xx when retry_on names only connect-failure', async () => {
    const { origin, seen } = await scriptedOrigin((_n, _req, res) => reply(res, 502, 'bad gateway upstream'));
    const { p, log } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', { retry_on: 'connect-failure', num_retries: 3 }),
    });
    const res = await request(p.port, { path: '/' });
    expect(res.status).toBe(502);
    expect(res.body.toString()).toBe('bad gateway upstream');
    expect(seen).toHaveLength(1);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(0);
    expect(await log.lines(1)).toEqual([`502 - via_upstream 127.0.0.1:${origin.port}\n`]);
  });

  it('retriable-status-codes retries only the listed codes', async () => {
    const { origin, seen } = await scriptedOrigin((n, _req, res) => (n === 0 ? reply(res, 429, 'slow down') : reply(res, 200, 'ok')));
    const { p } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', {
        retry_on: 'retriable-status-codes',
        retriable_status_codes: [429],
        num_retries: 1,
        retry_back_off: FAST_BACKOFF,
      }),
    });
    const res = await request(p.port, { path: '/' });
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(2);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(1);
  });

  it('retry_on reset: the origin drops the first connection mid-request, the retry succeeds', async () => {
    const { origin, seen } = await scriptedOrigin((n, req, res) => (n === 0 ? req.socket.destroy() : reply(res, 200, 'after reset')));
    const { p, log } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', { retry_on: 'reset', num_retries: 1, retry_back_off: FAST_BACKOFF }),
    });
    const res = await request(p.port, { method: 'PUT', path: '/r', body: 'payload' });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('after reset');
    expect(seen).toHaveLength(2);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(1);
    expect(await log.lines(1)).toEqual([`200 - via_upstream 127.0.0.1:${origin.port}\n`]);
  });

  it('a body larger than the buffer limit is not kept for retries: the first attempt is the only one', async () => {
    const { origin, seen } = await scriptedOrigin((n, _req, res) => (n === 0 ? reply(res, 503, 'first') : reply(res, 200, 'second')));
    const { p, log } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', { retry_on: '5xx', num_retries: 3, retry_back_off: FAST_BACKOFF }),
    });
    const body = randomBytes(3 * 1024 * 1024);
    const res = await request(p.port, { method: 'POST', path: '/huge', body });
    // Envoy: once the body outgrows the retry buffer, retries are given up and the 503 goes through.
    expect(res.status).toBe(503);
    expect(res.body.toString()).toBe('first');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(p.counter('cluster.backend.retry_or_shadow_abandoned')).toBe(1);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(0);
    expect(await log.lines(1)).toEqual([`503 - via_upstream 127.0.0.1:${origin.port}\n`]);
  });

  it('no retry once the response started: an upstream reset mid-body cuts the downstream response', async () => {
    const { origin, seen } = await scriptedOrigin((_n, req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('half');
      setTimeout(() => req.socket.destroy(), 20);
    });
    const { p, log } = await proxyWithLog({
      clusters: { backend: origin.port },
      routeConfig: routeWithRetries('backend', { retry_on: '5xx,reset', num_retries: 3, retry_back_off: FAST_BACKOFF }),
    });
    const err = await request(p.port, { path: '/cut' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/aborted|socket hang up|ECONNRESET/);
    expect(seen).toHaveLength(1);
    expect(p.counter('cluster.backend.upstream_rq_retry')).toBe(0);
    const [line] = await log.lines(1);
    expect(line).toMatch(/^200 UC upstream_reset_after_response_started\{connection_termination[^}]*\} 127\.0\.0\.1:\d+\n$/);
  });
});

