import type { HeaderMap } from '../src/api/http-codec.js';

/**
 * An ordered header multimap (Envoy's HeaderMapImpl). Entries live in one flat array
 * [name0, value0, name1, value1, ...]: header lists are short, so a linear scan beats hashing and
 * the codecs can append without allocating per header. Names must already be lowercase when they
 * come from a codec; `set`/`add` from filters lowercase them.
 */
export class HeaderMapImpl implements HeaderMap {
  private entries: string[];

  constructor(entries?: string[]) {
    this.entries = entries ?? [];
  }

  /** Builds a map from name/value pairs, lowercasing names. */
  static fromPairs(pairs: Iterable<readonly [string, string]>): HeaderMapImpl {
    const m = new HeaderMapImpl();
    for (const [n, v] of pairs) m.add(n, v);
    return m;
  }

  /** Builds a map from a plain object; array values become repeated headers. */
  static fromObject(obj: Readonly<Record<string, string | readonly string[]>>): HeaderMapImpl {
    const m = new HeaderMapImpl();
    for (const name of Object.keys(obj)) {
      const v = obj[name]!;
      if (typeof v === 'string') m.add(name, v);
      else for (const x of v) m.add(name, x);
    }
    return m;
  }

  get size(): number {
    return this.entries.length >> 1;
  }

  get(name: string): string | undefined {
    const e = this.entries;
    for (let i = 0; i < e.length; i += 2) if (e[i] === name) return e[i + 1];
    return undefined;
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    const e = this.entries;
    for (let i = 0; i < e.length; i += 2) if (e[i] === name) out.push(e[i + 1]!);
    return out;
  }

  has(name: string): boolean {
    const e = this.entries;
    for (let i = 0; i < e.length; i += 2) if (e[i] === name) return true;
    return false;
  }

  set(name: string, value: string): void {
    const n = name.toLowerCase();
    const e = this.entries;
    for (let i = 0; i < e.length; i += 2) {
      if (e[i] === n) {
        e[i + 1] = value;
        this.removeFrom(n, i + 2);
        return;
      }
    }
    this.append(n, value);
  }

  add(name: string, value: string): void {
    this.append(name.toLowerCase(), value);
  }

  /** Appends a header whose name is known to be lowercase (codec fast path). */
  addLowercase(name: string, value: string): void {
    this.append(name, value);
  }

  remove(name: string): number {
    return this.removeFrom(name, 0);
  }

  /** The loop of removeFrom with a predicate; removeFrom keeps its inline compare (set/remove are hot). */
  removeIf(predicate: (name: string, value: string) => boolean): number {
    const e = this.entries;
    let w = 0;
    for (let r = 0; r < e.length; r += 2) {
      if (predicate(e[r]!, e[r + 1]!)) continue;
      if (w !== r) {
        e[w] = e[r]!;
        e[w + 1] = e[r + 1]!;
      }
      w += 2;
    }
    const removed = (e.length - w) >> 1;
    if (removed > 0) e.length = w;
    return removed;
  }

  byteSize(): number {
    let n = 0;
    const e = this.entries;
    for (let i = 0; i < e.length; i++) n += e[i]!.length;
    return n;
  }

  forEach(fn: (name: string, value: string) => void): void {
    const e = this.entries;
    for (let i = 0; i < e.length; i += 2) fn(e[i]!, e[i + 1]!);
  }

  clone(): HeaderMapImpl {
    return new HeaderMapImpl(this.entries.slice());
  }

  *[Symbol.iterator](): Iterator<readonly [string, string]> {
    const e = this.entries;
    for (let i = 0; i < e.length; i += 2) yield [e[i]!, e[i + 1]!];
  }

  /** The flat [name, value, ...] array, read-only, for encoders that walk it without iterators. */
  raw(): readonly string[] {
    return this.entries;
  }

  /** Pseudo-headers are kept first, as HTTP/2 requires (RFC 9113 §8.3). */
  private append(name: string, value: string): void {
    const e = this.entries;
    if (name.charCodeAt(0) === 58 /* ':' */ && e.length > 0 && e[e.length - 2]!.charCodeAt(0) !== 58) {
      let i = 0;
      while (i < e.length && e[i]!.charCodeAt(0) === 58) i += 2;
      e.splice(i, 0, name, value);
      return;
    }
    e.push(name, value);
  }

  private removeFrom(name: string, start: number): number {
    const e = this.entries;
    let w = start;
    let removed = 0;
    for (let r = start; r < e.length; r += 2) {
      if (e[r] === name) {
        removed++;
        continue;
      }
      if (w !== r) {
        e[w] = e[r]!;
        e[w + 1] = e[r + 1]!;
      }
      w += 2;
    }
    // Setting an array's length is a runtime call even when it does not change.
    if (removed > 0) e.length = w;
    return removed;
  }
}
