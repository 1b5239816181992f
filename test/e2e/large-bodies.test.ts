/**
 * 100 MiB chunked bodies through sluice both ways, against a slow peer, with memory bounded by the
 * buffer limits: the origin stalls an upload, the client stalls a download. The proxy runs in this
 * process, so its connections' buffer gauges (`http.<prefix>.downstream_cx_{rx,tx}_bytes_buffered`,
 * `cluster.<name>.upstream_cx_{rx,tx}_bytes_buffered`) are sampled all along and must stay under
 * the 1 MiB limit plus a socket read or two; the far end must also stall (nothing runs ahead into
 * memory). Byte counts and SHA-256 of what arrives must match what was sent.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterConfig, HttpOrigin, HttpProxy } from '../support/http-harness.js';
import { LOOPBACK, pattern, waitFor, withTimeout } from '../support/net-helpers.js';

const MiB = 1024 * 1024;
const TOTAL = 100 * MiB;
/** Envoy's default per_connection_buffer_limit_bytes, sluice's too. */
const LIMIT = 1 * MiB;
/** What may sit above the limit: the socket read in progress when the watermark fired, and framing. */
const SLACK = 256 * 1024;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const BASE = pattern(MiB, 3);

/** Chunk `i` of the body: the base pattern stamped with its index, so reordering shows. */
function chunk(i: number): Buffer {
  const b = Buffer.from(BASE);
  b.writeUInt32BE(i, 0);
  return b;
}

const expectedHash = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < TOTAL / MiB; i++) h.update(chunk(i));
  return h.digest('hex');
})();

/** Samples gauges every few ms and keeps their maxima. */
class GaugeSampler {
  readonly max = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly p: HttpProxy,
    private readonly names: readonly string[],
  ) {
    for (const n of names) this.max.set(n, 0);
    this.timer = setInterval(() => this.sample(), 2);
    cleanups.push(() => this.stop());
  }

  sample(): void {
    for (const n of this.names) this.max.set(n, Math.max(this.max.get(n)!, this.p.gauge(n)));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Waits until `value()` has not changed for `quietMs` (the pipeline is stalled). */
async function waitForStall(value: () => number, quietMs: number, timeoutMs: number, what: string): Promise<void> {
  let last = -1;
  let since = Date.now();
  await waitFor(
    () => {
      const v = value();
      if (v !== last) {
        last = v;
        since = Date.now();
      }
      return v > 0 && Date.now() - since >= quietMs;
    },
    timeoutMs,
    what,
  );
}

describe('100 MiB chunked bodies with bounded memory', () => {
  it('uploads 100 MiB chunked to an origin that stalls, then reads slowly', async () => {
    let received = 0;
    let reading = false;
    let startReading: (() => void) | undefined;
    let resolveDone!: (v: { length: number; sha: string }) => void;
    const originDone = new Promise<{ length: number; sha: string }>((resolve) => (resolveDone = resolve));
    const origin = await HttpOrigin.start((req, res) => {
      const hash = createHash('sha256');
      // Stalled until the test calls startReading().
      req.pause();
      req.on('data', (c: Buffer) => {
        hash.update(c);
        const before = received;
        received += c.length;
        // A slow consumer: a 50 ms nap after every 16 MiB.
        if (Math.floor(before / (16 * MiB)) !== Math.floor(received / (16 * MiB))) {
          req.pause();
          setTimeout(() => req.resume(), 50);
        }
      });
      req.on('end', () => {
        const length = received;
        const sha = hash.digest('hex');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ length, sha, chunked: req.headers['transfer-encoding'] === 'chunked' }));
        resolveDone({ length, sha });
      });
      startReading = () => {
        reading = true;
        req.resume();
      };
    });
    cleanups.push(() => origin.close());
    const p = await HttpProxy.start({ clusters: { backend: origin.port } });
    cleanups.push(() => p.close());
    const sampler = new GaugeSampler(p, [
      'http.e2e.downstream_cx_rx_bytes_buffered',
      'cluster.backend.upstream_cx_tx_bytes_buffered',
    ]);

    let produced = 0;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < TOTAL / MiB; i++) {
          produced += MiB;
          yield chunk(i);
        }
      })(),
      { objectMode: false, highWaterMark: 64 * 1024 },
    );
    const response = withTimeout(
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          { host: LOOPBACK, port: p.port, method: 'POST', path: '/upload', agent: false, headers: { 'transfer-encoding': 'chunked' } },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts).toString() }));
          },
        );
        req.on('error', reject);
        body.pipe(req);
      }),
      20_000,
      'the upload response',
    );

    // The origin reads nothing: the client must stall well short of 100 MiB.
    await waitFor(() => startReading !== undefined, 3000, 'the request at the origin');
    await waitForStall(() => produced, 300, 5000, 'the client to stall');
    sampler.sample();
    expect(reading).toBe(false);
    expect(produced).toBeLessThan(24 * MiB);
    // sluice holds about a buffer limit toward the origin, and nothing piles up downstream.
    expect(sampler.max.get('cluster.backend.upstream_cx_tx_bytes_buffered')!).toBeGreaterThan(LIMIT / 2);
    expect(p.counter('http.e2e.downstream_flow_control_paused_reading_total')).toBeGreaterThan(0);

    startReading!();
    const res = await response;
    const done = await originDone;
    sampler.stop();
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body) as { length: number; sha: string; chunked: boolean };
    expect(seen).toEqual({ length: TOTAL, sha: expectedHash, chunked: true });
    expect(done.length).toBe(TOTAL);
    expect(sampler.max.get('cluster.backend.upstream_cx_tx_bytes_buffered')!).toBeLessThanOrEqual(LIMIT + SLACK);
    expect(sampler.max.get('http.e2e.downstream_cx_rx_bytes_buffered')!).toBeLessThanOrEqual(LIMIT + SLACK);
    expect(p.counter('http.e2e.downstream_cx_rx_bytes_total')).toBeGreaterThan(TOTAL);
    expect(p.gauge('cluster.backend.upstream_cx_tx_bytes_buffered')).toBe(0);
    // Every pause was undone.
    expect(p.counter('http.e2e.downstream_flow_control_resumed_reading_total')).toBe(p.counter('http.e2e.downstream_flow_control_paused_reading_total'));
  }, 30_000);

  it('downloads 100 MiB chunked to a client that stalls, then reads slowly', async () => {
    let written = 0;
    const origin = await HttpOrigin.start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let i = 0;
      const pump = (): void => {
        while (i < TOTAL / MiB) {
          const c = chunk(i++);
          written += c.length;
          if (!res.write(c)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    cleanups.push(() => origin.close());
    const p = await HttpProxy.start({ clusters: { backend: origin.port } });
    cleanups.push(() => p.close());
    const sampler = new GaugeSampler(p, [
      'http.e2e.downstream_cx_tx_bytes_buffered',
      'cluster.backend.upstream_cx_rx_bytes_buffered',
    ]);

    let res: http.IncomingMessage | undefined;
    const req = http.get({ host: LOOPBACK, port: p.port, path: '/download', agent: false }, (r) => {
      res = r;
      r.pause();
    });
    req.on('error', () => {});
    cleanups.push(() => void req.destroy());
    await waitFor(() => res !== undefined, 3000, 'the response head');
    expect(res!.statusCode).toBe(200);
    expect(res!.headers['transfer-encoding']).toBe('chunked');

    // The client reads nothing: the origin must stall well short of 100 MiB.
    await waitForStall(() => written, 300, 5000, 'the origin to stall');
    sampler.sample();
    expect(written).toBeLessThan(24 * MiB);
    expect(sampler.max.get('http.e2e.downstream_cx_tx_bytes_buffered')!).toBeGreaterThan(LIMIT / 2);

    const hash = createHash('sha256');
    let got = 0;
    const finished = withTimeout(
      new Promise<void>((resolve, reject) => {
        res!.on('data', (c: Buffer) => {
          hash.update(c);
          const before = got;
          got += c.length;
          if (Math.floor(before / (16 * MiB)) !== Math.floor(got / (16 * MiB))) {
            res!.pause();
            setTimeout(() => res!.resume(), 50);
          }
        });
        res!.on('end', resolve);
        res!.on('error', reject);
      }),
      20_000,
      'the whole download',
    );
    res!.resume();
    await finished;
    sampler.stop();
    expect(got).toBe(TOTAL);
    expect(hash.digest('hex')).toBe(expectedHash);
    expect(sampler.max.get('http.e2e.downstream_cx_tx_bytes_buffered')!).toBeLessThanOrEqual(LIMIT + SLACK);
    expect(sampler.max.get('cluster.backend.upstream_cx_rx_bytes_buffered')!).toBeLessThanOrEqual(LIMIT + SLACK);
    expect(p.counter('http.e2e.downstream_cx_tx_bytes_total')).toBeGreaterThan(TOTAL);
    // Nothing is left accounted once the exchange is over.
    expect(p.gauge('http.e2e.downstream_cx_tx_bytes_buffered')).toBe(0);
    expect(p.gauge('cluster.backend.upstream_cx_rx_bytes_buffered')).toBe(0);
  }, 30_000);

  it('a request waiting for an upstream connection holds at most a buffer limit of its body', async () => {
    const held: http.ServerResponse[] = [];
    const uploads: Array<{ length: number; sha: string }> = [];
    const origin = await HttpOrigin.start((req, res) => {
      if (req.url === '/hold') {
        req.resume();
        held.push(res);
        return;
      }
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        length += c.length;
      });
      req.on('end', () => {
        uploads.push({ length, sha: hash.digest('hex') });
        res.end('stored');
      });
    });
    cleanups.push(() => origin.close());
    const p = await HttpProxy.start({
      clusters: {},
      clusterConfigs: [clusterConfig('backend', [origin.port], { circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: 1 }] } })],
      routeConfig: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend', timeout: '0s' } }] }] },
    });
    cleanups.push(() => p.close());
    // The one connection the cluster allows is busy with a held request.
    const holder = http.get({ host: LOOPBACK, port: p.port, path: '/hold', agent: false });
    holder.on('error', () => {});
    cleanups.push(() => void holder.destroy());
    await waitFor(() => held.length === 1, 3000, 'the held request at the origin');

    const count = 64;
    let produced = 0;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < count; i++) {
          produced += MiB;
          yield chunk(i);
        }
      })(),
      { objectMode: false, highWaterMark: 64 * 1024 },
    );
    const response = withTimeout(
      new Promise<string>((resolve, reject) => {
        const req = http.request(
          { host: LOOPBACK, port: p.port, method: 'POST', path: '/pending', agent: false, headers: { 'transfer-encoding': 'chunked' } },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve(Buffer.concat(parts).toString()));
          },
        );
        req.on('error', reject);
        body.pipe(req);
      }),
      20_000,
      'the pending upload',
    );
    await waitFor(() => p.gauge('cluster.backend.upstream_rq_pending_active') === 1, 3000, 'the upload to wait in the pool');
    await waitForStall(() => produced, 300, 5000, 'the client to stall');
    // A buffer limit in sluice plus the kernel's socket buffers: far below 64 MiB.
    expect(produced).toBeLessThan(16 * MiB);
    expect(p.counter('http.e2e.downstream_flow_control_paused_reading_total')).toBeGreaterThan(0);
    expect(uploads).toHaveLength(0);

    held[0]!.end('released');
    expect(await response).toBe('stored');
    const h = createHash('sha256');
    for (let i = 0; i < count; i++) h.update(chunk(i));
    expect(uploads).toEqual([{ length: count * MiB, sha: h.digest('hex') }]);
  }, 30_000);
});

