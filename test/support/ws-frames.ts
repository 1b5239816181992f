/**
 * A tiny WebSocket (RFC 6455) frame codec and echo origin for tests: enough to open a connection
 * through a proxy with node:http's 'upgrade' event on the origin side and a raw socket on the
 * client side, and to check that frames cross both ways byte for byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { LOOPBACK, withTimeout } from './net-helpers.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** RFC 6455 §4.2.2: the Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** One frame; masked (with a random key) as a client must send it, unmasked as a server does. */
export function encodeFrame(opcode: number, payload: Buffer | string, masked: boolean, fin = true): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = data.length;
  const lenBytes = n < 126 ? 0 : n < 0x10000 ? 2 : 8;
  const head = Buffer.alloc(2 + lenBytes + (masked ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (masked ? 0x80 : 0) | (n < 126 ? n : n < 0x10000 ? 126 : 127);
  if (lenBytes === 2) head.writeUInt16BE(n, 2);
  else if (lenBytes === 8) head.writeBigUInt64BE(BigInt(n), 2);
  if (!masked) return Buffer.concat([head, data]);
  const mask = randomBytes(4);
  mask.copy(head, 2 + lenBytes);
  const body = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) body[i] = data[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, body]);
}

/** Incremental frame parser: push bytes, take whole frames (masked or not). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(data: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const out: Frame[] = [];
    for (;;) {
      const f = this.next();
      if (f === undefined) return out;
      out.push(f);
    }
  }

  private next(): Frame | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    const masked = (b[1]! & 0x80) !== 0;
    let n = b[1]! & 0x7f;
    let at = 2;
    if (n === 126) {
      if (b.length < 4) return undefined;
      n = b.readUInt16BE(2);
      at = 4;
    } else if (n === 127) {
      if (b.length < 10) return undefined;
      n = Number(b.readBigUInt64BE(2));
      at = 10;
    }
    const maskAt = at;
    if (masked) at += 4;
    if (b.length < at + n) return undefined;
    const payload = Buffer.from(b.subarray(at, at + n));
    if (masked) for (let i = 0; i < n; i++) payload[i] = payload[i]! ^ b[maskAt + (i & 3)]!;
    this.buf = b.subarray(at + n);
    return { fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, payload };
  }
}

/** What the echo origin saw of one upgrade. */
export interface SeenUpgrade {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

/**
 * A WebSocket echo origin: answers an upgrade with 101 and echoes every data frame, answers ping
 * with pong and close with close (then ends its side). Plain requests get 426. Options: `decline`
 * answers the upgrade with a 403; `greeting` is a text frame sent in the same write as the 101. A
 * text frame `flood <n>` makes it send n binary frames of 64 KiB, as fast as its socket takes them
 * (`flooded` counts the bytes handed to the socket).
 */
export class WsEchoOrigin {
  readonly upgrades: SeenUpgrade[] = [];
  readonly sockets: Socket[] = [];
  /** Bytes of flood frames the socket accepted so far. */
  flooded = 0;

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(options: { decline?: boolean; greeting?: string } = {}): Promise<WsEchoOrigin> {
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(426, { 'content-type': 'text/plain', 'content-length': '17' });
      res.end('upgrade required\n');
    });
    await withTimeout(new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve)), 2000, 'ws origin listen');
    const origin = new WsEchoOrigin(server, (server.address() as AddressInfo).port);
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      origin.upgrades.push({ url: req.url!, headers: req.headers });
      origin.sockets.push(socket);
      socket.on('error', () => {});
      if (options.decline === true) {
        socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\ndenied\n');
        return;
      }
      const key = String(req.headers['sec-websocket-key']);
      const head101 = Buffer.from(
        'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' + `sec-websocket-accept: ${acceptKey(key)}\r\n\r\n`,
      );
      socket.write(options.greeting === undefined ? head101 : Buffer.concat([head101, encodeFrame(OPCODE.text, options.greeting, false)]));
      const flood = (count: number): void => {
        const frame = encodeFrame(OPCODE.binary, Buffer.alloc(64 * 1024, 0x5a), false);
        let sent = 0;
        const pump = (): void => {
          while (sent < count) {
            sent++;
            origin.flooded += frame.length;
            if (!socket.write(frame)) {
              socket.once('drain', pump);
              return;
            }
          }
        };
        pump();
      };
      const reader = new FrameReader();
      const onData = (data: Buffer): void => {
        for (const f of reader.push(data)) {
          if (f.opcode === OPCODE.close) {
            socket.end(encodeFrame(OPCODE.close, f.payload, false));
            return;
          }
          const text = f.opcode === OPCODE.text ? f.payload.toString() : '';
          if (text.startsWith('flood ')) flood(Number(text.slice(6)));
          else if (f.opcode === OPCODE.ping) socket.write(encodeFrame(OPCODE.pong, f.payload, false));
          else socket.write(encodeFrame(f.opcode, f.payload, false, f.fin));
        }
      };
      if (head.length > 0) onData(head);
      socket.on('data', onData);
    });
    return origin;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    return withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 2000, 'ws origin close');
  }
}
