/**
 * The socket writer's completion signals over a real 127.0.0.1 socket pair: a flush the kernel
 * takes at once reports onFlushedAtOnce and asks Node for no write callback; a flush left queued
 * (the peer does not read) reports onWriteComplete only once the queue drained; above the high
 * watermark every flush reports completion, so the low watermark is seen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { SocketWriter } from '../../../../src/network/socket-writer.js';
import { pattern, sleep, socketPair, waitFor } from '../../../support/net-helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function writerOnPair(limit: number) {
  const { accepted, peer } = await socketPair();
  cleanups.push(() => {
    accepted.destroy();
    peer.destroy();
  });
  const seen = { complete: 0, atOnce: 0, watermarks: [] as boolean[] };
  const writer = new SocketWriter(
    limit,
    () => {
      seen.complete++;
      writer.checkLowWatermark();
    },
    (above) => seen.watermarks.push(above),
    () => seen.atOnce++,
  );
  writer.socket = accepted;
  return { writer, peer, seen, socket: accepted };
}

function chain(data: Buffer): BufferChain {
  const c = new BufferChain();
  c.add(data);
  return c;
}

describe('SocketWriter completion', () => {
  it('a small flush taken at once reports onFlushedAtOnce and leaves nothing in the socket', async () => {
    const { writer, peer, seen, socket } = await writerOnPair(1 << 20);
    writer.write(chain(Buffer.from('head')));
    writer.write(chain(Buffer.from('body')));
    writer.flush();
    expect(seen.atOnce).toBe(1);
    expect(socket.writableLength).toBe(0);
    await peer.waitForText('headbody');
    await sleep(5);
    expect(seen.complete).toBe(0);
  });

  it('a flush the kernel cannot take reports onWriteComplete once the peer has read it all', async () => {
    const { writer, peer, seen, socket } = await writerOnPair(0);
    peer.pause();
    const big = pattern(32 << 20);
    writer.write(chain(big));
    expect(socket.writableLength).toBeGreaterThan(0);
    expect(seen.atOnce).toBe(0);
    await sleep(20);
    expect(seen.complete).toBe(0);
    peer.resume();
    await waitFor(() => seen.complete === 1, 5000, 'write completion');
    expect(socket.writableLength).toBe(0);
    await peer.waitForBytes(big.length, 5000);
    expect(peer.received().equals(big)).toBe(true);
  });

  it('above the high watermark every flush reports completion and the low watermark is raised', async () => {
    const { writer, peer, seen } = await writerOnPair(64 * 1024);
    peer.pause();
    writer.write(chain(pattern(8 << 20)));
    writer.checkHighWatermark();
    expect(seen.watermarks).toEqual([true]);
    writer.write(chain(Buffer.from('tail')));
    writer.flush();
    peer.resume();
    await waitFor(() => seen.watermarks.length === 2, 5000, 'low watermark');
    expect(seen.watermarks).toEqual([true, false]);
    expect(seen.complete).toBeGreaterThanOrEqual(2);
  });
});
