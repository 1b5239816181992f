import { describe, expect, it } from 'vitest';
import type { BufferInstance } from '../../../../src/api/buffer.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';

/** A chain holding one slice per string. */
function chainOf(...parts: string[]): BufferChain {
  const b = new BufferChain();
  for (const p of parts) b.add(Buffer.from(p, 'latin1'));
  return b;
}

function sliceTexts(b: BufferChain): string[] {
  return b.slices().map((s) => s.toString('latin1'));
}

/** A BufferInstance that is not a BufferChain, to exercise move()'s generic path. */
class ForeignBuffer implements BufferInstance {
  private parts: Buffer[];
  constructor(...parts: string[]) {
    this.parts = parts.map((p) => Buffer.from(p, 'latin1'));
  }
  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }
  add(data: Buffer | string): void {
    this.parts.push(typeof data === 'string' ? Buffer.from(data) : data);
  }
  prepend(data: Buffer): void {
    this.parts.unshift(data);
  }
  move(): void {
    throw new Error('unused');
  }
  drain(n: number): void {
    const all = Buffer.concat(this.parts).subarray(n);
    this.parts = all.length > 0 ? [all] : [];
  }
  slices(): readonly Buffer[] {
    return this.parts;
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
  takeSlices(): Buffer[] {
    const p = this.parts;
    this.parts = [];
    return p;
  }
}

describe('BufferChain basics', () => {
  it('holds added Buffers by reference, in order', () => {
    const a = Buffer.from('ab');
    const c = Buffer.from('cde');
    const b = new BufferChain();
    b.add(a);
    b.add(c);
    expect(b.length).toBe(5);
    expect(b.slices()[0]).toBe(a);
    expect(b.slices()[1]).toBe(c);
    expect(b.toString()).toBe('abcde');
  });

  it('ignores empty adds and prepends', () => {
    const b = new BufferChain();
    b.add(Buffer.alloc(0));
    b.add('');
    b.prepend(Buffer.alloc(0));
    expect(b.length).toBe(0);
    expect(b.sliceCount()).toBe(0);
  });

  it('encodes strings as utf8 by default and as asked otherwise', () => {
    const b = new BufferChain();
    b.add('é');
    b.add('é', 'latin1');
    expect([...b.toBuffer()]).toEqual([0xc3, 0xa9, 0xe9]);
  });

  it('prepends before the contents, also after a drain freed the front', () => {
    const b = chainOf('cd', 'ef');
    b.prepend(Buffer.from('ab'));
    expect(sliceTexts(b)).toEqual(['ab', 'cd', 'ef']);
    b.drain(2);
    b.prepend(Buffer.from('xy'));
    expect(sliceTexts(b)).toEqual(['xy', 'cd', 'ef']);
    expect(b.length).toBe(6);
  });

  it('constructs from initial data', () => {
    expect(new BufferChain('hi').toString()).toBe('hi');
    expect(new BufferChain().length).toBe(0);
  });
});

describe('BufferChain.drain', () => {
  const cases: Array<{ parts: string[]; n: number; slices: string[] }> = [
    { parts: ['abc', 'de', 'f'], n: 0, slices: ['abc', 'de', 'f'] },
    { parts: ['abc', 'de', 'f'], n: 1, slices: ['bc', 'de', 'f'] },
    { parts: ['abc', 'de', 'f'], n: 3, slices: ['de', 'f'] },
    { parts: ['abc', 'de', 'f'], n: 4, slices: ['e', 'f'] },
    { parts: ['abc', 'de', 'f'], n: 5, slices: ['f'] },
    { parts: ['abc', 'de', 'f'], n: 6, slices: [] },
    { parts: ['abc', 'de', 'f'], n: 100, slices: [] },
    { parts: ['abc', 'de', 'f'], n: -1, slices: ['abc', 'de', 'f'] },
  ];
  it.each(cases)('drain($n) of $parts leaves $slices', ({ parts, n, slices }) => {
    const b = chainOf(...parts);
    b.drain(n);
    expect(sliceTexts(b)).toEqual(slices);
    expect(b.length).toBe(slices.join('').length);
  });

  it('drains one byte at a time through many slices (compaction keeps contents right)', () => {
    const b = new BufferChain();
    const all = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    for (const ch of all) b.add(Buffer.from(ch));
    for (let i = 1; i <= all.length; i++) {
      b.drain(1);
      expect(b.toString()).toBe(all.slice(i));
      expect(b.sliceCount()).toBe(all.length - i);
    }
    b.add('z');
    expect(sliceTexts(b)).toEqual(['z']);
  });

  it('clear() empties', () => {
    const b = chainOf('a', 'b');
    b.clear();
    expect(b.length).toBe(0);
    expect(b.slices()).toEqual([]);
  });
});

describe('BufferChain.move', () => {
  it('moves everything into an empty chain without copying (same Buffer objects)', () => {
    const x = Buffer.from('xx');
    const y = Buffer.from('yyy');
    const src = new BufferChain();
    src.add(x);
    src.add(y);
    const dst = new BufferChain();
    dst.move(src);
    expect(src.length).toBe(0);
    expect(src.slices()).toEqual([]);
    expect(dst.length).toBe(5);
    expect(dst.slices()[0]).toBe(x);
    expect(dst.slices()[1]).toBe(y);
    // Both stay usable and independent after the array swap.
    src.add('s');
    dst.add('d');
    expect(src.toString()).toBe('s');
    expect(dst.toString()).toBe('xxyyyd');
  });

  it('moves whole slices after existing contents', () => {
    const x = Buffer.from('xx');
    const src = new BufferChain();
    src.add(x);
    const dst = chainOf('a');
    dst.move(src);
    expect(sliceTexts(dst)).toEqual(['a', 'xx']);
    expect(dst.slices()[1]).toBe(x);
  });

  const partial: Array<{ parts: string[]; n: number; moved: string[]; left: string[] }> = [
    { parts: ['abc', 'de'], n: 1, moved: ['a'], left: ['bc', 'de'] },
    { parts: ['abc', 'de'], n: 3, moved: ['abc'], left: ['de'] },
    { parts: ['abc', 'de'], n: 4, moved: ['abc', 'd'], left: ['e'] },
    { parts: ['abc', 'de'], n: 5, moved: ['abc', 'de'], left: [] },
    { parts: ['abc', 'de'], n: 0, moved: [], left: ['abc', 'de'] },
  ];
  it.each(partial)('move($n) of $parts moves $moved and leaves $left', ({ parts, n, moved, left }) => {
    const src = chainOf(...parts);
    const dst = chainOf('>');
    dst.move(src, n);
    expect(sliceTexts(dst)).toEqual(['>', ...moved]);
    expect(sliceTexts(src)).toEqual(left);
    expect(dst.length).toBe(1 + n);
    expect(src.length).toBe(parts.join('').length - n);
  });

  it('a slice cut at the boundary shares memory with the source (no copy)', () => {
    const big = Buffer.from('0123456789');
    const src = new BufferChain();
    src.add(big);
    const dst = new BufferChain();
    dst.move(src, 4);
    expect(dst.slices()[0]!.buffer).toBe(big.buffer);
    expect(dst.slices()[0]!.byteOffset).toBe(big.byteOffset);
    expect(src.slices()[0]!.byteOffset).toBe(big.byteOffset + 4);
  });

  it.each([
    { n: undefined, moved: 'abcdef', left: '' },
    { n: 4, moved: 'abcd', left: 'ef' },
  ])('moves from a foreign BufferInstance (n=$n)', ({ n, moved, left }) => {
    const src = new ForeignBuffer('abc', 'def');
    const dst = new BufferChain();
    dst.move(src, n);
    expect(dst.toString()).toBe(moved);
    expect(Buffer.concat(src.slices()).toString()).toBe(left);
  });

  it('rejects moving into itself and moving more than the source holds', () => {
    const b = chainOf('abc');
    expect(() => b.move(b)).toThrow(RangeError);
    expect(() => new BufferChain().move(b, 4)).toThrow(RangeError);
    expect(() => new BufferChain().move(b, -1)).toThrow(RangeError);
    expect(b.toString()).toBe('abc');
  });
});

describe('BufferChain contiguous views', () => {
  it('toBuffer returns the single slice itself, merges several once and keeps the merge', () => {
    const one = Buffer.from('solo');
    const b = new BufferChain();
    b.add(one);
    expect(b.toBuffer()).toBe(one);
    b.add('!');
    const merged = b.toBuffer();
    expect(merged.toString()).toBe('solo!');
    expect(b.sliceCount()).toBe(1);
    expect(b.toBuffer()).toBe(merged);
    expect(new BufferChain().toBuffer().length).toBe(0);
  });

  it('takeSlices empties the chain and returns the slices', () => {
    const b = chainOf('ab', 'cd');
    b.drain(1);
    const taken = b.takeSlices();
    expect(taken.map((s) => s.toString())).toEqual(['b', 'cd']);
    expect(b.length).toBe(0);
    b.add('x');
    expect(b.toString()).toBe('x');
    expect(taken.length).toBe(2);
  });

  it('linearize gives a view inside the first slice, merges the leading slices otherwise', () => {
    const b = chainOf('abc', 'de', 'fgh');
    const first = b.slices()[0]!;
    const v = b.linearize(2);
    expect(v.toString()).toBe('ab');
    expect(v.buffer).toBe(first.buffer);
    expect(b.linearize(4).toString()).toBe('abcd');
    expect(sliceTexts(b)).toEqual(['abcde', 'fgh']);
    expect(b.toString()).toBe('abcdefgh');
    expect(b.linearize(0).length).toBe(0);
    expect(() => b.linearize(9)).toThrow(RangeError);
  });

  const copyCases: Array<{ start: number; len: number; out: string; view: boolean }> = [
    { start: 0, len: 3, out: 'abc', view: true },
    { start: 1, len: 1, out: 'b', view: true },
    { start: 2, len: 3, out: 'cde', view: false },
    { start: 3, len: 2, out: 'de', view: true },
    { start: 1, len: 7, out: 'bcdefgh', view: false },
    { start: 8, len: 0, out: '', view: true },
  ];
  it.each(copyCases)('copyOut($start, $len) = $out', ({ start, len, out, view }) => {
    const b = chainOf('abc', 'de', 'fgh');
    const bytes = b.copyOut(start, len);
    expect(bytes.toString()).toBe(out);
    if (len > 0) {
      // A view writes through to the chain, a copy does not.
      bytes[0] = 0x21;
      expect(b.toString().charAt(start) === '!').toBe(view);
    }
  });

  it('copyOut rejects ranges outside the contents', () => {
    const b = chainOf('abc');
    expect(() => b.copyOut(2, 2)).toThrow(RangeError);
    expect(() => b.copyOut(-1, 1)).toThrow(RangeError);
  });
});

describe('BufferChain search', () => {
  it('byteAt walks slices and answers -1 outside', () => {
    const b = chainOf('ab', 'c');
    expect([b.byteAt(0), b.byteAt(1), b.byteAt(2), b.byteAt(3), b.byteAt(-1)]).toEqual([0x61, 0x62, 0x63, -1, -1]);
  });

  const finds: Array<{ parts: string[]; needle: string; from: number; at: number }> = [
    { parts: ['GET / HTTP/1.1\r', '\n\r\n'], needle: '\r\n\r\n', from: 0, at: 14 },
    { parts: ['ab', 'c', 'abc'], needle: 'abc', from: 0, at: 0 },
    { parts: ['ab', 'c', 'abc'], needle: 'abc', from: 1, at: 3 },
    { parts: ['a', 'b', 'c', 'd'], needle: 'bcd', from: 0, at: 1 },
    { parts: ['aab'], needle: 'ab', from: 0, at: 1 },
    { parts: ['abc'], needle: 'abd', from: 0, at: -1 },
    { parts: ['abc'], needle: 'cd', from: 0, at: -1 },
    { parts: ['abc'], needle: '', from: 2, at: 2 },
  ];
  it.each(finds)('indexOf($needle) in $parts from $from = $at', ({ parts, needle, from, at }) => {
    expect(chainOf(...parts).indexOf(Buffer.from(needle), from)).toBe(at);
  });

  it('indexOf a byte across slices, honouring from', () => {
    const b = chainOf('xa', 'ya', 'z');
    expect(b.indexOf(0x61)).toBe(1);
    expect(b.indexOf(0x61, 2)).toBe(3);
    expect(b.indexOf(0x61, 4)).toBe(-1);
  });

  const prefixes: Array<{ parts: string[]; prefix: string; yes: boolean }> = [
    { parts: ['PRI * HTTP/2.0\r\n', '\r\nSM\r\n\r\n'], prefix: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', yes: true },
    { parts: ['PR', 'I'], prefix: 'PRI', yes: true },
    { parts: ['PR', 'X'], prefix: 'PRI', yes: false },
    { parts: ['PR'], prefix: 'PRI', yes: false },
    { parts: [], prefix: '', yes: true },
  ];
  it.each(prefixes)('startsWith($prefix) on $parts = $yes', ({ parts, prefix, yes }) => {
    expect(chainOf(...parts).startsWith(Buffer.from(prefix))).toBe(yes);
  });
});
