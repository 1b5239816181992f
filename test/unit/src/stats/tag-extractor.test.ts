import { describe, expect, it } from 'vitest';
import { extractTags } from '../../../../src/stats/tag-extractor.js';

describe('extractTags (Envoy default tag extractors)', () => {
  const cases: Array<[string, string, Array<[string, string]>]> = [
    ['cluster.backend.upstream_cx_total', 'cluster.upstream_cx_total', [['envoy.cluster_name', 'backend']]],
    [
      'cluster.backend.upstream_rq_200',
      'cluster.upstream_rq',
      [
        ['envoy.response_code', '200'],
        ['envoy.cluster_name', 'backend'],
      ],
    ],
    [
      'http.ingress.downstream_rq_2xx',
      'http.downstream_rq_xx',
      [
        ['envoy.response_code_class', '2'],
        ['envoy.http_conn_manager_prefix', 'ingress'],
      ],
    ],
    [
      'cluster.backend.circuit_breakers.default.cx_open',
      'cluster.circuit_breakers.default.cx_open',
      [['envoy.cluster_name', 'backend']],
    ],
    ['listener.0.0.0.0_10000.downstream_cx_total', 'listener.downstream_cx_total', [['envoy.listener_address', '0.0.0.0_10000']]],
    [
      'listener.127.0.0.1_8080.http.ingress.downstream_rq_completed',
      'listener.http.downstream_rq_completed',
      [
        ['envoy.http_conn_manager_prefix', 'ingress'],
        ['envoy.listener_address', '127.0.0.1_8080'],
      ],
    ],
    ['tcp.ingress_tcp.downstream_cx_total', 'tcp.downstream_cx_total', [['envoy.tcp_prefix', 'ingress_tcp']]],
    ['listener_manager.worker_3.downstream_cx_active', 'listener_manager.downstream_cx_active', [['envoy.worker_id', 'worker_3']]],
    ['server.uptime', 'server.uptime', []],
    ['vhost.v1.vcluster.other.upstream_rq_retry', 'vhost.vcluster.upstream_rq_retry', [['envoy.virtual_cluster', 'other'], ['envoy.virtual_host', 'v1']]],
  ];
  for (const [name, extracted, tags] of cases) {
    it(name, () => {
      const r = extractTags(name);
      expect(r.extractedName).toBe(extracted);
      expect(r.tags.map((t) => [t.name, t.value])).toEqual(tags);
    });
  }
});
