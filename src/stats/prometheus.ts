import { DEFAULT_BUCKETS, type HistogramImpl } from './histogram.js';
import type { CounterImpl, GaugeImpl, StatsStore } from './store.js';
import { TagExtractor, type Tag } from './tag-extractor.js';
import type { StatsFilter } from './text.js';

const INVALID = /[^a-zA-Z0-9_]/g;

/** Prometheus names match [a-zA-Z_][a-zA-Z0-9_]*; the `envoy_` prefix supplies the first char. */
export function sanitizePrometheusName(name: string): string {
  return name.replace(INVALID, '_');
}

/** Envoy's metric name: `envoy_` + the sanitized tag-extracted name. */
export function prometheusMetricName(extractedName: string): string {
  return `envoy_${sanitizePrometheusName(extractedName)}`;
}

/** Label values escape backslash, double quote and newline (the exposition format's rule). */
function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

export function formatTags(tags: readonly Tag[]): string {
  return tags.map((t) => `${sanitizePrometheusName(t.name)}="${escapeLabelValue(t.value)}"`).join(',');
}

interface Named {
  readonly name: string;
  used(): boolean;
}

/**
 * Renders the store in the Prometheus text exposition format exactly as Envoy's
 * `/stats/prometheus`: counters, then gauges, then histograms; within each kind one family per
 * tag-extracted name in name order, each family `# TYPE` line first, its series sorted by full
 * stat name, and a blank line after the family.
 */
export class PrometheusFormatter {
  private readonly tags = new TagExtractor();

  constructor(private readonly buckets: readonly number[] = DEFAULT_BUCKETS) {}

  format(store: StatsStore, f: StatsFilter = {}): string {
    const out: string[] = [];
    this.outputKind(out, store.counters(), f, 'counter', (c: CounterImpl, name, tags) => {
      out.push(`${name}{${tags}} ${c.value()}\n`);
    });
    this.outputKind(out, store.gauges(), f, 'gauge', (g: GaugeImpl, name, tags) => {
      out.push(`${name}{${tags}} ${g.value()}\n`);
    });
    this.outputKind(out, store.histograms(), f, 'histogram', (h: HistogramImpl, name, tags) => {
      this.histogramLines(out, h, name, tags);
    });
    return out.join('');
  }

  private outputKind<S extends Named>(
    out: string[],
    stats: Iterable<S>,
    f: StatsFilter,
    type: 'counter' | 'gauge' | 'histogram',
    render: (stat: S, metricName: string, tags: string) => void,
  ): void {
    const groups = new Map<string, Array<{ stat: S; tags: readonly Tag[] }>>();
    for (const stat of stats) {
      if (f.usedOnly === true && !stat.used()) continue;
      if (f.filter !== undefined) {
        f.filter.lastIndex = 0;
        if (!f.filter.test(stat.name)) continue;
      }
      const { extractedName, tags } = this.tags.extract(stat.name);
      let group = groups.get(extractedName);
      if (group === undefined) {
        group = [];
        groups.set(extractedName, group);
      }
      group.push({ stat, tags });
    }
    const names = [...groups.keys()].sort();
    for (const extracted of names) {
      const metricName = prometheusMetricName(extracted);
      out.push(`# TYPE ${metricName} ${type}\n`);
      const members = groups.get(extracted)!;
      members.sort((a, b) => (a.stat.name < b.stat.name ? -1 : a.stat.name > b.stat.name ? 1 : 0));
      for (const m of members) render(m.stat, metricName, formatTags(m.tags));
      out.push('\n');
    }
  }

  private histogramLines(out: string[], h: HistogramImpl, name: string, tags: string): void {
    const bucketTags = tags === '' ? '' : `${tags},`;
    const counts = h.cumulativeCounts(this.buckets);
    for (let i = 0; i < this.buckets.length; i++) {
      out.push(`${name}_bucket{${bucketTags}le="${this.buckets[i]}"} ${counts[i]}\n`);
    }
    out.push(`${name}_bucket{${bucketTags}le="+Inf"} ${h.sampleCount()}\n`);
    out.push(`${name}_sum{${tags}} ${h.sampleSum()}\n`);
    out.push(`${name}_count{${tags}} ${h.sampleCount()}\n`);
  }
}

/** One-shot rendering with Envoy's default buckets. */
export function statsAsPrometheus(store: StatsStore, f: StatsFilter = {}): string {
  return new PrometheusFormatter().format(store, f);
}
