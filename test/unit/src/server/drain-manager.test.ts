import { describe, expect, it } from 'vitest';
import { DrainManager, NEVER_DRAIN } from '../../../../src/server/drain-manager.js';

describe('DrainManager', () => {
  it('runs every callback once when the drain starts', () => {
    const d = new DrainManager();
    const calls: string[] = [];
    d.addOnDrainCloseCb(() => calls.push('a'));
    d.addOnDrainCloseCb(() => calls.push('b'));
    expect(d.drainClose()).toBe(false);
    d.startDrain();
    d.startDrain();
    expect(d.drainClose()).toBe(true);
    expect(calls).toEqual(['a', 'b']);
  });

  it('does not run an unsubscribed callback, even one removed by an earlier callback', () => {
    const d = new DrainManager();
    const calls: string[] = [];
    let removeB = () => {};
    d.addOnDrainCloseCb(() => {
      calls.push('a');
      removeB();
    });
    removeB = d.addOnDrainCloseCb(() => calls.push('b'));
    const removeC = d.addOnDrainCloseCb(() => calls.push('c'));
    removeC();
    d.startDrain();
    expect(calls).toEqual(['a']);
  });

  it('tells a late subscriber on the next microtask', async () => {
    const d = new DrainManager();
    d.startDrain();
    const calls: string[] = [];
    d.addOnDrainCloseCb(() => calls.push('late'));
    const removed = d.addOnDrainCloseCb(() => calls.push('removed'));
    removed();
    expect(calls).toEqual([]);
    await Promise.resolve();
    expect(calls).toEqual(['late']);
  });

  it('NEVER_DRAIN never drains', () => {
    expect(NEVER_DRAIN.drainClose()).toBe(false);
    expect(typeof NEVER_DRAIN.addOnDrainCloseCb(() => {})).toBe('function');
  });
});
