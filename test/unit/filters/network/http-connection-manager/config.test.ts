import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HTTP1_OPTIONS, DEFAULT_HTTP2_OPTIONS } from '../../../../../codecs/index.js';
import { createHcmRuntime, HCM_TYPE_URL, hcmFactory, parseHcmConfig } from '../../../../../filters/network/http-connection-manager/config.js';
import { HttpConnectionManager } from '../../../../../filters/network/http-connection-manager/hcm.js';
import type { ConfigValidationContext, FactoryContext, NamedHttpFilterConfigFactory } from '../../../../../src/api/filter-config.js';
import type { ReadFilter } from '../../../../../src/api/network.js';
import type { ClusterManager } from '../../../../../src/api/upstream.js';
import { StreamInfoImpl } from '../../../../../src/access-log/stream-info-impl.js';
import { LifecycleNotifier } from '../../../../../src/server/lifecycle-notifier.js';
import { StatsStore } from '../../../../../src/stats/store.js';
import { configErrorOf } from '../../../../support/config-errors.js';
import { FakeConnection, FakeDispatcher, FakeDrain, silentLogger } from './fakes.js';

const ROUTE_CONFIG = {
  virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }],
};

function terminal(name: string, isTerminalFilter: boolean): NamedHttpFilterConfigFactory<{ v: unknown }> {
  return {
    name,
    typeUrls: [`type.googleapis.com/test.${name}`],
    isTerminalFilter,
    parseConfig: (raw) => ({ v: raw }),
    createFilterFactory: () => () => undefined,
  };
}

const FACTORIES = new Map([
  ['envoy.filters.http.router', terminal('envoy.filters.http.router', true)],
  ['test.pass', terminal('test.pass', false)],
]);

const validation: ConfigValidationContext = {
  clusterExists: () => true,
  httpFilterFactory: (name) => FACTORIES.get(name),
};

function minimal(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '@type': HCM_TYPE_URL,
    stat_prefix: 'ingress_http',
    route_config: ROUTE_CONFIG,
    http_filters: [{ name: 'envoy.filters.http.router' }],
    ...extra,
  };
}

const P = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

describe('HttpConnectionManager config', () => {
  it("applies Envoy's defaults (server name sluice)", () => {
    const c = parseHcmConfig(minimal(), P, validation);
    expect(c.settings).toEqual({
      statPrefix: 'ingress_http',
      codecType: 'AUTO',
      useRemoteAddress: false,
      xffNumTrustedHops: 0,
      skipXffAppend: false,
      via: '',
      generateRequestId: true,
      preserveExternalRequestId: false,
      serverName: 'sluice',
      serverHeaderTransformation: 'OVERWRITE',
      idleTimeoutMs: 3_600_000,
      maxConnectionDurationMs: 0,
      maxStreamDurationMs: 0,
      maxRequestsPerConnection: 0,
      streamIdleTimeoutMs: 300_000,
      requestTimeoutMs: 0,
      requestHeadersTimeoutMs: 0,
      drainTimeoutMs: 5000,
      delayedCloseTimeoutMs: 1000,
      headersWithUnderscoresAction: 'ALLOW',
      maxRequestHeadersKb: 60,
      maxHeadersCount: 100,
      upgrades: new Map(),
      normalizePath: false,
      mergeSlashes: false,
      stripPortMode: 'none',
      http1: DEFAULT_HTTP1_OPTIONS,
      http2: DEFAULT_HTTP2_OPTIONS,
    });
    expect(c.httpFilters.map((f) => [f.name, f.path])).toEqual([['envoy.filters.http.router', `${P}.http_filters[0]`]]);
    expect(c.accessLogs).toEqual([]);
  });

  it('reads every supported field', () => {
    const c = parseHcmConfig(
      minimal({
        codec_type: 'HTTP2',
        use_remote_address: true,
        xff_num_trusted_hops: 2,
        skip_xff_append: true,
        via: 'sluice-edge',
        generate_request_id: false,
        preserve_external_request_id: true,
        server_name: 'edge',
        server_header_transformation: 'PASS_THROUGH',
        common_http_protocol_options: {
          idle_timeout: '30s',
          max_connection_duration: '600s',
          max_headers_count: 50,
          max_stream_duration: '20s',
          max_requests_per_connection: 3,
          headers_with_underscores_action: 'REJECT_REQUEST',
        },
        http_protocol_options: { accept_http_10: false, default_host_for_http_10: 'legacy.local' },
        http2_protocol_options: { max_concurrent_streams: 64, initial_stream_window_size: 65536, allow_connect: true },
        max_request_headers_kb: 96,
        stream_idle_timeout: '10s',
        request_timeout: '15s',
        request_headers_timeout: '2s',
        drain_timeout: '1s',
        delayed_close_timeout: '0.5s',
        upgrade_configs: [{ upgrade_type: 'WebSocket' }, { upgrade_type: 'CONNECT', enabled: false }],
        normalize_path: true,
        merge_slashes: true,
        strip_any_host_port: true,
        access_log: [{ name: 'envoy.access_loggers.stdout' }],
      }),
      P,
      validation,
    );
    expect(c.settings).toMatchObject({
      codecType: 'HTTP2',
      useRemoteAddress: true,
      xffNumTrustedHops: 2,
      skipXffAppend: true,
      via: 'sluice-edge',
      generateRequestId: false,
      preserveExternalRequestId: true,
      serverName: 'edge',
      serverHeaderTransformation: 'PASS_THROUGH',
      idleTimeoutMs: 30_000,
      maxConnectionDurationMs: 600_000,
      maxStreamDurationMs: 20_000,
      maxRequestsPerConnection: 3,
      streamIdleTimeoutMs: 10_000,
      requestTimeoutMs: 15_000,
      requestHeadersTimeoutMs: 2000,
      drainTimeoutMs: 1000,
      delayedCloseTimeoutMs: 500,
      headersWithUnderscoresAction: 'REJECT_REQUEST',
      maxRequestHeadersKb: 96,
      maxHeadersCount: 50,
      upgrades: new Map([
        ['websocket', true],
        ['connect', false],
      ]),
      normalizePath: true,
      mergeSlashes: true,
      stripPortMode: 'any',
    });
    expect(c.settings.http1).toEqual({ maxHeadersKb: 96, maxHeadersCount: 50, acceptHttp10: false, defaultHostForHttp10: 'legacy.local' });
    expect(c.settings.http2).toMatchObject({ maxConcurrentStreams: 64, initialStreamWindowSize: 65536, allowConnect: true, maxHeadersKb: 96, maxHeadersCount: 50 });
    expect(c.accessLogs.map((a) => a.kind)).toEqual(['stdout']);
  });

  it.each([
    [{ stat_prefix: undefined }, P + '.stat_prefix', 'required field is missing'],
    [{ tracing: {} }, P, 'field "tracing" is not supported by sluice yet'],
    [{ rds: {} }, P, 'field "rds" is not supported by sluice yet'],
    [{ bogus: 1 }, P, 'unknown field "bogus"'],
    [{ codec_type: 'HTTP3' }, P + '.codec_type', 'HTTP3 is not supported by sluice yet'],
    [{ max_request_headers_kb: 8193 }, P + '.max_request_headers_kb', 'expected an integer in [1, 8192], got 8193'],
    [{ http_filters: [] }, P + '.http_filters', 'must have at least one entry (the router, last)'],
    [{ http_filters: [{ name: 'nope' }] }, P + '.http_filters[0].name', 'unknown HTTP filter "nope"'],
    [
      { http_filters: [{ name: 'envoy.filters.http.router' }, { name: 'test.pass' }] },
      P + '.http_filters[0].name',
      'terminal filter "envoy.filters.http.router" must be the last HTTP filter',
    ],
    [
      { http_filters: [{ name: 'test.pass' }] },
      P + '.http_filters[0].name',
      'the last HTTP filter must be a terminal filter such as envoy.filters.http.router, not "test.pass"',
    ],
    [{ route_config: undefined }, P, 'route_config is required (rds and scoped_routes are not supported by sluice yet)'],
    [{ common_http_protocol_options: { max_response_headers_kb: 5 } }, P + '.common_http_protocol_options', 'field "max_response_headers_kb" is not supported by sluice yet'],
    [{ http2_protocol_options: { custom_settings_parameters: [] } }, P + '.http2_protocol_options', 'field "custom_settings_parameters" is not supported by sluice yet'],
    [{ upgrade_configs: [{ upgrade_type: 'websocket', filters: [] }] }, P + '.upgrade_configs[0]', 'field "filters" is not supported by sluice yet'],
    [{ access_log: [{ name: 'envoy.access_loggers.stdout', filter: {} }] }, P + '.access_log[0]', 'field "filter" is not supported by sluice yet'],
    [{ strip_any_host_port: true, strip_matching_host_port: true }, P, 'only one of strip_matching_host_port, strip_any_host_port may be set'],
  ])('rejects %j', (extra, path, detail) => {
    const e = configErrorOf(() => parseHcmConfig(minimal(extra), P, validation));
    expect(e.problems[0]).toEqual({ path, detail });
  });

  it('resolves http_filters at factory creation when parsed without a validation context', () => {
    const c = parseHcmConfig(minimal({ http_filters: [{ name: 'test.pass' }] }), P);
    const ctx = factoryContext();
    const e = configErrorOf(() => hcmFactory.createFilterFactory(c, ctx));
    expect(e.problems[0]).toEqual({
      path: `${P}.http_filters[0].name`,
      detail: 'the last HTTP filter must be a terminal filter such as envoy.filters.http.router, not "test.pass"',
    });
  });

  it('installs an HttpConnectionManager read filter with stats under http.<stat_prefix>', () => {
    const c = parseHcmConfig(minimal(), P, validation);
    const ctx = factoryContext();
    const cb = hcmFactory.createFilterFactory(c, ctx);
    const added: ReadFilter[] = [];
    const disp = new FakeDispatcher();
    const conn = new FakeConnection(disp);
    cb({ addReadFilter: (f) => added.push(f), addWriteFilter: () => undefined, addFilter: () => undefined }, conn);
    expect(added).toHaveLength(1);
    expect(added[0]).toBeInstanceOf(HttpConnectionManager);
    added[0]!.initializeReadFilterCallbacks({ connection: () => conn, continueReading: () => undefined, injectReadDataToFilterChain: () => undefined });
    added[0]!.onNewConnection();
    expect((ctx.scope as StatsStore).counter('http.ingress_http.downstream_cx_total').value()).toBe(1);
    expect(conn.delayedCloseMs).toBe(1000);
  });
});

function factoryContext(lifecycleNotifier = new LifecycleNotifier()): FactoryContext {
  const store = new StatsStore();
  return {
    clusterManager: {} as ClusterManager,
    scope: store,
    listenerScope: store.createScope('listener.127.0.0.1_0'),
    dispatcher: new FakeDispatcher(),
    logger: silentLogger,
    drainDecision: new FakeDrain(),
    lifecycleNotifier,
    listenerName: 'l0',
    httpFilterFactory: (name) => FACTORIES.get(name),
  };
}

describe('access logs at shutdown', () => {
  it('registers one ShutdownExit callback that flushes the access logs to their files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-hcm-'));
    try {
      const path = join(dir, 'access.log');
      const file = { name: 'envoy.access_loggers.file', typed_config: { path, log_format: { text_format: '%RESPONSE_CODE% last line\n' } } };
      const c = parseHcmConfig(minimal({ access_log: [file, file] }), P, validation);
      const notifier = new LifecycleNotifier();
      const runtime = createHcmRuntime(c, factoryContext(notifier));
      const info = new StreamInfoImpl({ systemTime: () => 0, approximateMonotonicTime: () => 0 });
      info.responseCode = 200;
      for (const log of runtime.accessLogs) log.log(info);
      // Nothing is written before the batch goes out (a later loop turn), unless flushed.
      expect(readFileSync(path, 'utf8')).toBe('');
      expect(await notifier.runStage('ShutdownExit', 2000, silentLogger)).toBe(true);
      expect(readFileSync(path, 'utf8')).toBe('200 last line\n200 last line\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('registers nothing without access logs', async () => {
    const notifier = new LifecycleNotifier();
    let registered = 0;
    const counting = { registerCallback: (...args: Parameters<LifecycleNotifier['registerCallback']>) => (registered++, notifier.registerCallback(...args)) };
    createHcmRuntime(parseHcmConfig(minimal(), P, validation), { ...factoryContext(), lifecycleNotifier: counting });
    expect(registered).toBe(0);
  });
});
