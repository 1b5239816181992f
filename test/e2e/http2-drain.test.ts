/**
 * Server drain with HTTP/2 clients (Server.drain(), what SIGTERM starts): sluice sends the
 * graceful GOAWAY (last-stream-id 2^31-1) and a PING, then, once the PING is acknowledged, the
 * final GOAWAY naming the last stream it will process. Streams in flight finish (a slow request
 * started before the drain completes with 200 after it), a stream opened between the two GOAWAYs
 * is still served, a stream opened after the final one is not processed, and the connection
 * closes once its streams are done.
 */
import type * as http from 'node:http';
import * as http2 from 'node:http2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { frames, summarize } from '../support/h2-frames.js';
import type { DecodedItem } from '../support/h2-frames.js';
import { HttpOrigin, HttpProxy } from '../support/http-harness.js';
import { deferred, LOOPBACK, sleep, waitFor, withTimeout } from '../support/net-helpers.js';
import type { Deferred } from '../support/net-helpers.js';
import { H2Peer } from '../conformance/http2/h2-peer.js';

const MAX_STREAM_ID = 2 ** 31 - 1;

let origin: HttpOrigin;
let proxy: HttpProxy;
/** Paths the origin received, in order. */
let seen: string[];
/** /slow answers when this resolves. */
let release: Deferred<void>;

beforeEach(async () => {
  seen = [];
  release = deferred();
  origin = await HttpOrigin.start((req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push(req.url ?? '');
    req.resume();
    const answer = (): void => {
      const body = `done ${req.url}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.url === '/slow') void release.promise.then(answer);
    else answer();
  });
  proxy = await HttpProxy.start({ clusters: { origin: origin.port }, hcm: { drain_timeout: '0.2s' } });
});

afterEach(async () => {
  release.resolve();
  await proxy.close();
  await origin.close();
});

function isGoAway(i: DecodedItem): boolean {
  return 'type' in i && i.type === 'GOAWAY';
}

describe('HTTP/2 drain, frame by frame (scripted client)', () => {
  it('GOAWAY 2^31-1 + PING, then the final GOAWAY; in-flight and in-between streams finish, later ones are not processed', async () => {
    const peer = await H2Peer.handshake(proxy.port);
    try {
      peer.send(frames.headers(1).request('GET', '/slow', { authority: 'drain.test' }).eos());
      await waitFor(() => seen.includes('/slow'), 2000, 'the slow request at the origin');

      const drained = proxy.server.drain();
      expect(await peer.goAway()).toBe(`GOAWAY 0 last=${MAX_STREAM_ID} code=0`);
      const ping = (await peer.frame('PING', 0)) as { ack: boolean; opaqueData: Buffer };
      expect(ping.ack).toBe(false);

      // Before the client acknowledges the notice it may still open streams: they are served.
      peer.send(frames.headers(3).request('GET', '/between', { authority: 'drain.test' }).eos());
      const between = await peer.response(3);
      expect(between.status).toBe('200');
      expect(between.body.toString()).toBe('done /between');

      peer.send(frames.ping(ping.opaqueData).ack());
      expect(await peer.goAway()).toBe('GOAWAY 0 last=3 code=0');

      // Past the final GOAWAY: not processed (RFC 9113 §6.8), never reaches the origin.
      peer.send(frames.headers(5).request('GET', '/after', { authority: 'drain.test' }).eos());
      await sleep(200);
      expect(seen).toEqual(['/slow', '/between']);
      expect(peer.pending().filter((s) => / 5( |$)/.test(s))).toEqual([]);

      // The request in flight when the drain started completes normally.
      release.resolve();
      const slow = await peer.response(1);
      expect(slow.status).toBe('200');
      expect(slow.body.toString()).toBe('done /slow');

      // Then the connection closes, without any other GOAWAY.
      await peer.closed(3000);
      expect(peer.received.filter(isGoAway).map(summarize)).toEqual([`GOAWAY 0 last=${MAX_STREAM_ID} code=0`, 'GOAWAY 0 last=3 code=0']);
      await withTimeout(drained, 3000, 'drain');
      expect(proxy.counter('http2.goaway_graceful_sent')).toBe(1);
      expect(proxy.counter('http.e2e.downstream_cx_drain_close')).toBe(1);
      expect(proxy.counter('http.e2e.downstream_rq_2xx')).toBe(2);
    } finally {
      peer.close();
    }
  });
});

describe("HTTP/2 drain with Node's http2 client", () => {
  it('the slow request started before the drain completes with 200; the client learns the last stream and stops', async () => {
    const session = http2.connect(`http://${LOOPBACK}:${proxy.port}`);
    session.on('error', () => {});
    const goaways: Array<{ code: number; last: number }> = [];
    session.on('goaway', (code, last) => goaways.push({ code, last }));
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    try {
      const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ':method': 'GET', ':path': '/slow', ':authority': 'drain.test' });
        let status = 0;
        let body = '';
        req.on('response', (h) => (status = Number(h[':status'])));
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
        req.end();
      });
      await waitFor(() => seen.includes('/slow'), 2000, 'the slow request at the origin');
      const drained = proxy.server.drain();
      await waitFor(() => goaways.length > 0, 2000, 'GOAWAY at the client');
      // No new stream once the server said GOAWAY (Node refuses it on the client side).
      expect(() => session.request({ ':path': '/after' })).toThrow(/GOAWAY/i);
      await sleep(100);
      release.resolve();
      expect(await withTimeout(reply, 3000, 'slow reply')).toEqual({ status: 200, body: 'done /slow' });
      await withTimeout(closed, 3000, 'session close');
      await withTimeout(drained, 3000, 'drain');
      expect(goaways[0]).toEqual({ code: http2.constants.NGHTTP2_NO_ERROR, last: MAX_STREAM_ID });
      // Node acknowledged the PING: the final GOAWAY names stream 1.
      expect(goaways.at(-1)).toEqual({ code: http2.constants.NGHTTP2_NO_ERROR, last: 1 });
      expect(seen).toEqual(['/slow']);
    } finally {
      session.destroy();
    }
  });
});
