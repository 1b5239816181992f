import { describe, expect, it } from 'vitest';
import { PrometheusFormatter, sanitizePrometheusName, statsAsPrometheus } from '../../../../src/stats/prometheus.js';
import { StatsStore } from '../../../../src/stats/store.js';

describe('Prometheus exposition (Envoy /stats/prometheus)', () => {
  it('renders counters, gauges, then histograms; families by tag-extracted name with tags', () => {
    const store = new StatsStore();
    const b = store.createScope('cluster.b');
    const a = store.createScope('cluster.a');
    b.counter('upstream_cx_total').inc(2);
    a.counter('upstream_cx_total').inc(5);
    a.counter('upstream_rq_200').inc(7);
    store.counter('server.total_connections').inc();
    a.gauge('upstream_cx_active').set(3);
    store.createScope('http.ingress').counter('downstream_rq_2xx').inc(4);
    expect(statsAsPrometheus(store)).toBe(
      [
        '# TYPE envoy_cluster_upstream_cx_total counter',
        'envoy_cluster_upstream_cx_total{envoy_cluster_name="a"} 5',
        'envoy_cluster_upstream_cx_total{envoy_cluster_name="b"} 2',
        '',
        '# TYPE envoy_cluster_upstream_rq counter',
        'envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="a"} 7',
        '',
        '# TYPE envoy_http_downstream_rq_xx counter',
        'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"} 4',
        '',
        '# TYPE envoy_server_total_connections counter',
        'envoy_server_total_connections{} 1',
        '',
        '# TYPE envoy_cluster_upstream_cx_active gauge',
        'envoy_cluster_upstream_cx_active{envoy_cluster_name="a"} 3',
        '',
        '',
      ].join('\n'),
    );
  });

  it('renders histograms with cumulative buckets, +Inf, sum and count', () => {
    const store = new StatsStore();
    const h = store.createScope('cluster.a').histogram('upstream_cx_connect_ms');
    h.recordValue(0.2);
    h.recordValue(3);
    h.recordValue(70);
    const f = new PrometheusFormatter([1, 10, 100]);
    expect(f.format(store)).toBe(
      [
        '# TYPE envoy_cluster_upstream_cx_connect_ms histogram',
        'envoy_cluster_upstream_cx_connect_ms_bucket{envoy_cluster_name="a",le="1"} 1',
        'envoy_cluster_upstream_cx_connect_ms_bucket{envoy_cluster_name="a",le="10"} 2',
        'envoy_cluster_upstream_cx_connect_ms_bucket{envoy_cluster_name="a",le="100"} 3',
        'envoy_cluster_upstream_cx_connect_ms_bucket{envoy_cluster_name="a",le="+Inf"} 3',
        'envoy_cluster_upstream_cx_connect_ms_sum{envoy_cluster_name="a"} 73.2',
        'envoy_cluster_upstream_cx_connect_ms_count{envoy_cluster_name="a"} 3',
        '',
        '',
      ].join('\n'),
    );
  });

  it('renders an untagged histogram with Envoy default buckets', () => {
    const store = new StatsStore();
    store.histogram('server.initialization_time_ms');
    const out = statsAsPrometheus(store).split('\n');
    expect(out[0]).toBe('# TYPE envoy_server_initialization_time_ms histogram');
    expect(out[1]).toBe('envoy_server_initialization_time_ms_bucket{le="0.5"} 0');
    expect(out[19]).toBe('envoy_server_initialization_time_ms_bucket{le="3600000"} 0');
    expect(out[20]).toBe('envoy_server_initialization_time_ms_bucket{le="+Inf"} 0');
    expect(out[21]).toBe('envoy_server_initialization_time_ms_sum{} 0');
    expect(out[22]).toBe('envoy_server_initialization_time_ms_count{} 0');
    expect(out.length).toBe(25);
  });

  it('sanitizes names and escapes label values', () => {
    expect(sanitizePrometheusName('a.b-c:d')).toBe('a_b_c_d');
    const store = new StatsStore();
    store.createScope('cluster.we"ird\\x').counter('upstream_cx_total').inc();
    expect(statsAsPrometheus(store)).toBe(
      '# TYPE envoy_cluster_upstream_cx_total counter\nenvoy_cluster_upstream_cx_total{envoy_cluster_name="we\\"ird\\\\x"} 1\n\n',
    );
  });

  it('honours usedonly and filter', () => {
    const store = new StatsStore();
    store.counter('a.used').inc();
    store.counter('a.unused');
    store.counter('b.used').inc();
    expect(statsAsPrometheus(store, { usedOnly: true, filter: /^a\./ })).toBe('# TYPE envoy_a_used counter\nenvoy_a_used{} 1\n\n');
  });
});
