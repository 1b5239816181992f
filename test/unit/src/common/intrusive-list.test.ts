/** IntrusiveList: order, O(1) removal anywhere, moves between lists, snapshots, clear. */
import { describe, expect, it } from 'vitest';
import { IntrusiveList, type ListNode } from '../../../../src/common/intrusive-list.js';

class Item implements ListNode<Item> {
  listPrev: Item | undefined = undefined;
  listNext: Item | undefined = undefined;
  listOwner: IntrusiveList<Item> | undefined = undefined;
  constructor(readonly name: string) {}
}

const names = (l: IntrusiveList<Item>): string[] => l.toArray().map((i) => i.name);
const items = (...n: string[]): Item[] => n.map((x) => new Item(x));

describe('IntrusiveList', () => {
  it('keeps order through removals at the front, middle and back', () => {
    const l = new IntrusiveList<Item>();
    const [a, b, c, d] = items('a', 'b', 'c', 'd') as [Item, Item, Item, Item];
    for (const i of [a, b, c, d]) l.pushBack(i);
    expect(names(l)).toEqual(['a', 'b', 'c', 'd']);
    expect(l.remove(b)).toBe(true);
    expect(names(l)).toEqual(['a', 'c', 'd']);
    expect(l.remove(a) && l.remove(d)).toBe(true);
    expect(names(l)).toEqual(['c']);
    expect(l.front()).toBe(c);
    expect(l.back()).toBe(c);
    l.pushFront(a);
    l.pushBack(d);
    expect(names(l)).toEqual(['a', 'c', 'd']);
    expect(l.size).toBe(3);
  });

  it('a push moves a node out of the list it was in; removing a stranger does nothing', () => {
    const l = new IntrusiveList<Item>();
    const m = new IntrusiveList<Item>();
    const [a, b] = items('a', 'b') as [Item, Item];
    l.pushBack(a);
    l.pushBack(b);
    m.pushBack(a);
    expect(names(l)).toEqual(['b']);
    expect(names(m)).toEqual(['a']);
    expect(a.listOwner === l).toBe(false);
    expect(a.listOwner === m).toBe(true);
    expect(l.remove(a)).toBe(false);
    expect(m.size + l.size).toBe(2);
    m.takeAll(l);
    expect(names(m)).toEqual(['a', 'b']);
    expect(l.isEmpty()).toBe(true);
  });

  it('toArray is a snapshot: members may remove themselves while it is walked', () => {
    const l = new IntrusiveList<Item>();
    for (const i of items('a', 'b', 'c')) l.pushBack(i);
    const seen: string[] = [];
    for (const i of l.toArray()) {
      seen.push(i.name);
      l.remove(i);
    }
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(l.size).toBe(0);
    expect(l.front()).toBeUndefined();
  });

  it('clear unlinks every member so each can join another list', () => {
    const l = new IntrusiveList<Item>();
    const all = items('a', 'b');
    for (const i of all) l.pushBack(i);
    l.clear();
    expect(l.size).toBe(0);
    expect(names(l)).toEqual([]);
    expect(all.every((i) => i.listOwner === undefined && i.listNext === undefined)).toBe(true);
    const m = new IntrusiveList<Item>();
    for (const i of all) m.pushBack(i);
    expect(names(m)).toEqual(['a', 'b']);
  });
});
