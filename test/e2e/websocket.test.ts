/**
 * WebSocket through sluice end to end: an HTTP/1.1 Upgrade allowed by the HCM's upgrade_configs,
 * the origin's 101 relayed, then frames both ways through the tunnel (a raw-socket client with a
 * small frame codec; a node:http 'upgrade' echo origin), the close handshake, and the refusals.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogFile, HttpProxy } from '../support/http-harness.js';
import { connectPeer, LOOPBACK, sleep, waitFor, withTimeout, type Peer } from '../support/net-helpers.js';
import { acceptKey, encodeFrame, FrameReader, OPCODE, WsEchoOrigin, type Frame } from '../support/ws-frames.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function wsOrigin(options: { decline?: boolean; greeting?: string } = {}): Promise<WsEchoOrigin> {
  const o = await WsEchoOrigin.start(options);
  cleanups.push(() => o.close());
  return o;
}

async function proxy(port: number, hcm: Record<string, unknown> = { upgrade_configs: [{ upgrade_type: 'websocket' }] }): Promise<{ p: HttpProxy; log: AccessLogFile }> {
  const log = AccessLogFile.create();
  cleanups.push(() => log.remove());
  const p = await HttpProxy.start({
    clusters: { backend: port },
    hcm: { access_log: log.config('%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %REQ(:PATH)%\n'), ...hcm },
  });
  cleanups.push(() => p.close());
  return { p, log };
}

/** A raw client side of a WebSocket: the response head, then frames. */
class WsClient {
  private readonly reader = new FrameReader();
  readonly frames: Frame[] = [];
  private consumed = 0;
  head = '';

  constructor(readonly peer: Peer) {}

  /** `early` goes in the same write as the upgrade request, before any answer. */
  static async open(port: number, path: string, key = randomBytes(16).toString('base64'), early?: Buffer): Promise<WsClient> {
    const peer = await connectPeer(port);
    cleanups.push(() => peer.destroy());
    const client = new WsClient(peer);
    const head = Buffer.from(
      `GET ${path} HTTP/1.1\r\nhost: ws.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
        `sec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n\r\n`,
    );
    await peer.write(early === undefined ? head : Buffer.concat([head, early]));
    await waitFor(() => peer.received().includes('\r\n\r\n'), 3000, 'the upgrade response head');
    const all = peer.received();
    const end = all.indexOf('\r\n\r\n') + 4;
    client.head = all.subarray(0, end).toString('latin1');
    client.consumed = end;
    return client;
  }

  /** Parses what arrived since the last call. */
  poll(): Frame[] {
    const all = this.peer.received();
    if (all.length > this.consumed) {
      this.frames.push(...this.reader.push(Buffer.from(all.subarray(this.consumed))));
      this.consumed = all.length;
    }
    return this.frames;
  }

  send(opcode: number, payload: Buffer | string, fin = true): Promise<void> {
    return this.peer.write(encodeFrame(opcode, payload, true, fin));
  }

  async waitForFrames(n: number, timeoutMs = 5000): Promise<Frame[]> {
    await waitFor(() => this.poll().length >= n, timeoutMs, `${n} frames (have ${this.frames.length})`);
    return this.frames;
  }
}

function headerOf(head: string, name: string): string | undefined {
  const m = new RegExp(`\\r\\n${name}: ([^\\r]*)\\r\\n`, 'i').exec(head);
  return m?.[1];
}

describe('WebSocket through sluice', () => {
  it('upgrades, echoes text, binary, fragmented and ping frames both ways, then closes cleanly', async () => {
    const o = await wsOrigin();
    const { p, log } = await proxy(o.port);
    const key = randomBytes(16).toString('base64');
    const ws = await WsClient.open(p.port, '/chat?room=1', key);
    expect(ws.head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(headerOf(ws.head, 'upgrade')?.toLowerCase()).toBe('websocket');
    expect(headerOf(ws.head, 'connection')?.toLowerCase()).toBe('upgrade');
    expect(headerOf(ws.head, 'sec-websocket-accept')).toBe(acceptKey(key));
    // A 101 has no body framing.
    expect(headerOf(ws.head, 'transfer-encoding')).toBeUndefined();
    expect(headerOf(ws.head, 'content-length')).toBeUndefined();

    expect(o.upgrades).toHaveLength(1);
    const seen = o.upgrades[0]!;
    expect(seen.url).toBe('/chat?room=1');
    expect(seen.headers['upgrade']).toBe('websocket');
    expect(seen.headers['connection']?.toLowerCase()).toBe('upgrade');
    expect(seen.headers['sec-websocket-key']).toBe(key);
    expect(seen.headers['sec-websocket-version']).toBe('13');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['transfer-encoding']).toBeUndefined();

    const big = randomBytes(1024 * 1024);
    await ws.send(OPCODE.text, 'hello through sluice');
    await ws.send(OPCODE.binary, big);
    await ws.send(OPCODE.text, 'frag-', false);
    await ws.send(OPCODE.continuation, 'mented');
    await ws.send(OPCODE.ping, 'are you there');
    const frames = await ws.waitForFrames(5);
    expect(frames[0]).toEqual({ fin: true, opcode: OPCODE.text, payload: Buffer.from('hello through sluice') });
    expect(frames[1]!.opcode).toBe(OPCODE.binary);
    expect(frames[1]!.payload.equals(big)).toBe(true);
    expect(frames[2]).toEqual({ fin: false, opcode: OPCODE.text, payload: Buffer.from('frag-') });
    expect(frames[3]).toEqual({ fin: true, opcode: OPCODE.continuation, payload: Buffer.from('mented') });
    expect(frames[4]).toEqual({ fin: true, opcode: OPCODE.pong, payload: Buffer.from('are you there') });

    // Close handshake: the origin answers and ends its side; sluice ends the client's.
    const status = Buffer.from([0x03, 0xe8]);
    await ws.send(OPCODE.close, status);
    const all = await ws.waitForFrames(6);
    expect(all[5]).toEqual({ fin: true, opcode: OPCODE.close, payload: status });
    await ws.peer.waitForEnd(3000);
    ws.peer.end();
    const [line] = await log.lines(1);
    expect(line).toMatch(/^101 - \d+ \d+ \/chat\?room=1\n$/);
    const [, , rx, tx] = line!.trim().split(' ');
    // Everything after the head counts: what the client sent and what the origin echoed.
    expect(Number(rx)).toBeGreaterThan(big.length);
    expect(Number(tx)).toBeGreaterThan(big.length);
    expect(p.counter('http.e2e.downstream_rq_1xx')).toBe(1);
    await waitFor(() => p.gauge('http.e2e.downstream_cx_active') === 0, 3000, 'the downstream connection to close');
    await waitFor(() => p.gauge('cluster.backend.upstream_cx_active') === 0, 3000, 'the upstream connection to close');
  });

  it('node:http as the client: the upgrade event gets the socket, and frames echo', async () => {
    const o = await wsOrigin();
    const { p } = await proxy(o.port);
    const key = randomBytes(16).toString('base64');
    const { res, socket, head } = await withTimeout(
      new Promise<{ res: http.IncomingMessage; socket: Socket; head: Buffer }>((resolve, reject) => {
        const req = http.request({
          host: LOOPBACK,
          port: p.port,
          path: '/node',
          agent: false,
          headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' },
        });
        req.on('upgrade', (r, s, h) => resolve({ res: r, socket: s, head: h }));
        req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
        req.on('error', reject);
        req.end();
      }),
      3000,
      'the upgrade',
    );
    cleanups.push(() => void socket.destroy());
    expect(res.statusCode).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(acceptKey(key));
    const reader = new FrameReader();
    const frames: Frame[] = head.length > 0 ? reader.push(head) : [];
    socket.on('data', (d: Buffer) => frames.push(...reader.push(d)));
    socket.write(encodeFrame(OPCODE.text, 'from node', true));
    await waitFor(() => frames.length >= 1, 3000, 'the echo');
    expect(frames[0]!.payload.toString()).toBe('from node');
  });

  it('refuses an upgrade with 403 when upgrade_configs does not allow websocket', async () => {
    const o = await wsOrigin();
    const { p, log } = await proxy(o.port, {});
    const ws = await WsClient.open(p.port, '/nope');
    expect(ws.head).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(o.upgrades).toHaveLength(0);
    expect(p.counter('http.e2e.downstream_rq_ws_on_non_ws_route')).toBe(1);
    expect(await log.lines(1)).toEqual(['403 - 0 0 /nope\n']);
  });

  it('relays the origin declining the upgrade, and closes the connection after it', async () => {
    const o = await wsOrigin({ decline: true });
    const { p } = await proxy(o.port);
    const ws = await WsClient.open(p.port, '/declined');
    expect(ws.head).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    await ws.peer.waitForEnd(3000);
    expect(ws.peer.text().endsWith('\r\n\r\ndenied\n')).toBe(true);
    expect(o.upgrades).toHaveLength(1);
  });

  it('the client closing the tunnel closes the upstream connection', async () => {
    const o = await wsOrigin();
    const { p } = await proxy(o.port);
    const ws = await WsClient.open(p.port, '/abrupt');
    expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
    await ws.send(OPCODE.text, 'bye');
    await ws.waitForFrames(1);
    ws.peer.destroy();
    await waitFor(() => o.sockets[0]!.destroyed || o.sockets[0]!.readableEnded, 3000, 'the origin socket to close');
    await waitFor(() => p.gauge('cluster.backend.upstream_cx_active') === 0, 3000, 'the upstream connection to close');
  });

  it('carries frames sent with the upgrade request and frames sent with the 101', async () => {
    const o = await wsOrigin({ greeting: 'welcome' });
    const { p } = await proxy(o.port);
    const ws = await WsClient.open(p.port, '/early', undefined, encodeFrame(OPCODE.text, 'before the 101', true));
    expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
    const frames = await ws.waitForFrames(2);
    expect(frames.map((f) => f.payload.toString())).toEqual(['welcome', 'before the 101']);
  });

  it('a client that stops reading stalls a flooding origin; nothing piles up in sluice', async () => {
    const o = await wsOrigin();
    const { p } = await proxy(o.port);
    const ws = await WsClient.open(p.port, '/flood');
    expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
    ws.peer.pause();
    const count = 1024;
    await ws.send(OPCODE.text, `flood ${count}`);
    const frameSize = 64 * 1024 + 10;
    let maxBuffered = 0;
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, p.gauge('http.e2e.downstream_cx_tx_bytes_buffered'))), 2);
    cleanups.push(() => clearInterval(sampler));
    let last = -1;
    let since = Date.now();
    await waitFor(
      () => {
        if (o.flooded !== last) {
          last = o.flooded;
          since = Date.now();
        }
        return o.flooded > 0 && Date.now() - since >= 300;
      },
      5000,
      'the origin to stall',
    );
    // Kernel buffers on both hops and sluice's 1 MiB: far below the 64 MiB the origin wants to send.
    expect(o.flooded).toBeLessThan(24 * 1024 * 1024);
    ws.peer.resume();
    await waitFor(() => ws.peer.bytesReceived >= ws.head.length + count * frameSize, 10_000, 'every flood frame');
    clearInterval(sampler);
    const frames = ws.poll();
    expect(frames).toHaveLength(count);
    expect(frames.every((f) => f.opcode === OPCODE.binary && f.payload.length === 64 * 1024)).toBe(true);
    expect(maxBuffered).toBeGreaterThan(512 * 1024);
    expect(maxBuffered).toBeLessThanOrEqual(1024 * 1024 + 256 * 1024);
  });

  it('stream_idle_timeout: traffic keeps the tunnel open, silence closes both sides (101 SI)', async () => {
    const o = await wsOrigin();
    const { p, log } = await proxy(o.port, { upgrade_configs: [{ upgrade_type: 'websocket' }], stream_idle_timeout: '0.3s' });
    const ws = await WsClient.open(p.port, '/idle');
    expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
    // 8 round trips 100 ms apart: 800 ms, well past the idle timeout, never idle for long.
    for (let i = 0; i < 8; i++) {
      await ws.send(OPCODE.text, `tick ${i}`);
      await ws.waitForFrames(i + 1);
      await sleep(100);
    }
    expect(ws.peer.ended).toBe(false);
    const quietFrom = Date.now();
    await waitFor(() => ws.peer.ended || ws.peer.closed, 3000, 'the idle tunnel to close');
    expect(Date.now() - quietFrom).toBeGreaterThanOrEqual(150);
    await waitFor(() => o.sockets[0]!.destroyed || o.sockets[0]!.readableEnded, 3000, 'the origin side to close');
    const [line] = await log.lines(1);
    expect(line).toMatch(/^101 SI \d+ \d+ \/idle\n$/);
    expect(p.counter('http.e2e.downstream_rq_idle_timeout')).toBe(1);
  });

  it('the client half-closing the tunnel (FIN) ends it on both sides', async () => {
    const o = await wsOrigin();
    const { p } = await proxy(o.port);
    const ws = await WsClient.open(p.port, '/fin');
    expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
    await ws.send(OPCODE.text, 'last words');
    await ws.waitForFrames(1);
    ws.peer.end();
    await waitFor(() => o.sockets[0]!.destroyed || o.sockets[0]!.readableEnded, 3000, 'the origin to see the end');
    await ws.peer.waitForEnd(3000);
    await waitFor(() => p.gauge('cluster.backend.upstream_cx_active') === 0, 3000, 'the upstream connection to close');
    await waitFor(() => p.gauge('http.e2e.downstream_cx_active') === 0, 3000, 'the downstream connection to close');
  });
});

