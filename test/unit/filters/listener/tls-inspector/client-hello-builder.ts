/**
 * Byte builders for ClientHello tests: extensions, ClientHello bodies, handshake messages and
 * records (with any fragmentation), plus capture of a real ClientHello from node's tls.connect.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { LOOPBACK, withTimeout } from '../../../../support/net-helpers.js';

export function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

export function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

export function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

export function extension(type: number, body: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(body.length), body]);
}

/** server_name with one host_name entry (or raw entries when given). */
export function sniExtension(name: string | Buffer, nameType = 0): Buffer {
  const n = typeof name === 'string' ? Buffer.from(name, 'latin1') : name;
  const entry = Buffer.concat([u8(nameType), u16(n.length), n]);
  return extension(0, Buffer.concat([u16(entry.length), entry]));
}

export function alpnExtension(protocols: readonly string[]): Buffer {
  const list = Buffer.concat(protocols.map((p) => Buffer.concat([u8(Buffer.byteLength(p)), Buffer.from(p)])));
  return extension(16, Buffer.concat([u16(list.length), list]));
}

export interface HelloBodyOptions {
  readonly version?: number;
  readonly sessionId?: Buffer;
  readonly cipherSuites?: Buffer;
  readonly compression?: Buffer;
  /** undefined: no extensions block at all. */
  readonly extensions?: readonly Buffer[];
  /** Overrides the extensions block's length field. */
  readonly extensionsLength?: number;
}

export function helloBody(o: HelloBodyOptions = {}): Buffer {
  const sessionId = o.sessionId ?? Buffer.alloc(32, 7);
  const cipherSuites = o.cipherSuites ?? Buffer.from([0x13, 0x01, 0xc0, 0x2f]);
  const compression = o.compression ?? Buffer.from([0]);
  const parts = [
    u16(o.version ?? 0x0303),
    Buffer.alloc(32, 1),
    u8(sessionId.length),
    sessionId,
    u16(cipherSuites.length),
    cipherSuites,
    u8(compression.length),
    compression,
  ];
  if (o.extensions !== undefined) {
    const exts = Buffer.concat([...o.extensions]);
    parts.push(u16(o.extensionsLength ?? exts.length), exts);
  }
  return Buffer.concat(parts);
}

export function handshake(body: Buffer, type = 1): Buffer {
  return Buffer.concat([u8(type), u24(body.length), body]);
}

/** Wraps `payload` in records of at most `fragment` bytes. */
export function records(payload: Buffer, fragment = 16_384, type = 22, version = 0x0301): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < payload.length; i += fragment) {
    const chunk = payload.subarray(i, Math.min(payload.length, i + fragment));
    out.push(u8(type), u16(version), u16(chunk.length), chunk);
  }
  return Buffer.concat(out);
}

/** A whole synthetic ClientHello in one record. */
export function clientHello(o: HelloBodyOptions = {}): Buffer {
  return records(handshake(helloBody(o)));
}

/**
 * The first TLS record node's tls.connect sends with `options` (its ClientHello), read by a plain
 * TCP server that then closes the connection.
 */
export async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const captured = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket) => {
      let got = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
          resolve(got.subarray(0, 5 + got.readUInt16BE(3)));
          socket.destroy();
        }
      });
      socket.on('error', () => {});
    });
  });
  const client = tls.connect({ host: LOOPBACK, port, rejectUnauthorized: false, ...options });
  client.on('error', () => {});
  try {
    return await withTimeout(captured, 3000, 'a ClientHello');
  } finally {
    client.destroy();
    server.close();
  }
}
