import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { Http2ConnPoolImpl } from '../../../../codecs/pools/http2-pool.js';
import { defaultClientCodecFactory } from '../../../../codecs/pools/pool-factory.js';
import type { ClusterOptions } from '../../../../src/upstream/cluster-options.js';
import { frames, H2FrameDecoder, summarize, toBytes } from '../../../support/h2-frames.js';
import { closedPort, PeerServer, waitFor, type Peer } from '../../../support/net-helpers.js';
import { H2Origin, hello, type H2Handler } from './h2-origin.js';
import { hostSetup, idle, startExchange, type Exchange, type HostSetup } from './helpers.js';

const origins: H2Origin[] = [];
const peerServers: PeerServer[] = [];
const pools: Http2ConnPoolImpl[] = [];

afterEach(async () => {
  for (const p of pools.splice(0)) p.closeConnections();
  await Promise.all(peerServers.splice(0).map((s) => s.close()));
  await Promise.all(origins.splice(0).map((o) => o.close()));
});

async function origin(handler: H2Handler, settings: http2.Settings = {}): Promise<H2Origin> {
  const o = await H2Origin.start(handler, settings);
  origins.push(o);
  return o;
}

function pool(port: number, opts: Partial<ClusterOptions> = {}): { pool: Http2ConnPoolImpl; setup: HostSetup } {
  const setup = hostSetup(port, { upstreamProtocol: 'http2', ...opts });
  const p = new Http2ConnPoolImpl(setup.host, { dispatcher: setup.dispatcher, codecFactory: defaultClientCodecFactory });
  pools.push(p);
  return { pool: p, setup };
}

/** The client's frames as a scripted upstream sees them, one summary line each. */
class FrameLog {
  private readonly decoder = new H2FrameDecoder({ expectClientPreface: true });
  private seen = 0;
  readonly lines: string[] = [];

  constructor(private readonly peer: Peer) {}

  private update(): void {
    const all = this.peer.received();
    if (all.length > this.seen) {
      for (const item of this.decoder.push(all.subarray(this.seen))) this.lines.push(summarize(item));
      this.seen = all.length;
    }
  }

  /** Waits until a line starting with `prefix` was received. */
  async waitFor(prefix: string): Promise<void> {
    await waitFor(() => {
      this.update();
      return this.lines.some((l) => l.startsWith(prefix));
    }, 2000, `frame ${prefix}`);
  }

  headers(): string[] {
    this.update();
    return this.lines.filter((l) => l.startsWith('HEADERS'));
  }
}

async function allDone(exchanges: readonly Exchange[]): Promise<void> {
  await Promise.all(exchanges.map((e) => e.done()));
}

describe('HTTP/2 pool: streams over one connection', () => {
  it('sends a request and hands back the response with protocol HTTP/2', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p, { path: '/a' });
    expect(ex.handle).toBeDefined();
    expect(await ex.done()).toBe('complete');
    expect(ex.protocol).toBe('HTTP/2');
    expect(ex.status).toBe(200);
    expect(ex.body).toBe('hello /a');
    expect(ex.host).toBe(setup.host);
    expect(setup.counter('upstream_cx_http2_total')).toBe(1);
    expect(setup.counter('upstream_cx_http1_total')).toBe(0);
    expect(setup.counter('upstream_rq_total')).toBe(1);
    expect(setup.gauge('upstream_rq_active')).toBe(0);
    expect(setup.host.stats.rq_active).toBe(0);
    expect(setup.host.stats.rq_total).toBe(1);
    expect(p.counts()).toMatchObject({ ready: 1, busy: 0, activeStreams: 0, pending: 0 });
  });

  it('reuses the connection for sequential requests', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    for (const path of ['/1', '/2', '/3']) {
      const ex = startExchange(p, { path });
      expect(await ex.done()).toBe('complete');
      expect(ex.body).toBe(`hello ${path}`);
    }
    expect(o.sessions.length).toBe(1);
    expect(setup.counter('upstream_cx_total')).toBe(1);
    expect(setup.counter('upstream_rq_total')).toBe(3);
  });

  it('sends a request body and receives trailers', async () => {
    const o = await origin((stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond({ ':status': 201 }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-len': String(Buffer.concat(chunks).length) }));
        stream.end(Buffer.concat(chunks));
      });
    });
    const { pool: p } = pool(o.port);
    const ex = startExchange(p, { method: 'POST', path: '/echo', body: 'x'.repeat(70_000) });
    expect(await ex.done()).toBe('complete');
    expect(ex.status).toBe(201);
    expect(ex.body.length).toBe(70_000);
    expect(ex.trailers?.get('x-len')).toBe('70000');
  });

  it('500 concurrent streams on an upstream allowing 100 open exactly 5 connections', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const o = await origin(
      (stream) => {
        held.push(stream);
        // Answer only once all 500 are open at the same time.
        if (held.length === 500) {
          for (const s of held) {
            s.respond({ ':status': 200 });
            s.end('ok');
          }
        }
      },
      { maxConcurrentStreams: 100 },
    );
    const { pool: p, setup } = pool(o.port);
    const exchanges: Exchange[] = [];
    for (let i = 0; i < 500; i++) exchanges.push(startExchange(p, { path: `/${i}` }));
    await allDone(exchanges);
    expect(exchanges.filter((e) => e.complete && e.status === 200).length).toBe(500);
    expect(o.sessions.length).toBe(5);
    expect(o.sessions.map((s) => s.streams)).toEqual([100, 100, 100, 100, 100]);
    expect(Math.max(...o.sessions.map((s) => s.maxOpen))).toBe(100);
    expect(setup.counter('upstream_cx_http2_total')).toBe(5);
    expect(setup.counter('upstream_rq_total')).toBe(500);
    expect(setup.counter('upstream_rq_pending_total')).toBe(500);
    expect(setup.gauge('upstream_rq_pending_active')).toBe(0);
    expect(p.counts()).toMatchObject({ ready: 5, activeStreams: 0 });
  });

  it('learns a lower SETTINGS_MAX_CONCURRENT_STREAMS and opens connections by it', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    let release = false;
    const o = await origin(
      (stream) => {
        if (!release) {
          stream.respond({ ':status': 200 });
          stream.end();
          return;
        }
        held.push(stream);
        if (held.length === 30) {
          for (const s of held) {
            s.respond({ ':status': 200 });
            s.end();
          }
        }
      },
      { maxConcurrentStreams: 10 },
    );
    const { pool: p } = pool(o.port);
    const warm = startExchange(p, { path: '/warm' });
    expect(await warm.done()).toBe('complete');
    release = true;
    const exchanges: Exchange[] = [];
    for (let i = 0; i < 30; i++) exchanges.push(startExchange(p, { path: `/${i}` }));
    await allDone(exchanges);
    expect(exchanges.map((e) => e.reset?.reason).filter((r) => r !== undefined)).toEqual([]);
    expect(exchanges.every((e) => e.status === 200)).toBe(true);
    expect(o.sessions.length).toBe(3);
    expect(o.sessions.map((s) => s.maxOpen)).toEqual([10, 10, 10]);
  });

  it('honours the cluster http2_protocol_options.max_concurrent_streams below the peer limit', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const o = await origin(
      (stream) => {
        held.push(stream);
        if (held.length === 5) {
          for (const s of held) {
            s.respond({ ':status': 200 });
            s.end();
          }
        }
      },
      { maxConcurrentStreams: 100 },
    );
    const { pool: p } = pool(o.port, { http2Options: { maxConcurrentStreams: 2 } });
    expect(p.maxConcurrentStreams).toBe(2);
    const exchanges: Exchange[] = [];
    for (let i = 0; i < 5; i++) exchanges.push(startExchange(p, { path: `/${i}` }));
    await allDone(exchanges);
    expect(exchanges.every((e) => e.status === 200)).toBe(true);
    expect(o.sessions.map((s) => s.streams)).toEqual([2, 2, 1]);
  });

  it('honours max_requests_per_connection', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port, { maxRequestsPerConnection: 3 });
    const exchanges: Exchange[] = [];
    for (let i = 0; i < 7; i++) exchanges.push(startExchange(p, { path: `/${i}` }));
    await allDone(exchanges);
    expect(exchanges.every((e) => e.status === 200)).toBe(true);
    expect(o.sessions.map((s) => s.streams)).toEqual([3, 3, 1]);
    expect(setup.counter('upstream_cx_max_requests')).toBe(2);
    // The two used-up connections close once their streams end; the third stays.
    await waitFor(() => p.counts().draining === 0 && setup.counter('upstream_cx_destroy') === 2, 2000, 'drained closes');
    expect(p.counts()).toMatchObject({ ready: 1, draining: 0 });
  });
});

describe('HTTP/2 pool: GOAWAY', () => {
  it('GOAWAY mid-load: streams above last-stream-id are refused (retriable), none the upstream started is lost', async () => {
    const N = 40;
    const LAST_PROCESSED = 20;
    const held: Array<{ stream: http2.ServerHttp2Stream; path: string }> = [];
    const answered: string[] = [];
    let goaway = false;
    const o = await origin((stream, headers) => {
      const path = String(headers[':path']);
      if (goaway) {
        answered.push(path);
        stream.respond({ ':status': 200 });
        stream.end(path);
        return;
      }
      held.push({ stream, path });
      if (held.length < N) return;
      goaway = true;
      // Streams 1, 3, ... 2*LAST_PROCESSED-1 were processed; the rest were not.
      const lastId = held[LAST_PROCESSED - 1]!.stream.id!;
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, lastId);
      setImmediate(() => {
        for (const h of held.slice(0, LAST_PROCESSED)) {
          answered.push(h.path);
          h.stream.respond({ ':status': 200 });
          h.stream.end(h.path);
        }
      });
    });
    const { pool: p, setup } = pool(o.port);
    const exchanges: Exchange[] = [];
    for (let i = 0; i < N; i++) exchanges.push(startExchange(p, { path: `/${i}` }));
    await allDone(exchanges);

    const completed = exchanges.filter((e) => e.complete);
    const refused = exchanges.filter((e) => e.reset !== undefined);
    expect(completed.map((e) => e.body)).toEqual(Array.from({ length: LAST_PROCESSED }, (_, i) => `/${i}`));
    expect(refused.length).toBe(N - LAST_PROCESSED);
    expect(new Set(refused.map((e) => e.reset!.reason))).toEqual(new Set(['RemoteRefusedStreamReset']));
    expect(setup.counter('upstream_cx_close_notify')).toBe(1);
    // The GOAWAY'd connection closes after its last stream.
    await waitFor(() => setup.counter('upstream_cx_destroy') === 1, 2000, 'goaway connection close');

    // Retrying the refused streams goes to a new connection and succeeds.
    const retries = refused.map((_e, i) => startExchange(p, { path: `/retry${i}` }));
    await allDone(retries);
    expect(retries.every((e) => e.status === 200)).toBe(true);
    expect(o.sessions.length).toBe(2);
    expect(setup.counter('upstream_cx_http2_total')).toBe(2);
    // Every stream the upstream answered was delivered exactly once.
    expect(answered.length).toBe(LAST_PROCESSED + refused.length);
  });

  it('refused streams reported before the GOAWAY itself do not hand the connection a pending stream', async () => {
    const raw = await PeerServer.start();
    peerServers.push(raw);
    const { pool: p, setup } = pool(raw.port, { circuitBreakers: { default: { maxConnections: 1 } } });
    const warm = startExchange(p, { path: '/warm' });
    const a = await raw.accepted();
    const aFrames = new FrameLog(a);
    await a.write(toBytes(frames.settings({ maxConcurrentStreams: 2 }), frames.settingsAck()));
    await aFrames.waitFor('HEADERS 1');
    await a.write(frames.headers(1).response(200).eos().toBuffer());
    expect(await warm.done()).toBe('complete');

    const one = startExchange(p, { path: '/one' });
    const two = startExchange(p, { path: '/two' });
    const three = startExchange(p, { path: '/three' });
    expect(three.handle).toBeDefined();
    await aFrames.waitFor('HEADERS 5');
    // Stream 5 was not processed: the codec resets it as refused before it reports the GOAWAY.
    await a.write(frames.goaway(3));
    await waitFor(() => two.reset !== undefined, 2000, 'refused stream');
    expect(two.reset?.reason).toBe('RemoteRefusedStreamReset');
    await waitFor(() => p.counts().draining === 1, 2000, 'draining');
    expect(three.events).toEqual([]);
    expect(aFrames.headers().map((l) => l.split(' ')[1])).toEqual(['1', '3', '5']);

    // Stream 3 ends, the connection closes, and /three goes out on a new one.
    await a.write(frames.headers(3).response(200).eos().toBuffer());
    expect(await one.done()).toBe('complete');
    const b = await raw.accepted();
    const bFrames = new FrameLog(b);
    await b.write(toBytes(frames.settings({ maxConcurrentStreams: 2 }), frames.settingsAck()));
    await bFrames.waitFor('HEADERS 1');
    expect(bFrames.headers()[0]).toContain(':path=/three');
    await b.write(frames.headers(1).response(204).eos().toBuffer());
    expect(await three.done()).toBe('complete');
    expect(three.status).toBe(204);
    expect(setup.counter('upstream_cx_http2_total')).toBe(2);
  });

  it('GOAWAY on an idle connection closes it', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p);
    expect(await ex.done()).toBe('complete');
    const becameIdle = idle(p);
    o.sessions[0]!.session.goaway(http2.constants.NGHTTP2_NO_ERROR);
    await becameIdle;
    expect(setup.counter('upstream_cx_close_notify')).toBe(1);
    expect(setup.counter('upstream_cx_destroy_local')).toBe(1);
    expect(p.isIdle()).toBe(true);
  });

  it('no new stream goes to a connection that received GOAWAY', async () => {
    let first: http2.ServerHttp2Stream | undefined;
    const o = await origin((stream, headers) => {
      if (headers[':path'] === '/slow') {
        first = stream;
        stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
        return;
      }
      hello(stream, headers, o.sessions[0]!);
    });
    const { pool: p } = pool(o.port);
    const slow = startExchange(p, { path: '/slow' });
    await waitFor(() => p.counts().draining === 1, 2000, 'client draining');
    const next = startExchange(p, { path: '/next' });
    expect(await next.done()).toBe('complete');
    expect(o.sessions.length).toBe(2);
    first!.respond({ ':status': 200 });
    first!.end('done');
    expect(await slow.done()).toBe('complete');
    expect(slow.body).toBe('done');
  });
});

describe('HTTP/2 pool: resets and failures', () => {
  it('an upstream RST_STREAM resets only that stream; the connection stays in use', async () => {
    const o = await origin((stream, headers) => {
      if (headers[':path'] === '/rst') stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else hello(stream, headers, o.sessions[0]!);
    });
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p, { path: '/rst' });
    expect(await ex.done()).toBe('reset');
    expect(ex.reset?.reason).toBe('RemoteReset');
    expect(setup.counter('upstream_rq_rx_reset')).toBe(1);
    expect(setup.gauge('upstream_rq_active')).toBe(0);
    const ok = startExchange(p, { path: '/ok' });
    expect(await ok.done()).toBe('complete');
    expect(o.sessions.length).toBe(1);
  });

  it('a local reset sends RST_STREAM and frees the stream', async () => {
    let serverStream: http2.ServerHttp2Stream | undefined;
    const o = await origin((stream) => {
      serverStream = stream;
    });
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p, { path: '/hang' });
    await waitFor(() => serverStream !== undefined, 2000, 'stream at origin');
    ex.encoder!.stream().resetStream('LocalReset');
    expect(ex.reset?.reason).toBe('LocalReset');
    expect(setup.counter('upstream_rq_tx_reset')).toBe(1);
    expect(p.counts()).toMatchObject({ activeStreams: 0, ready: 1 });
    await waitFor(() => serverStream!.closed, 2000, 'RST_STREAM at origin');
    expect(serverStream!.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it('the upstream closing the connection resets its streams with ConnectionTermination', async () => {
    const o = await origin((stream) => {
      stream.respond({ ':status': 200 });
      stream.write('partial');
      setImmediate(() => stream.session!.destroy());
    });
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p);
    expect(await ex.done()).toBe('reset');
    expect(ex.reset?.reason).toBe('ConnectionTermination');
    expect(ex.status).toBe(200);
    expect(setup.counter('upstream_cx_destroy_remote_with_active_rq')).toBe(1);
    expect(setup.counter('upstream_rq_pending_failure_eject')).toBe(1);
    expect(setup.gauge('upstream_rq_active')).toBe(0);
    expect(setup.gauge('upstream_cx_active')).toBe(0);
    expect(p.isIdle()).toBe(true);
  });

  it('a refused connect fails the pending stream with RemoteConnectionFailure', async () => {
    const port = await closedPort();
    const { pool: p, setup } = pool(port);
    const ex = startExchange(p);
    expect(ex.handle).toBeDefined();
    expect(await ex.done()).toBe('failure');
    expect(ex.failure?.reason).toBe('RemoteConnectionFailure');
    expect(ex.failure?.details).toMatch(/ECONNREFUSED/);
    expect(setup.counter('upstream_cx_connect_fail')).toBe(1);
    expect(setup.counter('upstream_rq_pending_failure_eject')).toBe(1);
    expect(setup.host.stats.cx_connect_fail).toBe(1);
    expect(p.isIdle()).toBe(true);
  });

  it('max_pending_requests overflow fails at once with Overflow', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port, { circuitBreakers: { default: { maxPendingRequests: 1 } } });
    const first = startExchange(p);
    const second = startExchange(p);
    expect(second.handle).toBeUndefined();
    expect(second.failure?.reason).toBe('Overflow');
    expect(setup.counter('upstream_rq_pending_overflow')).toBe(1);
    expect(await first.done()).toBe('complete');
  });

  it('a cancelled pending stream gets no callback; the connection still comes up', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p);
    ex.handle!.cancel('Default');
    expect(setup.counter('upstream_rq_cancelled')).toBe(1);
    await waitFor(() => p.counts().ready === 1, 2000, 'connection ready');
    expect(ex.events).toEqual([]);
    expect(setup.counter('upstream_rq_total')).toBe(0);
  });

  it('cancel with CloseExcess closes the connection opened for it', async () => {
    const o = await origin(hello);
    const { pool: p, setup } = pool(o.port);
    const ex = startExchange(p);
    const becameIdle = idle(p);
    ex.handle!.cancel('CloseExcess');
    await becameIdle;
    expect(setup.counter('upstream_cx_destroy_local')).toBe(1);
    expect(ex.events).toEqual([]);
  });
});
