import { afterEach, describe, expect, it } from 'vitest';
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type { Logger } from '../../../../src/api/logger.js';
import type {
  ConnectionCallbacks,
  ConnectionEvent,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
} from '../../../../src/api/network.js';
import type { Counter, Gauge } from '../../../../src/api/stats.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ClientConnectionImpl, ConnectionImpl, type ConnectionOptions } from '../../../../src/network/connection.js';
import {
  LOOPBACK,
  type Peer,
  PeerServer,
  closedPort,
  pattern,
  sleep,
  socketPair,
  waitFor,
} from '../../../support/net-helpers.js';

/** Records data it is given; drains it unless told to hold. */
class SinkFilter implements ReadFilter {
  cb!: ReadFilterCallbacks;
  readonly calls: string[] = [];
  consumed: Buffer[] = [];
  hold = false;
  endSeen = false;
  maxSeen = 0;
  onDataHook: ((data: BufferInstance, end: boolean) => void) | undefined;

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.cb = cb;
  }
  onNewConnection(): FilterStatus {
    return 'Continue';
  }
  onData(data: BufferInstance, endStream: boolean): FilterStatus {
    this.calls.push(`${data.length}${endStream ? ':end' : ''}`);
    this.maxSeen = Math.max(this.maxSeen, data.length);
    if (endStream) this.endSeen = true;
    this.onDataHook?.(data, endStream);
    if (this.hold) return 'StopIteration';
    for (const s of data.slices()) this.consumed.push(s);
    data.drain(data.length);
    return 'Continue';
  }
  consumedBytes(): Buffer {
    return Buffer.concat(this.consumed);
  }
  consumedLength(): number {
    return this.consumed.reduce((n, b) => n + b.length, 0);
  }
}

class Recorder implements ConnectionCallbacks {
  readonly events: ConnectionEvent[] = [];
  above = 0;
  below = 0;
  onEvent(e: ConnectionEvent): void {
    this.events.push(e);
  }
  onAboveWriteBufferHighWatermark(): void {
    this.above++;
  }
  onBelowWriteBufferLowWatermark(): void {
    this.below++;
  }
  closeEvents(): ConnectionEvent[] {
    return this.events.filter((e) => e !== 'Connected');
  }
}

interface ServerSide {
  conn: ConnectionImpl;
  peer: Peer;
  rec: Recorder;
  sink: SinkFilter;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function serverSide(options: ConnectionOptions = {}): Promise<ServerSide> {
  const { accepted, peer } = await socketPair();
  const conn = new ConnectionImpl(new NodeDispatcher(), accepted, options);
  const rec = new Recorder();
  conn.addConnectionCallbacks(rec);
  const sink = new SinkFilter();
  conn.addReadFilter(sink);
  conn.initializeReadFilters();
  cleanups.push(() => {
    conn.close('NoFlush');
    peer.destroy();
  });
  return { conn, peer, rec, sink };
}

function fakeCounter(): Counter & { n: number } {
  return {
    name: 'c',
    n: 0,
    inc(v = 1) {
      this.n += v;
    },
    value() {
      return this.n;
    },
  };
}

function fakeGauge(): Gauge & { n: number } {
  return {
    name: 'g',
    n: 0,
    inc(v = 1) {
      this.n += v;
    },
    dec(v = 1) {
      this.n -= v;
    },
    set(v) {
      this.n = v;
    },
    value() {
      return this.n;
    },
  };
}

const FILL_SLICE = 65536;

/**
 * Writes 64 KiB slices to a connection whose peer does not read until at least `pending` bytes
 * wait in user space (the kernel buffers, whatever their size, are full by then); returns all
 * that was written.
 */
function fillUntilBuffered(conn: ConnectionImpl, pending: number): Buffer {
  const parts: Buffer[] = [];
  while (conn.bufferedWriteBytes() < pending && parts.length < 4096) {
    const b = pattern(FILL_SLICE, parts.length);
    parts.push(b);
    conn.write(new BufferChain(b), false);
  }
  expect(conn.bufferedWriteBytes()).toBeGreaterThanOrEqual(pending);
  return Buffer.concat(parts);
}

describe('read path', () => {
  it('delivers socket bytes to the filters and counts them', async () => {
    const { conn, peer, sink } = await serverSide();
    await peer.write('hello ');
    await peer.write('world');
    await waitFor(() => sink.consumedLength() === 11, 2000, '11 bytes');
    expect(sink.consumedBytes().toString()).toBe('hello world');
    expect(conn.stats().rxBytes).toBe(11);
    expect(conn.state()).toBe('Open');
  });

  it('readDisable is counted: two disables need two enables', async () => {
    const { conn, peer, sink } = await serverSide();
    conn.readDisable(true);
    conn.readDisable(true);
    expect(conn.readEnabled()).toBe(false);
    await peer.write('x');
    await sleep(30);
    expect(sink.consumedLength()).toBe(0);
    conn.readDisable(false);
    expect(conn.readEnabled()).toBe(false);
    await sleep(30);
    expect(sink.consumedLength()).toBe(0);
    conn.readDisable(false);
    expect(conn.readEnabled()).toBe(true);
    await waitFor(() => sink.consumedLength() === 1, 2000, 'data after the second enable');
    // An unbalanced enable does not go below zero.
    conn.readDisable(false);
    conn.readDisable(true);
    expect(conn.readEnabled()).toBe(false);
    conn.readDisable(false);
    expect(conn.readEnabled()).toBe(true);
  });

  it('data left in the read buffer is dispatched again when reading is re-enabled', async () => {
    const { conn, peer, sink } = await serverSide();
    let first = true;
    sink.onDataHook = () => {
      if (first) {
        first = false;
        sink.hold = true;
        conn.readDisable(true);
      } else {
        sink.hold = false;
      }
    };
    await peer.write('abc');
    await waitFor(() => sink.calls.length === 1, 2000, 'first delivery');
    expect(conn.readBuffer().length).toBe(3);
    await sleep(20);
    expect(sink.calls).toEqual(['3']);
    conn.readDisable(false);
    // No new socket bytes: the buffered ones are delivered by the connection itself.
    await waitFor(() => sink.calls.length === 2, 2000, 'redelivery');
    expect(sink.calls).toEqual(['3', '3']);
    expect(sink.consumedBytes().toString()).toBe('abc');
  });

  it('the read buffer limit pauses the socket while filters hold data and resumes below the low mark', async () => {
    const limit = 4096;
    const total = 1 << 20;
    const { conn, peer, sink } = await serverSide({ bufferLimit: limit });
    sink.hold = true;
    const data = pattern(total);
    void peer.write(data);
    await waitFor(() => !conn.readEnabled(), 2000, 'read disable by the watermark');
    await sleep(30);
    // Paused after the chunk that crossed the limit: at most one socket read (64 KiB) past it.
    const held = conn.readBuffer().length;
    expect(held).toBeGreaterThan(limit);
    expect(held).toBeLessThanOrEqual(limit + 65536);
    expect(conn.stats().rxBytes).toBe(held);
    sink.hold = false;
    // Draining below the low mark enables reading again; the rest flows through the filter.
    const first = conn.readBuffer().toBuffer();
    sink.consumed.push(Buffer.from(first));
    conn.readBuffer().drain(held);
    await waitFor(() => sink.consumedLength() === total, 5000, 'all bytes');
    expect(sink.consumedBytes().equals(data)).toBe(true);
    expect(conn.readEnabled()).toBe(true);
  });
});

describe('write path and watermarks', () => {
  it('raises high/low watermark callbacks once per crossing with a slow reader; buffered bytes stay bounded', async () => {
    const limit = 64 * 1024;
    const chunk = 16 * 1024;
    const { conn, peer, rec } = await serverSide({ bufferLimit: limit });
    peer.pause();
    const sent: Buffer[] = [];
    let maxBuffered = 0;
    for (let round = 1; round <= 2; round++) {
      let guard = 0;
      while (rec.above < round && guard++ < 4096) {
        const b = pattern(chunk, sent.length);
        sent.push(b);
        conn.write(new BufferChain(b), false);
        maxBuffered = Math.max(maxBuffered, conn.bufferedWriteBytes());
      }
      expect(rec.above).toBe(round);
      expect(rec.below).toBe(round - 1);
      expect(conn.aboveHighWatermark()).toBe(true);
      // The producer stopped at the callback: the buffer never held more than limit + 1 chunk.
      expect(maxBuffered).toBeLessThanOrEqual(limit + chunk);
      peer.resume();
      await waitFor(() => rec.below === round, 5000, `below low watermark (round ${round})`);
      expect(conn.aboveHighWatermark()).toBe(false);
      expect(conn.bufferedWriteBytes()).toBeLessThanOrEqual(limit / 2);
      expect(rec.above).toBe(round);
      peer.pause();
    }
    peer.resume();
    const all = Buffer.concat(sent);
    await peer.waitForBytes(all.length, 5000);
    expect(peer.received().equals(all)).toBe(true);
    expect(conn.stats().txBytes).toBe(all.length);
  });

  it('writes a multi-slice buffer in order and drains the caller buffer', async () => {
    const { conn, peer } = await serverSide();
    const b = new BufferChain();
    b.add('GET ');
    b.add('/ ');
    b.add('HTTP/1.1\r\n\r\n');
    conn.write(b, false);
    expect(b.length).toBe(0);
    await peer.waitForText('GET / HTTP/1.1\r\n\r\n');
    expect(peer.text()).toBe('GET / HTTP/1.1\r\n\r\n');
  });

  it('gathers the small writes of one turn (counted as buffered) and sends them once it returns', async () => {
    const { conn, peer } = await serverSide();
    conn.write(new BufferChain('HTTP/1.1 200 OK\r\n\r\n'), false);
    conn.write(new BufferChain('body'), false);
    expect(conn.bufferedWriteBytes()).toBe(23);
    await peer.waitForText('HTTP/1.1 200 OK\r\n\r\nbody');
    expect(peer.text()).toBe('HTTP/1.1 200 OK\r\n\r\nbody');
    expect(conn.bufferedWriteBytes()).toBe(0);
  });

  it('sends what a turn wrote before a NoFlush close or a FIN in the same turn', async () => {
    const a = await serverSide();
    a.conn.write(new BufferChain('last words'), false);
    a.conn.close('NoFlush');
    expect(a.rec.events).toEqual(['LocalClose']);
    await a.peer.waitForEnd();
    expect(a.peer.text()).toBe('last words');
    const b = await serverSide();
    b.conn.write(new BufferChain('then '), false);
    b.conn.write(new BufferChain('FIN'), true);
    await b.peer.waitForEnd();
    expect(b.peer.text()).toBe('then FIN');
  });

  it('a FlushWrite in the turn of a small write closes at once: the kernel took the bytes', async () => {
    const { conn, peer, rec } = await serverSide();
    conn.write(new BufferChain('bye'), false);
    conn.close('FlushWrite');
    expect(rec.events).toEqual(['LocalClose']);
    await peer.waitForEnd();
    expect(peer.text()).toBe('bye');
  });

  it('bumps attached stats counters and returns the buffered gauges to 0 at close', async () => {
    const { conn, peer, sink } = await serverSide({ bufferLimit: 1024 });
    const rxTotal = fakeCounter();
    const txTotal = fakeCounter();
    const rxBuffered = fakeGauge();
    const txBuffered = fakeGauge();
    conn.setStatsCounters({ rxTotal, txTotal, rxBuffered, txBuffered });
    sink.hold = true;
    await peer.write('12345');
    await waitFor(() => rxTotal.n === 5, 2000, 'rx counter');
    expect(rxBuffered.n).toBe(5);
    conn.write(new BufferChain('abc'), false);
    expect(txTotal.n).toBe(3);
    await peer.waitForText('abc');
    await waitFor(() => txBuffered.n === 0, 2000, 'tx buffered back to 0');
    conn.close('NoFlush');
    expect(rxBuffered.n).toBe(0);
    expect(txBuffered.n).toBe(0);
  });
});

describe('half-close', () => {
  it('remote FIN with half-close: endStream to the filters, our side stays writable; our FIN then closes (LocalClose)', async () => {
    const { conn, peer, rec, sink } = await serverSide();
    conn.enableHalfClose(true);
    peer.end('bye');
    await waitFor(() => sink.endSeen, 2000, 'end of stream');
    expect(sink.consumedBytes().toString()).toBe('bye');
    expect(conn.state()).toBe('Open');
    expect(conn.readEndStream()).toBe(true);
    conn.write(new BufferChain('still here'), false);
    await peer.waitForText('still here');
    conn.write(new BufferChain(), true);
    await peer.waitForEnd();
    await waitFor(() => rec.events.length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['LocalClose']);
    expect(conn.state()).toBe('Closed');
  });

  it('our FIN first: the peer can still send; its FIN then closes (RemoteClose)', async () => {
    const { conn, peer, rec, sink } = await serverSide();
    conn.enableHalfClose(true);
    conn.write(new BufferChain('last words'), true);
    await peer.waitForEnd();
    expect(peer.text()).toBe('last words');
    // Writes after end of stream are dropped (and drained from the caller's buffer).
    const late = new BufferChain('nope');
    conn.write(late, false);
    expect(late.length).toBe(0);
    await peer.write('reply');
    await waitFor(() => sink.consumedBytes().toString() === 'reply', 2000, 'reply after our FIN');
    expect(rec.events).toEqual([]);
    peer.end();
    await waitFor(() => rec.events.length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['RemoteClose']);
    await sleep(20);
    expect(peer.text()).toBe('last words');
  });

  it('without half-close a remote FIN is a RemoteClose, raised once, and filters never see endStream', async () => {
    const { conn, peer, rec, sink } = await serverSide();
    peer.end('x');
    await waitFor(() => rec.events.length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['RemoteClose']);
    expect(sink.endSeen).toBe(false);
    expect(conn.state()).toBe('Closed');
    await sleep(20);
    expect(rec.events).toEqual(['RemoteClose']);
  });
});

describe('close', () => {
  it('FlushWrite delivers every byte, then FIN, then LocalClose', async () => {
    const { conn, peer, rec } = await serverSide();
    peer.pause();
    const data = fillUntilBuffered(conn, 1 << 20);
    expect(conn.bufferedWriteBytes()).toBeGreaterThan(0);
    conn.close('FlushWrite');
    expect(conn.state()).toBe('Closing');
    expect(rec.events).toEqual([]);
    // Writes while closing are dropped.
    conn.write(new BufferChain('dropped'), false);
    await sleep(30);
    peer.resume();
    await peer.waitForEnd(5000);
    expect(peer.bytesReceived).toBe(data.length);
    expect(peer.received().equals(data)).toBe(true);
    await waitFor(() => rec.events.length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['LocalClose']);
    expect(conn.state()).toBe('Closed');
  });

  it('FlushWrite with nothing pending closes at once', async () => {
    const { conn, peer, rec } = await serverSide();
    conn.close('FlushWrite', 'done');
    expect(rec.events).toEqual(['LocalClose']);
    expect(conn.localCloseReason()).toBe('done');
    await peer.waitForEnd();
  });

  it('NoFlush drops what is not yet written and closes now', async () => {
    const { conn, peer, rec } = await serverSide();
    peer.pause();
    const total = fillUntilBuffered(conn, 1 << 20).length;
    const pending = conn.bufferedWriteBytes();
    expect(pending).toBeGreaterThan(0);
    conn.close('NoFlush');
    expect(rec.events).toEqual(['LocalClose']);
    expect(conn.state()).toBe('Closed');
    peer.resume();
    await waitFor(() => peer.ended || peer.error !== undefined, 5000, 'peer sees the close');
    // What the socket still held is lost (up to one in-flight slice may have been partly written).
    expect(peer.bytesReceived).toBeLessThanOrEqual(total - pending + FILL_SLICE);
    expect(peer.bytesReceived).toBeLessThan(total);
  });

  it('Abort resets the connection (the peer sees ECONNRESET)', async () => {
    const { conn, peer, rec } = await serverSide();
    conn.close('Abort');
    expect(rec.events).toEqual(['LocalClose']);
    await waitFor(() => peer.error !== undefined, 2000, 'reset at the peer');
    expect((peer.error as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  it('FlushWriteAndDelay: flushes, sends FIN, and closes after the timeout when the peer does not (LocalClose)', async () => {
    const { conn, peer, rec, sink } = await serverSide({ delayedCloseTimeoutMs: 150 });
    conn.write(new BufferChain('goodbye'), false);
    const start = performance.now();
    conn.close('FlushWriteAndDelay');
    expect(conn.state()).toBe('Closing');
    await peer.waitForEnd();
    expect(peer.text()).toBe('goodbye');
    // Bytes that arrive while closing are read and dropped, never given to the filters.
    await peer.write('ignored');
    await waitFor(() => rec.events.length === 1, 2000, 'delayed close');
    const elapsed = performance.now() - start;
    expect(rec.events).toEqual(['LocalClose']);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1000);
    expect(sink.consumedLength()).toBe(0);
  });

  it('FlushWriteAndDelay: the peer closing first ends the wait (RemoteClose)', async () => {
    const { conn, peer, rec } = await serverSide({ delayedCloseTimeoutMs: 5000 });
    conn.write(new BufferChain('goodbye'), false);
    const start = performance.now();
    conn.close('FlushWriteAndDelay');
    await peer.waitForEnd();
    peer.end();
    await waitFor(() => rec.events.length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['RemoteClose']);
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('FlushWriteAndDelay with a 0 timeout is a FlushWrite', async () => {
    const { conn, peer, rec } = await serverSide({ delayedCloseTimeoutMs: 0 });
    conn.write(new BufferChain('x'), false);
    conn.close('FlushWriteAndDelay');
    await peer.waitForEnd();
    await waitFor(() => rec.events.length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['LocalClose']);
  });

  it('the flush timeout closes a FlushWrite whose peer never reads', async () => {
    const { conn, peer, rec } = await serverSide({ delayedCloseTimeoutMs: 100 });
    peer.pause();
    fillUntilBuffered(conn, 1 << 20);
    conn.close('FlushWrite');
    await waitFor(() => rec.events.length === 1, 3000, 'flush timeout');
    expect(rec.events).toEqual(['LocalClose']);
  });

  it('a reset by the peer is one RemoteClose; afterwards nothing is raised and calls are harmless', async () => {
    const { conn, peer, rec } = await serverSide();
    peer.reset();
    await waitFor(() => rec.events.length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['RemoteClose']);
    conn.close('FlushWrite');
    conn.close('NoFlush');
    conn.readDisable(true);
    conn.readDisable(false);
    const b = new BufferChain('after');
    conn.write(b, false);
    expect(b.length).toBe(0);
    await sleep(20);
    expect(rec.events).toEqual(['RemoteClose']);
    expect(rec.above + rec.below).toBe(0);
  });

  it('callbacks removed during an event are skipped; the others still hear it', async () => {
    const { conn, peer } = await serverSide();
    const heard: string[] = [];
    const second: ConnectionCallbacks = {
      onEvent: () => heard.push('second'),
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    };
    const first: ConnectionCallbacks = {
      onEvent: () => {
        heard.push('first');
        conn.removeConnectionCallbacks(second);
      },
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    };
    const third: ConnectionCallbacks = { ...second, onEvent: () => heard.push('third') };
    conn.addConnectionCallbacks(first);
    conn.addConnectionCallbacks(second);
    conn.addConnectionCallbacks(third);
    peer.reset();
    await waitFor(() => heard.length >= 2, 2000, 'close event');
    expect(heard).toEqual(['first', 'third']);
  });

  it('an exception thrown by a filter is logged and closes only that connection', async () => {
    const errors: unknown[] = [];
    const logger = {
      error: (obj: object | string) => errors.push(obj),
    } as unknown as Logger;
    const { conn, peer, rec, sink } = await serverSide({ logger });
    sink.onDataHook = () => {
      throw new Error('filter bug');
    };
    await peer.write('boom');
    await waitFor(() => rec.events.length === 1, 2000, 'close after the exception');
    expect(rec.events).toEqual(['LocalClose']);
    expect(conn.localCloseReason()).toBe('unhandled_exception');
    expect(errors.length).toBe(1);
    expect(((errors[0] as { err: Error }).err).message).toBe('filter bug');
  });
});

describe('client connection', () => {
  let server: PeerServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  function client(port: number, options = {}): { conn: ClientConnectionImpl; rec: Recorder; sink: SinkFilter } {
    const conn = new ClientConnectionImpl(new NodeDispatcher(), { address: LOOPBACK, port }, options);
    const rec = new Recorder();
    conn.addConnectionCallbacks(rec);
    const sink = new SinkFilter();
    conn.addReadFilter(sink);
    conn.initializeReadFilters();
    cleanups.push(() => conn.close('NoFlush'));
    return { conn, rec, sink };
  }

  it('connects, raises Connected, flushes writes made before it, and reads', async () => {
    server = await PeerServer.start();
    const { conn, rec, sink } = client(server.port);
    conn.write(new BufferChain('early '), false);
    expect(conn.bufferedWriteBytes()).toBe(6);
    expect(conn.connecting()).toBe(true);
    conn.connect();
    const peer = await server.accepted();
    await waitFor(() => rec.events.includes('Connected'), 2000, 'Connected');
    expect(conn.connecting()).toBe(false);
    conn.write(new BufferChain('late'), false);
    await peer.waitForText('early late');
    expect(peer.text()).toBe('early late');
    await peer.write('pong');
    await waitFor(() => sink.consumedBytes().toString() === 'pong', 2000, 'reply');
    expect(conn.remoteAddress()).toEqual({ address: LOOPBACK, port: server.port, family: 'IPv4' });
    expect(conn.localAddress().port).toBe(peer.socket.remotePort);
    expect(conn.localAddress().address).toBe(LOOPBACK);
    expect(conn.ssl()).toBe(false);
    expect(conn.nextProtocol()).toBe('');
    peer.end();
    await waitFor(() => rec.closeEvents().length === 1, 2000, 'remote close');
    expect(rec.events).toEqual(['Connected', 'RemoteClose']);
  });

  it('connect failure to a closed port: RemoteClose with the reason, no Connected', async () => {
    const port = await closedPort();
    const { conn, rec } = client(port);
    conn.connect();
    await waitFor(() => rec.events.length === 1, 2000, 'failure');
    expect(rec.events).toEqual(['RemoteClose']);
    expect(conn.transportFailureReason()).toContain('ECONNREFUSED');
    expect(conn.connecting()).toBe(false);
    expect(conn.state()).toBe('Closed');
  });

  it('a malformed address fails asynchronously with RemoteClose', async () => {
    const { conn, rec } = client(70000);
    conn.connect();
    expect(rec.events).toEqual([]);
    await waitFor(() => rec.events.length === 1, 2000, 'failure');
    expect(rec.events).toEqual(['RemoteClose']);
    expect(conn.transportFailureReason()).not.toBe('');
  });

  it('close before connect() is an immediate LocalClose; connect() afterwards does nothing', async () => {
    server = await PeerServer.start();
    const { conn, rec } = client(server.port);
    conn.close('FlushWrite');
    expect(rec.events).toEqual(['LocalClose']);
    conn.connect();
    await sleep(30);
    expect(server.peers.length).toBe(0);
  });

  it('FlushWrite while connecting sends the held bytes once connected, then FIN', async () => {
    server = await PeerServer.start();
    const { conn, rec } = client(server.port);
    conn.connect();
    conn.write(new BufferChain('queued'), false);
    conn.close('FlushWrite');
    expect(conn.state()).toBe('Closing');
    const peer = await server.accepted();
    await peer.waitForEnd();
    expect(peer.text()).toBe('queued');
    await waitFor(() => rec.closeEvents().length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['Connected', 'LocalClose']);
  });

  it('bytes held before connecting count toward the write watermark', async () => {
    server = await PeerServer.start();
    const { conn, rec } = client(server.port, { bufferLimit: 8 });
    conn.write(new BufferChain('0123456789'), false);
    expect(rec.above).toBe(1);
    conn.connect();
    const peer = await server.accepted();
    await peer.waitForText('0123456789');
    await waitFor(() => rec.below === 1, 2000, 'below low after the flush');
  });

  it('round-trips through an echo peer with half-close', async () => {
    server = await PeerServer.start();
    const { conn, rec, sink } = client(server.port);
    conn.enableHalfClose(true);
    conn.connect();
    const peer = await server.accepted();
    peer.socket.pipe(peer.socket);
    const data = pattern(300_000);
    conn.write(new BufferChain(data), true);
    await waitFor(() => sink.endSeen, 5000, 'echoed end of stream');
    expect(sink.consumedBytes().equals(data)).toBe(true);
    await waitFor(() => rec.closeEvents().length === 1, 2000, 'close event');
    expect(rec.events).toEqual(['Connected', 'RemoteClose']);
  });
});
