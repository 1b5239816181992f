import { SUPPORTED_QUANTILES, type HistogramImpl } from './histogram.js';
import type { CounterImpl, GaugeImpl, StatsStore } from './store.js';

/** Query options of `/stats` (Envoy's StatsParams, the parts sluice supports). */
export interface StatsFilter {
  /** Only stats updated at least once (`?usedonly`). */
  readonly usedOnly?: boolean;
  /** Only stats whose full name matches (`?filter=<regex>`). */
  readonly filter?: RegExp;
  /** `?type=Counters|Gauges|Histograms|All` (Envoy's spelling). */
  readonly type?: 'All' | 'Counters' | 'Gauges' | 'Histograms';
}

interface Usable {
  readonly name: string;
  used(): boolean;
}

function shown(stat: Usable, f: StatsFilter): boolean {
  if (f.usedOnly === true && !stat.used()) return false;
  if (f.filter !== undefined) {
    f.filter.lastIndex = 0;
    if (!f.filter.test(stat.name)) return false;
  }
  return true;
}

const byName = (a: Usable, b: Usable): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Counters and gauges, filtered and sorted by name together (Envoy's first phase of /stats). */
function scalarStats(store: StatsStore, f: StatsFilter): Array<CounterImpl | GaugeImpl> {
  const out: Array<CounterImpl | GaugeImpl> = [];
  const type = f.type ?? 'All';
  if (type === 'All' || type === 'Counters') for (const c of store.counters()) if (shown(c, f)) out.push(c);
  if (type === 'All' || type === 'Gauges') for (const g of store.gauges()) if (shown(g, f)) out.push(g);
  return out.sort(byName);
}

function histogramStats(store: StatsStore, f: StatsFilter): HistogramImpl[] {
  const type = f.type ?? 'All';
  if (type !== 'All' && type !== 'Histograms') return [];
  const out: HistogramImpl[] = [];
  for (const h of store.histograms()) if (shown(h, f)) out.push(h);
  return out.sort(byName);
}

/** Envoy prints doubles with `{}` (shortest form): 2, 2.025, nan. */
function formatDouble(v: number): string {
  return Number.isNaN(v) ? 'nan' : String(v);
}

/** Percentage label of a quantile: 0.995 -> 99.5. */
function quantileLabel(q: number): string {
  return String(Number((q * 100).toPrecision(12)));
}

/**
 * Envoy's quantile summary: `P0(interval,cumulative) P25(...) ...`. sluice has no flush interval,
 * so the interval figure is always `nan`, as Envoy prints before its first flush.
 */
export function histogramSummary(h: HistogramImpl): string {
  if (!h.used()) return 'No recorded values';
  const values = h.quantiles(SUPPORTED_QUANTILES);
  return SUPPORTED_QUANTILES.map((q, i) => `P${quantileLabel(q)}(nan,${formatDouble(values[i]!)})`).join(' ');
}

/**
 * Envoy's `/stats` text: `name: value` lines for counters and gauges sorted by name, then the
 * histograms sorted by name with their quantile summary.
 */
export function statsAsText(store: StatsStore, f: StatsFilter = {}): string {
  const lines: string[] = [];
  for (const s of scalarStats(store, f)) lines.push(`${s.name}: ${s.value()}\n`);
  for (const h of histogramStats(store, f)) lines.push(`${h.name}: ${histogramSummary(h)}\n`);
  return lines.join('');
}

interface JsonQuantileValue {
  interval: number | null;
  cumulative: number | null;
}

/**
 * Envoy's `/stats?format=json`:
 * `{"stats":[{"name":..,"value":..},..,{"histograms":{"supported_quantiles":[..],"computed_quantiles":[..]}}]}`.
 */
export function statsAsJson(store: StatsStore, f: StatsFilter = {}): string {
  const stats: unknown[] = scalarStats(store, f).map((s) => ({ name: s.name, value: s.value() }));
  const histograms = histogramStats(store, f);
  if (histograms.length > 0) {
    stats.push({
      histograms: {
        supported_quantiles: SUPPORTED_QUANTILES.map((q) => Number(quantileLabel(q))),
        computed_quantiles: histograms.map((h) => {
          const values = h.quantiles(SUPPORTED_QUANTILES);
          return {
            name: h.name,
            values: values.map(
              (v): JsonQuantileValue => ({ interval: null, cumulative: Number.isNaN(v) ? null : v }),
            ),
          };
        }),
      },
    });
  }
  return JSON.stringify({ stats });
}
