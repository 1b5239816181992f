/**
 * The server's lifecycle callbacks (Envoy's ServerLifecycleNotifier, implemented by its
 * InstanceImpl): filters register work for a stage through their FactoryContext, and the server
 * runs it. At ShutdownExit the server waits for every callback, but never longer than a grace
 * period, so a stuck callback cannot keep the process from exiting.
 */
import type { ServerLifecycleNotifier, ServerLifecycleStage } from '../api/filter-config.js';
import type { Logger } from '../api/logger.js';

type StageCallback = () => Promise<void> | void;

export class LifecycleNotifier implements ServerLifecycleNotifier {
  private readonly byStage = new Map<ServerLifecycleStage, Set<StageCallback>>();

  registerCallback(stage: ServerLifecycleStage, cb: StageCallback): () => void {
    let set = this.byStage.get(stage);
    if (set === undefined) {
      set = new Set();
      this.byStage.set(stage, set);
    }
    // A wrapper per registration, so registering one function twice runs it twice.
    const entry: StageCallback = () => cb();
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /**
   * Runs every callback of `stage` and waits for all of them, up to `timeoutMs`. A callback that
   * throws or rejects is logged and does not stop the others. Resolves true when all finished in
   * time, false when the grace period ran out first.
   */
  async runStage(stage: ServerLifecycleStage, timeoutMs: number, logger: Logger): Promise<boolean> {
    const callbacks = [...(this.byStage.get(stage) ?? [])];
    if (callbacks.length === 0) return true;
    const runs = callbacks.map(async (cb) => {
      try {
        await cb();
      } catch (e) {
        logger.error({ err: e instanceof Error ? e.message : String(e), stage }, 'lifecycle callback failed');
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      Promise.all(runs).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return inTime;
  }
}
