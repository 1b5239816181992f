import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../../src/api/logger.js';
import { LifecycleNotifier } from '../../../../src/server/lifecycle-notifier.js';

function recordingLogger(errors: unknown[]): Logger {
  const l: Logger = {
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (obj) => void errors.push(obj),
    child: () => l,
    isLevelEnabled: () => true,
  };
  return l;
}

const later = (ms: number, fn: () => void) => new Promise<void>((resolve) => setTimeout(() => (fn(), resolve()), ms));

describe('LifecycleNotifier', () => {
  it('runs every ShutdownExit callback and waits for their promises', async () => {
    const n = new LifecycleNotifier();
    const seen: string[] = [];
    n.registerCallback('ShutdownExit', () => void seen.push('sync'));
    n.registerCallback('ShutdownExit', () => later(20, () => seen.push('async')));
    expect(await n.runStage('ShutdownExit', 2000, recordingLogger([]))).toBe(true);
    expect(seen).toEqual(['sync', 'async']);
  });

  it('resolves true at once when nothing is registered', async () => {
    expect(await new LifecycleNotifier().runStage('ShutdownExit', 2000, recordingLogger([]))).toBe(true);
  });

  it('an unregistered callback does not run; one function registered twice runs twice', async () => {
    const n = new LifecycleNotifier();
    let runs = 0;
    const cb = () => void runs++;
    const off = n.registerCallback('ShutdownExit', cb);
    n.registerCallback('ShutdownExit', cb);
    n.registerCallback('ShutdownExit', cb);
    off();
    await n.runStage('ShutdownExit', 2000, recordingLogger([]));
    expect(runs).toBe(2);
  });

  it('logs a failing callback and still waits for the others', async () => {
    const n = new LifecycleNotifier();
    const errors: unknown[] = [];
    let done = false;
    n.registerCallback('ShutdownExit', () => {
      throw new Error('sync boom');
    });
    n.registerCallback('ShutdownExit', () => Promise.reject(new Error('async boom')));
    n.registerCallback('ShutdownExit', () => later(10, () => (done = true)));
    expect(await n.runStage('ShutdownExit', 2000, recordingLogger(errors))).toBe(true);
    expect(done).toBe(true);
    expect(errors).toEqual([
      { err: 'sync boom', stage: 'ShutdownExit' },
      { err: 'async boom', stage: 'ShutdownExit' },
    ]);
  });

  it('stops waiting after the grace period and says so', async () => {
    const n = new LifecycleNotifier();
    n.registerCallback('ShutdownExit', () => new Promise<void>(() => {}));
    const t0 = Date.now();
    expect(await n.runStage('ShutdownExit', 50, recordingLogger([]))).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });
});
