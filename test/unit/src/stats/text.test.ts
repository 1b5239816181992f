import { describe, expect, it } from 'vitest';
import { StatsStore } from '../../../../src/stats/store.js';
import { histogramSummary, statsAsJson, statsAsText } from '../../../../src/stats/text.js';

function sample(): StatsStore {
  const store = new StatsStore();
  const c = store.createScope('cluster.x');
  c.counter('upstream_cx_total').inc(3);
  c.gauge('upstream_cx_active').set(1);
  store.counter('a.first');
  store.histogram('cluster.x.upstream_cx_connect_ms').recordValue(2);
  store.histogram('z.empty');
  return store;
}

describe('/stats text and json', () => {
  it('prints counters and gauges sorted together, then histograms', () => {
    expect(statsAsText(sample())).toBe(
      'a.first: 0\n' +
        'cluster.x.upstream_cx_active: 1\n' +
        'cluster.x.upstream_cx_total: 3\n' +
        'cluster.x.upstream_cx_connect_ms: P0(nan,2) P25(nan,2.025) P50(nan,2.05) P75(nan,2.075) P90(nan,2.09) ' +
        'P95(nan,2.095) P99(nan,2.099) P99.5(nan,2.0995) P99.9(nan,2.0999) P100(nan,2.1)\n' +
        'z.empty: No recorded values\n',
    );
  });

  it('filters by type, regex and usedonly', () => {
    const store = sample();
    expect(statsAsText(store, { type: 'Gauges' })).toBe('cluster.x.upstream_cx_active: 1\n');
    expect(statsAsText(store, { usedOnly: true, type: 'Counters' })).toBe('cluster.x.upstream_cx_total: 3\n');
    expect(statsAsText(store, { filter: /empty/ })).toBe('z.empty: No recorded values\n');
  });

  it('renders Envoy-shaped json', () => {
    const store = new StatsStore();
    store.counter('c').inc(2);
    store.histogram('h');
    expect(JSON.parse(statsAsJson(store))).toEqual({
      stats: [
        { name: 'c', value: 2 },
        {
          histograms: {
            supported_quantiles: [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100],
            computed_quantiles: [
              { name: 'h', values: Array.from({ length: 10 }, () => ({ interval: null, cumulative: null })) },
            ],
          },
        },
      ],
    });
    expect(statsAsJson(new StatsStore())).toBe('{"stats":[]}');
  });

  it('summarizes a histogram', () => {
    const store = new StatsStore();
    const h = store.histogram('h');
    h.recordValue(10);
    h.recordValue(10);
    expect(histogramSummary(h)).toBe(
      'P0(nan,10) P25(nan,10.25) P50(nan,10.5) P75(nan,10.75) P90(nan,10.9) P95(nan,10.95) P99(nan,10.99) ' +
        'P99.5(nan,10.995) P99.9(nan,10.999) P100(nan,11)',
    );
  });
});
