import { describe, expect, it } from 'vitest';
import type { Timer } from '../../../../src/api/dispatcher.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { sleep, waitFor } from '../../../support/net-helpers.js';

describe('NodeDispatcher timers', () => {
  it('fires once after the delay, then is disabled', async () => {
    const d = new NodeDispatcher();
    let fired = 0;
    const t = d.createTimer(() => fired++);
    expect(t.enabled()).toBe(false);
    const start = performance.now();
    t.enableTimer(20);
    expect(t.enabled()).toBe(true);
    await waitFor(() => fired === 1, 1000, 'timer');
    expect(performance.now() - start).toBeGreaterThanOrEqual(19);
    expect(t.enabled()).toBe(false);
    await sleep(40);
    expect(fired).toBe(1);
  });

  it('re-arming replaces the pending expiry (same and different delays), also after firing', async () => {
    const d = new NodeDispatcher();
    const firedAt: number[] = [];
    const start = performance.now();
    const t = d.createTimer(() => firedAt.push(performance.now() - start));
    t.enableTimer(30);
    await sleep(15);
    t.enableTimer(30); // same delay: refresh
    await sleep(20);
    expect(firedAt).toEqual([]);
    await waitFor(() => firedAt.length === 1, 1000, 'refreshed timer');
    expect(firedAt[0]).toBeGreaterThanOrEqual(44);
    t.enableTimer(10); // after it fired, new delay
    await waitFor(() => firedAt.length === 2, 1000, 're-armed timer');
    t.enableTimer(10); // after it fired, same delay
    await waitFor(() => firedAt.length === 3, 1000, 're-armed timer (refresh after fire)');
  });

  it('disableTimer cancels; enabling again works', async () => {
    const d = new NodeDispatcher();
    let fired = 0;
    const t = d.createTimer(() => fired++);
    t.enableTimer(10);
    t.disableTimer();
    expect(t.enabled()).toBe(false);
    await sleep(30);
    expect(fired).toBe(0);
    t.disableTimer();
    t.enableTimer(10);
    await waitFor(() => fired === 1, 1000, 'timer after disable');
  });

  it('clamps delays beyond 2^31-1 ms instead of firing at once (Node would use 1 ms)', async () => {
    const d = new NodeDispatcher();
    let fired = 0;
    const t = d.createTimer(() => fired++);
    t.enableTimer(2 ** 40);
    await sleep(20);
    expect(fired).toBe(0);
    expect(t.enabled()).toBe(true);
    t.disableTimer();
  });

  it('timers of one delay fire in arming order; one re-armed from a callback waits its full delay', async () => {
    const d = new NodeDispatcher();
    const log: string[] = [];
    const start = performance.now();
    let rearmedAt = 0;
    const a: Timer = d.createTimer(() => {
      log.push('a');
      if (log.length === 1) {
        rearmedAt = performance.now();
        a.enableTimer(25);
      }
    });
    const b = d.createTimer(() => log.push('b'));
    const c = d.createTimer(() => log.push('c'));
    a.enableTimer(25);
    b.enableTimer(25);
    c.enableTimer(25);
    b.disableTimer();
    await waitFor(() => log.length === 3, 1000, 'three firings');
    expect(log).toEqual(['a', 'c', 'a']);
    expect(rearmedAt - start).toBeGreaterThanOrEqual(24);
    expect(performance.now() - rearmedAt).toBeGreaterThanOrEqual(24);
    expect(b.enabled()).toBe(false);
  });

  it('disarming the earliest timer of a delay leaves the later ones armed', async () => {
    const d = new NodeDispatcher();
    const fired: string[] = [];
    const first = d.createTimer(() => fired.push('first'));
    const second = d.createTimer(() => fired.push('second'));
    const start = performance.now();
    first.enableTimer(30);
    second.enableTimer(30);
    first.disableTimer();
    await waitFor(() => fired.length === 1, 1000, 'the later timer');
    expect(performance.now() - start).toBeGreaterThanOrEqual(29);
    await sleep(40);
    expect(fired).toEqual(['second']);
  });

  it('timers of different delays interleave by expiry', async () => {
    const d = new NodeDispatcher();
    const log: number[] = [];
    for (const ms of [40, 10, 30, 20]) d.createTimer(() => log.push(ms)).enableTimer(ms);
    await waitFor(() => log.length === 4, 1000, 'four timers');
    expect(log).toEqual([10, 20, 30, 40]);
  });
});

describe('NodeDispatcher deferredDelete', () => {
  it('runs after the current callback returns, in one batch, in order', async () => {
    const d = new NodeDispatcher();
    const log: string[] = [];
    d.deferredDelete({ onDeferredDelete: () => log.push('a') });
    d.deferredDelete({ onDeferredDelete: () => log.push('b') });
    expect(d.pendingDeferredDeletes()).toBe(2);
    log.push('sync end');
    await Promise.resolve();
    expect(log).toEqual(['sync end', 'a', 'b']);
    expect(d.pendingDeferredDeletes()).toBe(0);
  });

  it('deletions deferred by a deletion run in the same pass', async () => {
    const d = new NodeDispatcher();
    const log: string[] = [];
    d.deferredDelete({
      onDeferredDelete: () => {
        log.push('outer');
        d.deferredDelete({ onDeferredDelete: () => log.push('inner') });
      },
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(log).toEqual(['outer', 'inner']);
  });

  it('clearDeferredDeleteList destroys everything even if one throws, then rethrows the first error', () => {
    const d = new NodeDispatcher();
    const log: string[] = [];
    d.deferredDelete({
      onDeferredDelete: () => {
        throw new Error('boom');
      },
    });
    d.deferredDelete({ onDeferredDelete: () => log.push('second') });
    expect(() => d.clearDeferredDeleteList()).toThrow('boom');
    expect(log).toEqual(['second']);
    expect(d.pendingDeferredDeletes()).toBe(0);
  });
});

describe('NodeDispatcher post and clocks', () => {
  it('runs posted callbacks on a later turn, in order; posts from a callback wait for the next batch', async () => {
    const d = new NodeDispatcher();
    const log: string[] = [];
    d.post(() => {
      log.push('1');
      d.post(() => log.push('3'));
    });
    d.post(() => log.push('2'));
    await Promise.resolve();
    expect(log).toEqual([]);
    await waitFor(() => log.length === 3, 1000, 'posted callbacks');
    expect(log).toEqual(['1', '2', '3']);
  });

  it('monotonic time moves forward, system time is the wall clock', async () => {
    const d = new NodeDispatcher();
    const t0 = d.approximateMonotonicTime();
    await sleep(10);
    expect(d.approximateMonotonicTime() - t0).toBeGreaterThanOrEqual(9);
    expect(Math.abs(d.systemTime() - Date.now())).toBeLessThan(50);
  });
});

describe('NodeDispatcher approximateMonotonicTime', () => {
  it('reads the clock once per callback: constant within it, fresh in the next one', async () => {
    const d = new NodeDispatcher();
    const first = d.approximateMonotonicTime();
    const spinUntil = performance.now() + 3;
    while (performance.now() < spinUntil) {
      // busy: the real clock moves on, the approximate one must not
    }
    expect(d.approximateMonotonicTime()).toBe(first);
    await new Promise((r) => setTimeout(r, 0));
    const next = d.approximateMonotonicTime();
    expect(next).toBeGreaterThanOrEqual(first + 3);
    expect(next).toBeLessThanOrEqual(performance.now());
  });
});
