/**
 * WebSocket over HTTP/2 (RFC 8441) through sluice. The HCM's `http2_protocol_options.allow_connect`
 * advertises SETTINGS_ENABLE_CONNECT_PROTOCOL; an extended CONNECT (`:protocol websocket`) from a
 * node:http2 client is handled as the HTTP/1 upgrade it stands for (Envoy's
 * transformUpgradeRequestFromH2toH1): an HTTP/1.1 upstream gets `GET` with `upgrade: websocket`,
 * `connection: upgrade` and the client's `sec-websocket-*` fields, its 101 reaches the client as
 * `:status 200`, and then bytes tunnel both ways. The same through an HTTP/2 upstream (extended
 * CONNECT again), and an HTTP/1.1 client's Upgrade through an HTTP/2 upstream.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpProxy } from '../support/http-harness.js';
import { connectPeer, deferred, pattern, sleep, waitFor, withTimeout, type Peer } from '../support/net-helpers.js';
import { connectH2, protocolCluster, type Proto } from '../support/protocol-peers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const acceptFor = (key: string): string => createHash('sha1').update(key + WS_GUID).digest('base64');

/** What a WebSocket origin saw of one handshake, and how the tunnel ended on its side. */
interface Handshake {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The client (through sluice) ended its side of the tunnel. */
  ended: boolean;
  /** The tunnel's transport (socket or HTTP/2 stream) closed. */
  closed: boolean;
}

/**
 * A WebSocket origin that accepts the handshake (101 on HTTP/1.1, 200 to an extended CONNECT on
 * HTTP/2, `sec-websocket-accept` when a key was sent) and then echoes every byte. `/reject`
 * answers 403 instead; `/close-after-hello` writes "hello" and closes.
 */
class WsOrigin {
  readonly handshakes: Handshake[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly streams = new Set<http2.ServerHttp2Stream>();
  /** The tunnels' own ends (upgraded sockets, CONNECT streams), for endTunnels(). */
  private readonly tunnels: Array<{ end(): void }> = [];

  private constructor(
    private readonly server: http.Server | http2.Http2Server,
    readonly port: number,
  ) {}

  static async start(proto: Proto): Promise<WsOrigin> {
    if (proto === 'h1') {
      const server = http.createServer((_req, res) => {
        res.writeHead(426, { 'content-length': '0' });
        res.end();
      });
      const origin = await WsOrigin.listen(server);
      server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => origin.onH1Upgrade(req, socket, head));
      return origin;
    }
    const server = http2.createServer({ settings: { enableConnectProtocol: true } });
    const origin = await WsOrigin.listen(server);
    server.on('stream', (stream, headers) => origin.onH2Stream(stream, headers));
    return origin;
  }

  private static async listen(server: http.Server | http2.Http2Server): Promise<WsOrigin> {
    await withTimeout(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2000, 'ws origin listen');
    const origin = new WsOrigin(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (s: net.Socket) => {
      origin.sockets.add(s);
      s.on('close', () => origin.sockets.delete(s));
    });
    return origin;
  }

  private onH1Upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const seen: Handshake = { method: req.method!, url: req.url!, httpVersion: req.httpVersion, headers: { ...req.headers }, ended: false, closed: false };
    this.handshakes.push(seen);
    if (req.url === '/reject') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\nconnection: close\r\n\r\nno way');
      return;
    }
    const key = req.headers['sec-websocket-key'];
    const lines = ['HTTP/1.1 101 Switching Protocols', 'upgrade: websocket', 'connection: Upgrade', 'x-origin: ws-h1'];
    if (typeof key === 'string') lines.push(`sec-websocket-accept: ${acceptFor(key)}`);
    const protocol = req.headers['sec-websocket-protocol'];
    if (typeof protocol === 'string') lines.push(`sec-websocket-protocol: ${protocol.split(',')[0]!.trim()}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    this.tunnels.push(socket);
    socket.on('end', () => {
      seen.ended = true;
      socket.end();
    });
    socket.on('close', () => {
      seen.closed = true;
    });
    socket.on('error', () => {});
    if (req.url === '/close-after-hello') {
      socket.end('hello');
      return;
    }
    if (head.length > 0) socket.write(head);
    socket.on('data', (d: Buffer) => socket.write(d));
  }

  private onH2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    this.streams.add(stream);
    const seen: Handshake = { method: String(headers[':method']), url: String(headers[':path']), httpVersion: '2.0', headers: { ...headers }, ended: false, closed: false };
    this.handshakes.push(seen);
    stream.on('error', () => {});
    stream.on('close', () => {
      seen.closed = true;
      this.streams.delete(stream);
    });
    if (headers[':path'] === '/reject') {
      stream.respond({ ':status': 403, 'content-type': 'text/plain' });
      stream.end('no way');
      return;
    }
    const protocol = headers['sec-websocket-protocol'];
    stream.respond({
      ':status': 200,
      'x-origin': 'ws-h2',
      ...(typeof protocol === 'string' ? { 'sec-websocket-protocol': protocol.split(',')[0]!.trim() } : {}),
    });
    this.tunnels.push(stream);
    stream.on('end', () => {
      seen.ended = true;
      stream.end();
    });
    if (headers[':path'] === '/close-after-hello') {
      stream.end('hello');
      return;
    }
    stream.on('data', (d: Buffer) => stream.write(d));
  }

  /** Ends the origin's side of every tunnel (FIN / END_STREAM). */
  endTunnels(): void {
    for (const t of this.tunnels) t.end();
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.destroy();
    for (const s of this.sockets) s.destroy();
    await withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 2000, 'ws origin close');
  }
}

const WS_HCM = { http2_protocol_options: { allow_connect: true }, upgrade_configs: [{ upgrade_type: 'websocket' }] };

async function setup(up: Proto, hcm: Record<string, unknown> = WS_HCM): Promise<{ origin: WsOrigin; proxy: HttpProxy }> {
  const origin = await WsOrigin.start(up);
  cleanups.push(() => origin.close());
  const proxy = await HttpProxy.start({
    clusters: {},
    clusterConfigs: [protocolCluster('ws', origin.port, up)],
    routeConfig: { virtual_hosts: [{ name: 'ws', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'ws' } }] }] },
    hcm,
  });
  cleanups.push(() => proxy.close());
  return { origin, proxy };
}

/** An h2c session whose first SETTINGS from sluice arrived (SETTINGS_ENABLE_CONNECT_PROTOCOL is in it). */
async function h2Session(port: number): Promise<http2.ClientHttp2Session> {
  const session = await connectH2(port, {}, true);
  cleanups.push(() => void session.destroy());
  return session;
}

/** A tunnel opened by an extended CONNECT: its response headers and a reader of its bytes. */
interface Tunnel {
  readonly stream: http2.ClientHttp2Stream;
  readonly response: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader;
  received(): Buffer;
  readonly ended: Promise<void>;
}

async function openTunnel(session: http2.ClientHttp2Session, path: string, extra: http2.OutgoingHttpHeaders = {}): Promise<Tunnel> {
  const stream = session.request(
    { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': path, 'sec-websocket-version': '13', ...extra },
    { endStream: false },
  );
  const chunks: Buffer[] = [];
  const ended = deferred();
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => ended.resolve());
  stream.on('close', () => ended.resolve());
  stream.on('error', () => ended.resolve());
  const response = await withTimeout(
    new Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader>((resolve, reject) => {
      stream.once('response', (h) => resolve(h));
      stream.once('error', reject);
    }),
    5000,
    `extended CONNECT ${path}`,
  );
  return { stream, response, received: () => Buffer.concat(chunks), ended: ended.promise };
}

async function roundTrip(t: Tunnel, data: Buffer): Promise<void> {
  const before = t.received().length;
  t.stream.write(data);
  await waitFor(() => t.received().length >= before + data.length, 5000, `${data.length} echoed bytes`);
  expect(t.received().subarray(before).equals(data)).toBe(true);
}

describe.each(['h1', 'h2'] as const)('WebSocket over HTTP/2 downstream, %s upstream', (up) => {
  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and tunnels bytes both ways', async () => {
    const { origin, proxy } = await setup(up);
    const session = await h2Session(proxy.port);
    expect(session.remoteSettings.enableConnectProtocol).toBe(true);
    const t = await openTunnel(session, '/chat?room=1', { 'sec-websocket-protocol': 'chat, superchat', 'sec-websocket-extensions': 'permessage-deflate' });
    expect(t.response[':status']).toBe(200);
    expect(t.response['x-origin']).toBe(`ws-${up}`);
    expect(t.response['sec-websocket-protocol']).toBe('chat');
    expect(t.response['upgrade']).toBeUndefined();
    expect(t.response['connection']).toBeUndefined();
    expect(origin.handshakes).toHaveLength(1);
    const hs = origin.handshakes[0]!;
    if (up === 'h1') {
      expect(hs.method).toBe('GET');
      expect(hs.httpVersion).toBe('1.1');
      expect(hs.headers['upgrade']).toBe('websocket');
      expect(hs.headers['connection']).toBe('upgrade');
      expect(hs.headers['host']).toBe(`127.0.0.1:${proxy.port}`);
      // An RFC 8441 client sends no key, and sluice (like Envoy) makes none up.
      expect(hs.headers['sec-websocket-key']).toBeUndefined();
    } else {
      expect(hs.method).toBe('CONNECT');
      expect(hs.headers[':protocol']).toBe('websocket');
      expect(hs.headers[':scheme']).toBe('http');
      expect(hs.headers[':authority']).toBe(`127.0.0.1:${proxy.port}`);
      expect(hs.headers['content-length']).toBeUndefined();
    }
    expect(hs.url).toBe('/chat?room=1');
    expect(hs.headers['sec-websocket-version']).toBe('13');
    expect(hs.headers['sec-websocket-protocol']).toBe('chat, superchat');
    expect(hs.headers['sec-websocket-extensions']).toBe('permessage-deflate');
    expect(hs.headers[':protocol'] === undefined).toBe(up === 'h1');

    // A WebSocket text frame (FIN, opcode 1, masked "hi"), then raw bytes: the tunnel is opaque.
    const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]);
    await roundTrip(t, frame);
    await roundTrip(t, Buffer.from('second message'));
    expect(proxy.counter(`cluster.ws.upstream_cx_http${up === 'h2' ? 2 : 1}_total`)).toBe(1);
    expect(proxy.counter('http.e2e.downstream_rq_http2_total')).toBe(1);
  });

  it('moves 1 MiB each way through the tunnel (flow control)', async () => {
    const { proxy } = await setup(up);
    const session = await h2Session(proxy.port);
    const t = await openTunnel(session, '/bulk');
    expect(t.response[':status']).toBe(200);
    const big = pattern(1024 * 1024, 5);
    t.stream.write(big);
    await waitFor(() => t.received().length >= big.length, 10_000, '1 MiB echoed');
    expect(t.received().equals(big)).toBe(true);
  });

  it('ends the tunnel once both sides ended theirs', async () => {
    const { origin, proxy } = await setup(up);
    const session = await h2Session(proxy.port);
    const t = await openTunnel(session, '/chat');
    await roundTrip(t, Buffer.from('ping'));
    t.stream.end();
    if (up === 'h2') {
      // END_STREAM goes upstream as END_STREAM; the origin ends its side in turn.
      await waitFor(() => origin.handshakes[0]!.ended, 3000, 'the origin saw the end');
    } else {
      // As in Envoy, the end of an upgraded HTTP/1 request is not signalled upstream (only CONNECT
      // half-closes): a WebSocket ends with its close frames, then the origin closes.
      await sleep(100);
      expect(origin.handshakes[0]!.ended).toBe(false);
      origin.endTunnels();
    }
    await withTimeout(t.ended, 5000, 'the tunnel end');
    await waitFor(() => origin.handshakes[0]!.closed, 3000, 'the origin side closed');
    await waitFor(() => proxy.gauge('http.e2e.downstream_rq_active') === 0, 3000, 'no active stream');
    expect(proxy.counter('http.e2e.downstream_rq_2xx')).toBe(1);
  });

  it('ends the client stream when the origin closes', async () => {
    const { proxy } = await setup(up);
    const session = await h2Session(proxy.port);
    const t = await openTunnel(session, '/close-after-hello');
    expect(t.response[':status']).toBe(200);
    await withTimeout(t.ended, 5000, 'the tunnel end');
    expect(t.received().toString()).toBe('hello');
    await waitFor(() => proxy.gauge('http.e2e.downstream_rq_active') === 0, 3000, 'no active stream');
  });

  it('closes the upstream side when the client resets the stream', async () => {
    const { origin, proxy } = await setup(up);
    const session = await h2Session(proxy.port);
    const t = await openTunnel(session, '/chat');
    await roundTrip(t, Buffer.from('x'));
    t.stream.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => origin.handshakes[0]!.closed, 3000, 'the origin side closed');
    await waitFor(() => proxy.gauge('http.e2e.downstream_rq_active') === 0, 3000, 'no active stream');
  });

  it('passes an upstream refusal through as a plain response', async () => {
    const { proxy } = await setup(up);
    const session = await h2Session(proxy.port);
    const t = await openTunnel(session, '/reject');
    expect(t.response[':status']).toBe(403);
    await withTimeout(t.ended, 5000, 'the refusal body');
    expect(t.received().toString()).toBe('no way');
  });
});

describe('extended CONNECT without the configuration', () => {
  it('does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL without allow_connect', async () => {
    const { proxy } = await setup('h1', { upgrade_configs: [{ upgrade_type: 'websocket' }] });
    const session = await h2Session(proxy.port);
    expect(session.remoteSettings.enableConnectProtocol).toBe(false);
  });

  it('answers 403 when websocket is not in upgrade_configs', async () => {
    const { origin, proxy } = await setup('h1', { http2_protocol_options: { allow_connect: true } });
    const session = await h2Session(proxy.port);
    const t = await openTunnel(session, '/chat');
    expect(t.response[':status']).toBe(403);
    await withTimeout(t.ended, 5000, 'the 403');
    expect(origin.handshakes).toHaveLength(0);
    expect(proxy.counter('http.e2e.downstream_rq_ws_on_non_ws_route')).toBe(1);
  });
});

describe('an HTTP/1.1 WebSocket upgrade through an HTTP/2 upstream', () => {
  it('becomes an extended CONNECT upstream and a 101 downstream', async () => {
    const { origin, proxy } = await setup('h2');
    const peer: Peer = await connectPeer(proxy.port);
    cleanups.push(() => peer.destroy());
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    peer.write(
      `GET /chat HTTP/1.1\r\nhost: ws.example\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n\r\n`,
    );
    await waitFor(() => peer.text().includes('\r\n\r\n'), 5000, 'the 101');
    const head = peer.text().split('\r\n\r\n')[0]!;
    expect(head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(head.toLowerCase()).toContain('\r\nupgrade: websocket');
    expect(head.toLowerCase()).toMatch(/\r\nconnection: upgrade/);
    const hs = origin.handshakes[0]!;
    expect(hs.method).toBe('CONNECT');
    expect(hs.headers[':protocol']).toBe('websocket');
    expect(hs.headers[':authority']).toBe('ws.example');
    expect(hs.headers['sec-websocket-key']).toBe(key);
    expect(hs.headers['upgrade']).toBeUndefined();
    const headLength = Buffer.byteLength(head) + 4;
    peer.write('tunnelled bytes');
    await waitFor(() => peer.received().length >= headLength + 15, 5000, 'the echo');
    expect(peer.received().subarray(headLength).toString()).toBe('tunnelled bytes');
  });
});
