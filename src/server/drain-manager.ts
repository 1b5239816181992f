/**
 * The server's drain state (Envoy's DrainManagerImpl), as filters see it through DrainDecision.
 * Draining is immediate: once started, every connection is asked to close after its current
 * request (Envoy's `--drain-strategy immediate`). Listeners with `drain_type: MODIFY_ONLY` do not
 * take part in a server drain; their connections are closed when the drain time runs out.
 */
import type { DrainDecision } from '../api/filter-config.js';

export class DrainManager implements DrainDecision {
  private draining = false;
  private readonly callbacks = new Set<() => void>();

  drainClose(): boolean {
    return this.draining;
  }

  addOnDrainCloseCb(cb: () => void): () => void {
    if (this.draining) {
      // A late subscriber learns the current state at once, as if it had been there.
      queueMicrotask(() => {
        if (this.callbacks.has(cb)) cb();
      });
    }
    this.callbacks.add(cb);
    return () => {
      this.callbacks.delete(cb);
    };
  }

  /** Starts draining (once): every registered callback runs, each at most once. */
  startDrain(): void {
    if (this.draining) return;
    this.draining = true;
    for (const cb of [...this.callbacks]) {
      if (this.callbacks.has(cb)) cb();
    }
  }

  isDraining(): boolean {
    return this.draining;
  }
}

/** The DrainDecision of a `drain_type: MODIFY_ONLY` listener: never drains on a server drain. */
export const NEVER_DRAIN: DrainDecision = {
  drainClose: () => false,
  addOnDrainCloseCb: () => () => {},
};
