/**
 * gRPC through sluice, untouched: a @grpc/grpc-js client over h2c to sluice, an HTTP/2 upstream
 * cluster, a grpc-js server. Unary and bidirectional streaming calls, metadata both ways,
 * `grpc-status` / `grpc-message` trailers (and trailers-only responses), 1 MiB messages, and the
 * gRPC form of sluice's own local replies (Envoy's mapping: 503 -> UNAVAILABLE, 404 ->
 * UNIMPLEMENTED, 504 -> UNAVAILABLE), checked with grpc-js and on the wire with node:http2.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { echoClient, EchoServer, grpc, unary, type EchoClient, type EchoReply, type EchoRequest } from '../support/grpc/echo-service.js';
import { HttpProxy } from '../support/http-harness.js';
import { closedPort, pattern, waitFor, withTimeout } from '../support/net-helpers.js';
import { connectH2, protocolCluster } from '../support/protocol-peers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const SERVICE_PREFIX = '/sluice.test.EchoService/';

async function grpcProxy(upstreamPort: number, route: Record<string, unknown> = {}): Promise<HttpProxy> {
  const proxy = await HttpProxy.start({
    clusters: {},
    clusterConfigs: [protocolCluster('grpc', upstreamPort, 'h2')],
    routeConfig: {
      virtual_hosts: [{ name: 'grpc', domains: ['*'], routes: [{ match: { prefix: SERVICE_PREFIX }, route: { cluster: 'grpc', ...route } }] }],
    },
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function setup(route: Record<string, unknown> = {}): Promise<{ server: EchoServer; proxy: HttpProxy; client: EchoClient }> {
  const server = await EchoServer.start();
  cleanups.push(() => server.close());
  const proxy = await grpcProxy(server.port, route);
  const client = echoClient(proxy.port);
  cleanups.push(() => client.close());
  return { server, proxy, client };
}

interface ChatResult {
  readonly replies: EchoReply[];
  readonly status: grpc.StatusObject;
  readonly initial: grpc.Metadata | undefined;
}

/** A Chat call: writes `requests` one by one (each after the previous reply), then ends. */
function chat(client: EchoClient, requests: readonly EchoRequest[], metadata = new grpc.Metadata(), timeoutMs = 15_000): Promise<ChatResult> {
  const p = new Promise<ChatResult>((resolve) => {
    const replies: EchoReply[] = [];
    let initial: grpc.Metadata | undefined;
    const call = client.Chat(metadata, { deadline: Date.now() + timeoutMs });
    let next = 0;
    const writeNext = (): void => {
      if (next < requests.length) call.write(requests[next++]!);
      else call.end();
    };
    call.on('metadata', (md: grpc.Metadata) => {
      initial = md;
    });
    call.on('data', (r: EchoReply) => {
      replies.push(r);
      writeNext();
    });
    // The status (OK or an error) ends the call; 'error' carries the same status.
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) => resolve({ replies, status, initial }));
    writeNext();
  });
  return withTimeout(p, timeoutMs + 2000, 'Chat');
}

describe('gRPC through sluice (h2c downstream, HTTP/2 upstream)', () => {
  it('proxies a unary call with metadata both ways', async () => {
    const { server, proxy, client } = await setup();
    const md = new grpc.Metadata();
    md.set('x-test-meta', 'hello');
    const r = await unary(client, { message: 'ping', payload: Buffer.from([1, 2, 3]) }, md);
    expect(r.error).toBeUndefined();
    expect(r.reply).toEqual({ message: 'ping', payload: Buffer.from([1, 2, 3]), index: 0 });
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.initial?.get('x-test-meta')).toEqual(['hello']);
    expect(r.initial?.get('server')).toEqual(['sluice']);
    expect(r.status.metadata.get('x-trailer-meta')).toEqual(['bye']);
    expect(server.calls).toHaveLength(1);
    const seen = server.calls[0]!.metadata;
    expect(seen['x-test-meta']).toBe('hello');
    // grpc-js keeps te and content-type out of the metadata (it checks content-type itself);
    // protocol-matrix.test.ts checks that `te: trailers` reaches an HTTP/2 upstream.
    expect(seen['user-agent']).toMatch(/^grpc-node-js\//);
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(proxy.counter('cluster.grpc.upstream_cx_http2_total')).toBe(1);
    expect(proxy.counter('http.e2e.downstream_rq_http2_total')).toBe(1);
    expect(proxy.counter('http.e2e.downstream_rq_2xx')).toBe(1);
  });

  it('passes a server error status and its message', async () => {
    const { client } = await setup();
    const r = await unary(client, { message: 'x', fail_code: grpc.status.INVALID_ARGUMENT, fail_message: 'bad input: ünïcödé 100%' });
    expect(r.reply).toBeUndefined();
    expect(r.status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.status.details).toBe('bad input: ünïcödé 100%');
    expect(r.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.status.metadata.get('x-trailer-meta')).toEqual(['bye']);
  });

  it('proxies a bidirectional stream in order', async () => {
    const { server, client } = await setup();
    const md = new grpc.Metadata();
    md.set('x-test-meta', 'stream');
    const requests = Array.from({ length: 20 }, (_, i) => ({ message: `m${i}`, payload: pattern(i * 100, i) }));
    const r = await chat(client, requests, md);
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.status.metadata.get('x-trailer-meta')).toEqual(['bye']);
    expect(r.initial?.get('x-test-meta')).toEqual(['stream']);
    expect(r.replies.map((x) => x.message)).toEqual(requests.map((x) => x.message));
    expect(r.replies.map((x) => x.index)).toEqual(requests.map((_, i) => i));
    r.replies.forEach((x, i) => expect(x.payload.equals(requests[i]!.payload)).toBe(true));
    expect(server.calls.map((c) => c.method)).toEqual(['Chat']);
  });

  it('ends a stream with the server error status mid-stream', async () => {
    const { client } = await setup();
    const r = await chat(client, [{ message: 'a' }, { message: 'b' }, { fail_code: grpc.status.RESOURCE_EXHAUSTED, fail_message: 'quota' }]);
    expect(r.replies.map((x) => x.message)).toEqual(['a', 'b']);
    expect(r.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(r.status.details).toBe('quota');
  });

  it("carries a client's cancel to the server", async () => {
    const { server, proxy, client } = await setup();
    const call = client.Chat(new grpc.Metadata());
    const statuses: grpc.StatusObject[] = [];
    call.on('error', () => {});
    call.on('status', (st: grpc.StatusObject) => statuses.push(st));
    const first = new Promise<EchoReply>((resolve) => call.once('data', resolve));
    call.write({ message: 'one' });
    expect((await withTimeout(first, 5000, 'the first reply')).message).toBe('one');
    call.cancel();
    await waitFor(() => server.cancelled === 1, 3000, 'the server saw the cancel');
    await waitFor(() => statuses.length === 1, 3000, 'the client status');
    expect(statuses[0]!.code).toBe(grpc.status.CANCELLED);
    await waitFor(() => proxy.gauge('cluster.grpc.upstream_rq_active') === 0, 3000, 'no upstream request');
    expect(proxy.counter('http.e2e.downstream_rq_rx_reset')).toBe(1);
  });

  it('passes 1 MiB messages, unary and streamed', async () => {
    const { client } = await setup();
    const big = pattern(1024 * 1024, 11);
    const r = await unary(client, { message: 'big', payload: big });
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.reply!.payload.length).toBe(big.length);
    expect(r.reply!.payload.equals(big)).toBe(true);
    const requests = [0, 1, 2, 3].map((i) => ({ message: `big${i}`, payload: pattern(1024 * 1024, i) }));
    const s = await chat(client, requests);
    expect(s.status.code).toBe(grpc.status.OK);
    expect(s.replies).toHaveLength(4);
    s.replies.forEach((x, i) => expect(x.payload.equals(requests[i]!.payload)).toBe(true));
  });

  it('multiplexes concurrent calls on one connection each side', async () => {
    const { proxy, client } = await setup();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(client, { message: `c${i}`, payload: pattern(500, i) })));
    results.forEach((r, i) => {
      expect(r.status.code).toBe(grpc.status.OK);
      expect(r.reply!.message).toBe(`c${i}`);
    });
    expect(proxy.counter('http.e2e.downstream_cx_http2_total')).toBe(1);
    expect(proxy.counter('cluster.grpc.upstream_cx_http2_total')).toBe(1);
    expect(proxy.counter('cluster.grpc.upstream_rq_total')).toBe(50);
  });
});

describe("sluice's local replies to gRPC requests are gRPC errors", () => {
  it('upstream down: UNAVAILABLE (14) with the reset reason', async () => {
    const port = await closedPort();
    const proxy = await grpcProxy(port);
    const client = echoClient(proxy.port);
    cleanups.push(() => client.close());
    const r = await unary(client, { message: 'x' });
    expect(r.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.status.details).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure/);
    expect(proxy.counter('cluster.grpc.upstream_cx_connect_fail')).toBe(1);
  });

  it('no route: UNIMPLEMENTED (12)', async () => {
    const { server, proxy } = await setup();
    const client = echoClient(proxy.port, 'Unrouted');
    cleanups.push(() => client.close());
    const r = await unary(client, { message: 'x' });
    expect(r.status.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(server.calls).toHaveLength(0);
    expect(proxy.counter('http.e2e.downstream_rq_2xx')).toBe(1);
  });

  it('route timeout: UNAVAILABLE (14) "upstream request timeout"', async () => {
    const { client } = await setup({ timeout: '0.2s' });
    const r = await unary(client, { message: 'slow', delay_ms: 2000 });
    expect(r.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.status.details).toBe('upstream request timeout');
  });

  it.each([
    ['upstream down', 'down', '14', /^upstream connect error or disconnect\/reset before headers\./],
    ['no route', 'unrouted', '12', undefined],
    ['route timeout', 'timeout', '14', /^upstream request timeout$/],
  ] as const)('%s is a trailers-only response on the wire: one HEADERS with END_STREAM', async (_name, kind, grpcStatus, message) => {
    let proxy: HttpProxy;
    let path = `${SERVICE_PREFIX}Echo`;
    let body = Buffer.from([0, 0, 0, 0, 0]); // one gRPC frame: uncompressed, an empty EchoRequest
    if (kind === 'down') {
      proxy = await grpcProxy(await closedPort());
    } else {
      ({ proxy } = await setup({ timeout: '0.2s' }));
      if (kind === 'unrouted') path = '/sluice.test.Unrouted/Echo';
      // EchoRequest{delay_ms: 2000}: field 5, varint.
      else body = Buffer.from([0, 0, 0, 0, 3, 0x28, 0xd0, 0x0f]);
    }
    const got = await rawGrpcCall(proxy.port, path, body);
    expect(got.headers[':status']).toBe(200);
    expect(got.headers['content-type']).toBe('application/grpc');
    expect(got.headers['grpc-status']).toBe(grpcStatus);
    if (message === undefined) expect(got.headers['grpc-message']).toBeUndefined();
    else expect(String(got.headers['grpc-message'])).toMatch(message);
    expect(got.headers['content-length']).toBeUndefined();
    expect(got.endedWithHeaders).toBe(true);
    expect(got.data).toBe(0);
    expect(got.trailers).toBe(false);
  });
});

/** One gRPC call on a raw node:http2 stream: the response headers, whether they ended the stream, body bytes, trailers seen. */
async function rawGrpcCall(
  port: number,
  path: string,
  body: Buffer,
): Promise<{ headers: Record<string, unknown>; endedWithHeaders: boolean; data: number; trailers: boolean }> {
  const session = await connectH2(port);
  cleanups.push(() => void session.destroy());
  return withTimeout(
    new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      let headers: Record<string, unknown> = {};
      let endedWithHeaders = false;
      let data = 0;
      let trailers = false;
      stream.on('response', (h, flags) => {
        headers = { ...h };
        endedWithHeaders = (flags & 0x1) !== 0;
      });
      stream.on('data', (c: Buffer) => {
        data += c.length;
      });
      stream.on('trailers', () => {
        trailers = true;
      });
      stream.on('close', () => resolve({ headers, endedWithHeaders, data, trailers }));
      stream.on('error', reject);
      stream.end(body);
    }),
    5000,
    `gRPC call ${path}`,
  );
}
