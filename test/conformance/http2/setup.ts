/**
 * A real sluice for the HTTP/2 conformance suite: an HTTP connection manager on 127.0.0.1:0 with
 * routes to an echoing HTTP/1 origin (`/`), an origin of large bodies (`/bytes/<n>`) and a
 * direct response (`/direct`), plus helpers the
 * section files share.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EchoOrigin, HttpProxy } from '../../support/http-harness.js';
import { LOOPBACK, pattern } from '../../support/net-helpers.js';
import { frames } from '../../support/h2-frames.js';
import type { HeaderList } from '../../../codecs/http2/hpack.js';
import { H2Peer } from './h2-peer.js';

export const DIRECT_BODY = 'direct response body for HTTP/2 conformance';

export interface Sluice {
  readonly proxy: HttpProxy;
  readonly origin: EchoOrigin;
  readonly port: number;
  /** Connects and completes the preface / SETTINGS exchange; closed after the test file. */
  peer(settings?: Parameters<typeof H2Peer.handshake>[1], f?: Parameters<typeof H2Peer.handshake>[2]): Promise<H2Peer>;
  counter(name: string): number;
  close(): Promise<void>;
}

/**
 * An origin answering `/bytes/<n>` with n octets of net-helpers' `pattern(n)` (large responses:
 * the echo origin's are small, and node limits request heads to 16 KiB).
 */
async function startBytesOrigin(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const n = Number(/^\/bytes\/(\d+)/.exec(req.url ?? '')?.[1] ?? '0');
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
      res.end(pattern(n));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function startSluice(hcm: Record<string, unknown> = {}): Promise<Sluice> {
  const origin = await EchoOrigin.start();
  const bytes = await startBytesOrigin();
  const proxy = await HttpProxy.start({
    clusters: { origin: origin.port, bytes: bytes.port },
    routeConfig: {
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { match: { prefix: '/direct' }, direct_response: { status: 200, body: { inline_string: DIRECT_BODY } } },
            { match: { prefix: '/bytes/' }, route: { cluster: 'bytes' } },
            { match: { prefix: '/' }, route: { cluster: 'origin' } },
          ],
        },
      ],
    },
    hcm,
  });
  const peers: H2Peer[] = [];
  return {
    proxy,
    origin,
    port: proxy.port,
    async peer(settings, f) {
      const p = await H2Peer.handshake(proxy.port, settings, f);
      peers.push(p);
      return p;
    },
    counter: (name) => proxy.counter(name),
    async close() {
      for (const p of peers) p.close();
      await proxy.close();
      await origin.close();
      await bytes.close();
    },
  };
}

/** A GET to the direct-response route. */
export function get(id: number, path = '/direct', headers: HeaderList = []): ReturnType<typeof frames.headers> {
  return frames.headers(id).request('GET', path, { authority: 'example.com', headers }).eos();
}

/** A POST whose body follows (no END_STREAM). */
export function post(id: number, path = '/', headers: HeaderList = []): ReturnType<typeof frames.headers> {
  return frames.headers(id).request('POST', path, { authority: 'example.com', headers });
}

/** Request header block fields with the pseudo-headers first. */
export const REQUEST: HeaderList = [[':method', 'GET'], [':scheme', 'http'], [':authority', 'example.com'], [':path', '/direct']];

/** The connection still answers: a request on `id` gets a 200. */
export async function stillWorks(peer: H2Peer, id: number): Promise<void> {
  peer.send(get(id));
  const res = await peer.response(id);
  if (res.status !== '200') throw new Error(`stream ${id}: expected 200, got ${res.frames.join(' | ')}`);
}
