import type { BufferInstance } from '../api/buffer.js';

const EMPTY = Buffer.alloc(0);

/**
 * Empties a slice array. `array.length = 0` is a runtime call (~60 ns, even on an empty array);
 * the few slices a chain usually holds are popped for a fraction of that.
 */
function truncate(chunks: Buffer[]): void {
  if (chunks.length > 8) chunks.length = 0;
  else while (chunks.length > 0) chunks.pop();
}

/**
 * Envoy's Buffer::OwnedImpl over Node Buffers: an ordered list of slices held by reference.
 * `move` hands slices from one chain to another without copying bytes; `drain` drops whole slices
 * or re-views the first one with `subarray`. The only copies are `toBuffer()` of several slices
 * (which then keeps the merged slice, like Envoy's linearize) and `copyOut` across a slice boundary.
 *
 * Slices are immutable by contract: whoever adds a Buffer must not write to it afterwards.
 * Drained slices are removed by advancing `head`; the array is compacted when that prefix grows.
 */
export class BufferChain implements BufferInstance {
  private chunks: Buffer[] = [];
  private head = 0;
  private len = 0;

  constructor(data?: Buffer | string) {
    if (data !== undefined) this.add(data);
  }

  get length(): number {
    return this.len;
  }

  /** Appends by reference; a string is encoded (utf8 unless `encoding` says otherwise). */
  add(data: Buffer | string, encoding?: BufferEncoding): void {
    const buf = typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : data;
    if (buf.length === 0) return;
    this.chunks.push(buf);
    this.len += buf.length;
    this.onLengthIncreased();
  }

  prepend(data: Buffer): void {
    if (data.length === 0) return;
    if (this.head > 0) {
      this.head--;
      this.chunks[this.head] = data;
    } else {
      this.chunks.unshift(data);
    }
    this.len += data.length;
    this.onLengthIncreased();
  }

  /**
   * Moves `length` bytes (all by default) from the front of `other` to the end of this chain.
   * Whole slices change owner; only a slice cut at the boundary is re-viewed with subarray.
   */
  move(other: BufferInstance, length?: number): void {
    if (other === this) throw new RangeError('BufferChain.move: source and destination are the same');
    const n = length ?? other.length;
    if (n < 0 || n > other.length || !Number.isInteger(n)) {
      throw new RangeError(`BufferChain.move: ${n} bytes requested, ${other.length} available`);
    }
    if (n === 0) return;
    if (other instanceof BufferChain) {
      other.transferTo(this, n);
    } else {
      this.copySlicesFrom(other.slices(), n);
      other.drain(n);
    }
    this.onLengthIncreased();
  }

  drain(n: number): void {
    if (n <= 0) return;
    if (n >= this.len) {
      this.clearSlices();
    } else {
      let left = n;
      const chunks = this.chunks;
      let h = this.head;
      while (left > 0) {
        const c = chunks[h]!;
        if (c.length <= left) {
          left -= c.length;
          chunks[h] = EMPTY;
          h++;
        } else {
          chunks[h] = c.subarray(left);
          left = 0;
        }
      }
      this.head = h;
      this.len -= n;
      if (h > 16 && h * 2 > chunks.length) this.compact();
    }
    this.onLengthDecreased();
  }

  /** Drops everything. */
  clear(): void {
    this.drain(this.len);
  }

  slices(): readonly Buffer[] {
    if (this.head > 0) this.compact();
    return this.chunks;
  }

  /** The slice count without compacting. */
  sliceCount(): number {
    return this.chunks.length - this.head;
  }

  /** One contiguous Buffer; several slices are merged once and the merged slice is kept. */
  toBuffer(): Buffer {
    const count = this.chunks.length - this.head;
    if (count === 0) return EMPTY;
    if (count === 1) return this.chunks[this.head]!;
    const merged = Buffer.concat(this.slices(), this.len);
    this.chunks = [merged];
    this.head = 0;
    return merged;
  }

  takeSlices(): Buffer[] {
    if (this.head > 0) this.compact();
    const out = this.chunks;
    this.chunks = [];
    this.head = 0;
    if (this.len > 0) {
      this.len = 0;
      this.onLengthDecreased();
    }
    return out;
  }

  /**
   * The first `n` bytes as one Buffer without changing the contents (Envoy's linearize): a view
   * when they lie in the first slice, else the leading slices are merged in place.
   */
  linearize(n: number): Buffer {
    if (n < 0 || n > this.len) throw new RangeError(`BufferChain.linearize: ${n} of ${this.len} bytes`);
    if (n === 0) return EMPTY;
    const first = this.chunks[this.head]!;
    if (first.length >= n) return first.subarray(0, n);
    let end = this.head;
    let total = 0;
    while (total < n) total += this.chunks[end++]!.length;
    const merged = Buffer.concat(this.chunks.slice(this.head, end), total);
    this.chunks.splice(this.head, end - this.head, merged);
    return merged.subarray(0, n);
  }

  /** `length` bytes from `start`: a view inside one slice, a copy across slices. */
  copyOut(start: number, length: number): Buffer {
    if (start < 0 || length < 0 || start + length > this.len) {
      throw new RangeError(`BufferChain.copyOut: [${start}, ${start + length}) of ${this.len} bytes`);
    }
    if (length === 0) return EMPTY;
    let i = this.head;
    let off = start;
    while (off >= this.chunks[i]!.length) off -= this.chunks[i++]!.length;
    const c = this.chunks[i]!;
    if (off + length <= c.length) return c.subarray(off, off + length);
    const out = Buffer.allocUnsafe(length);
    let written = 0;
    while (written < length) {
      const s = this.chunks[i++]!;
      const take = Math.min(s.length - off, length - written);
      s.copy(out, written, off, off + take);
      written += take;
      off = 0;
    }
    return out;
  }

  /** The byte at `offset`, or -1 past the end. */
  byteAt(offset: number): number {
    if (offset < 0 || offset >= this.len) return -1;
    let i = this.head;
    let off = offset;
    while (off >= this.chunks[i]!.length) off -= this.chunks[i++]!.length;
    return this.chunks[i]![off]!;
  }

  /** Whether the contents begin with `prefix` (false when shorter); no copy. */
  startsWith(prefix: Buffer): boolean {
    if (prefix.length > this.len) return false;
    let p = 0;
    for (let i = this.head; p < prefix.length; i++) {
      const c = this.chunks[i]!;
      const take = Math.min(c.length, prefix.length - p);
      if (c.compare(prefix, p, p + take, 0, take) !== 0) return false;
      p += take;
    }
    return true;
  }

  /**
   * The offset of the first occurrence of `needle` (a byte or a byte sequence) at or after `from`,
   * or -1. Sequences that straddle slices are found.
   */
  indexOf(needle: number | Buffer, from = 0): number {
    if (typeof needle === 'number') return this.indexOfByte(needle, from);
    if (needle.length === 0) return from <= this.len ? from : -1;
    const first = needle[0]!;
    let pos = this.indexOfByte(first, from);
    while (pos !== -1 && pos + needle.length <= this.len) {
      if (this.matchesAt(pos, needle)) return pos;
      pos = this.indexOfByte(first, pos + 1);
    }
    return -1;
  }

  toString(encoding: BufferEncoding = 'utf8'): string {
    const count = this.chunks.length - this.head;
    if (count === 0) return '';
    if (count === 1) return this.chunks[this.head]!.toString(encoding);
    return Buffer.concat(this.slices(), this.len).toString(encoding);
  }

  /** Called after the length grew (add, prepend, move into this). */
  protected onLengthIncreased(): void {}

  /** Called after the length shrank (drain, takeSlices, move out of this). */
  protected onLengthDecreased(): void {}

  private transferTo(dest: BufferChain, n: number): void {
    if (n === this.len && dest.len === 0 && dest.head === 0) {
      // Whole-buffer hand-off into an empty chain: swap the arrays, O(1).
      if (this.head > 0) this.compact();
      const mine = this.chunks;
      this.chunks = dest.chunks;
      truncate(this.chunks);
      dest.chunks = mine;
      dest.len = n;
      this.len = 0;
      this.onLengthDecreased();
      return;
    }
    let left = n;
    const chunks = this.chunks;
    let h = this.head;
    while (left > 0) {
      const c = chunks[h]!;
      if (c.length <= left) {
        dest.chunks.push(c);
        left -= c.length;
        chunks[h] = EMPTY;
        h++;
      } else {
        dest.chunks.push(c.subarray(0, left));
        chunks[h] = c.subarray(left);
        left = 0;
      }
    }
    dest.len += n;
    this.len -= n;
    if (this.len === 0) {
      truncate(chunks);
      this.head = 0;
    } else {
      this.head = h;
      if (h > 16 && h * 2 > chunks.length) this.compact();
    }
    this.onLengthDecreased();
  }

  private copySlicesFrom(src: readonly Buffer[], n: number): void {
    let left = n;
    for (let i = 0; left > 0; i++) {
      const c = src[i]!;
      const piece = c.length <= left ? c : c.subarray(0, left);
      this.chunks.push(piece);
      left -= piece.length;
    }
    this.len += n;
  }

  private clearSlices(): void {
    truncate(this.chunks);
    this.head = 0;
    this.len = 0;
  }

  private compact(): void {
    const chunks = this.chunks;
    chunks.copyWithin(0, this.head);
    chunks.length -= this.head;
    this.head = 0;
  }

  private indexOfByte(byte: number, from: number): number {
    if (from < 0) from = 0;
    let base = 0;
    for (let i = this.head; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      if (from < base + c.length) {
        const at = c.indexOf(byte, from > base ? from - base : 0);
        if (at !== -1) return base + at;
      }
      base += c.length;
    }
    return -1;
  }

  private matchesAt(pos: number, needle: Buffer): boolean {
    let i = this.head;
    let off = pos;
    while (off >= this.chunks[i]!.length) off -= this.chunks[i++]!.length;
    let p = 0;
    while (p < needle.length) {
      const c = this.chunks[i++]!;
      const take = Math.min(c.length - off, needle.length - p);
      if (c.compare(needle, p, p + take, off, off + take) !== 0) return false;
      p += take;
      off = 0;
    }
    return true;
  }
}
