/** The links an element carries to live in one IntrusiveList at a time. */
export interface ListNode<T extends ListNode<T>> {
  listPrev: T | undefined;
  listNext: T | undefined;
  listOwner: IntrusiveList<T> | undefined;
}

/**
 * A doubly linked list whose links live in the elements (Envoy's LinkedList helpers): O(1) push,
 * remove-from-anywhere and move between lists, no per-operation allocation (a JS Set allocates a
 * new table whenever it shrinks, which a set of one stream added and removed per request does
 * every time). The connection pool keeps its clients in one list per state and its pending
 * streams in another; the connection manager and the HTTP/1 client codec their active streams.
 */
export class IntrusiveList<T extends ListNode<T>> {
  private head: T | undefined;
  private tail: T | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  front(): T | undefined {
    return this.head;
  }

  back(): T | undefined {
    return this.tail;
  }

  pushFront(node: T): void {
    this.detach(node);
    node.listOwner = this;
    node.listPrev = undefined;
    node.listNext = this.head;
    if (this.head !== undefined) this.head.listPrev = node;
    else this.tail = node;
    this.head = node;
    this.count++;
  }

  pushBack(node: T): void {
    this.detach(node);
    node.listOwner = this;
    node.listNext = undefined;
    node.listPrev = this.tail;
    if (this.tail !== undefined) this.tail.listNext = node;
    else this.head = node;
    this.tail = node;
    this.count++;
  }

  /** Removes `node` if it is in this list; returns whether it was. */
  remove(node: T): boolean {
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

  /** Unlinks every element. */
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

  /** Moves every element of `other` to the end of this list, in order. */
  takeAll(other: IntrusiveList<T>): void {
    for (let n = other.front(); n !== undefined; n = other.front()) this.pushBack(n);
  }

  /** A snapshot of the elements, front to back (safe to mutate the list while iterating it). */
  toArray(): T[] {
    const out: T[] = [];
    for (let n = this.head; n !== undefined; n = n.listNext) out.push(n);
    return out;
  }

  private detach(node: T): void {
    if (node.listOwner !== undefined) node.listOwner.remove(node);
  }
}
