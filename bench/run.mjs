// `npm run bench`: autocannon, small keep-alive GET, 50 connections, against the origin directly,
// a raw `net` socket pipe, node http-proxy and sluice, in one run. Prints req/s, p50, p99 and the
// ratios against each peer. Not a test: numbers only mean something relative to each other.
// On a 2-core machine autocannon saturates near 20k req/s; ../shared/perfbench (wrk, pinned) is
// the yardstick that counts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import httpProxy from 'http-proxy';
import { MAIN, SLUICE_NODE_ARGS, freePort, httpProxyYaml, listen, waitForPort } from './support.mjs';

const DURATION = Number(process.env.DURATION ?? 8);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const REPS = Number(process.env.REPS ?? 2);

const body = Buffer.from('hello world!\n');
const origin = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
});
const originPort = await listen(origin);

const pipe = net.createServer({ noDelay: true }, (c) => {
  const u = net.connect({ host: '127.0.0.1', port: originPort, noDelay: true });
  const close = () => { c.destroy(); u.destroy(); };
  c.on('error', close).on('close', close);
  u.on('error', close).on('close', close);
  c.pipe(u);
  u.pipe(c);
});
const pipePort = await listen(pipe);

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${originPort}`, agent });
proxy.on('error', (_e, _req, res) => { res.writeHead?.(502); res.end(); });
const proxyServer = http.createServer((req, res) => proxy.web(req, res));
const proxyPort = await listen(proxyServer);

const sluicePort = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const cfg = join(dir, 'sluice.yaml');
writeFileSync(
  cfg,
  httpProxyYaml({
    name: 'bench',
    port: sluicePort,
    originPort,
    head: '\nadmin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }\n',
  }),
);
const sluice = spawn(process.execPath, [...SLUICE_NODE_ARGS, MAIN, '-c', cfg, '--log-level', 'warn'], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
await waitForPort(sluicePort, 10_000);

const targets = [
  ['origin', originPort],
  ['pipe', pipePort],
  ['http-proxy', proxyPort],
  ['sluice', sluicePort],
];
const results = new Map(targets.map(([n]) => [n, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, port] of rep % 2 ? [...targets].reverse() : targets) {
    const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: DURATION });
    if (r.non2xx || r.errors) console.error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    results.get(name).push({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 });
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const row = (n) => {
  const rs = results.get(n);
  return { rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)) };
};
const s = row('sluice');
console.log(`\nautocannon -c ${CONNECTIONS} -d ${DURATION}, ${REPS} reps (medians)\n`);
console.log('| target | req/s | p50 ms | p99 ms | sluice / target |');
console.log('|---|---:|---:|---:|---:|');
for (const [n] of targets) {
  const r = row(n);
  console.log(`| ${n} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${(s.rps / r.rps).toFixed(2)} |`);
}
sluice.kill('SIGTERM');
await once(sluice, 'exit');
agent.destroy();
for (const srv of [origin, pipe, proxyServer]) srv.close();
process.exit(0);
