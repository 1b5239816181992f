/**
 * The socket writer's completion signals over a real 127.0.0.1 socket pair: a flush the kernel
 * takes at once reports onFlushedAtOnce; a flush left queued (the peer does not read) reports
 * onWriteComplete only once the queue drained; above the high watermark every flush reports
 * completion, so the low watermark is seen. Plain TCP sockets are written through their handle
 * (Node's Writable never holds a byte); FIN still follows the last queued byte, and a write error
 * destroys the socket with Node's error.
 */
import * as tls from 'node:tls';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { SocketWriter } from '../../../../src/network/socket-writer.js';
import { pattern, sleep, socketPair, waitFor } from '../../../support/net-helpers.js';

const dispatcher = new NodeDispatcher();
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
    dispatcher,
    limit,
    () => {
      seen.complete++;
      writer.checkLowWatermark();
    },
    (above) => seen.watermarks.push(above),
    () => seen.atOnce++,
  );
  writer.attach(accepted);
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
    expect(writer.bufferedBytes()).toBe(big.length);
    // Written through the handle: libuv queues the rest, Node's Writable holds nothing.
    expect(socket.writableLength).toBe(0);
    expect(seen.atOnce).toBe(0);
    await sleep(20);
    expect(seen.complete).toBe(0);
    peer.resume();
    await waitFor(() => seen.complete === 1, 5000, 'write completion');
    expect(writer.bufferedBytes()).toBe(0);
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

describe('SocketWriter flush timing', () => {
  it("a turn's small writes stay batched through microtasks and leave together after the I/O callbacks", async () => {
    const a = await writerOnPair(1 << 20);
    const b = await writerOnPair(1 << 20);
    a.writer.write(chain(Buffer.from('a1')));
    b.writer.write(chain(Buffer.from('b1')));
    a.writer.write(chain(Buffer.from('a2')));
    await Promise.resolve();
    await Promise.resolve();
    expect(a.writer.bufferedBytes()).toBe(4);
    expect(b.writer.bufferedBytes()).toBe(2);
    expect(a.seen.atOnce + b.seen.atOnce).toBe(0);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(a.writer.bufferedBytes()).toBe(0);
    expect(b.writer.bufferedBytes()).toBe(0);
    // One flush per writer, however many writes it had.
    expect([a.seen.atOnce, b.seen.atOnce]).toEqual([1, 1]);
    await a.peer.waitForText('a1a2');
    await b.peer.waitForText('b1');
  });

  it('16 KiB in the batch, or an explicit flush, go out at once', async () => {
    const { writer, peer, seen } = await writerOnPair(1 << 20);
    writer.write(chain(pattern(16 * 1024)));
    expect(writer.bufferedBytes()).toBe(0);
    expect(seen.atOnce).toBe(1);
    writer.write(chain(Buffer.from('x')));
    writer.flush();
    expect(writer.bufferedBytes()).toBe(0);
    expect(seen.atOnce).toBe(2);
    await peer.waitForBytes(16 * 1024 + 1);
    // The flush already scheduled for 'x' finds nothing left to send.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(seen.atOnce).toBe(2);
  });
});

describe('SocketWriter through the socket handle', () => {
  it('end() after a queued write sends FIN only after its last byte', async () => {
    const { writer, peer, socket } = await writerOnPair(0);
    peer.pause();
    const big = pattern(8 << 20, 3);
    writer.write(chain(big));
    writer.write(chain(Buffer.from('tail')));
    writer.flush();
    expect(writer.bufferedBytes()).toBe(big.length + 4);
    const finished = new Promise<void>((resolve) => socket.once('finish', resolve));
    socket.end();
    peer.resume();
    await peer.waitForEnd(5000);
    await finished;
    expect(peer.received().equals(Buffer.concat([big, Buffer.from('tail')]))).toBe(true);
  });

  it('a queued write keeps its bytes alive through garbage collection', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const { writer, peer } = await writerOnPair(0);
    peer.pause();
    const expected: Buffer[] = [];
    for (let i = 0; i < 8; i++) {
      // Two slices each: merged into a Buffer only the queued write refers to.
      const a = pattern(600 * 1024, i);
      const b = pattern(100, i + 100);
      expected.push(a, b);
      writer.write(chain(Buffer.from(a)));
      writer.write(chain(Buffer.from(b)));
      writer.flush();
    }
    expect(writer.bufferedBytes()).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) gc();
    peer.resume();
    const all = Buffer.concat(expected);
    await peer.waitForBytes(all.length, 5000);
    expect(peer.received().equals(all)).toBe(true);
  });

  it('a large batch of mixed slices leaves as one vectored write, in order', async () => {
    const { writer, peer, seen } = await writerOnPair(0);
    const parts = [Buffer.from('h1'), pattern(20000, 1), Buffer.from('h2'), Buffer.from('h3'), pattern(30000, 2)];
    for (const p of parts) writer.write(chain(p));
    writer.flush();
    const all = Buffer.concat(parts);
    await peer.waitForBytes(all.length, 5000);
    expect(peer.received().equals(all)).toBe(true);
    expect(seen.atOnce + seen.complete).toBeGreaterThanOrEqual(1);
  });

  it('a write to a reset peer destroys the socket with the write error', async () => {
    const { writer, peer, socket } = await writerOnPair(0);
    const errors: NodeJS.ErrnoException[] = [];
    socket.on('error', (e) => errors.push(e));
    peer.reset();
    await sleep(20);
    for (let i = 0; i < 4 && !socket.destroyed; i++) {
      writer.write(chain(pattern(64 * 1024)));
      writer.flush();
      await sleep(10);
    }
    await waitFor(() => socket.destroyed && errors.length === 1, 2000, 'write error');
    expect(errors[0]!.syscall).toBe('write');
    expect(['EPIPE', 'ECONNRESET']).toContain(errors[0]!.code);
    expect(errors[0]!.message).toBe(`write ${errors[0]!.code}`);
  });

  it('a TLS socket is written through socket.write() (its Writable holds what the kernel did not take)', async () => {
    const { accepted, peer } = await socketPair();
    cleanups.push(() => {
      accepted.destroy();
      peer.destroy();
    });
    const wrapped = new tls.TLSSocket(accepted);
    cleanups.push(() => wrapped.destroy());
    const writer = new SocketWriter(dispatcher, 0, () => {}, () => {}, () => {});
    writer.attach(wrapped);
    writer.write(chain(pattern(4 << 20)));
    expect(wrapped.writableLength).toBeGreaterThan(0);
  });
});
