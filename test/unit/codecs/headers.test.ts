import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../codecs/headers.js';

describe('HeaderMapImpl', () => {
  it('keeps insertion order and repeated values', () => {
    const h = new HeaderMapImpl();
    h.add('Accept', 'a');
    h.add('x-y', '1');
    h.add('accept', 'b');
    expect([...h]).toEqual([
      ['accept', 'a'],
      ['x-y', '1'],
      ['accept', 'b'],
    ]);
    expect(h.get('accept')).toBe('a');
    expect(h.getAll('accept')).toEqual(['a', 'b']);
    expect(h.size).toBe(3);
  });

  it('removeIf drops every selected entry in one pass and keeps the order of the rest', () => {
    const h = new HeaderMapImpl([':status', '200', 'connection', 'close', 'a', '1', 'keep-alive', 'x', 'b', '2', 'connection', 'y']);
    expect(h.removeIf((name) => name === 'connection' || name === 'keep-alive')).toBe(3);
    expect(h.raw()).toEqual([':status', '200', 'a', '1', 'b', '2']);
    expect(h.removeIf((_, value) => value === '2')).toBe(1);
    expect(h.raw()).toEqual([':status', '200', 'a', '1']);
    expect(h.removeIf(() => false)).toBe(0);
    expect(h.size).toBe(2);
  });

  it('set replaces every value in place of the first', () => {
    const h = HeaderMapImpl.fromPairs([
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
      ['c', '4'],
    ]);
    h.set('A', 'x');
    expect([...h]).toEqual([
      ['a', 'x'],
      ['b', '2'],
      ['c', '4'],
    ]);
  });

  it('remove drops every value and reports the count', () => {
    const h = HeaderMapImpl.fromPairs([
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
    ]);
    expect(h.remove('a')).toBe(2);
    expect(h.remove('zz')).toBe(0);
    expect([...h]).toEqual([['b', '2']]);
  });

  it('keeps pseudo-headers ahead of regular headers', () => {
    const h = new HeaderMapImpl();
    h.add(':method', 'GET');
    h.add('host', 'x');
    h.add(':path', '/');
    h.set(':authority', 'x');
    expect(h.raw()).toEqual([':method', 'GET', ':path', '/', ':authority', 'x', 'host', 'x']);
  });

  it('byteSize sums names and values; clone is independent', () => {
    const h = HeaderMapImpl.fromObject({ ab: 'cde', f: ['g', 'hi'] });
    expect(h.byteSize()).toBe(2 + 3 + 1 + 1 + 1 + 2);
    const c = h.clone();
    c.set('ab', 'z');
    expect(h.get('ab')).toBe('cde');
    expect(c.get('ab')).toBe('z');
  });
});
