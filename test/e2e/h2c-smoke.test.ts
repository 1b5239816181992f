/**
 * HTTP/2 with prior knowledge (h2c) downstream against the same HTTP/1 routes and origins the other
 * e2e files use: one smoke test with node:http2, one with curl --http2-prior-knowledge.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogFile, EchoOrigin, HttpProxy, type EchoedRequest } from '../support/http-harness.js';
import { withTimeout } from '../support/net-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(): Promise<{ o: EchoOrigin; p: HttpProxy; log: AccessLogFile }> {
  const o = await EchoOrigin.start();
  cleanups.push(() => o.close());
  const log = AccessLogFile.create();
  cleanups.push(() => log.remove());
  const p = await HttpProxy.start({
    clusters: { backend: o.port },
    routeConfig: {
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { match: { prefix: '/direct' }, direct_response: { status: 202, body: { inline_string: 'direct over h2' } } },
            { match: { prefix: '/' }, route: { cluster: 'backend', prefix_rewrite: '/up/' } },
          ],
        },
      ],
    },
    hcm: { access_log: log.config('%PROTOCOL% %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% %BYTES_RECEIVED%\n') },
  });
  cleanups.push(() => p.close());
  return { o, p, log };
}

interface H2Response {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<H2Response> {
  return withTimeout(
    new Promise<H2Response>((resolve, reject) => {
      const stream = session.request(headers, { endStream: body === undefined });
      let responseHeaders: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (responseHeaders = h));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks) }));
      stream.on('error', reject);
      if (body !== undefined) stream.end(body);
    }),
    5000,
    `h2 ${String(headers[':method'])} ${String(headers[':path'])}`,
  );
}

describe('h2c downstream in front of HTTP/1 origins', () => {
  it('node:http2: concurrent GETs and a POST on one connection, a direct response, all routed and rewritten', async () => {
    const { o, p, log } = await setup();
    const session = http2.connect(`http://127.0.0.1:${p.port}`);
    cleanups.push(() => new Promise<void>((resolve) => session.close(() => resolve())));
    session.on('error', () => {});
    const body = randomBytes(200 * 1024);
    const [a, b, post, direct] = await Promise.all([
      h2request(session, { ':method': 'GET', ':path': '/a?x=1' }),
      h2request(session, { ':method': 'GET', ':path': '/b', 'user-agent': 'h2-smoke' }),
      h2request(session, { ':method': 'POST', ':path': '/post', 'content-type': 'application/octet-stream' }, body),
      h2request(session, { ':method': 'GET', ':path': '/direct' }),
    ]);
    expect([a.status, b.status, post.status, direct.status]).toEqual([200, 200, 200, 202]);
    expect(a.headers['server']).toBe('sluice');
    expect(a.headers['connection']).toBeUndefined();
    const seenA = JSON.parse(a.body.toString()) as EchoedRequest;
    expect(seenA.url).toBe('/up/a?x=1');
    expect(seenA.headers['host']).toBe(`127.0.0.1:${p.port}`);
    expect(seenA.headers['x-envoy-original-path']).toBe('/a?x=1');
    expect((JSON.parse(b.body.toString()) as EchoedRequest).headers['user-agent']).toBe('h2-smoke');
    const seenPost = JSON.parse(post.body.toString()) as EchoedRequest;
    expect(seenPost.method).toBe('POST');
    expect(seenPost.bodyLength).toBe(body.length);
    expect(seenPost.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(direct.body.toString()).toBe('direct over h2');
    expect(o.requests).toHaveLength(3);
    const lines = (await log.lines(4)).sort();
    expect(lines).toEqual([
      'HTTP/2 GET /a?x=1 200 0\n',
      'HTTP/2 GET /b 200 0\n',
      'HTTP/2 GET /direct 202 0\n',
      `HTTP/2 POST /post 200 ${body.length}\n`,
    ]);
    expect(p.counter('http.e2e.downstream_cx_http2_total')).toBe(1);
    expect(p.counter('http.e2e.downstream_rq_http2_total')).toBe(4);
  });

  it('curl --http2-prior-knowledge: a GET and a POST through to the HTTP/1 origin', async () => {
    const { o, p } = await setup();
    const curl = (args: string[]): Promise<string> =>
      withTimeout(
        new Promise<string>((resolve, reject) => {
          execFile('curl', ['-sS', '--http2-prior-knowledge', '-w', '\\n%{http_version} %{http_code}', ...args], (err, out, errOut) =>
            err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
          );
        }),
        10_000,
        'curl',
      );
    const get = await curl([`http://127.0.0.1:${p.port}/curl-get?q=2`]);
    const [getBody, getStatus] = get.split('\n');
    expect(getStatus).toBe('2 200');
    expect((JSON.parse(getBody!) as EchoedRequest).url).toBe('/up/curl-get?q=2');
    const post = await curl(['--data-binary', 'posted over h2c', `http://127.0.0.1:${p.port}/curl-post`]);
    const [postBody, postStatus] = post.split('\n');
    expect(postStatus).toBe('2 200');
    const seen = JSON.parse(postBody!) as EchoedRequest;
    expect(seen.method).toBe('POST');
    expect(seen.bodyLength).toBe('posted over h2c'.length);
    expect(o.requests.map((r) => r.url)).toEqual(['/up/curl-get?q=2', '/up/curl-post']);
  });
});
