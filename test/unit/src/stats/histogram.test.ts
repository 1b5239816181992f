import { describe, expect, it } from 'vitest';
import { DEFAULT_BUCKETS, HistogramImpl, SUPPORTED_QUANTILES } from '../../../../src/stats/histogram.js';

describe('HistogramImpl (log-linear, two significant digits)', () => {
  it('reports NaN quantiles when empty', () => {
    const h = new HistogramImpl('h');
    expect(h.used()).toBe(false);
    expect(h.quantile(0.5)).toBeNaN();
  });

  it('interpolates inside the bucket of a single value like circllhist', () => {
    const h = new HistogramImpl('h');
    h.recordValue(2);
    expect(h.quantiles(SUPPORTED_QUANTILES)).toEqual([2, 2.025, 2.05, 2.075, 2.09, 2.095, 2.099, 2.0995, 2.0999, 2.1]);
  });

  it('is within one bucket (<= 10%) of the exact quantiles over a spread', () => {
    const h = new HistogramImpl('h');
    for (let i = 1; i <= 1000; i++) h.recordValue(i);
    expect(h.sampleCount()).toBe(1000);
    expect(h.sampleSum()).toBe(500500);
    const exact = [500, 900, 990];
    const got = h.quantiles([0.5, 0.9, 0.99]);
    for (let i = 0; i < exact.length; i++) {
      expect(Math.abs(got[i]! - exact[i]!) / exact[i]!).toBeLessThan(0.1);
    }
  });

  it('handles zero, negatives, fractions and decade edges', () => {
    const h = new HistogramImpl('h');
    h.recordValue(0);
    h.recordValue(-5);
    h.recordValue(0.3);
    h.recordValue(1000);
    h.recordValue(99.99);
    expect(h.quantile(0)).toBe(0);
    expect(h.quantile(1)).toBe(1100);
    expect(h.cumulativeCounts([0.5, 1, 100, 1000, 1100])).toEqual([3, 3, 4, 4, 5]);
  });

  it('counts a bucket under a bound only when the bucket lies entirely below it', () => {
    const h = new HistogramImpl('h');
    h.recordValue(1); // bucket [1.0, 1.1)
    h.recordValue(0.95); // bucket [0.95, 0.96)
    const counts = h.cumulativeCounts(DEFAULT_BUCKETS);
    expect(counts[0]).toBe(0); // le 0.5
    expect(counts[1]).toBe(1); // le 1
    expect(counts[2]).toBe(2); // le 5
    expect(counts[counts.length - 1]).toBe(2);
  });
});
