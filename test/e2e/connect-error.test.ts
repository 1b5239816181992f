/**
 * RFC 9113 §8.5: "a proxy that detects an error with the TCP connection of a CONNECT tunnel MUST
 * send RST_STREAM with CONNECT_ERROR". When a tunnel (an extended CONNECT from an HTTP/2 client,
 * RFC 8441) is established and its upstream connection is then cut (TCP RST), sluice resets the
 * downstream stream with CONNECT_ERROR (0xa), as Envoy's doEndStream does for a CONNECT whose
 * stream carries the UC / UF response flag. A plain request whose upstream is cut the same way
 * after its response started gets NO_ERROR, and an HTTP/1.1 upgrade's connection is closed.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogFile, HttpProxy } from '../support/http-harness.js';
import { connectPeer, deferred, LOOPBACK, waitFor, withTimeout, type Peer } from '../support/net-helpers.js';
import { connectH2, protocolCluster, type Proto } from '../support/protocol-peers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/**
 * An origin that accepts every tunnel (HTTP/1.1: 101 to an Upgrade; HTTP/2: 200 to an extended
 * CONNECT), or answers a plain request with a 200 head and "partial" without ending it, and then,
 * on the first byte the client sends through (or at once for a plain request), resets its TCP
 * connection (RST).
 */
class CuttingOrigin {
  /** Connections reset so far. */
  resets = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server | http2.Http2Server,
    readonly port: number,
  ) {}

  static async start(proto: Proto): Promise<CuttingOrigin> {
    const h2 = proto === 'h2' ? http2.createServer({ settings: { enableConnectProtocol: true } }) : undefined;
    const server = h2 ?? net.createServer();
    await withTimeout(new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve)), 2000, 'origin listen');
    const origin = new CuttingOrigin(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (s: net.Socket) => {
      origin.sockets.add(s);
      s.on('close', () => origin.sockets.delete(s));
      s.on('error', () => {});
      if (h2 === undefined) origin.onH1Connection(s);
    });
    h2?.on('stream', (stream, headers) => origin.onH2Stream(stream, headers));
    return origin;
  }

  private cut(socket: net.Socket): void {
    this.resets++;
    socket.resetAndDestroy();
  }

  private onH1Connection(socket: net.Socket): void {
    let head = '';
    let tunnel = false;
    socket.on('data', (d: Buffer) => {
      if (tunnel) {
        this.cut(socket);
        return;
      }
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      if (/^upgrade:/im.test(head)) {
        tunnel = true;
        socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => this.cut(socket), 50);
    });
  }

  private onH2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const socket = [...this.sockets].find((s) => s.remotePort === stream.session?.socket.remotePort);
    if (socket === undefined) throw new Error('no socket for the h2 stream');
    stream.respond({ ':status': 200 });
    if (headers[':method'] === 'CONNECT') {
      stream.once('data', () => this.cut(socket));
      return;
    }
    stream.write('partial');
    setTimeout(() => this.cut(socket), 50);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 2000, 'origin close');
  }
}

const HCM = { http2_protocol_options: { allow_connect: true }, upgrade_configs: [{ upgrade_type: 'websocket' }] };

async function setup(up: Proto, log?: AccessLogFile): Promise<{ origin: CuttingOrigin; proxy: HttpProxy }> {
  const origin = await CuttingOrigin.start(up);
  cleanups.push(() => origin.close());
  const proxy = await HttpProxy.start({
    clusters: {},
    clusterConfigs: [protocolCluster('tunnel', origin.port, up)],
    routeConfig: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'tunnel' } }] }] },
    hcm: log === undefined ? HCM : { ...HCM, access_log: log.config('%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n') },
  });
  cleanups.push(() => proxy.close());
  return { origin, proxy };
}

/** How a client stream ended: its RST_STREAM code (0 for none or NO_ERROR) and what it received. */
interface StreamEnd {
  readonly status: number | undefined;
  readonly rstCode: number;
  readonly body: string;
}

async function runStream(port: number, headers: http2.OutgoingHttpHeaders, send: string | undefined): Promise<StreamEnd> {
  const session = await connectH2(port, {}, true);
  cleanups.push(() => void session.destroy());
  const stream = session.request(headers, { endStream: send === undefined });
  let status: number | undefined;
  let body = '';
  const closed = deferred<StreamEnd>();
  stream.on('error', () => {});
  stream.on('response', (h) => {
    status = Number(h[':status']);
    if (send !== undefined) stream.write(send);
  });
  stream.on('data', (d: Buffer) => {
    body += d.toString();
  });
  stream.on('close', () => closed.resolve({ status, rstCode: stream.rstCode ?? 0, body }));
  return withTimeout(closed.promise, 5000, 'the stream to close');
}

const extendedConnect: http2.OutgoingHttpHeaders = {
  ':method': 'CONNECT',
  ':protocol': 'websocket',
  ':scheme': 'http',
  ':path': '/tunnel',
  'sec-websocket-version': '13',
};

describe.each(['h1', 'h2'] as const)('an established tunnel whose %s upstream connection is reset', (up) => {
  it('is reset downstream with RST_STREAM CONNECT_ERROR', async () => {
    const log = AccessLogFile.create();
    cleanups.push(() => log.remove());
    const { origin, proxy } = await setup(up, log);
    const end = await runStream(proxy.port, extendedConnect, 'through the tunnel');
    expect(end.status).toBe(200);
    expect(origin.resets).toBe(1);
    expect(end.rstCode).toBe(http2.constants.NGHTTP2_CONNECT_ERROR);
    // The transport failure reason follows the reset reason (Envoy's details format).
    expect(await log.lines(1)).toEqual(['200 UC upstream_reset_after_response_started{connection_termination,read_ECONNRESET}\n']);
    expect(proxy.counter('http.e2e.downstream_rq_tx_reset')).toBe(1);
  });
});

describe.each(['h1', 'h2'] as const)('a plain request whose %s upstream connection is reset mid-response', (up) => {
  it('is reset downstream with NO_ERROR, not CONNECT_ERROR', async () => {
    const { origin, proxy } = await setup(up);
    const end = await runStream(proxy.port, { ':method': 'GET', ':path': '/plain' }, undefined);
    expect(end.status).toBe(200);
    expect(end.body).toBe('partial');
    expect(origin.resets).toBe(1);
    expect(end.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(proxy.counter('http.e2e.downstream_rq_tx_reset')).toBe(1);
  });
});

describe('an HTTP/1.1 upgrade whose upstream connection is reset', () => {
  it('closes the downstream connection', async () => {
    const { origin, proxy } = await setup('h1');
    const peer: Peer = await connectPeer(proxy.port);
    cleanups.push(() => peer.destroy());
    peer.write('GET /tunnel HTTP/1.1\r\nhost: t.example\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n\r\n');
    await waitFor(() => peer.text().includes('\r\n\r\n'), 5000, 'the 101');
    expect(peer.text()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    peer.write('through the tunnel');
    await waitFor(() => peer.ended || peer.closed, 5000, 'the downstream close');
    expect(origin.resets).toBe(1);
    expect(proxy.counter('http.e2e.downstream_rq_tx_reset')).toBe(1);
  });
});
