/**
 * Real-socket helpers for tests: a raw TCP peer that records what it receives, test servers that
 * hand out their accepted sockets as peers, an echo server, a port nobody listens on, and waits
 * that always have a timeout. Everything binds 127.0.0.1 on port 0.
 */
import * as net from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** Rejects with `what` in the message if `p` does not settle within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Polls `cond` every millisecond until it holds; rejects after `timeoutMs`. */
export function waitFor(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = (): void => {
      let ok: boolean;
      try {
        ok = cond();
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (ok) resolve();
      else if (Date.now() >= deadline) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
  reject(e: Error): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Deterministic bytes (a repeating 0..250 ramp offset by `seed`) so corruption is visible. */
export function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i + seed) % 251;
  return b;
}

/**
 * One side of a raw TCP connection, recording everything: received bytes, the peer's FIN
 * ('end'), errors and 'close'. Half-open by default, so receiving a FIN does not end our side.
 */
export class Peer {
  private readonly chunks: Buffer[] = [];
  private receivedBytes = 0;
  private endSeen = false;
  private closeSeen = false;
  private errorSeen: Error | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.receivedBytes += c.length;
    });
    socket.on('end', () => {
      this.endSeen = true;
    });
    socket.on('error', (e) => {
      this.errorSeen = e;
    });
    socket.on('close', () => {
      this.closeSeen = true;
    });
  }

  /** Bytes received so far. */
  get bytesReceived(): number {
    return this.receivedBytes;
  }

  /** Everything received so far, as one Buffer. */
  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  text(): string {
    return this.received().toString('latin1');
  }

  /** The peer sent FIN. */
  get ended(): boolean {
    return this.endSeen;
  }

  get closed(): boolean {
    return this.closeSeen;
  }

  get error(): Error | undefined {
    return this.errorSeen;
  }

  /** Resolves once the write is handed to the kernel. */
  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Sends FIN (after `data`, if given); our read side stays open. */
  end(data?: Buffer | string): void {
    if (data !== undefined) this.socket.end(data);
    else this.socket.end();
  }

  /** Stops reading: the kernel buffers fill and the other side sees backpressure. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Closes with RST. */
  reset(): void {
    this.socket.resetAndDestroy();
  }

  waitForBytes(n: number, timeoutMs = 2000): Promise<void> {
    return waitFor(() => this.receivedBytes >= n, timeoutMs, `${n} bytes (have ${this.receivedBytes})`);
  }

  waitForText(text: string, timeoutMs = 2000): Promise<void> {
    return waitFor(() => this.text().includes(text), timeoutMs, `text ${JSON.stringify(text)}`);
  }

  waitForEnd(timeoutMs = 2000): Promise<void> {
    return waitFor(() => this.endSeen, timeoutMs, 'FIN from the other side');
  }

  waitForClose(timeoutMs = 2000): Promise<void> {
    return waitFor(() => this.closeSeen, timeoutMs, 'socket close');
  }
}

export interface ConnectOptions {
  /** Default true: a FIN received does not end our side. */
  readonly allowHalfOpen?: boolean;
  readonly timeoutMs?: number;
}

/** Connects a Peer to 127.0.0.1:`port`. */
export function connectPeer(port: number, options: ConnectOptions = {}): Promise<Peer> {
  const socket = net.connect({ host: LOOPBACK, port, allowHalfOpen: options.allowHalfOpen ?? true });
  const peer = new Peer(socket);
  const connected = new Promise<Peer>((resolve, reject) => {
    socket.once('connect', () => resolve(peer));
    socket.once('error', reject);
  });
  return withTimeout(connected, options.timeoutMs ?? 2000, `connect to ${port}`);
}

/** A server on 127.0.0.1:0 that wraps each accepted socket in a Peer, in accept order. */
export class PeerServer {
  readonly peers: Peer[] = [];
  private waiters: Array<(p: Peer) => void> = [];
  private nextIndex = 0;

  private constructor(
    readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(options: { allowHalfOpen?: boolean } = {}): Promise<PeerServer> {
    const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? true });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, LOOPBACK, () => resolve());
      }),
      2000,
      'test server listen',
    );
    const port = (server.address() as net.AddressInfo).port;
    const ps = new PeerServer(server, port);
    server.on('connection', (socket) => {
      const peer = new Peer(socket);
      ps.peers.push(peer);
      const w = ps.waiters.shift();
      if (w !== undefined) {
        ps.nextIndex++;
        w(peer);
      }
    });
    return ps;
  }

  /** The next accepted peer not yet returned by accepted(). */
  accepted(timeoutMs = 2000): Promise<Peer> {
    if (this.nextIndex < this.peers.length) return Promise.resolve(this.peers[this.nextIndex++]!);
    return withTimeout(new Promise<Peer>((resolve) => this.waiters.push(resolve)), timeoutMs, 'an accepted connection');
  }

  /** Destroys every accepted socket and stops listening. */
  close(): Promise<void> {
    for (const p of this.peers) p.destroy();
    return withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 2000, 'test server close');
  }
}

/** An echo server on 127.0.0.1:0; it ends its side when the client ends. */
export class EchoServer {
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<EchoServer> {
    const server = net.createServer({ allowHalfOpen: true });
    const es = await withTimeout(
      new Promise<EchoServer>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, LOOPBACK, () => resolve(new EchoServer(server, (server.address() as net.AddressInfo).port)));
      }),
      2000,
      'echo server listen',
    );
    server.on('connection', (socket) => {
      es.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => es.sockets.delete(socket));
      socket.pipe(socket);
    });
    return es;
  }

  get connections(): number {
    return this.sockets.size;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 2000, 'echo server close');
  }
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SocketPair {
  /** The accepted side, paused and half-open, not yet read: hand it to the code under test. */
  readonly accepted: net.Socket;
  /** The connecting side, recording what it receives. */
  readonly peer: Peer;
}

/** A connected TCP pair on 127.0.0.1 (the listening socket is closed once it accepted). */
export async function socketPair(): Promise<SocketPair> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const acceptedP = withTimeout(
    new Promise<net.Socket>((resolve) => server.once('connection', resolve)),
    2000,
    'accept in socketPair',
  );
  const peer = await connectPeer(port);
  const accepted = await acceptedP;
  server.close();
  return { accepted, peer };
}
