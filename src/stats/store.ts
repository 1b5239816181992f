import type { Counter, Gauge, Scope } from '../api/stats.js';
import { HistogramImpl } from './histogram.js';

/**
 * A counter is an object with a number field: inc() on the hot path is one addition and one store.
 * `used` follows Envoy's flag: set by the first update, kept across /reset_counters.
 */
export class CounterImpl implements Counter {
  private count = 0;
  private usedFlag = false;

  constructor(readonly name: string) {}

  inc(n = 1): void {
    this.count += n;
    this.usedFlag = true;
  }

  value(): number {
    return this.count;
  }

  used(): boolean {
    return this.usedFlag;
  }

  reset(): void {
    this.count = 0;
  }
}

export class GaugeImpl implements Gauge {
  private current = 0;
  private usedFlag = false;

  constructor(readonly name: string) {}

  inc(n = 1): void {
    this.current += n;
    this.usedFlag = true;
  }

  dec(n = 1): void {
    this.current -= n;
    this.usedFlag = true;
  }

  set(v: number): void {
    this.current = v;
    this.usedFlag = true;
  }

  value(): number {
    return this.current;
  }

  used(): boolean {
    return this.usedFlag;
  }
}

export type StatKind = 'counter' | 'gauge' | 'histogram';

/**
 * Envoy's stat-name sanitizing: ':' becomes '_' (addresses like `127.0.0.1:80` in names) and
 * leading/trailing dots are dropped, so `createScope('cluster.a.')` and `createScope('cluster.a')`
 * name the same scope.
 */
export function sanitizeStatName(name: string): string {
  let out = name.includes(':') ? name.replaceAll(':', '_') : name;
  let start = 0;
  let end = out.length;
  while (start < end && out.charCodeAt(start) === 0x2e) start++;
  while (end > start && out.charCodeAt(end - 1) === 0x2e) end--;
  if (start !== 0 || end !== out.length) out = out.slice(start, end);
  return out;
}

function join(prefix: string, name: string): string {
  const clean = sanitizeStatName(name);
  if (prefix === '') return clean;
  if (clean === '') return prefix;
  return `${prefix}.${clean}`;
}

/**
 * The one flat store of a process: full name -> stat, one map per kind. Scopes are views that
 * prepend their prefix; asking twice for a name returns the same object, so callers look a stat up
 * once (at construction) and keep the reference.
 */
export class StatsStore implements Scope {
  readonly prefix = '';
  private readonly counterMap = new Map<string, CounterImpl>();
  private readonly gaugeMap = new Map<string, GaugeImpl>();
  private readonly histogramMap = new Map<string, HistogramImpl>();

  counter(name: string): CounterImpl {
    return this.counterFromFullName(join('', name));
  }

  gauge(name: string): GaugeImpl {
    return this.gaugeFromFullName(join('', name));
  }

  histogram(name: string): HistogramImpl {
    return this.histogramFromFullName(join('', name));
  }

  createScope(name: string): Scope {
    return new ScopeImpl(this, join('', name));
  }

  counterFromFullName(full: string): CounterImpl {
    let c = this.counterMap.get(full);
    if (c === undefined) {
      c = new CounterImpl(full);
      this.counterMap.set(full, c);
    }
    return c;
  }

  gaugeFromFullName(full: string): GaugeImpl {
    let g = this.gaugeMap.get(full);
    if (g === undefined) {
      g = new GaugeImpl(full);
      this.gaugeMap.set(full, g);
    }
    return g;
  }

  histogramFromFullName(full: string): HistogramImpl {
    let h = this.histogramMap.get(full);
    if (h === undefined) {
      h = new HistogramImpl(full);
      this.histogramMap.set(full, h);
    }
    return h;
  }

  /** The stat of that full name, if it exists. */
  findCounter(full: string): CounterImpl | undefined {
    return this.counterMap.get(full);
  }

  findGauge(full: string): GaugeImpl | undefined {
    return this.gaugeMap.get(full);
  }

  findHistogram(full: string): HistogramImpl | undefined {
    return this.histogramMap.get(full);
  }

  counters(): IterableIterator<CounterImpl> {
    return this.counterMap.values();
  }

  gauges(): IterableIterator<GaugeImpl> {
    return this.gaugeMap.values();
  }

  histograms(): IterableIterator<HistogramImpl> {
    return this.histogramMap.values();
  }

  /** Admin `/reset_counters`: counters go to zero; gauges and histograms are untouched (as Envoy). */
  resetCounters(): void {
    for (const c of this.counterMap.values()) c.reset();
  }
}

/** A prefix over the store (Envoy's scope); scopes of scopes concatenate prefixes with '.'. */
class ScopeImpl implements Scope {
  constructor(
    private readonly store: StatsStore,
    readonly prefix: string,
  ) {}

  counter(name: string): CounterImpl {
    return this.store.counterFromFullName(join(this.prefix, name));
  }

  gauge(name: string): GaugeImpl {
    return this.store.gaugeFromFullName(join(this.prefix, name));
  }

  histogram(name: string): HistogramImpl {
    return this.store.histogramFromFullName(join(this.prefix, name));
  }

  createScope(name: string): Scope {
    return new ScopeImpl(this.store, join(this.prefix, name));
  }
}
