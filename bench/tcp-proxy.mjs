// L4 throughput: sluice's tcp_proxy against a raw `net` socket pipe (client.pipe(upstream) both
// ways), each a child process pinned to CPU 0 (`taskset`), the load (client and upstream, this
// process) on CPU 1. For every rep, in alternating order, each target carries SIZE_MIB through one
// connection, upload (client -> upstream sink) and download (upstream source -> client), bounded
// by TIME_LIMIT seconds. Prints MiB/s and MiB per CPU-second of the proxy process (medians of
// REPS) and the ratios sluice / pipe; the CPU figure holds up when other work shares the machine.
//
//   npx tsc -p tsconfig.build.json && node bench/tcp-proxy.mjs
//   SIZE_MIB=512 REPS=3 TIME_LIMIT=20 node bench/tcp-proxy.mjs
//   BUFFER_LIMIT=65536 node bench/tcp-proxy.mjs      # per_connection_buffer_limit_bytes (default 1 MiB)
//   SLUICE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' node bench/tcp-proxy.mjs   # profile sluice
//
// Not a test: the numbers only mean something relative to each other.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAIN,
  SLUICE_NODE_ARGS,
  canPin,
  cpuSeconds,
  freePort,
  listen,
  pinSelf,
  pinnedTo,
  requireBuild,
  startChild,
  stopChild,
  waitForPort,
} from './support.mjs';

const SIZE_MIB = Number(process.env.SIZE_MIB ?? 512);
const REPS = Number(process.env.REPS ?? 3);
const TIME_LIMIT_S = Number(process.env.TIME_LIMIT ?? 20);
const CHUNK = 64 * 1024;
const PROXY_CPU = process.env.PROXY_CPU ?? '0';
const LOAD_CPU = process.env.LOAD_CPU ?? '1';
/** per_connection_buffer_limit_bytes of sluice's listener and cluster (Envoy's default 1 MiB when unset). */
const BUFFER_LIMIT = process.env.BUFFER_LIMIT;

requireBuild();
pinSelf(LOAD_CPU);
const pinned = (cmd, args) => pinnedTo(PROXY_CPU, cmd, args);

// The upstream: on each connection either counts what arrives (upload) or sends `bytes` (download),
// chosen by the run that is current.
const payload = Buffer.alloc(CHUNK, 0x61);
let current; // { mode, bytesPerConn, got, onSinkDone }
const upstream = net.createServer({ noDelay: true }, (sock) => {
  sock.on('error', () => {});
  const run = current;
  if (run.mode === 'upload') {
    sock.on('data', (d) => {
      run.got += d.length;
      if (run.got >= run.bytesPerConn) run.onSinkDone(sock);
    });
  } else {
    pump(sock, run.bytesPerConn, () => sock.end());
  }
});
const upstreamPort = await listen(upstream);

/** Writes `total` bytes respecting backpressure, then calls `done`. */
function pump(sock, total, done) {
  let left = total;
  const write = () => {
    while (left > 0) {
      const n = Math.min(CHUNK, left);
      left -= n;
      if (!sock.write(n === CHUNK ? payload : payload.subarray(0, n))) {
        sock.once('drain', write);
        return;
      }
    }
    done();
  };
  write();
}

const PIPE_SRC = `
const net = require('node:net');
const [port, upstreamPort] = process.argv.slice(1).map(Number);
net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  client.pipe(upstream);
  upstream.pipe(client);
}).listen(port, '127.0.0.1');
`;

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-tcp-'));
function sluiceConfig(port) {
  const file = join(dir, 'tcp-proxy.yaml');
  writeFileSync(
    file,
    `static_resources:
  listeners:
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
${BUFFER_LIMIT !== undefined ? `    per_connection_buffer_limit_bytes: ${BUFFER_LIMIT}\n` : ''}    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: bench
          cluster: sink
  clusters:
  - name: sink
    connect_timeout: 1s
${BUFFER_LIMIT !== undefined ? `    per_connection_buffer_limit_bytes: ${BUFFER_LIMIT}\n` : ''}    type: STATIC
    load_assignment:
      cluster_name: sink
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } } }] }]
`,
  );
  return file;
}

/** Every child we start, so that no exit path leaves one behind. */
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function startTarget(name) {
  const port = await freePort();
  const [cmd, args] =
    name === 'pipe'
      ? pinned(process.execPath, ['-e', PIPE_SRC, String(port), String(upstreamPort)])
      : pinned(process.execPath, [...SLUICE_NODE_ARGS, MAIN, '-c', sluiceConfig(port), '--log-level', 'warn']);
  const child = startChild(children, cmd, args);
  await waitForPort(port, 10_000);
  return { port, pid: child.pid, stop: () => stopChild(child) };
}

/** One connection through `port`; resolves with the bytes carried once the far side has them all. */
function transfer(port, mode, bytes, deadline) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let finished = false;
    const finish = (n) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(n);
    };
    let received = 0;
    const run = current;
    const timer = setTimeout(() => finish(mode === 'download' ? received : run.got), Math.max(0, deadline - Date.now()));
    sock.on('error', (e) => (finished ? undefined : reject(e)));
    if (mode === 'upload') {
      run.onSinkDone = (s) => {
        s.destroy();
        finish(bytes);
      };
      sock.on('connect', () => pump(sock, bytes, () => {}));
    } else {
      sock.on('data', (d) => {
        received += d.length;
        if (received >= bytes) finish(received);
      });
    }
  });
}

async function measure(port, pid, mode) {
  const bytesPerConn = SIZE_MIB * 1024 * 1024;
  current = { mode, bytesPerConn: 8 * 1024 * 1024, got: 0, onSinkDone: () => {} };
  // Warm-up: one short transfer so JIT and connection setup stay out of the measurement.
  await transfer(port, mode, 8 * 1024 * 1024, Date.now() + 5_000);
  current = { mode, bytesPerConn, got: 0, onSinkDone: () => {} };
  const cpu0 = cpuSeconds(pid);
  const start = process.hrtime.bigint();
  const deadline = Date.now() + TIME_LIMIT_S * 1000;
  const carried = await transfer(port, mode, bytesPerConn, deadline);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu1 = cpuSeconds(pid);
  const mib = carried / (1024 * 1024);
  // MiB per CPU second of the proxy: what it costs, whatever else shares the machine.
  const perCpu = cpu0 === undefined || cpu1 === undefined || cpu1 === cpu0 ? NaN : mib / (cpu1 - cpu0);
  return { mibps: mib / seconds, perCpu };
}

const targets = ['pipe', 'sluice'];
const modes = ['upload', 'download'];
const results = new Map();
for (const t of targets) for (const m of modes) results.set(`${t}/${m}`, { mibps: [], perCpu: [] });

for (let rep = 0; rep < REPS; rep++) {
  for (const name of rep % 2 === 0 ? targets : [...targets].reverse()) {
    const target = await startTarget(name);
    try {
      for (const mode of modes) {
        const r = await measure(target.port, target.pid, mode);
        results.get(`${name}/${mode}`).mibps.push(r.mibps);
        results.get(`${name}/${mode}`).perCpu.push(r.perCpu);
        console.error(`rep ${rep + 1} ${name} ${mode}: ${r.mibps.toFixed(0)} MiB/s, ${r.perCpu.toFixed(0)} MiB per proxy CPU-second`);
      }
    } finally {
      await target.stop();
    }
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\ntcp_proxy throughput: ${SIZE_MIB} MiB per run (bounded by ${TIME_LIMIT_S}s), 1 connection, ${REPS} reps (medians)${canPin ? `, proxy on CPU ${PROXY_CPU}, load on CPU ${LOAD_CPU}` : ', unpinned'}\n`);
console.log('| direction | pipe MiB/s | sluice MiB/s | sluice / pipe | pipe MiB/CPU-s | sluice MiB/CPU-s | sluice / pipe |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const mode of modes) {
  const p = results.get(`pipe/${mode}`);
  const s = results.get(`sluice/${mode}`);
  const [pw, sw, pc, sc] = [median(p.mibps), median(s.mibps), median(p.perCpu), median(s.perCpu)];
  console.log(`| ${mode} | ${pw.toFixed(0)} | ${sw.toFixed(0)} | ${(sw / pw).toFixed(2)} | ${pc.toFixed(0)} | ${sc.toFixed(0)} | ${(sc / pc).toFixed(2)} |`);
}
upstream.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
