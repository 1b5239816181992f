/**
 * RFC 7541 (HPACK) requirements observable on the wire, against a real sluice: every decoding
 * error is a connection error COMPRESSION_ERROR (RFC 9113 §4.3), and the dynamic table works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../codecs/http2/frame.js';
import { HpackEncoder } from '../../../codecs/http2/hpack.js';
import { frames, h2Frames } from '../../support/h2-frames.js';
import { REQUEST, startSluice } from './setup.js';
import type { Sluice } from './setup.js';

let sluice: Sluice;

beforeAll(async () => {
  sluice = await startSluice();
});

afterAll(async () => {
  await sluice.close();
});

/** :method GET, :scheme http, :path /direct (literal), :authority example.com (literal). */
const PREFIX = Buffer.concat([
  Buffer.from([0x82, 0x86]),
  Buffer.from([0x04, 0x07]), Buffer.from('/direct'),
  Buffer.from([0x01, 0x0b]), Buffer.from('example.com'),
]);

async function compressionError(block: Buffer): Promise<void> {
  const peer = await sluice.peer();
  peer.send(frames.headers(1).block(block).eos());
  expect(await peer.goAway()).toBe(`GOAWAY 0 last=1 code=${ErrorCode.COMPRESSION_ERROR}`);
  await peer.closed();
}

describe('RFC 7541', () => {
  it('the hand-built block is a valid request (baseline)', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(1).block(PREFIX).eos());
    expect((await peer.response(1)).status).toBe('200');
  });

  it('§2.3.3: an index beyond the static and dynamic tables is a COMPRESSION_ERROR', () =>
    compressionError(Buffer.concat([PREFIX, Buffer.from([0xff, 0x0f])]))); // index 142

  it('§4.2: a table size update above SETTINGS_HEADER_TABLE_SIZE is a COMPRESSION_ERROR', () =>
    compressionError(Buffer.concat([Buffer.from([0x3f, 0xe2, 0x1f]), PREFIX]))); // size 4097

  it('§4.2: a table size update after a field is a COMPRESSION_ERROR', () =>
    compressionError(Buffer.concat([PREFIX, Buffer.from([0x20])])));

  it('§5.2: Huffman padding longer than 7 bits is a COMPRESSION_ERROR', () =>
    compressionError(Buffer.concat([PREFIX, Buffer.from([0x40, 0x82, 0x1f, 0xff, 0x01, 0x61])]))); // 'a' + 11 bits

  it('§5.2: Huffman padding that is not the EOS prefix is a COMPRESSION_ERROR', () =>
    compressionError(Buffer.concat([PREFIX, Buffer.from([0x40, 0x81, 0x18, 0x01, 0x61])]))); // 'a' + 000

  it('§5.2: a string longer than the block is a COMPRESSION_ERROR', () =>
    compressionError(Buffer.concat([PREFIX, Buffer.from([0x40, 0x0a, 0x61])])));

  it('§6.1: index 0 is a COMPRESSION_ERROR', () => compressionError(Buffer.concat([PREFIX, Buffer.from([0x80])])));

  it('§6.2.1: literals with incremental indexing are usable by later blocks', async () => {
    const peer = await sluice.peer();
    // 0x40: literal with incremental indexing, new name; then index 62 (the new entry).
    const add = Buffer.concat([PREFIX, Buffer.from([0x40, 0x06]), Buffer.from('x-dyn1'), Buffer.from([0x03]), Buffer.from('one')]);
    peer.send(frames.headers(1).block(add).eos());
    expect((await peer.response(1)).status).toBe('200');
    const reuse = Buffer.concat([PREFIX, Buffer.from([0xbe])]);
    peer.send(frames.headers(3).block(reuse).eos());
    expect((await peer.response(3)).status).toBe('200');
  });

  it('§6.3: a dynamic table size update to 0 at the start of a block is accepted', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(1).block(Buffer.concat([Buffer.from([0x20]), PREFIX])).eos());
    expect((await peer.response(1)).status).toBe('200');
  });

  it('decodes blocks of a stateful encoder across many streams', async () => {
    const f = h2Frames({ encoder: new HpackEncoder({ maxTableSize: 256 }) });
    const peer = await sluice.peer(undefined, f);
    for (let i = 0; i < 20; i++) {
      const id = 1 + 2 * i;
      peer.send(f.headers(id).headers([...REQUEST, [`x-${i % 5}`, `value-${i}`]]).eos());
      expect((await peer.response(id)).status).toBe('200');
    }
  });
});
