import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EchoOrigin, HttpProxy, request, type EchoedRequest } from '../support/http-harness.js';
import { closedPort, connectPeer, waitFor } from '../support/net-helpers.js';

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

describe('HTTP/1.1 connection handling through sluice', () => {
  it('logs 503 UF when the upstream refuses the connection', async () => {
    const dead = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const logPath = join(dir, 'access.log');
    const p = await HttpProxy.start({
      clusters: { backend: dead },
      hcm: {
        access_log: [
          { name: 'envoy.access_loggers.file', typed_config: { path: logPath, log_format: { text_format: '%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_HOST%\n' } } },
        ],
      },
    });
    cleanups.push(() => p.close());
    const res = await request(p.port, { path: '/' });
    expect(res.status).toBe(503);
    await waitFor(() => readFileSync(logPath, 'utf8') !== '', 3000, 'the access log line');
    expect(readFileSync(logPath, 'utf8')).toBe(`503 UF 127.0.0.1:${dead}\n`);
  });

  it('answers expect: 100-continue before the body is sent', async () => {
    const o = await origin();
    const { p } = await proxy(o);
    const res = await new Promise<{ status: number; sawContinue: boolean; body: string }>((resolve, reject) => {
      let sawContinue = false;
      const req = http.request(
        { host: '127.0.0.1', port: p.port, method: 'PUT', path: '/c', agent: false, headers: { expect: '100-continue', 'content-length': '5' } },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ status: r.statusCode!, sawContinue, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('continue', () => {
        sawContinue = true;
        req.end('hello');
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(res.sawContinue).toBe(true);
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body) as EchoedRequest;
    expect(seen.bodyLength).toBe(5);
    expect(seen.headers['expect']).toBeUndefined();
  });

  it('closes the connection after a response to a request that asked for it', async () => {
    const o = await origin();
    const { p } = await proxy(o);
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write('GET /bye HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
    await peer.waitForEnd(3000);
    const text = peer.received().toString();
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text.toLowerCase()).toContain('\r\nconnection: close\r\n');
  });

  it('answers 408 with SI when the request body stalls past stream_idle_timeout, then closes', async () => {
    const o = await origin();
    const { p, logLines } = await proxy(o, { hcm: { stream_idle_timeout: '0.2s' } });
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write('POST /slow HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n12345');
    await peer.waitForEnd(3000);
    const text = peer.received().toString();
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(text.endsWith('\r\n\r\nstream timeout')).toBe(true);
    const [line] = await logLines(1);
    expect(line).toContain('"POST /slow HTTP/1.1" 408 SI 5 14 ');
    expect(p.counter('http.e2e.downstream_rq_idle_timeout')).toBe(1);
  });

  it('answers an HTTP/1.0 request and closes without keep-alive', async () => {
    const o = await origin();
    const { p } = await proxy(o);
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write('GET /old HTTP/1.0\r\nhost: a\r\n\r\n');
    await peer.waitForEnd(3000);
    const text = peer.received().toString();
    expect(text).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    expect(text).toContain('"url":"/old"');
  });

  it('a server drain closes idle keep-alive connections', async () => {
    const o = await origin();
    const { p } = await proxy(o);
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    await peer.write('GET /one HTTP/1.1\r\nhost: a\r\n\r\n');
    await waitFor(() => peer.received().toString().includes('"url":"/one"'), 3000, 'the response');
    p.server.drainManager.startDrain();
    await peer.waitForEnd(3000);
    expect(p.counter('http.e2e.downstream_cx_drain_close')).toBe(1);
  });

  it('keeps memory bounded when the client stops reading a large response', async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    const big = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(total) });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => big.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      big.closeAllConnections();
      big.close(() => resolve());
    }));
    const p = await HttpProxy.start({ clusters: { backend: (big.address() as AddressInfo).port } });
    cleanups.push(() => p.close());
    const peer = await connectPeer(p.port);
    cleanups.push(() => peer.destroy());
    peer.pause();
    await peer.write('GET /big HTTP/1.1\r\nhost: a\r\n\r\n');
    // Wait until the origin stalls: nothing more accepted for 300 ms.
    let last = -1;
    let stableSince = 0;
    await waitFor(
      () => {
        const now = Date.now();
        if (written !== last) {
          last = written;
          stableSince = now;
        }
        return written > 0 && now - stableSince >= 300;
      },
      10_000,
      'the origin to stall',
    );
    // Kernel socket buffers on both hops plus sluice's 1 MiB buffers: far below the 64 MiB body.
    expect(written).toBeLessThan(32 * 1024 * 1024);
    peer.resume();
    await waitFor(() => peer.bytesReceived >= total, 20_000, 'the whole body');
  });
});
