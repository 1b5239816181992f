/** IntrusiveList: insertion order, O(1) removal anywhere, membership through the node's own links. */
import { describe, expect, it } from 'vitest';
import { IntrusiveList, type IntrusiveListNode } from '../../../../src/common/intrusive-list.js';

class Item implements IntrusiveListNode<Item> {
  listPrev: Item | undefined = undefined;
  listNext: Item | undefined = undefined;
  listOwner: object | undefined = undefined;
  constructor(readonly name: string) {}
}

const names = (l: IntrusiveList<Item>): string[] => l.toArray().map((i) => i.name);

describe('IntrusiveList', () => {
  it('keeps insertion order through removals at the head, middle and tail', () => {
    const l = new IntrusiveList<Item>();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => new Item(n)) as [Item, Item, Item, Item];
    for (const i of [a, b, c, d]) l.add(i);
    expect(names(l)).toEqual(['a', 'b', 'c', 'd']);
    expect(l.delete(b)).toBe(true);
    expect(names(l)).toEqual(['a', 'c', 'd']);
    expect(l.delete(a)).toBe(true);
    expect(l.delete(d)).toBe(true);
    expect(names(l)).toEqual(['c']);
    expect(l.size).toBe(1);
    l.add(a);
    expect(names(l)).toEqual(['c', 'a']);
  });

  it('reports membership, refuses a node that is already in a list, ignores deleting a stranger', () => {
    const l = new IntrusiveList<Item>();
    const other = new IntrusiveList<Item>();
    const a = new Item('a');
    l.add(a);
    expect(l.has(a)).toBe(true);
    expect(() => other.add(a)).toThrow('already in a list');
    expect(other.delete(a)).toBe(false);
    expect(l.size).toBe(1);
    l.delete(a);
    expect(l.delete(a)).toBe(false);
    other.add(a);
    expect(other.has(a) && !l.has(a)).toBe(true);
  });

  it('toArray is a snapshot: members may remove themselves while it is walked', () => {
    const l = new IntrusiveList<Item>();
    const items = ['a', 'b', 'c'].map((n) => new Item(n));
    for (const i of items) l.add(i);
    const seen: string[] = [];
    for (const i of l.toArray()) {
      seen.push(i.name);
      l.delete(i);
    }
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(l.size).toBe(0);
  });

  it('clear unlinks every member so each can join another list', () => {
    const l = new IntrusiveList<Item>();
    const items = ['a', 'b'].map((n) => new Item(n));
    for (const i of items) l.add(i);
    l.clear();
    expect(l.size).toBe(0);
    expect(names(l)).toEqual([]);
    const m = new IntrusiveList<Item>();
    for (const i of items) m.add(i);
    expect(names(m)).toEqual(['a', 'b']);
  });
});
