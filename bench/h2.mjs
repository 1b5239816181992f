// HTTP/2 downstream throughput: h2load (h2c prior knowledge, `-c 10 -m 10`, small GET) through
// sluice (h2c listener, HTTP/1.1 upstream), through a minimal proxy on Node's http2 module (the
// core stream API, http.Agent keep-alive upstream), and through nginx (`listen ... http2`
// cleartext, upstream keep-alive), in one run against the same origin. The proxies are pinned to
// CPU 0 (`taskset`), h2load and the origin to CPU 1. For every rep, in rotating order, each proxy
// is started fresh, warmed up, then measured for DURATION seconds. Prints req/s and the proxy's
// CPU time per request (from /proc: holds up when other work shares the machine), medians of
// REPS, and sluice's ratios to each peer.
//
//   npx tsc -p tsconfig.build.json && node bench/h2.mjs
//   DURATION=8 REPS=3 node bench/h2.mjs
//   PEERS=sluice,nodeh2 node bench/h2.mjs
//   SLUICE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' node bench/h2.mjs   # profile sluice
//
// The origin is nginx (`return 200 "Hello, World!"`) when nginx is installed, else a node:http
// server in this process. nginx as a proxy peer is skipped (with a message) when it is missing.
// Not a test: the numbers only mean something relative to each other.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAIN,
  SLUICE_NODE_ARGS,
  canPin,
  cpuSeconds,
  freePort,
  httpProxyYaml,
  listen,
  pinSelf,
  pinnedTo,
  requireBuild,
  startChild,
  stopChild,
  waitForPort,
} from './support.mjs';

const DURATION = Number(process.env.DURATION ?? 8);
const WARMUP = Number(process.env.WARMUP ?? 2);
const REPS = Number(process.env.REPS ?? 3);
const CONNS = Number(process.env.CONNS ?? 10);
const STREAMS = Number(process.env.STREAMS ?? 10);
const PROXY_CPU = process.env.PROXY_CPU ?? '0';
const LOAD_CPU = process.env.LOAD_CPU ?? '1';
const BODY = 'Hello, World!';

requireBuild();
if (spawnSync('h2load', ['--version']).status !== 0) {
  console.error('h2load is missing (Debian: apt-get install nghttp2-client)');
  process.exit(2);
}
const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
pinSelf(LOAD_CPU);

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-h2-'));
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `cmd` pinned to `cpu`: taskset execs it, so the child's pid is the proxy's (for /proc). */
function launch(cpu, cmd, args) {
  const [c, a] = pinnedTo(cpu, cmd, args);
  return startChild(children, c, a, { stdio: ['ignore', 'ignore', 'inherit'] });
}

function nginxTemp(name) {
  const t = join(dir, `${name}-tmp`);
  mkdirSync(t, { recursive: true });
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${t}/${k};`).join(' ');
}

/** nginx in one process (master_process off), so /proc of its pid is all of its CPU. */
function nginxConf(name, server) {
  const file = join(dir, `${name}.conf`);
  writeFileSync(
    file,
    `master_process off;
daemon off;
worker_processes 1;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
events { worker_connections 16384; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  ${nginxTemp(name)}
  ${server}
}
`,
  );
  return file;
}

// ---- the origin ------------------------------------------------------------------------------

let originPort;
let originChild;
if (NGINX !== undefined) {
  originPort = await freePort();
  const conf = nginxConf('origin', `server {
    listen 127.0.0.1:${originPort} backlog=4096;
    location / { default_type text/plain; return 200 "${BODY}"; }
  }`);
  originChild = launch(LOAD_CPU, NGINX, ['-p', dir, '-c', conf]);
  await waitForPort(originPort, 10_000, originChild);
} else {
  const origin = http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
      res.end(BODY);
    });
  });
  originPort = await listen(origin);
}

// ---- the peers -------------------------------------------------------------------------------

// A minimal h2c -> HTTP/1.1 proxy on node:http2's core stream API (what perfbench calls nodeh2).
const NODEH2_SRC = `
const http = require('node:http');
const http2 = require('node:http2');
const [port, upstreamPort] = process.argv.slice(1).map(Number);
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings', 'host']);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
http2.createServer().on('stream', (stream, h) => {
  const headers = { host: h[':authority'] };
  for (const k in h) if (k[0] !== ':' && !HOP.has(k)) headers[k] = h[k];
  const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: h[':method'], path: h[':path'], headers, agent }, (ur) => {
    if (stream.destroyed) return ur.resume();
    const rh = { ':status': ur.statusCode };
    for (const k in ur.headers) if (!HOP.has(k)) rh[k] = ur.headers[k];
    stream.respond(rh);
    ur.pipe(stream);
  });
  up.on('error', () => { if (stream.destroyed) return; if (!stream.headersSent) stream.respond({ ':status': 502 }); stream.end(); });
  stream.on('error', () => up.destroy());
  stream.pipe(up);
}).listen(port, '127.0.0.1');
`;

function sluiceConf(port) {
  const file = join(dir, 'sluice.yaml');
  writeFileSync(file, httpProxyYaml({ name: 'h2', port, originPort }));
  return file;
}

const PEERS = {
  sluice: (port) => launch(PROXY_CPU, process.execPath, [...SLUICE_NODE_ARGS, MAIN, '-c', sluiceConf(port), '--log-level', 'error']),
  nodeh2: (port) => launch(PROXY_CPU, process.execPath, ['-e', NODEH2_SRC, String(port), String(originPort)]),
  nginx: (port) =>
    launch(PROXY_CPU, NGINX, [
      '-p',
      dir,
      '-c',
      nginxConf(
        'proxy',
        `upstream origin { server 127.0.0.1:${originPort}; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:${port} http2 backlog=4096;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }`,
      ),
    ]),
};

let names = (process.env.PEERS ?? 'sluice,nodeh2,nginx').split(',').filter((n) => n !== '');
for (const n of names) if (!(n in PEERS)) throw new Error(`unknown peer ${n} (known: ${Object.keys(PEERS).join(', ')})`);
if (names.includes('nginx') && NGINX === undefined) {
  console.error('nginx is not installed: skipping the nginx peer');
  names = names.filter((n) => n !== 'nginx');
}

// ---- measuring -------------------------------------------------------------------------------

/** One h2load run against `port`, pinned with the origin; its summary parsed. */
function h2load(port, seconds) {
  const [cmd, args] = pinnedTo(LOAD_CPU, 'h2load', ['-c', String(CONNS), '-m', String(STREAMS), '-D', String(seconds), `http://127.0.0.1:${port}/small`]);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const out = r.stdout ?? '';
  const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  if (rps === null || req === null) throw new Error(`cannot parse h2load output:\n${out}\n${r.stderr}`);
  return { rps: Number(rps[1]), done: Number(req[3]), succeeded: Number(req[4]), failed: Number(req[5]), errored: Number(req[6]) };
}

async function measure(name) {
  const port = await freePort();
  const child = PEERS[name](port);
  try {
    await waitForPort(port, 15_000, child);
    // One request checked (status and body), then the warm-up, then the measured run.
    const check = spawnSync('curl', ['-s', '--http2-prior-knowledge', '-w', ' %{http_code}', `http://127.0.0.1:${port}/small`], { encoding: 'utf8', timeout: 10_000 });
    if (check.status === 0 && check.stdout !== `${BODY} 200`) throw new Error(`${name}: unexpected reply ${JSON.stringify(check.stdout)}`);
    h2load(port, WARMUP);
    const cpu0 = cpuSeconds(child.pid);
    const r = h2load(port, DURATION);
    const cpu1 = cpuSeconds(child.pid);
    const cpuUsPerReq = cpu0 === undefined || cpu1 === undefined || r.done === 0 ? NaN : ((cpu1 - cpu0) * 1e6) / r.done;
    return { ...r, cpuUsPerReq };
  } finally {
    await stopChild(child);
  }
}

const results = new Map(names.map((n) => [n, []]));
for (let rep = 0; rep < REPS; rep++) {
  const order = names.map((_, i) => names[(i + rep) % names.length]);
  for (const name of order) {
    const r = await measure(name);
    results.get(name).push(r);
    console.error(
      `rep ${rep + 1} ${name}: ${r.rps.toFixed(0)} req/s, ${r.cpuUsPerReq.toFixed(1)} proxy CPU us/req, ${r.succeeded} succeeded, ${r.failed} failed, ${r.errored} errored`,
    );
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = names.map((n) => {
  const rs = results.get(n);
  return { name: n, rps: median(rs.map((r) => r.rps)), cpu: median(rs.map((r) => r.cpuUsPerReq)), errors: rs.reduce((s, r) => s + r.failed + r.errored, 0) };
});
const by = Object.fromEntries(rows.map((r) => [r.name, r]));
console.log(
  `\nh2c GET /small (${BODY.length} B), h2load -c ${CONNS} -m ${STREAMS} -D ${DURATION}, origin ${NGINX !== undefined ? 'nginx' : 'node:http'} over HTTP/1.1, ${REPS} reps (medians)` +
    `${canPin ? `, proxies on CPU ${PROXY_CPU}, h2load + origin on CPU ${LOAD_CPU}` : ', unpinned'}\n`,
);
console.log('| proxy | req/s | proxy CPU us/req | errors | sluice req/s ratio | sluice CPU/req ratio |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const s = by.sluice;
  const rpsRatio = s === undefined || r.name === 'sluice' ? '' : `${(s.rps / r.rps).toFixed(2)}x`;
  const cpuRatio = s === undefined || r.name === 'sluice' ? '' : `${(r.cpu / s.cpu).toFixed(2)}x`;
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.cpu.toFixed(1)} | ${r.errors} | ${rpsRatio} | ${cpuRatio} |`);
}
console.log('\n(ratios: sluice req/s / peer req/s, and peer CPU per request / sluice CPU per request: > 1 means sluice is ahead)');
if (originChild !== undefined) await stopChild(originChild);
process.exit(0);
