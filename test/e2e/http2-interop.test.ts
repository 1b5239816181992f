/**
 * HTTP/2 downstream interop with real clients through a real sluice (h2c prior knowledge on the
 * listener, an HTTP/1.1 origin behind it): Node's http2 client multiplexing 1000 requests on one
 * connection (with and without a max_concurrent_streams limit the client must queue behind),
 * curl --http2-prior-knowledge, nghttp and h2load (Debian's nghttp2-client; .ci/run installs it),
 * and a 50 MiB upload to an origin that reads slowly, during which sluice holds no more than a
 * flow-control window plus a buffer limit.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EchoOrigin, HttpOrigin, HttpProxy } from '../support/http-harness.js';
import { LOOPBACK, pattern, withTimeout } from '../support/net-helpers.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a client tool with a deadline; a missing binary fails the test with what to install. */
function run(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(`${cmd} is not installed (Debian: apt-get install ${cmd === 'curl' ? 'curl' : 'nghttp2-client'})`));
        return;
      }
      if (err !== null && err.killed) {
        reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms\n${stdout}\n${stderr}`));
        return;
      }
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** An h2c session to sluice; every request through it has a deadline. */
function connect(port: number): Promise<http2.ClientHttp2Session> {
  return withTimeout(
    new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const s = http2.connect(`http://${LOOPBACK}:${port}`);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    }),
    2000,
    'h2c connect',
  );
}

function get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'GET', ':path': path, ':authority': 'interop.test' });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// An origin that answers /r/<n> with "r<n>" a few ms later, counting requests in flight.

let origin: HttpOrigin;
let inFlight = 0;
let maxInFlight = 0;
/**
 * When > 0 the origin holds its answers until this many requests are in flight (or none arrived
 * for 500 ms), so the concurrency that reaches it does not depend on how fast the machine is.
 */
let holdUntil = 0;
let held: Array<() => void> = [];
let holdTimer: NodeJS.Timeout | undefined;

function resetOriginCounts(hold = 0): void {
  inFlight = 0;
  maxInFlight = 0;
  holdUntil = hold;
}

function releaseHeld(): void {
  clearTimeout(holdTimer);
  holdTimer = undefined;
  const answers = held;
  held = [];
  for (const answer of answers) answer();
}

beforeAll(async () => {
  origin = await HttpOrigin.start((req: http.IncomingMessage, res: http.ServerResponse) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    req.resume();
    req.on('end', () => {
      const answer = (): void => {
        inFlight--;
        const body = (req.url ?? '').replace(/^\/r\//, 'r');
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (holdUntil === 0) {
        setTimeout(answer, 2);
        return;
      }
      held.push(answer);
      if (inFlight >= holdUntil) {
        releaseHeld();
      } else {
        clearTimeout(holdTimer);
        holdTimer = setTimeout(releaseHeld, 500);
      }
    });
  });
});

afterAll(async () => {
  await origin.close();
});

async function proxyTo(port: number, h2: Record<string, unknown> = {}, extra: { listener?: Record<string, unknown> } = {}): Promise<HttpProxy> {
  return HttpProxy.start({
    clusters: { origin: port },
    hcm: { http2_protocol_options: h2 },
    ...(extra.listener !== undefined ? { listener: extra.listener } : {}),
  });
}

describe("Node's http2 client: 1000 multiplexed requests on one connection", () => {
  it.each([
    ['max_concurrent_streams unset (2^31-1)', {}, 1000],
    ['max_concurrent_streams 100: the client queues the rest', { max_concurrent_streams: 100 }, 100],
  ])('%s', async (_label, h2, limit) => {
    const proxy = await proxyTo(origin.port, h2);
    const session = await connect(proxy.port);
    try {
      resetOriginCounts(100);
      const all = Array.from({ length: 1000 }, (_, i) => get(session, `/r/${i}`));
      const results = await withTimeout(Promise.all(all), 30_000, '1000 responses');
      results.forEach((r, i) => {
        expect(r.status).toBe(200);
        expect(r.body).toBe(`r${i}`);
      });
      // One connection carried them all; none was refused; the limit held at the origin.
      expect(proxy.counter('http.e2e.downstream_cx_total')).toBe(1);
      expect(proxy.counter('http.e2e.downstream_rq_http2_total')).toBe(1000);
      expect(proxy.counter('http2.stream_refused_errors')).toBe(0);
      expect(proxy.counter('http.e2e.downstream_rq_2xx')).toBe(1000);
      // The origin answers only once 100 are in flight: with the limit at 100 exactly that many
      // reach it (the client queued the rest); without one, at least as many.
      if (limit === 100) expect(maxInFlight).toBe(100);
      else expect(maxInFlight).toBeGreaterThanOrEqual(100);
      expect(maxInFlight).toBeLessThanOrEqual(limit);
    } finally {
      resetOriginCounts();
      releaseHeld();
      session.destroy();
      await proxy.close();
    }
  });
});

describe('a client that goes away with streams in flight', () => {
  it('leaves nothing counted in the codec once its connection is gone', async () => {
    const proxy = await proxyTo(origin.port);
    const session = await connect(proxy.port);
    try {
      resetOriginCounts();
      const pending = Array.from({ length: 20 }, (_, i) => get(session, `/r/${i}`).catch(() => undefined));
      // Every stream open in sluice (their requests at the origin), then the client vanishes.
      await withTimeout(
        (async () => {
          while (proxy.gauge('http2.streams_active') < 20) await new Promise((r) => setTimeout(r, 1));
        })(),
        5000,
        '20 streams active',
      );
      session.destroy();
      await Promise.all(pending);
      await withTimeout(
        (async () => {
          while (proxy.gauge('http.e2e.downstream_cx_active') > 0) await new Promise((r) => setTimeout(r, 5));
        })(),
        5000,
        'the connection closed in sluice',
      );
      expect(proxy.gauge('http2.streams_active')).toBe(0);
      expect(proxy.gauge('http2.pending_send_bytes')).toBe(0);
      expect(proxy.gauge('http2.pending_recv_bytes')).toBe(0);
    } finally {
      session.destroy();
      await proxy.close();
    }
  });
});

describe('curl, nghttp and h2load', () => {
  let echo: EchoOrigin;
  let proxy: HttpProxy;
  let dir: string;

  beforeAll(async () => {
    echo = await EchoOrigin.start();
    proxy = await proxyTo(echo.port);
    dir = mkdtempSync(join(tmpdir(), 'sluice-interop-'));
  });

  afterAll(async () => {
    await proxy.close();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('curl --http2-prior-knowledge GET', async () => {
    const r = await run('curl', ['-sS', '--http2-prior-knowledge', '-H', 'x-probe: curl', '-w', '\n%{http_code} %{http_version}', `http://${LOOPBACK}:${proxy.port}/curl/get?q=1`]);
    expect(r.code).toBe(0);
    const [json, tail] = r.stdout.split('\n');
    expect(tail).toBe('200 2');
    const seen = JSON.parse(json!) as { method: string; url: string; headers: Record<string, string>; bodyLength: number };
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/curl/get?q=1');
    expect(seen.headers['x-probe']).toBe('curl');
    expect(seen.bodyLength).toBe(0);
  });

  it('curl --http2-prior-knowledge POST of 1 MiB arrives byte for byte', async () => {
    const body = pattern(1 << 20, 7);
    const file = join(dir, 'post.bin');
    writeFileSync(file, body);
    const r = await run('curl', ['-sS', '--http2-prior-knowledge', '--data-binary', `@${file}`, '-H', 'content-type: application/octet-stream', '-w', '\n%{http_code} %{http_version}', `http://${LOOPBACK}:${proxy.port}/curl/post`]);
    expect(r.code).toBe(0);
    const [json, tail] = r.stdout.split('\n');
    expect(tail).toBe('200 2');
    const seen = JSON.parse(json!) as { method: string; bodyLength: number; bodySha256: string };
    expect(seen).toMatchObject({ method: 'POST', bodyLength: body.length, bodySha256: sha256(body) });
  });

  it('nghttp -nv: SETTINGS exchange, a 200, and a clean GOAWAY from the client', async () => {
    const r = await run('nghttp', ['-nv', `http://${LOOPBACK}:${proxy.port}/nghttp`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/recv SETTINGS frame <length=\d+, flags=0x00, stream_id=0>/);
    expect(r.stdout).toMatch(/recv SETTINGS frame <length=0, flags=0x01, stream_id=0>/);
    // nghttp opens its request on stream 13 (after PRIORITY anchors on 3..11).
    const status = /recv \(stream_id=(\d+)\) :status: 200/.exec(r.stdout);
    expect(status, r.stdout).not.toBeNull();
    expect(r.stdout).toContain(`recv (stream_id=${status![1]}) server: sluice`);
    expect(r.stdout).toMatch(new RegExp(`recv DATA frame <length=\\d+, flags=0x01, stream_id=${status![1]}>`));
    expect(r.stdout).toMatch(/send GOAWAY frame <length=8, flags=0x00, stream_id=0>/);
    // Nothing went wrong on our side: no RST_STREAM and no GOAWAY from sluice.
    expect(r.stdout).not.toMatch(/recv (RST_STREAM|GOAWAY)/);
  });

  it('h2load -n 2000 -c 4 -m 50: every request succeeds', async () => {
    const before = echo.requests.length;
    const r = await run('h2load', ['-n', '2000', '-c', '4', '-m', '50', `http://${LOOPBACK}:${proxy.port}/h2load`]);
    expect(r.code, r.stderr).toBe(0);
    const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(r.stdout);
    expect(req, r.stdout).not.toBeNull();
    expect(req!.slice(1).map(Number)).toEqual([2000, 2000, 2000, 2000, 0, 0, 0]);
    const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(r.stdout);
    expect(codes!.slice(1).map(Number)).toEqual([2000, 0, 0, 0]);
    expect(echo.requests.length - before).toBe(2000);
  });
});

describe('a 50 MiB upload over h2 to an origin that reads slowly', () => {
  const WINDOW = 1 << 20;
  const LIMIT = 1 << 20;
  const SIZE = 50 << 20;

  it('completes byte for byte while sluice holds at most about a window plus a buffer limit', async () => {
    // The origin takes a 64 KiB read, then pauses: roughly 25 MiB/s, far slower than loopback.
    let received = 0;
    const hash = createHash('sha256');
    const slow = await HttpOrigin.start((req, res) => {
      req.on('data', (c: Buffer) => {
        hash.update(c);
        received += c.length;
        req.pause();
        setTimeout(() => req.resume(), 2);
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${received} ${hash.digest('hex')}`);
      });
    });
    const proxy = await proxyTo(slow.port, { initial_stream_window_size: WINDOW, initial_connection_window_size: WINDOW }, {
      listener: { per_connection_buffer_limit_bytes: LIMIT },
    });
    const session = await connect(proxy.port);
    const held = (): number =>
      proxy.gauge('http2.pending_recv_bytes') +
      proxy.gauge('http.e2e.downstream_cx_rx_bytes_buffered') +
      proxy.gauge('cluster.origin.upstream_cx_tx_bytes_buffered');
    let maxHeld = 0;
    let maxPendingRecv = 0;
    const sampler = setInterval(() => {
      maxHeld = Math.max(maxHeld, held());
      maxPendingRecv = Math.max(maxPendingRecv, proxy.gauge('http2.pending_recv_bytes'));
    }, 2);
    try {
      const body = pattern(SIZE, 3);
      const reply = await withTimeout(
        new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'interop.test', 'content-length': String(SIZE) });
          let status = 0;
          let text = '';
          req.on('response', (h) => (status = Number(h[':status'])));
          req.setEncoding('utf8');
          req.on('data', (c: string) => (text += c));
          req.on('end', () => resolve({ status, text }));
          req.on('error', reject);
          // Written in 256 KiB pieces, waiting for 'drain': the client holds little itself.
          let offset = 0;
          const pump = (): void => {
            while (offset < SIZE) {
              const end = Math.min(offset + (256 << 10), SIZE);
              const more = req.write(body.subarray(offset, end));
              offset = end;
              if (!more) {
                req.once('drain', pump);
                return;
              }
            }
            req.end();
          };
          pump();
        }),
        25_000,
        '50 MiB upload',
      );
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(`${SIZE} ${sha256(body)}`);
      // Backpressure engaged: the stream held unconsumed octets (no WINDOW_UPDATE meanwhile)...
      expect(maxPendingRecv).toBeGreaterThan(0);
      expect(maxPendingRecv).toBeLessThanOrEqual(WINDOW);
      // ...and the total never went past the window plus the upstream buffer limit (plus the one
      // socket read that crosses the high watermark).
      expect(maxHeld).toBeLessThanOrEqual(WINDOW + LIMIT + 256 * 1024);
    } finally {
      clearInterval(sampler);
      session.destroy();
      await proxy.close();
      await slow.close();
    }
    // Nothing is left counted once the connection is gone.
    expect(proxy.gauge('http2.pending_recv_bytes')).toBe(0);
  });
});
