import { randomFillSync } from 'node:crypto';

/**
 * Random (version 4) UUIDs for x-request-id, as Envoy's RandomGeneratorImpl::uuid(): 16 bytes
 * from a buffered CSPRNG pool, formatted through a byte-to-hex table into one scratch buffer and
 * read back as one flat string. crypto.randomUUID() builds the same string out of ~20
 * concatenated pieces (~0.5 KB of garbage, then flattened when the head is written): ~225 ns
 * against ~100 ns here (Node 20), once per proxied request.
 */

/** 256 UUIDs of randomness per refill (one randomFillSync call, ~5 ns per UUID). */
const POOL_BYTES = 16 * 256;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let offset = POOL_BYTES;

/** The two lowercase hex digits of each byte value, as character codes. */
const HEX = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const s = i.toString(16).padStart(2, '0');
  HEX[2 * i] = s.charCodeAt(0);
  HEX[2 * i + 1] = s.charCodeAt(1);
}

/** Where the hex digits of byte i go in `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
const POSITION = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

const text = Buffer.alloc(36, '-');

export function uuid(): string {
  if (offset === POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const o = offset;
  offset += 16;
  for (let i = 0; i < 16; i++) {
    let v = pool[o + i]!;
    if (i === 6) v = (v & 0x0f) | 0x40; // version 4
    else if (i === 8) v = (v & 0x3f) | 0x80; // RFC 9562 variant
    const p = POSITION[i]!;
    text[p] = HEX[2 * v]!;
    text[p + 1] = HEX[2 * v + 1]!;
  }
  return text.toString('latin1', 0, 36);
}
