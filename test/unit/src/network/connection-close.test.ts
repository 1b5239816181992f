import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../../src/api/logger.js';
import type { ConnectionCallbacks } from '../../../../src/api/network.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import type { ConnectionImpl } from '../../../../src/network/connection.js';
import { pattern, sleep, waitFor } from '../../../support/net-helpers.js';
import { runCleanups, serverSide } from './connection-harness.js';

afterEach(runCleanups);

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
