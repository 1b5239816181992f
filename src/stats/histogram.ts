import type { Histogram } from '../api/stats.js';

/** The quantiles Envoy reports for every histogram (`/stats`, `?format=json`). */
export const SUPPORTED_QUANTILES: readonly number[] = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];

/** Envoy's default Prometheus bucket bounds (`histogram_bucket_settings` unset). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** Bucket key of the value 0 (and of negatives, which are clamped). */
const ZERO_KEY = -1;
/** Exponent offset so every key is a non-negative integer. */
const EXP_BIAS = 400;

/**
 * A log-linear histogram like Envoy's circllhist: every value falls in a bucket of two significant
 * decimal digits ([2.0, 2.1), [13, 14), [450, 460), ...), so quantiles are within 5% and memory is
 * bounded by the number of distinct buckets (90 per decade), never by the number of samples.
 */
export class HistogramImpl implements Histogram {
  /** Bucket key -> sample count. */
  private readonly buckets = new Map<number, number>();
  private samples = 0;
  private total = 0;
  private usedFlag = false;

  constructor(readonly name: string) {}

  recordValue(v: number): void {
    const value = v > 0 && Number.isFinite(v) ? v : 0;
    const key = bucketKey(value);
    this.buckets.set(key, (this.buckets.get(key) ?? 0) + 1);
    this.samples++;
    this.total += value;
    this.usedFlag = true;
  }

  used(): boolean {
    return this.usedFlag;
  }

  sampleCount(): number {
    return this.samples;
  }

  sampleSum(): number {
    return this.total;
  }

  /**
   * The approximate value at quantile `q` in [0, 1] (circllhist's interpolation inside a bucket);
   * NaN when nothing was recorded.
   */
  quantile(q: number): number {
    return this.quantiles([q])[0]!;
  }

  /** quantile() for several values, sorting the buckets once. */
  quantiles(qs: readonly number[]): number[] {
    if (this.samples === 0) return qs.map(() => Number.NaN);
    const keys = this.sortedKeys();
    return qs.map((q) => {
      const target = Math.min(Math.max(q, 0), 1) * this.samples;
      let before = 0;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const count = this.buckets.get(key)!;
        if (before + count >= target || i === keys.length - 1) {
          const [lower, width] = bucketRange(key);
          const within = count === 0 ? 0 : Math.max(0, target - before) / count;
          return roundSignificant(lower + width * within);
        }
        before += count;
      }
      return Number.NaN;
    });
  }

  /**
   * Cumulative counts for Prometheus buckets: for each bound, the samples in buckets lying
   * entirely at or below it (circllhist's hist_approx_count_below, as Envoy exports).
   */
  cumulativeCounts(bounds: readonly number[]): number[] {
    const keys = this.sortedKeys();
    const out: number[] = [];
    let i = 0;
    let running = 0;
    for (const bound of bounds) {
      while (i < keys.length) {
        const key = keys[i]!;
        const [lower, width] = bucketRange(key);
        if (roundSignificant(lower + width) > bound) break;
        running += this.buckets.get(key)!;
        i++;
      }
      out.push(running);
    }
    return out;
  }

  /** Drops every sample (admin `/reset_counters` leaves histograms alone; tests use this). */
  clear(): void {
    this.buckets.clear();
    this.samples = 0;
    this.total = 0;
  }

  private sortedKeys(): number[] {
    return [...this.buckets.keys()].sort((a, b) => a - b);
  }
}

/** Key = (exponent + bias) * 100 + mantissa, with mantissa in [10, 99]; ordered like the values. */
function bucketKey(v: number): number {
  if (v === 0) return ZERO_KEY;
  let exp = Math.floor(Math.log10(v));
  let mantissa = Math.floor(v / 10 ** (exp - 1));
  // log10 and the division can be off by one ulp at decade edges.
  if (mantissa >= 100) {
    exp++;
    mantissa = Math.floor(v / 10 ** (exp - 1));
  } else if (mantissa < 10) {
    exp--;
    mantissa = Math.floor(v / 10 ** (exp - 1));
  }
  return (exp + EXP_BIAS) * 100 + mantissa;
}

/** [lower bound, width] of a bucket. */
function bucketRange(key: number): [number, number] {
  if (key === ZERO_KEY) return [0, 0];
  const exp = Math.floor(key / 100) - EXP_BIAS;
  const mantissa = key % 100;
  const scale = 10 ** (exp - 1);
  return [roundSignificant(mantissa * scale), scale];
}

/** Removes binary floating-point noise (2.0250000000000004 -> 2.025). */
function roundSignificant(v: number): number {
  return Number(v.toPrecision(12));
}
