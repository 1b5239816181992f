import { afterEach, describe, expect, it } from 'vitest';
import type { Counter, Gauge } from '../../../../src/api/stats.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ClientConnectionImpl } from '../../../../src/network/connection.js';
import { LOOPBACK, PeerServer, closedPort, pattern, sleep, waitFor } from '../../../support/net-helpers.js';
import { Recorder, SinkFilter, cleanups, runCleanups, serverSide } from './connection-harness.js';

afterEach(runCleanups);

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
