import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer, type ServerState } from '../../../../src/admin/admin-server.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { ClusterManagerImpl } from '../../../../src/upstream/cluster-manager.js';
import { HealthFlag } from '../../../../src/upstream/host.js';
import { FakeConnection, ManualDispatcher } from '../../../support/l4-fakes.js';

const started: AdminServer[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

interface Fixture {
  admin: AdminServer;
  store: StatsStore;
  cm: ClusterManagerImpl;
  base: string;
  setState: (s: ServerState) => void;
  quits: number[];
  hc: boolean[];
}

async function start(): Promise<Fixture> {
  const store = new StatsStore();
  const dispatcher = new ManualDispatcher();
  const cm = new ClusterManagerImpl({
    clusters: [
      {
        name: 'backend',
        hosts: [
          { address: '127.0.0.1', port: 8080 },
          { address: '127.0.0.1', port: 8081, weight: 3, hostname: 'b' },
        ],
        circuitBreakers: { default: { maxConnections: 10 } },
      },
    ],
    scope: store,
    dispatcher,
    connectionFactory: () => new FakeConnection(dispatcher),
  });
  let state: ServerState = 'LIVE';
  const quits: number[] = [];
  const hc: boolean[] = [];
  const admin = new AdminServer({
    port: 0,
    store,
    clusterManager: cm,
    state: () => state,
    version: 'sluice/0.1.0',
    commandLineOptions: { config_path: '/etc/sluice.yaml', concurrency: 1 },
    startTimeMs: Date.now() - 5000,
    onQuit: () => quits.push(1),
    onHealthCheckChange: (failed) => hc.push(failed),
  });
  await admin.start();
  started.push(admin);
  const a = admin.address();
  return { admin, store, cm, base: `http://${a.address}:${a.port}`, setState: (s) => (state = s), quits, hc };
}

async function get(url: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
}

describe('AdminServer over HTTP', () => {
  it('binds port 0 on 127.0.0.1 and reports the address', async () => {
    const f = await start();
    const a = f.admin.address();
    expect(a.address).toBe('127.0.0.1');
    expect(a.port).toBeGreaterThan(0);
  });

  it('/ready follows the state and the health-check flag', async () => {
    const f = await start();
    expect(await get(`${f.base}/ready`)).toEqual({ status: 200, body: 'LIVE\n', type: 'text/plain; charset=UTF-8' });
    expect(await get(`${f.base}/healthcheck/fail`, 'POST')).toMatchObject({ status: 200, body: 'OK\n' });
    expect(await get(`${f.base}/ready`)).toMatchObject({ status: 503, body: 'DRAINING\n' });
    expect(f.admin.healthCheckFailed()).toBe(true);
    expect(await get(`${f.base}/healthcheck/ok`, 'POST')).toMatchObject({ status: 200, body: 'OK\n' });
    expect(await get(`${f.base}/ready`)).toMatchObject({ status: 200, body: 'LIVE\n' });
    expect(f.hc).toEqual([true, false]);
    f.setState('PRE_INITIALIZING');
    expect(await get(`${f.base}/ready`)).toMatchObject({ status: 503, body: 'PRE_INITIALIZING\n' });
    f.setState('DRAINING');
    expect(await get(`${f.base}/ready`)).toMatchObject({ status: 503, body: 'DRAINING\n' });
  });

  it('requires POST for state-changing endpoints', async () => {
    const f = await start();
    expect(await get(`${f.base}/healthcheck/fail`)).toMatchObject({ status: 405, body: 'Method GET not allowed, POST required.' });
    expect(await get(`${f.base}/quitquitquit`)).toMatchObject({ status: 405, body: 'Method GET not allowed, POST required.' });
    expect(f.admin.healthCheckFailed()).toBe(false);
    expect(f.quits).toEqual([]);
  });

  it('/quitquitquit answers OK then calls the shutdown callback', async () => {
    const f = await start();
    expect(await get(`${f.base}/quitquitquit`, 'POST')).toMatchObject({ status: 200, body: 'OK\n' });
    const deadline = Date.now() + 3000;
    while (f.quits.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(f.quits).toEqual([1]);
  });

  it('/stats, ?format=json, ?filter, ?usedonly and /stats/prometheus', async () => {
    const f = await start();
    // Fresh store apart from the cluster stats: use a filter to keep the bodies exact.
    f.store.counter('http.ingress.downstream_rq_total').inc(3);
    f.store.gauge('http.ingress.downstream_rq_active').set(1);
    expect(await get(`${f.base}/stats?filter=^http\\.`)).toEqual({
      status: 200,
      body: 'http.ingress.downstream_rq_active: 1\nhttp.ingress.downstream_rq_total: 3\n',
      type: 'text/plain; charset=UTF-8',
    });
    expect(await get(`${f.base}/stats?format=json&filter=downstream_rq_total`)).toEqual({
      status: 200,
      body: '{"stats":[{"name":"http.ingress.downstream_rq_total","value":3}]}',
      type: 'application/json',
    });
    expect((await get(`${f.base}/stats?usedonly&filter=^cluster\\.backend\\.upstream_cx`)).body).toBe('');
    expect((await get(`${f.base}/stats/prometheus?filter=^http\\.`)).body).toBe(
      '# TYPE envoy_http_downstream_rq_total counter\n' +
        'envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"} 3\n\n' +
        '# TYPE envoy_http_downstream_rq_active gauge\n' +
        'envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="ingress"} 1\n\n',
    );
    const all = await get(`${f.base}/stats`);
    expect(all.body).toContain('cluster.backend.upstream_cx_total: 0\n');
    expect(all.body).toContain('cluster.backend.circuit_breakers.default.cx_open: 0\n');
    expect(all.body).toContain('cluster.backend.upstream_cx_connect_ms: No recorded values\n');
    expect(await get(`${f.base}/stats?filter=(`)).toMatchObject({ status: 400 });
    expect(await get(`${f.base}/stats?format=xml`)).toMatchObject({ status: 400 });
  });

  it('/reset_counters zeroes counters', async () => {
    const f = await start();
    f.store.counter('a.b').inc(5);
    expect(await get(`${f.base}/reset_counters`, 'POST')).toMatchObject({ status: 200, body: 'OK\n' });
    expect(f.store.counter('a.b').value()).toBe(0);
  });

  it('/clusters prints Envoy text', async () => {
    const f = await start();
    const c = f.cm.getThreadLocalCluster('backend')!;
    c.hosts()[1]!.healthFlagSet(HealthFlag.FAILED_ACTIVE_HC);
    c.hosts()[0]!.onConnectionOpen();
    const host = (port: number, hostname: string, cx: number, flags: string, weight: number) =>
      [
        `backend::127.0.0.1:${port}::cx_active::${cx}`,
        `backend::127.0.0.1:${port}::cx_connect_fail::0`,
        `backend::127.0.0.1:${port}::cx_total::${cx}`,
        `backend::127.0.0.1:${port}::rq_active::0`,
        `backend::127.0.0.1:${port}::rq_error::0`,
        `backend::127.0.0.1:${port}::rq_success::0`,
        `backend::127.0.0.1:${port}::rq_timeout::0`,
        `backend::127.0.0.1:${port}::rq_total::0`,
        `backend::127.0.0.1:${port}::hostname::${hostname}`,
        `backend::127.0.0.1:${port}::health_flags::${flags}`,
        `backend::127.0.0.1:${port}::weight::${weight}`,
        `backend::127.0.0.1:${port}::region::`,
        `backend::127.0.0.1:${port}::zone::`,
        `backend::127.0.0.1:${port}::sub_zone::`,
        `backend::127.0.0.1:${port}::canary::false`,
        `backend::127.0.0.1:${port}::priority::0`,
        `backend::127.0.0.1:${port}::success_rate::-1`,
        `backend::127.0.0.1:${port}::local_origin_success_rate::-1`,
      ];
    const expected = [
      'backend::observability_name::backend',
      'backend::default_priority::max_connections::10',
      'backend::default_priority::max_pending_requests::1024',
      'backend::default_priority::max_requests::1024',
      'backend::default_priority::max_retries::3',
      'backend::high_priority::max_connections::1024',
      'backend::high_priority::max_pending_requests::1024',
      'backend::high_priority::max_requests::1024',
      'backend::high_priority::max_retries::3',
      'backend::added_via_api::false',
      ...host(8080, '', 1, 'healthy', 1),
      ...host(8081, 'b', 0, '/failed_active_hc', 3),
    ];
    expect(await get(`${f.base}/clusters`)).toEqual({
      status: 200,
      body: expected.map((l) => `${l}\n`).join(''),
      type: 'text/plain; charset=UTF-8',
    });
  });

  it('/clusters?format=json', async () => {
    const f = await start();
    const r = await get(`${f.base}/clusters?format=json`);
    expect(r.type).toBe('application/json');
    const body = JSON.parse(r.body);
    expect(body.cluster_statuses[0].name).toBe('backend');
    expect(body.cluster_statuses[0].circuit_breakers.thresholds[0]).toEqual({
      max_connections: 10,
      max_pending_requests: 1024,
      max_requests: 1024,
      max_retries: 3,
    });
    expect(body.cluster_statuses[0].host_statuses[1]).toEqual({
      address: { socket_address: { address: '127.0.0.1', port_value: 8081 } },
      stats: [
        { name: 'cx_active', type: 'GAUGE' },
        { name: 'cx_connect_fail' },
        { name: 'cx_total' },
        { name: 'rq_active', type: 'GAUGE' },
        { name: 'rq_error' },
        { name: 'rq_success' },
        { name: 'rq_timeout' },
        { name: 'rq_total' },
      ],
      health_status: { eds_health_status: 'HEALTHY' },
      weight: 3,
      hostname: 'b',
      locality: {},
    });
  });

  it('/server_info reports version, state, uptime and options', async () => {
    const f = await start();
    await get(`${f.base}/healthcheck/fail`, 'POST');
    const r = await get(`${f.base}/server_info`);
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/json');
    const info = JSON.parse(r.body);
    expect(info).toEqual({
      version: 'sluice/0.1.0',
      state: 'DRAINING',
      uptime_current_epoch: expect.stringMatching(/^[5-9]s$/),
      uptime_all_epochs: expect.stringMatching(/^[5-9]s$/),
      hot_restart_version: 'disabled',
      command_line_options: { config_path: '/etc/sluice.yaml', concurrency: 1 },
    });
    expect(r.body.startsWith('{\n "version": "sluice/0.1.0",\n "state": "DRAINING",\n')).toBe(true);
  });

  it('answers an unknown path with 404 and the command list; /help lists the same', async () => {
    const f = await start();
    const help =
      'admin commands are:\n' +
      '  /: Admin home page\n' +
      '  /clusters: upstream cluster status\n' +
      '      format: File format to use; One of (text, json)\n' +
      '  /healthcheck/fail (POST): cause the server to fail health checks\n' +
      '  /healthcheck/ok (POST): cause the server to pass health checks\n' +
      '  /help: print out list of admin commands\n' +
      '  /memory: print current allocation/heap usage\n' +
      '  /quitquitquit (POST): exit the server\n' +
      '  /ready: print server state, return 200 if LIVE, otherwise return 503\n' +
      '  /reset_counters (POST): reset all counters to zero\n' +
      '  /server_info: print server version/status information\n' +
      '  /stats: print server stats\n' +
      '      usedonly: Only include stats that have been written by system since restart\n' +
      '      filter: Regular expression (ECMAScript) for filtering stats\n' +
      '      format: Format to use; One of (text, json, prometheus)\n' +
      '      type: Stat types to include.; One of (All, Counters, Gauges, Histograms)\n' +
      '  /stats/prometheus: print server stats in prometheus format\n' +
      '      usedonly: Only include stats that have been written by system since restart\n' +
      '      filter: Regular expression (ECMAScript) for filtering stats\n';
    expect(await get(`${f.base}/nope`)).toEqual({ status: 404, body: `invalid path. ${help}`, type: 'text/plain; charset=UTF-8' });
    expect(await get(`${f.base}/help`)).toMatchObject({ status: 200, body: help });
  });

  it('serves pages added with addHandler and rejects duplicates', async () => {
    const f = await start();
    expect(f.admin.addHandler('/listeners', 'print listener info', false, () => ({ status: 200, body: 'l1\n' }))).toBe(true);
    expect(f.admin.addHandler('/listeners', 'again', false, () => ({ status: 200, body: '' }))).toBe(false);
    expect(f.admin.addHandler('/bad?x', 'bad', false, () => ({ status: 200, body: '' }))).toBe(false);
    expect(await get(`${f.base}/listeners`)).toMatchObject({ status: 200, body: 'l1\n' });
  });

  it('/memory returns JSON', async () => {
    const f = await start();
    const r = await get(`${f.base}/memory`);
    expect(r.status).toBe(200);
    expect(Number(JSON.parse(r.body).allocated)).toBeGreaterThan(0);
  });

  it('treats a leading // as part of the path, not a host', async () => {
    const f = await start();
    expect((await f.admin.request('GET', '//ready')).status).toBe(404);
    expect((await f.admin.request('GET', '/ready?x=1')).body).toBe('LIVE\n');
  });
});
