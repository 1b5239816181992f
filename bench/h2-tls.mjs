// TLS termination and the upstream protocol: h2load (HTTP/2 over TLS, ALPN h2) against one sluice
// with two TLS listeners (ALPN h2,http/1.1): A proxies to an HTTP/1.1 upstream cluster, B to an
// HTTP/2 (h2c prior knowledge) upstream cluster; and, when nginx is installed, nginx terminating
// TLS + h2 and proxying to the same HTTP/1.1 origin (keep-alive upstream) as the yardstick. The
// origin (node:http and node:http2 h2c, both answering a 13-byte body) and h2load run on CPU 1,
// sluice and nginx (worker_processes 1) are pinned to CPU 0 (`taskset`, when there is one).
// Targets run alternately, REPS times; prints medians of req/s, p50/p99 (from h2load's
// --log-file, as the shared perfbench harness's lib/parse.js computes them), requests per proxy CPU-second (holds up
// better than req/s when other work shares the machine), and the ratios B/A and sluice/nginx.
//
//   npx tsc -p tsconfig.build.json && node bench/h2-tls.mjs
//   DURATION=8 REPS=3 CLIENTS=10 STREAMS=10 node bench/h2-tls.mjs
//   NGINX=/usr/sbin/nginx node bench/h2-tls.mjs     # NGINX= (empty) leaves nginx out
//   VERBOSE=1 node bench/h2-tls.mjs                 # every h2load output
//   STATS=1 node bench/h2-tls.mjs                   # sluice's connection and request counters at the end
//   SLUICE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' node bench/h2-tls.mjs
//
// Needs openssl and h2load (nghttp2-client) on PATH. Not a test: the numbers only mean something
// relative to each other. Everything it starts it stops, by PID; the whole run is bounded in time.
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAIN,
  SLUICE_NODE_ARGS,
  canPin,
  childPids,
  cpuSeconds,
  freePort,
  listen,
  pinSelf,
  pinnedTo,
  requireBuild,
  startChild as startTracked,
  stopChild,
  waitForPort,
} from './support.mjs';

const DURATION_S = Number(process.env.DURATION ?? 8);
const REPS = Number(process.env.REPS ?? 3);
const CLIENTS = Number(process.env.CLIENTS ?? 10);
const STREAMS = Number(process.env.STREAMS ?? 10);
/** Requests per target before the first rep (JIT, connection pools), count-based so it always ends. */
const WARMUP_REQUESTS = Number(process.env.WARMUP_REQUESTS ?? 5000);
/** h2load's own --warm-up-time before each measured run: the clients connect and handshake then. */
const H2LOAD_WARMUP_S = Number(process.env.H2LOAD_WARMUP ?? 1);
const PROXY_CPU = process.env.PROXY_CPU ?? '0';
const LOAD_CPU = process.env.LOAD_CPU ?? '1';
const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';
/** Hard bound on the whole run: whatever happens, everything is stopped by then. */
const OVERALL_LIMIT_MS = Number(process.env.TIME_LIMIT ?? 170) * 1000;

requireBuild();
for (const [tool, arg] of [['openssl', 'version'], ['h2load', '--version']]) {
  if (spawnSync(tool, [arg], { stdio: 'ignore' }).error) {
    console.error(`${tool} is not on PATH (apt-get install ${tool === 'h2load' ? 'nghttp2-client' : 'openssl'})`);
    process.exit(2);
  }
}
const haveNginx = NGINX !== '' && existsSync(NGINX);

pinSelf(LOAD_CPU);
const pinned = (cmd, args) => pinnedTo(PROXY_CPU, cmd, args);

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-h2tls-'));
/** Every child we start, so that every exit path stops exactly those. */
const children = new Set();
let cleanedUp = false;
function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    // nginx's worker outlives a SIGKILLed master: stop the children of what we started first.
    for (const pid of childPids(c.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    c.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
const overall = setTimeout(() => {
  console.error(`h2-tls bench: over ${OVERALL_LIMIT_MS / 1000}s, giving up`);
  process.exit(1);
}, OVERALL_LIMIT_MS);
overall.unref();

// ---- certificates: a throwaway CA and a leaf for 127.0.0.1 / localhost (P-256, two days) ----
const openssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
const ecKey = (path) => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path];
openssl(['req', '-x509', ...ecKey('ca.key'), '-out', 'ca.pem', '-days', '2', '-subj', '/CN=sluice-bench-ca',
  '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
openssl(['req', '-new', ...ecKey('leaf.key'), '-out', 'leaf.csr', '-subj', '/CN=localhost']);
openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '1', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext']);
const CERT = join(dir, 'leaf.pem');
const KEY = join(dir, 'leaf.key');

// ---- the origin, in this process (CPU 1): HTTP/1.1 and h2c, 13 bytes each ----
const body = Buffer.from('hello world!\n');
const h1Origin = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
});
const h1Port = await listen(h1Origin);
const h2Sessions = new Set();
const h2Origin = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
h2Origin.on('session', (s) => {
  h2Sessions.add(s);
  s.on('close', () => h2Sessions.delete(s));
  s.on('error', () => {});
});
h2Origin.on('stream', (stream) => {
  stream.on('error', () => {});
  stream.resume();
  const reply = () => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': body.length });
    stream.end(body);
  };
  if (stream.readableEnded) reply();
  else stream.on('end', reply);
});
const h2Port = await listen(h2Origin);

const startChild = (cmd, args, options) => startTracked(children, cmd, args, options);

// ---- sluice: two TLS listeners, one process ----
const portA = await freePort();
const portB = await freePort();
const adminPort = await freePort();
const tlsSocket = `
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [h2, http/1.1]
            tls_certificates:
            - certificate_chain: { filename: ${CERT} }
              private_key: { filename: ${KEY} }`;
const listener = (name, port, cluster) => `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - ${tlsSocket.trimStart()}
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: ${cluster} } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }`;
const cluster = (name, port, extra = '') => `
  - name: ${name}
    connect_timeout: 1s
    type: STATIC${extra}
    load_assignment:
      cluster_name: ${name}
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } }] }]`;
const sluiceYaml = join(dir, 'sluice.yaml');
writeFileSync(
  sluiceYaml,
  `admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${adminPort} } } }
static_resources:
  listeners:${listener('tls_to_h1', portA, 'origin_h1')}${listener('tls_to_h2', portB, 'origin_h2')}
  clusters:${cluster('origin_h1', h1Port)}${cluster(
    'origin_h2',
    h2Port,
    `
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }`,
  )}
`,
);
const sluice = startChild(...pinned(process.execPath, [...SLUICE_NODE_ARGS, MAIN, '-c', sluiceYaml, '--log-level', 'warn']));

// ---- nginx: TLS + h2 terminator, one worker, proxying to the HTTP/1.1 origin with keep-alive ----
let nginx;
let nginxPort;
if (haveNginx) {
  nginxPort = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  # sluice writes no access log in this bench, so neither does nginx.
  access_log off;
  client_body_temp_path ${dir}/nginx-client-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  keepalive_requests 1000000;
  upstream origin {
    server 127.0.0.1:${h1Port};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${nginxPort} ssl http2;
    ssl_certificate ${CERT};
    ssl_certificate_key ${KEY};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  nginx = startChild(...pinned(NGINX, ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', conf, '-g', 'daemon off;']));
}

await waitForPort(portA, 10_000, sluice);
await waitForPort(portB, 10_000, sluice);
if (nginx !== undefined) await waitForPort(nginxPort, 10_000, nginx);

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/**
 * One h2load run, timed (`-D seconds` after `--warm-up-time`) or counted (`-n`); resolves with
 * req/s, p50/p99 (ms, from the log file), requests succeeded, errors and the protocol.
 *
 * Timed runs always use a warm-up: h2load before 1.69.0 (Debian 12 ships 1.52.0) never stops a
 * client whose TLS handshake is still under way when -D runs out (nghttp2 commit 6813f88c, "h2load:
 * Fix bug that h2load does not stop early with -D option"): that client then sends requests until
 * killed and h2load never prints its summary. With the warm-up every handshake has finished long
 * before the measured duration ends.
 */
async function h2load(port, { seconds, requests, logFile, onMainStart, onMainEnd }) {
  const args = [`https://127.0.0.1:${port}/`, '-c', String(CLIENTS), '-m', String(STREAMS)];
  args.push(...(seconds !== undefined ? ['--warm-up-time', String(H2LOAD_WARMUP_S), '-D', String(seconds)] : ['-n', String(requests)]));
  if (logFile !== undefined) args.push('--log-file', logFile);
  const child = startChild('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let phase = 0;
  child.stdout.on('data', (d) => {
    out += d;
    // h2load flushes these lines as the phases change: the CPU samples bracket the measured part.
    if (phase === 0 && out.includes('Main benchmark duration is started')) {
      phase = 1;
      onMainStart?.();
    }
    if (phase === 1 && out.includes('Main benchmark duration is over')) {
      phase = 2;
      onMainEnd?.();
    }
  });
  child.stderr.on('data', (d) => (out += d));
  const limitS = (seconds ?? 0) + H2LOAD_WARMUP_S + 15;
  const timer = setTimeout(() => child.kill('SIGKILL'), limitS * 1000);
  const started = Date.now();
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  if (code !== 0 || signal !== null) {
    out += `\n(h2load exited with ${signal ?? `code ${code}`} after ${((Date.now() - started) / 1000).toFixed(1)}s`;
    if (signal === 'SIGKILL' && /Stopped all clients/.test(out) && !/finished in/.test(out)) out += '; it hung after its duration: see the h2load note in bench/h2-tls.mjs';
    out += ')\n';
  }
  const m = (re) => out.match(re) ?? [];
  const [, rps] = m(/finished in [\d.]+\w*, ([\d.]+) req\/s/);
  const q = m(/requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/);
  const st = m(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/);
  const [, proto] = m(/Application protocol: (\S+)/);
  let p50 = NaN;
  let p99 = NaN;
  if (logFile !== undefined && existsSync(logFile)) {
    // Columns: start (µs since the epoch), status, duration (µs).
    const lat = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => Number(l.split('\t')[2]) / 1e3).sort((a, b) => a - b);
    if (lat.length > 0) [p50, p99] = [pct(lat, 0.5), pct(lat, 0.99)];
    rmSync(logFile, { force: true });
  }
  const errors = Number(q[5] ?? 0) + Number(q[6] ?? 0) + Number(q[7] ?? 0) + Number(st[3] ?? 0) + Number(st[4] ?? 0);
  const failedRun = code !== 0 || signal !== null || rps === undefined;
  return { rps: Number(rps ?? NaN), p50, p99, ok: Number(q[4] ?? 0), errors, proto: proto ?? '?', out, failedRun };
}

const targets = [
  { name: 'sluice A (h2 TLS -> HTTP/1.1)', key: 'A', port: portA, pid: sluice.pid },
  { name: 'sluice B (h2 TLS -> h2c)', key: 'B', port: portB, pid: sluice.pid },
  ...(nginx !== undefined ? [{ name: 'nginx (h2 TLS -> HTTP/1.1)', key: 'nginx', port: nginxPort, pid: nginx.pid }] : []),
];
const results = new Map(targets.map((t) => [t.key, { rps: [], p50: [], p99: [], perCpu: [], proxyBusy: [], originBusy: [], errors: 0, proto: new Set() }]));
let problems = 0;

async function adminStats(filter) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: `/stats?filter=${encodeURIComponent(filter)}`, timeout: 2_000 }, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve(t));
    });
    req.on('error', (e) => resolve(`(admin: ${e.message})`));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

for (const t of targets) {
  const w = await h2load(t.port, { requests: WARMUP_REQUESTS });
  if (w.failedRun || w.errors > 0) console.error(`warm-up ${t.name}: ${w.errors} errors${w.failedRun ? ', h2load failed' : ''}\n${w.out}`);
}
for (let rep = 0; rep < REPS; rep++) {
  for (const t of rep % 2 === 0 ? targets : [...targets].reverse()) {
    const sample = () => ({ cpu: cpuSeconds(t.pid), own: process.cpuUsage(), at: process.hrtime.bigint() });
    let s0;
    let s1;
    const r = await h2load(t.port, {
      seconds: DURATION_S,
      logFile: join(dir, `h2load-${t.key}-${rep}.log`),
      onMainStart: () => (s0 = sample()),
      onMainEnd: () => (s1 = sample()),
    });
    let [perCpu, proxyBusy, originBusy] = [NaN, NaN, NaN];
    if (s0 !== undefined && s1 !== undefined) {
      const wall = Number(s1.at - s0.at) / 1e9;
      const own = process.cpuUsage(s0.own);
      const ownEnd = process.cpuUsage(s1.own);
      const ownSeconds = (own.user + own.system - (ownEnd.user + ownEnd.system)) / 1e6;
      // How busy the proxy and the origin (this process, otherwise idle) were: a proxy well under
      // 100% means the load side (h2load + origin on one CPU) or the machine limited req/s.
      originBusy = (100 * ownSeconds) / wall;
      if (s0.cpu !== undefined && s1.cpu !== undefined) {
        proxyBusy = (100 * (s1.cpu - s0.cpu)) / wall;
        if (s1.cpu > s0.cpu) perCpu = r.ok / (s1.cpu - s0.cpu);
      }
    }
    const res = results.get(t.key);
    res.rps.push(r.rps);
    res.p50.push(r.p50);
    res.p99.push(r.p99);
    res.perCpu.push(perCpu);
    res.proxyBusy.push(proxyBusy);
    res.originBusy.push(originBusy);
    res.errors += r.errors;
    res.proto.add(r.proto);
    console.error(
      `rep ${rep + 1} ${t.name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${perCpu.toFixed(0)} req/CPU-s, proxy CPU ${proxyBusy.toFixed(0)}%, origin CPU ${originBusy.toFixed(0)}%, ${r.errors} errors, ALPN ${r.proto}`,
    );
    if (process.env.VERBOSE === '1' || r.failedRun || r.errors > 0 || r.proto !== 'h2') {
      problems++;
      console.error(`---- h2load output (${t.name}) ----\n${r.out}`);
      if (t.key !== 'nginx') console.error(`---- sluice stats ----\n${await adminStats('(upstream_rq_|upstream_cx_|downstream_rq_[45]xx|_reset|_protocol_error|rx_reset|tx_reset)')}`);
    }
  }
}

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.floor(v.length / 2)];
};
const row = (key) => {
  const r = results.get(key);
  return { rps: median(r.rps), p50: median(r.p50), p99: median(r.p99), perCpu: median(r.perCpu), proxyBusy: median(r.proxyBusy), originBusy: median(r.originBusy), errors: r.errors, proto: [...r.proto].join(',') };
};
const f = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const a = row('A');
const b = row('B');
const ng = nginx !== undefined ? row('nginx') : undefined;
console.log(
  `\nh2load https://127.0.0.1:PORT/ -c ${CLIENTS} -m ${STREAMS} --warm-up-time ${H2LOAD_WARMUP_S} -D ${DURATION_S}, 13-byte body, ${REPS} reps (medians)` +
    `${canPin ? `, proxies on CPU ${PROXY_CPU}, h2load and origin on CPU ${LOAD_CPU}` : ', unpinned'}\n`,
);
console.log('| target | ALPN | req/s | p50 ms | p99 ms | req per proxy CPU-s | proxy CPU % | origin CPU % | errors | req/s vs A | req/s vs nginx |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const t of targets) {
  const r = row(t.key);
  console.log(
    `| ${t.name} | ${r.proto} | ${f(r.rps, 0)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.perCpu, 0)} | ${f(r.proxyBusy, 0)} | ${f(r.originBusy, 0)} | ${r.errors} | ${f(r.rps / a.rps, 2)} | ${ng ? f(r.rps / ng.rps, 2) : 'n/a'} |`,
  );
}
console.log(`\nB / A: req/s ${f(b.rps / a.rps, 2)}, p50 ${f(b.p50 / a.p50, 2)}, p99 ${f(b.p99 / a.p99, 2)}, req per CPU-s ${f(b.perCpu / a.perCpu, 2)}`);
if (ng) console.log(`A / nginx: req/s ${f(a.rps / ng.rps, 2)}, req per CPU-s ${f(a.perCpu / ng.perCpu, 2)}`);
if (problems > 0) console.log(`\n${problems} run(s) had errors, a failed h2load or no h2: see stderr`);

if (process.env.STATS === '1') console.error(`---- sluice stats ----\n${await adminStats('(cluster\\.origin_h[12]\\.upstream_(cx|rq)_(total|active|max|pending|overflow|[0-9]xx)|downstream_(cx|rq)_total)')}`);
await stopChild(sluice);
if (nginx !== undefined) await stopChild(nginx);
for (const s of h2Sessions) s.destroy();
h1Origin.closeAllConnections();
h1Origin.close();
h2Origin.close();
cleanup();
process.exit(problems > 0 ? 1 : 0);
