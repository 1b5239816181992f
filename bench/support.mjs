// What the benches share: ports on 127.0.0.1, CPU pinning, the built sluice, child processes
// (started and stopped by PID) and /proc CPU accounting. Not a bench itself.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The built sluice entry point. */
export const MAIN = join(root, 'dist/src/main.js');

/**
 * Node flags for sluice: the one its executable's shebang gives node (README "Tuning"), then any
 * from SLUICE_NODE_ARGS (e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof').
 */
export const SLUICE_NODE_ARGS = [
  '--initial-old-space-size=64',
  ...(process.env.SLUICE_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
];

/** Exits with 2 and a hint when sluice has not been built. */
export function requireBuild() {
  if (!existsSync(MAIN)) {
    console.error(`${MAIN} is missing: build first (npx tsc -p tsconfig.build.json)`);
    process.exit(2);
  }
}

/** Listens on an ephemeral port of 127.0.0.1; resolves with the port. */
export async function listen(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

/** A port that was free a moment ago (for configs that must name their port). */
export async function freePort() {
  const s = net.createServer();
  const p = await listen(s);
  s.close();
  return p;
}

/** Polls until 127.0.0.1:`port` accepts, for at most `ms`; fails early when `child` has exited. */
export async function waitForPort(port, ms, child) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${child.spawnfile} exited (${child.signalCode ?? child.exitCode}) before port ${port} opened`);
    }
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not open in ${ms} ms`);
}

/** Whether `taskset` is there to pin processes to CPUs. */
export const canPin = spawnSync('taskset', ['-V']).status === 0;

/** Pins this process to `cpu` (where taskset is). */
export function pinSelf(cpu) {
  if (canPin) spawnSync('taskset', ['-cp', cpu, String(process.pid)], { stdio: 'ignore' });
}

/** [cmd, args] that run `cmd` pinned to `cpu`; taskset execs it, so the child's PID is `cmd`'s. */
export const pinnedTo = (cpu, cmd, args) => (canPin ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args]);

/** Spawns `cmd` and keeps it in `children` until it exits, so every exit path can stop exactly those. */
export function startChild(children, cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Sends `signal`, and SIGKILL after 5 s; resolves once the child has exited. */
export async function stopChild(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** The PIDs of the live children of `pid` (Linux /proc; none where that is missing). */
export function childPids(pid) {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return kids === '' ? [] : kids.split(' ').map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) used so far by `pid` and its live descendants, from /proc; undefined where there is none. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
    let s = (Number(fields[11]) + Number(fields[12])) / 100;
    // nginx with a master does its work in the worker, a child of the process we started.
    for (const k of childPids(pid)) s += cpuSeconds(k) ?? 0;
    return s;
  } catch {
    return undefined;
  }
}

/**
 * A sluice config: one plain HTTP listener (`name` on `port`) routing everything to one STATIC
 * cluster `origin` at 127.0.0.1:`originPort`; `head` is prepended (e.g. an admin block).
 */
export function httpProxyYaml({ name, port, originPort, head = '' }) {
  return `${head}static_resources:
  listeners:
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: origin } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: origin
    connect_timeout: 1s
    type: STATIC
    load_assignment:
      cluster_name: origin
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${originPort} } } } }] }]
`;
}
