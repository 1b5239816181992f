import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EchoOrigin, HttpProxy, request, type EchoedRequest } from '../support/http-harness.js';
import { connectPeer, waitFor } from '../support/net-helpers.js';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function origin(): Promise<EchoOrigin> {
  const o = await EchoOrigin.start();
  cleanups.push(() => o.close());
  return o;
}

/** A proxy to `o` that writes the default access log line to a temp file. */
async function proxy(o: EchoOrigin, extra: { routeConfig?: unknown; hcm?: Record<string, unknown> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const logPath = join(dir, 'access.log');
  const p = await HttpProxy.start({
    clusters: { backend: o.port },
    ...(extra.routeConfig !== undefined ? { routeConfig: extra.routeConfig } : {}),
    hcm: { access_log: [{ name: 'envoy.access_loggers.file', typed_config: { path: logPath } }], ...extra.hcm },
  });
  cleanups.push(() => p.close());
  /** Waits until the access log holds `n` lines and returns them. */
  const logLines = async (n: number): Promise<string[]> => {
    let lines: string[] = [];
    await waitFor(
      () => {
        lines = readFileSync(logPath, 'utf8').split(/(?<=\n)/).filter((l) => l !== '');
        return lines.length >= n;
      },
      3000,
      `${n} access log lines`,
    );
    return lines;
  };
  return { p, logLines };
}

describe('HTTP/1.1 through sluice', () => {
  it('proxies a GET, rewriting the request headers, and logs it', async () => {
    const o = await origin();
    const { p, logLines } = await proxy(o);
    const res = await request(p.port, { path: '/hello?x=1', headers: { 'user-agent': 'e2e-test/1', connection: 'keep-alive, x-hop', 'x-hop': '1' } });
    expect(res.status).toBe(200);
    expect(res.headers['server']).toBe('sluice');
    expect(res.headers['x-origin']).toBe('echo');
    expect(res.headers['x-envoy-upstream-service-time']).toMatch(/^\d+$/);
    const seen = JSON.parse(res.body.toString()) as EchoedRequest;
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/hello?x=1');
    expect(seen.headers['host']).toBe(`127.0.0.1:${p.port}`);
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-request-id']).toMatch(new RegExp(`^${UUID}$`));
    expect(seen.headers['user-agent']).toBe('e2e-test/1');
    expect(seen.headers['keep-alive']).toBeUndefined();
    expect(o.requests).toHaveLength(1);
    const [line] = await logLines(1);
    expect(line).toMatch(
      new RegExp(
        `^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] "GET /hello\\?x=1 HTTP/1\\.1" 200 - 0 ${res.body.length} \\d+ \\d+ ` +
          `"-" "e2e-test/1" "${seen.headers['x-request-id']}" "127\\.0\\.0\\.1:${p.port}" "127\\.0\\.0\\.1:${o.port}"\\n$`,
      ),
    );
    expect(p.counter('http.e2e.downstream_rq_2xx')).toBe(1);
    expect(p.counter('http.e2e.downstream_rq_completed')).toBe(1);
  });

  it('proxies a POST body intact', async () => {
    const o = await origin();
    const { p, logLines } = await proxy(o);
    const body = randomBytes(256 * 1024);
    const res = await request(p.port, { method: 'POST', path: '/upload', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body.toString()) as EchoedRequest;
    expect(seen.method).toBe('POST');
    expect(seen.bodyLength).toBe(body.length);
    expect(seen.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    const [line] = await logLines(1);
    expect(line).toContain(`"POST /upload HTTP/1.1" 200 - ${body.length} ${res.body.length} `);
  });

  it('answers 404 with NR when no route matches, and logs it', async () => {
    const o = await origin();
    const { p, logLines } = await proxy(o, {
      routeConfig: { virtual_hosts: [{ name: 'api', domains: ['*'], routes: [{ match: { prefix: '/api' }, route: { cluster: 'backend' } }] }] },
    });
    const res = await request(p.port, { path: '/nope' });
    expect(res.status).toBe(404);
    expect(res.body.length).toBe(0);
    expect(o.requests).toHaveLength(0);
    const [line] = await logLines(1);
    expect(line).toMatch(new RegExp(`^\\[[^\\]]+\\] "GET /nope HTTP/1\\.1" 404 NR 0 0 \\d+ - "-" "-" "${UUID}" "127\\.0\\.0\\.1:${p.port}" "-"\\n$`));
    expect(p.counter('http.e2e.downstream_rq_4xx')).toBe(1);
  });

  it('serves pipelined requests in order on one connection', async () => {
    const o = await origin();
    const { p } = await proxy(o);
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    peer.write(`GET /one HTTP/1.1\r\nhost: a\r\n\r\nGET /two HTTP/1.1\r\nhost: a\r\n\r\n`);
    await waitFor(() => (peer.received().toString().match(/HTTP\/1\.1 200/g) ?? []).length === 2, 3000, 'two responses');
    expect(o.requests.map((r) => r.url)).toEqual(['/one', '/two']);
    const text = peer.received().toString();
    expect(text.indexOf('"url":"/one"')).toBeLessThan(text.indexOf('"url":"/two"'));
  });

  it('answers a malformed request with 400 and closes the connection', async () => {
    const o = await origin();
    const { p, logLines } = await proxy(o);
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    peer.write('GET / HTTP/1.1\r\nbad header line\r\n\r\n');
    await peer.waitForEnd(3000);
    expect(peer.received().toString()).toMatch(/^HTTP\/1\.1 400 /);
    expect(p.counter('http.e2e.downstream_cx_protocol_error')).toBe(1);
    const [line] = await logLines(1);
    expect(line).toMatch(/" 400 DPE /);
  });
});
