/**
 * The HTTP connection manager's stats, with Envoy's names: `http.<stat_prefix>.*` and the
 * per-listener `listener.<address>.http.<stat_prefix>.*` response code counters.
 */
import type { Counter, Gauge, Histogram, Scope } from '../../../src/api/stats.js';

const COUNTERS = [
  'downstream_cx_total',
  'downstream_cx_http1_total',
  'downstream_cx_http2_total',
  'downstream_cx_ssl_total',
  'downstream_cx_protocol_error',
  'downstream_cx_destroy',
  'downstream_cx_destroy_remote',
  'downstream_cx_destroy_local',
  'downstream_cx_destroy_active_rq',
  'downstream_cx_destroy_local_active_rq',
  'downstream_cx_destroy_remote_active_rq',
  'downstream_cx_idle_timeout',
  'downstream_cx_max_duration_reached',
  'downstream_cx_drain_close',
  'downstream_cx_max_requests_reached',
  'downstream_cx_rx_bytes_total',
  'downstream_cx_tx_bytes_total',
  'downstream_cx_delayed_close_timeout',
  'downstream_rq_total',
  'downstream_rq_http1_total',
  'downstream_rq_http2_total',
  'downstream_rq_1xx',
  'downstream_rq_2xx',
  'downstream_rq_3xx',
  'downstream_rq_4xx',
  'downstream_rq_5xx',
  'downstream_rq_completed',
  'downstream_rq_timeout',
  'downstream_rq_idle_timeout',
  'downstream_rq_header_timeout',
  'downstream_rq_max_duration_reached',
  'downstream_rq_rx_reset',
  'downstream_rq_tx_reset',
  'downstream_rq_too_large',
  'downstream_rq_response_before_rq_complete',
  'downstream_rq_ws_on_non_ws_route',
  'downstream_rq_failed_path_normalization',
  'downstream_rq_non_relative_path',
  'downstream_flow_control_paused_reading_total',
  'downstream_flow_control_resumed_reading_total',
  'rs_too_large',
] as const;

const GAUGES = [
  'downstream_cx_active',
  'downstream_cx_http1_active',
  'downstream_cx_http2_active',
  'downstream_rq_active',
  'downstream_cx_rx_bytes_buffered',
  'downstream_cx_tx_bytes_buffered',
] as const;

const HISTOGRAMS = ['downstream_cx_length_ms', 'downstream_rq_time'] as const;

export type HcmStats = { readonly [K in (typeof COUNTERS)[number]]: Counter } & { readonly [K in (typeof GAUGES)[number]]: Gauge } & {
  readonly [K in (typeof HISTOGRAMS)[number]]: Histogram;
};

/** Envoy's ConnectionManagerListenerStats. */
export interface HcmListenerStats {
  readonly downstream_rq_completed: Counter;
  readonly downstream_rq_1xx: Counter;
  readonly downstream_rq_2xx: Counter;
  readonly downstream_rq_3xx: Counter;
  readonly downstream_rq_4xx: Counter;
  readonly downstream_rq_5xx: Counter;
}

/** `scope` is the HCM's own scope (`http.<stat_prefix>`). */
export function createHcmStats(scope: Scope): HcmStats {
  const out: Record<string, Counter | Gauge | Histogram> = {};
  for (const n of COUNTERS) out[n] = scope.counter(n);
  for (const n of GAUGES) out[n] = scope.gauge(n);
  for (const n of HISTOGRAMS) out[n] = scope.histogram(n);
  return out as HcmStats;
}

/** `scope` is `listener.<address>.http.<stat_prefix>`. */
export function createHcmListenerStats(scope: Scope): HcmListenerStats {
  return {
    downstream_rq_completed: scope.counter('downstream_rq_completed'),
    downstream_rq_1xx: scope.counter('downstream_rq_1xx'),
    downstream_rq_2xx: scope.counter('downstream_rq_2xx'),
    downstream_rq_3xx: scope.counter('downstream_rq_3xx'),
    downstream_rq_4xx: scope.counter('downstream_rq_4xx'),
    downstream_rq_5xx: scope.counter('downstream_rq_5xx'),
  };
}

/** Counts a response code in `downstream_rq_Nxx` (codes outside 100..599 count nowhere). */
export function chargeResponseCode(stats: HcmStats | HcmListenerStats, code: number): void {
  if (code >= 100 && code < 200) stats.downstream_rq_1xx.inc();
  else if (code >= 200 && code < 300) stats.downstream_rq_2xx.inc();
  else if (code >= 300 && code < 400) stats.downstream_rq_3xx.inc();
  else if (code >= 400 && code < 500) stats.downstream_rq_4xx.inc();
  else if (code >= 500 && code < 600) stats.downstream_rq_5xx.inc();
}
