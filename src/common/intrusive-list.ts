/**
 * The links an object carries to be a member of one IntrusiveList at a time (Envoy keeps its
 * active streams in such lists). `listOwner` is the list it is in, undefined when in none.
 */
export interface IntrusiveListNode<T> {
  listPrev: T | undefined;
  listNext: T | undefined;
  listOwner: object | undefined;
}

/**
 * An insertion-ordered set of objects that hold their own links: add and delete are a few
 * pointer moves and allocate nothing. A JS Set allocates a new table when it shrinks, which a
 * set of one or two streams added and removed per request does every time.
 */
export class IntrusiveList<T extends IntrusiveListNode<T>> {
  private head: T | undefined = undefined;
  private tail: T | undefined = undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Appends `node`; it must not be in a list already. */
  add(node: T): void {
    if (node.listOwner !== undefined) throw new Error('IntrusiveList: node is already in a list');
    node.listOwner = this;
    node.listPrev = this.tail;
    node.listNext = undefined;
    if (this.tail !== undefined) this.tail.listNext = node;
    else this.head = node;
    this.tail = node;
    this.count++;
  }

  /** Removes `node` if it is in this list; false otherwise. */
  delete(node: T): boolean {
    if (node.listOwner !== this) return false;
    const { listPrev: prev, listNext: next } = node;
    if (prev !== undefined) prev.listNext = next;
    else this.head = next;
    if (next !== undefined) next.listPrev = prev;
    else this.tail = prev;
    node.listPrev = undefined;
    node.listNext = undefined;
    node.listOwner = undefined;
    this.count--;
    return true;
  }

  has(node: T): boolean {
    return node.listOwner === this;
  }

  /** The members in insertion order, as a snapshot that later changes do not affect. */
  toArray(): T[] {
    const out: T[] = [];
    for (let n = this.head; n !== undefined; n = n.listNext) out.push(n);
    return out;
  }

  /** Removes every member. */
  clear(): void {
    let n = this.head;
    while (n !== undefined) {
      const next = n.listNext;
      n.listPrev = undefined;
      n.listNext = undefined;
      n.listOwner = undefined;
      n = next;
    }
    this.head = undefined;
    this.tail = undefined;
    this.count = 0;
  }
}
