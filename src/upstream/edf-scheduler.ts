interface Entry<T> {
  deadline: number;
  /** Insertion order: ties on the deadline go to the earlier entry, as in Envoy. */
  order: number;
  readonly item: T;
}

/**
 * Earliest-deadline-first scheduling of weighted items (Envoy's EdfScheduler): an item of weight w
 * is due every 1/w time units, so over time each item is picked in proportion to its weight, and
 * picks interleave smoothly instead of bunching. A binary min-heap on (deadline, order).
 */
export class EdfScheduler<T> {
  private readonly heap: Array<Entry<T>> = [];
  private currentTime = 0;
  private orderCounter = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Adds `item`, due 1/weight after the current time. Weights must be > 0. */
  add(weight: number, item: T): void {
    this.push({ deadline: this.currentTime + 1 / weight, order: this.orderCounter++, item });
  }

  /** The next item without removing it. */
  peek(): T | undefined {
    return this.heap[0]?.item;
  }

  /**
   * Removes the earliest item, advances the clock to its deadline and re-adds it with the weight
   * `weightOf(item)` computed now (LEAST_REQUEST's weight depends on the host's active requests).
   */
  pickAndAdd(weightOf: (item: T) => number): T | undefined {
    const top = this.pop();
    if (top === undefined) return undefined;
    this.currentTime = top.deadline;
    const w = weightOf(top.item);
    top.deadline = this.currentTime + 1 / (w > 0 ? w : Number.MIN_VALUE);
    top.order = this.orderCounter++;
    this.push(top);
    return top.item;
  }

  private push(e: Entry<T>): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Entry<T> | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order);
}
