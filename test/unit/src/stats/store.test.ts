import { describe, expect, it } from 'vitest';
import { sanitizeStatName, StatsStore } from '../../../../src/stats/store.js';

describe('StatsStore', () => {
  it('joins scope prefixes with dots and returns the same object for the same name', () => {
    const store = new StatsStore();
    const cluster = store.createScope('cluster.backend');
    const c = cluster.counter('upstream_cx_total');
    expect(c.name).toBe('cluster.backend.upstream_cx_total');
    expect(cluster.counter('upstream_cx_total')).toBe(c);
    expect(store.counter('cluster.backend.upstream_cx_total')).toBe(c);
    expect(cluster.createScope('circuit_breakers.default').gauge('cx_open').name).toBe(
      'cluster.backend.circuit_breakers.default.cx_open',
    );
    expect(store.createScope('').counter('x').name).toBe('x');
  });

  it('sanitizes names as Envoy does: colons become underscores, outer dots go', () => {
    expect(sanitizeStatName('listener.127.0.0.1:10000')).toBe('listener.127.0.0.1_10000');
    expect(sanitizeStatName('.http.ingress.')).toBe('http.ingress');
    const store = new StatsStore();
    expect(store.createScope('http.ingress.').counter('downstream_rq_total').name).toBe('http.ingress.downstream_rq_total');
  });

  it('counts, gauges and tracks used', () => {
    const store = new StatsStore();
    const c = store.counter('a');
    expect(c.used()).toBe(false);
    c.inc();
    c.inc(4);
    expect(c.value()).toBe(5);
    expect(c.used()).toBe(true);
    const g = store.gauge('g');
    g.inc(3);
    g.dec();
    expect(g.value()).toBe(2);
    g.set(10);
    expect(g.value()).toBe(10);
    expect(store.findCounter('a')).toBe(c);
    expect(store.findGauge('nope')).toBeUndefined();
  });

  it('keeps counters, gauges and histograms in separate namespaces', () => {
    const store = new StatsStore();
    store.counter('x').inc();
    store.gauge('x').set(7);
    expect(store.counter('x').value()).toBe(1);
    expect(store.gauge('x').value()).toBe(7);
    expect([...store.counters()].length).toBe(1);
    expect([...store.gauges()].length).toBe(1);
  });

  it('resetCounters zeroes counters only', () => {
    const store = new StatsStore();
    store.counter('c').inc(3);
    store.gauge('g').set(3);
    store.histogram('h').recordValue(3);
    store.resetCounters();
    expect(store.counter('c').value()).toBe(0);
    expect(store.counter('c').used()).toBe(true);
    expect(store.gauge('g').value()).toBe(3);
    expect(store.histogram('h').sampleCount()).toBe(1);
  });
});
