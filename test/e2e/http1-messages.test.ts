/**
 * HTTP/1.1 message handling end to end: pipelined requests answered in order (also when the first
 * response is the slow one), and `Expect: 100-continue` answered by sluice before the body is
 * sent, checked with a raw socket and with curl.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EchoOrigin, HttpOrigin, HttpProxy, type EchoedRequest } from '../support/http-harness.js';
import { connectPeer, pattern, sleep, waitFor, withTimeout, type Peer } from '../support/net-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function proxyTo(port: number): Promise<HttpProxy> {
  const p = await HttpProxy.start({ clusters: { backend: port } });
  cleanups.push(() => p.close());
  return p;
}

async function peerTo(port: number): Promise<Peer> {
  const peer = await connectPeer(port);
  cleanups.push(() => peer.destroy());
  return peer;
}

interface ParsedResponse {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** Splits a byte stream of content-length framed responses (as sluice relays the origins' ones). */
function parseResponses(text: string): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd === -1) throw new Error(`incomplete head at ${at}: ${JSON.stringify(text.slice(at, at + 80))}`);
    const lines = text.slice(at, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0]!)![1]);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
    }
    const length = Number(headers.get('content-length') ?? '0');
    out.push({ status, headers, body: text.slice(headEnd + 4, headEnd + 4 + length) });
    at = headEnd + 4 + length;
  }
  return out;
}

describe('pipelining', () => {
  it('answers three requests sent in one write, in order, bodies intact', async () => {
    const o = await EchoOrigin.start();
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    const body = 'x'.repeat(1000);
    await peer.write(
      'GET /one HTTP/1.1\r\nhost: a\r\n\r\n' +
        `POST /two HTTP/1.1\r\nhost: a\r\ncontent-length: ${body.length}\r\n\r\n${body}` +
        'GET /three HTTP/1.1\r\nhost: a\r\n\r\n',
    );
    await waitFor(() => (peer.text().match(/HTTP\/1\.1 200 OK\r\n/g) ?? []).length === 3 && peer.text().endsWith('}'), 3000, 'three responses');
    await sleep(20);
    const responses = parseResponses(peer.text());
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    const seen = responses.map((r) => JSON.parse(r.body) as EchoedRequest);
    expect(seen.map((s) => `${s.method} ${s.url} ${s.bodyLength}`)).toEqual(['GET /one 0', 'POST /two 1000', 'GET /three 0']);
    expect(seen[1]!.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(peer.ended).toBe(false);
  });

  it('keeps the order when the first response is slow and the second origin answer is fast', async () => {
    const arrivals: string[] = [];
    const o = await HttpOrigin.start((req, res) => {
      arrivals.push(req.url!);
      const delay = req.url === '/slow' ? 300 : 0;
      setTimeout(() => {
        const b = `body of ${req.url}`;
        res.writeHead(200, { 'content-length': Buffer.byteLength(b) });
        res.end(b);
      }, delay);
    });
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    await peer.write('GET /slow HTTP/1.1\r\nhost: a\r\n\r\nGET /fast HTTP/1.1\r\nhost: a\r\n\r\nGET /fast2 HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForText('body of /fast2', 3000);
    const responses = parseResponses(peer.text());
    expect(responses.map((r) => r.body)).toEqual(['body of /slow', 'body of /fast', 'body of /fast2']);
    // sluice serves one request of a connection at a time (Envoy does the same).
    expect(arrivals).toEqual(['/slow', '/fast', '/fast2']);
  });
});

describe('expect: 100-continue', () => {
  it('a raw client gets "HTTP/1.1 100 Continue" before it sends the body, then the response', async () => {
    const o = await EchoOrigin.start();
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    await peer.write('PUT /c HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 11\r\n\r\n');
    await peer.waitForText('\r\n\r\n', 3000);
    // Nothing but the interim response, and no request at the origin yet without a body.
    await sleep(50);
    expect(peer.text()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    await peer.write('hello world');
    await peer.waitForText('"bodyLength":11', 3000);
    const rest = peer.text().slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
    const [res] = parseResponses(rest);
    expect(res!.status).toBe(200);
    const seen = JSON.parse(res!.body) as EchoedRequest;
    expect(seen.bodyLength).toBe(11);
    expect(seen.headers['expect']).toBeUndefined();
    expect(p.counter('http.e2e.downstream_rq_1xx')).toBe(1);
  });

  it('curl -H "Expect: 100-continue" --data-binary @file gets the 100 and its upload arrives intact', async () => {
    const o = await EchoOrigin.start();
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'upload.bin');
    const data = pattern(300 * 1024, 7);
    writeFileSync(file, data);
    const { stdout, stderr } = await withTimeout(
      new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        execFile(
          'curl',
          ['-sS', '-v', '--expect100-timeout', '5', '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, `http://127.0.0.1:${p.port}/curl-upload`],
          { maxBuffer: 1024 * 1024 },
          (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve({ stdout: out, stderr: errOut })),
        );
      }),
      10_000,
      'curl',
    );
    expect(stderr).toContain('< HTTP/1.1 100 Continue');
    expect(stderr).toContain('< HTTP/1.1 200 OK');
    // Within the 5 s expect timeout, curl waited for the 100 rather than timing out.
    expect(stderr).not.toMatch(/Done waiting for 100-continue/);
    const seen = JSON.parse(stdout) as EchoedRequest;
    expect(seen.method).toBe('POST');
    expect(seen.bodyLength).toBe(data.length);
    expect(seen.bodySha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(seen.headers['expect']).toBeUndefined();
  });
});

describe('upstream connection reuse', () => {
  it('reuses one upstream connection for sequential requests from different clients', async () => {
    const o = await EchoOrigin.start();
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    for (let i = 0; i < 3; i++) {
      const peer = await peerTo(p.port);
      await peer.write(`GET /seq/${i} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`);
      await peer.waitForEnd(3000);
      expect(peer.text()).toContain(`"url":"/seq/${i}"`);
    }
    expect(p.counter('cluster.backend.upstream_cx_total')).toBe(1);
    expect(p.counter('cluster.backend.upstream_rq_total')).toBe(3);
  });

  it('a keep-alive connection the origin closed while idle is not used again', async () => {
    const o = await HttpOrigin.start((req, res) => {
      req.resume();
      const b = JSON.stringify({ url: req.url });
      res.writeHead(200, { 'content-length': b.length });
      res.end(b);
    });
    cleanups.push(() => o.close());
    // node:http closes idle keep-alive connections after keepAliveTimeout (plus its 1 s grace).
    o.server.keepAliveTimeout = 100;
    const p = await proxyTo(o.port);
    const first = await peerTo(p.port);
    await first.write('GET /before HTTP/1.1\r\nhost: a\r\n\r\n');
    await first.waitForText('"url":"/before"', 3000);
    await waitFor(() => p.counter('cluster.backend.upstream_cx_destroy_remote') === 1, 3000, 'the origin to close the idle connection');
    await first.write('GET /after HTTP/1.1\r\nhost: a\r\n\r\n');
    await first.waitForText('"url":"/after"', 3000);
    expect(p.counter('cluster.backend.upstream_cx_total')).toBe(2);
    expect(p.counter('http.e2e.downstream_rq_5xx')).toBe(0);
  });

  it('an origin response with connection: close retires the upstream connection', async () => {
    let n = 0;
    const o = await HttpOrigin.start((req, res) => {
      req.resume();
      const b = `n=${n++}`;
      res.writeHead(200, { 'content-length': b.length, ...(n === 1 ? { connection: 'close' } : {}) });
      res.end(b);
    });
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    await peer.write('GET /1 HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForText('n=0', 3000);
    // The origin's connection: close is hop-by-hop: the client's connection stays open.
    expect(peer.text().toLowerCase()).not.toContain('connection: close');
    await peer.write('GET /2 HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForText('n=1', 3000);
    expect(p.counter('cluster.backend.upstream_cx_total')).toBe(2);
    expect(p.counter('cluster.backend.upstream_cx_close_notify')).toBe(1);
  });
});

describe('message framing through the proxy', () => {
  it('a pipelined request after one that says connection: close is not served', async () => {
    const o = await EchoOrigin.start();
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    await peer.write('GET /last HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\nGET /never HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForEnd(3000);
    const responses = parseResponses(peer.text());
    expect(responses).toHaveLength(1);
    expect(responses[0]!.headers.get('connection')).toBe('close');
    expect(o.requests.map((r) => r.url)).toEqual(['/last']);
  });

  it('a local reply (404) in the middle of a pipeline keeps the connection going', async () => {
    const o = await EchoOrigin.start();
    cleanups.push(() => o.close());
    const p = await HttpProxy.start({
      clusters: { backend: o.port },
      routeConfig: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/ok' }, route: { cluster: 'backend' } }] }] },
    });
    cleanups.push(() => p.close());
    const peer = await peerTo(p.port);
    await peer.write('GET /ok/1 HTTP/1.1\r\nhost: a\r\n\r\nGET /missing HTTP/1.1\r\nhost: a\r\n\r\nGET /ok/2 HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForText('"url":"/ok/2"', 3000);
    await sleep(20);
    const responses = parseResponses(peer.text());
    expect(responses.map((r) => r.status)).toEqual([200, 404, 200]);
    expect(peer.ended).toBe(false);
  });

  it('HEAD keeps the origin content-length and sends no body; the connection stays in sync', async () => {
    const o = await HttpOrigin.start((req, res) => {
      req.resume();
      const b = `body for ${req.method} ${req.url}`;
      res.writeHead(200, { 'content-length': req.method === 'HEAD' ? 1234 : Buffer.byteLength(b) });
      res.end(req.method === 'HEAD' ? undefined : b);
    });
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    await peer.write('HEAD /h HTTP/1.1\r\nhost: a\r\n\r\nGET /g HTTP/1.1\r\nhost: a\r\n\r\n');
    await peer.waitForText('body for GET /g', 3000);
    const text = peer.text();
    const firstEnd = text.indexOf('\r\n\r\n') + 4;
    expect(text.slice(0, firstEnd).toLowerCase()).toContain('\r\ncontent-length: 1234\r\n');
    // The next thing on the wire is the GET's response: no body bytes after the HEAD response.
    expect(text.slice(firstEnd)).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text.endsWith('\r\n\r\nbody for GET /g')).toBe(true);
  });

  it('204 and 304 responses have no body and keep the connection', async () => {
    const o = await HttpOrigin.start((req, res) => {
      req.resume();
      res.writeHead(req.url === '/204' ? 204 : req.url === '/304' ? 304 : 200, req.url === '/200' ? { 'content-length': 2 } : {});
      res.end(req.url === '/200' ? 'ok' : undefined);
    });
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    await peer.write('GET /204 HTTP/1.1\r\nhost: a\r\n\r\nGET /304 HTTP/1.1\r\nhost: a\r\n\r\nGET /200 HTTP/1.1\r\nhost: a\r\n\r\n');
    await waitFor(() => peer.text().endsWith('\r\n\r\nok'), 3000, 'the third response');
    const heads = peer.text().split(/(?=HTTP\/1\.1 )/);
    expect(heads.map((h) => h.slice(0, 12))).toEqual(['HTTP/1.1 204', 'HTTP/1.1 304', 'HTTP/1.1 200']);
    expect(heads[0]!.endsWith('\r\n\r\n')).toBe(true);
    expect(heads[1]!.endsWith('\r\n\r\n')).toBe(true);
    expect(heads[0]!.toLowerCase()).not.toContain('transfer-encoding');
    expect(heads[0]!.toLowerCase()).not.toContain('content-length');
  });

  it('a body delimited by the origin closing its connection reaches the client chunked and complete', async () => {
    const raw = net.createServer((socket) => {
      socket.once('data', () => {
        socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n' + 'read until close '.repeat(1000));
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => raw.close(() => resolve())));
    const p = await proxyTo((raw.address() as net.AddressInfo).port);
    const peer = await peerTo(p.port);
    await peer.write('GET /eof HTTP/1.1\r\nhost: a\r\n\r\n');
    await waitFor(() => peer.text().endsWith('\r\n0\r\n\r\n'), 3000, 'the last chunk');
    const text = peer.text();
    const head = text.slice(0, text.indexOf('\r\n\r\n') + 4).toLowerCase();
    expect(head).toContain('\r\ntransfer-encoding: chunked\r\n');
    // The client's connection is not the origin's: it stays open.
    expect(head).not.toContain('connection: close');
    const body = decodeChunked(text.slice(head.length));
    expect(body).toBe('read until close '.repeat(1000));
    expect(peer.ended).toBe(false);
  });

  it('a close-delimited body completes under a tiny downstream buffer limit (Envoy issue 9508)', async () => {
    const body = 'z'.repeat(256 * 1024);
    const raw = net.createServer((socket) => {
      socket.once('data', () => socket.end(`HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n${body}`));
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => raw.close(() => resolve())));
    const p = await HttpProxy.start({ clusters: { backend: (raw.address() as net.AddressInfo).port }, listener: { per_connection_buffer_limit_bytes: 1 } });
    cleanups.push(() => p.close());
    const peer = await peerTo(p.port);
    await peer.write('GET /small-buffers HTTP/1.1\r\nhost: a\r\n\r\n');
    await waitFor(() => peer.text().endsWith('\r\n0\r\n\r\n'), 5000, 'the whole response');
    const text = peer.text();
    expect(decodeChunked(text.slice(text.indexOf('\r\n\r\n') + 4))).toBe(body);
  });

  it('an HTTP/1.0 client gets a chunked origin body delimited by the close', async () => {
    const o = await HttpOrigin.start((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('streamed ');
      setTimeout(() => res.end('to an old client'), 20);
    });
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    await peer.write('GET /old HTTP/1.0\r\nhost: a\r\n\r\n');
    await peer.waitForEnd(3000);
    const text = peer.text();
    const head = text.slice(0, text.indexOf('\r\n\r\n') + 4).toLowerCase();
    expect(head).toMatch(/^http\/1\.0 200 ok\r\n/);
    expect(head).not.toContain('transfer-encoding');
    expect(head).not.toContain('content-length');
    expect(text.slice(head.length)).toBe('streamed to an old client');
  });

  it('a chunked origin response with trailers arrives whole and keeps the connection in sync', async () => {
    const o = await HttpOrigin.start((req, res) => {
      req.resume();
      res.writeHead(200, { trailer: 'x-checksum' });
      res.write(`part one of ${req.url} `);
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end('part two');
    });
    cleanups.push(() => o.close());
    const p = await proxyTo(o.port);
    const peer = await peerTo(p.port);
    await peer.write('GET /t1 HTTP/1.1\r\nhost: a\r\n\r\nGET /t2 HTTP/1.1\r\nhost: a\r\n\r\n');
    await waitFor(() => (peer.text().match(/part two\r\n0\r\n(?:[^\r]+\r\n)*\r\n/g) ?? []).length === 2, 3000, 'both responses');
    // (sluice forwards HTTP/1 trailers; Envoy drops them unless http_protocol_options.enable_trailers.)
    const [first, second] = peer.text().split(/(?=HTTP\/1\.1 200 OK\r\n)/);
    expect(decodeChunked(first!.slice(first!.indexOf('\r\n\r\n') + 4))).toBe('part one of /t1 part two');
    expect(decodeChunked(second!.slice(second!.indexOf('\r\n\r\n') + 4))).toBe('part one of /t2 part two');
  });
});

/** The payload of a chunked body (trailers ignored). */
function decodeChunked(s: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = s.indexOf('\r\n', at);
    const size = parseInt(s.slice(at, eol), 16);
    if (size === 0) return out;
    out += s.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

