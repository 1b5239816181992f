/**
 * `http2_protocol_options.connection_keepalive` through a real sluice, with small values
 * (interval 100 ms, timeout 100 ms, no jitter): downstream, a scripted h2c client that never
 * acknowledges PINGs is closed after interval + timeout while one that does stays connected;
 * upstream, a scripted h2c origin that never acknowledges them loses its connection the same way,
 * and the next request opens a new one.
 */
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { frames, H2FrameDecoder } from '../support/h2-frames.js';
import type { DecodedItem } from '../support/h2-frames.js';
import { HttpProxy, request } from '../support/http-harness.js';
import { LOOPBACK, waitFor, withTimeout } from '../support/net-helpers.js';
import { H2Peer } from '../conformance/http2/h2-peer.js';

const KEEPALIVE = { interval: '0.1s', timeout: '0.1s', interval_jitter: { value: 0 } };
const DIRECT = {
  virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok' } } }] }],
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function isPing(i: DecodedItem): boolean {
  return 'type' in i && i.type === 'PING' && !i.ack;
}

describe('connection_keepalive downstream (HTTP connection manager)', () => {
  async function proxy(): Promise<HttpProxy> {
    const p = await HttpProxy.start({
      clusters: { unused: 1 },
      routeConfig: DIRECT,
      hcm: { codec_type: 'HTTP2', http2_protocol_options: { connection_keepalive: KEEPALIVE } },
    });
    cleanups.push(() => p.close());
    return p;
  }

  it('closes a client that never acknowledges the PING after interval + timeout', async () => {
    const p = await proxy();
    const start = performance.now();
    const peer = await H2Peer.handshake(p.port);
    cleanups.push(() => peer.close());
    await peer.waitFor(isPing, 'keepalive PING', 2000);
    const pingAt = performance.now() - start;
    await peer.closed(2000);
    const closedAt = performance.now() - start;
    // Timers fire no earlier than asked; the upper bounds leave room for a busy machine.
    expect(pingAt).toBeGreaterThanOrEqual(95);
    expect(closedAt).toBeGreaterThanOrEqual(195);
    expect(closedAt).toBeLessThan(1500);
    // Closed without a GOAWAY (NoFlush), exactly one PING sent.
    expect(peer.received.filter(isPing)).toHaveLength(1);
    expect(peer.received.some((i) => 'type' in i && i.type === 'GOAWAY')).toBe(false);
    await waitFor(() => p.counter('http2.keepalive_timeout') === 1, 2000, 'http2.keepalive_timeout');
  });

  it('keeps a client that acknowledges every PING, and serves it', async () => {
    const p = await proxy();
    const peer = await H2Peer.handshake(p.port);
    cleanups.push(() => peer.close());
    for (let i = 0; i < 4; i++) {
      const ping = await peer.waitFor(isPing, `PING ${i + 1}`, 2000);
      peer.send(frames.ping((ping as { opaqueData: Buffer }).opaqueData).ack());
    }
    expect(peer.isClosed).toBe(false);
    peer.send(frames.headers(1).request('GET', '/', { authority: 'example.com' }).eos());
    expect((await peer.response(1)).status).toBe('200');
    expect(p.counter('http2.keepalive_timeout')).toBe(0);
  });
});

/** An h2c origin that answers every request with 200 and never acknowledges a PING. */
class DeafOrigin {
  readonly sockets: net.Socket[] = [];
  closedConnections = 0;
  pingsSeen = 0;

  private constructor(readonly server: net.Server, readonly port: number) {}

  static async start(): Promise<DeafOrigin> {
    let origin: DeafOrigin | undefined;
    const server = net.createServer((socket) => origin!.serve(socket));
    await withTimeout(new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve)), 2000, 'origin listen');
    origin = new DeafOrigin(server, (server.address() as net.AddressInfo).port);
    return origin;
  }

  private serve(socket: net.Socket): void {
    this.sockets.push(socket);
    const decoder = new H2FrameDecoder({ expectClientPreface: true });
    socket.write(frames.settings().toBuffer());
    socket.on('data', (chunk: Buffer) => {
      for (const item of decoder.push(chunk)) {
        if (!('type' in item)) continue;
        if (item.type === 'SETTINGS' && !item.ack) socket.write(frames.settingsAck());
        else if (item.type === 'PING' && !item.ack) this.pingsSeen++;
        else if (item.type === 'HEADERS' && item.endStream) {
          socket.write(frames.headers(item.streamId).response(200, [['content-length', '2']]).toBuffer());
          socket.write(frames.data(item.streamId, 'up').eos().toBuffer());
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.closedConnections++);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 2000, 'origin close');
  }
}

describe('connection_keepalive upstream (cluster http2_protocol_options)', () => {
  it('closes an upstream connection whose PINGs go unanswered; the next request uses a new one', async () => {
    const origin = await DeafOrigin.start();
    cleanups.push(() => origin.close());
    const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
    const p = await HttpProxy.start({
      clusters: {},
      routeConfig: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'deaf' } }] }] },
      clusterConfigs: [
        {
          name: 'deaf',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'deaf', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: LOOPBACK, port_value: origin.port } } } }] }] },
          typed_extension_protocol_options: {
            [HPO]: { '@type': `type.googleapis.com/${HPO}`, explicit_http_config: { http2_protocol_options: { connection_keepalive: KEEPALIVE } } },
          },
        },
      ],
    });
    cleanups.push(() => p.close());
    const first = await request(p.port, { path: '/a' });
    expect(first.status).toBe(200);
    expect(first.body.toString()).toBe('up');
    await waitFor(() => origin.closedConnections === 1, 2000, 'upstream connection closed by keepalive');
    expect(origin.pingsSeen).toBe(1);
    expect(p.counter('cluster.deaf.http2.keepalive_timeout')).toBe(1);
    const second = await request(p.port, { path: '/b' });
    expect(second.status).toBe(200);
    expect(origin.sockets).toHaveLength(2);
  });
});
