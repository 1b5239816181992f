/**
 * Reads through the shared user buffer (socket-read-buffer.ts) over real 127.0.0.1 sockets: the
 * fast path engages on this Node for accepted and connected sockets, every chunk handed out stays
 * intact while later reads of any socket reuse the buffer, pause/resume and 'end' still work, and
 * sockets it cannot serve (TLS, data already in the stream) are refused so 'data' is used.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { readIntoSharedBuffer } from '../../../../src/network/socket-read-buffer.js';
import { LOOPBACK, type Peer, pattern, sleep, socketPair, waitFor, withTimeout } from '../../../support/net-helpers.js';
import { createTestPki } from '../../../support/tls-certs.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, () => resolve()));
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** An accepted socket reading through the shared buffer into `got`, and its connected peer. */
async function readingPair(): Promise<{ peer: Peer; got: Buffer[] }> {
  const { accepted, peer } = await socketPair();
  cleanups.push(() => {
    accepted.destroy();
    peer.destroy();
  });
  const got: Buffer[] = [];
  expect(readIntoSharedBuffer(accepted, (c) => got.push(c))).toBe(true);
  accepted.resume();
  return { peer, got };
}

describe('readIntoSharedBuffer', () => {
  it('serves accepted sockets: chunks stay intact while two sockets keep reading into the one buffer', async () => {
    const { peer: a, got: gotA } = await readingPair();
    const { peer: b, got: gotB } = await readingPair();
    const dataA = pattern(300_000, 1);
    const dataB = pattern(300_000, 2);
    // Interleaved writes, so reads of the two sockets alternate on the shared buffer.
    for (let off = 0; off < dataA.length; off += 30_000) {
      void a.write(dataA.subarray(off, off + 30_000));
      void b.write(dataB.subarray(off, off + 30_000));
      await sleep(1);
    }
    await waitFor(() => total(gotA) === dataA.length && total(gotB) === dataB.length, 5000, 'all bytes');
    expect(Buffer.concat(gotA).equals(dataA)).toBe(true);
    expect(Buffer.concat(gotB).equals(dataB)).toBe(true);
    expect(gotA.length).toBeGreaterThan(1);
  });

  it('a bulk transfer (reads of 32 KiB and more) stays intact beside small reads of another socket', async () => {
    const { peer: bulk, got: gotBulk } = await readingPair();
    const { peer: small, got: gotSmall } = await readingPair();
    const big = pattern(8 << 20, 3);
    const words = pattern(40_000, 4);
    void bulk.write(big);
    for (let off = 0; off < words.length; off += 400) {
      void small.write(words.subarray(off, off + 400));
      if (off % 4000 === 0) await sleep(1);
    }
    await waitFor(() => total(gotBulk) === big.length && total(gotSmall) === words.length, 10_000, 'all bytes');
    expect(gotBulk.some((c) => c.length >= 32 * 1024)).toBe(true);
    expect(Buffer.concat(gotBulk).equals(big)).toBe(true);
    expect(Buffer.concat(gotSmall).equals(words)).toBe(true);
  });

  it('serves connecting client sockets, and pause() stops delivery until resume()', async () => {
    let server!: net.Socket;
    const srv = net.createServer((s) => (server = s));
    const port = await listen(srv);
    const client = net.connect({ host: LOOPBACK, port });
    cleanups.push(() => client.destroy());
    const got: Buffer[] = [];
    expect(readIntoSharedBuffer(client, (c) => got.push(c))).toBe(true);
    await withTimeout(new Promise((r) => client.once('connect', r)), 2000, 'connect');
    await waitFor(() => server !== undefined);
    server.write('first');
    await waitFor(() => total(got) === 5);
    client.pause();
    server.write('second');
    await sleep(50);
    expect(total(got)).toBe(5);
    client.resume();
    await waitFor(() => total(got) === 11);
    expect(Buffer.concat(got).toString()).toBe('firstsecond');
    server.destroy();
  });

  it("still emits 'end' on the peer's FIN and 'close' after", async () => {
    const { accepted, peer } = await socketPair();
    cleanups.push(() => peer.destroy());
    const got: Buffer[] = [];
    expect(readIntoSharedBuffer(accepted, (c) => got.push(c))).toBe(true);
    const ended = new Promise((r) => accepted.once('end', r));
    accepted.resume();
    peer.end('bye');
    await withTimeout(ended, 2000, "'end'");
    expect(Buffer.concat(got).toString()).toBe('bye');
    const closed = new Promise((r) => accepted.once('close', r));
    accepted.end();
    await withTimeout(closed, 2000, "'close'");
  });

  it("reads bypass Node's read callback; a reset still reaches the stream as 'error' then 'close'", async () => {
    const { accepted, peer } = await socketPair();
    cleanups.push(() => peer.destroy());
    const handle = (accepted as unknown as { _handle: { onread: (...args: unknown[]) => unknown } })._handle;
    const nodeOnRead = handle.onread;
    const got: Buffer[] = [];
    expect(readIntoSharedBuffer(accepted, (c) => got.push(c))).toBe(true);
    expect(handle.onread).not.toBe(nodeOnRead);
    const errors: NodeJS.ErrnoException[] = [];
    accepted.on('error', (e) => errors.push(e));
    const closed = new Promise((r) => accepted.once('close', r));
    accepted.resume();
    await peer.write('before reset');
    await waitFor(() => Buffer.concat(got).toString() === 'before reset', 2000, 'data');
    peer.reset();
    await withTimeout(closed, 2000, "'close'");
    expect(errors.map((e) => e.code)).toEqual(['ECONNRESET']);
    expect(Buffer.concat(got).toString()).toBe('before reset');
  });

  it('refuses a socket whose stream already holds data, and TLS sockets', async () => {
    const { accepted, peer } = await socketPair();
    cleanups.push(() => {
      accepted.destroy();
      peer.destroy();
    });
    accepted.unshift(Buffer.from('held'));
    expect(readIntoSharedBuffer(accepted, () => undefined)).toBe(false);

    const pki = createTestPki();
    cleanups.push(() => pki.cleanup());
    const leaf = pki.ca.issue('localhost');
    const srv = tls.createServer({ key: leaf.key, cert: leaf.cert });
    const port = await listen(srv);
    const client = tls.connect({ host: LOOPBACK, port, rejectUnauthorized: false });
    cleanups.push(() => client.destroy());
    client.on('error', () => undefined);
    expect(readIntoSharedBuffer(client, () => undefined)).toBe(false);
  });
});

function total(chunks: readonly Buffer[]): number {
  return chunks.reduce((n, c) => n + c.length, 0);
}
