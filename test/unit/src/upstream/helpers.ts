import type { Address, ClientConnection } from '../../../../src/api/network.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { ClusterInfoImpl } from '../../../../src/upstream/cluster-info.js';
import type { ClusterOptions } from '../../../../src/upstream/cluster-options.js';
import { HostImpl, type ConnectionFactory } from '../../../../src/upstream/host.js';
import { HostSet } from '../../../../src/upstream/host-set.js';
import type { RandomSource } from '../../../../src/upstream/load-balancer-base.js';

/** A random source that replays `values` cyclically. */
export function sequence(values: readonly number[]): RandomSource & { calls: () => number } {
  let i = 0;
  const fn = (() => values[i++ % values.length]!) as RandomSource & { calls: () => number };
  fn.calls = () => i;
  return fn;
}

/** A deterministic xorshift32 generator (good low bits, unlike an LCG's). */
export function xorshift(seed: number): RandomSource {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

export const noConnections: ConnectionFactory = (_a: Address, _l: number): ClientConnection => {
  throw new Error('no connections in this test');
};

export function clusterInfo(opts: Partial<ClusterOptions> = {}, store = new StatsStore()): ClusterInfoImpl {
  return new ClusterInfoImpl({ name: 'c', hosts: [], ...opts }, store);
}

export function hostsFor(
  info: ClusterInfoImpl,
  weights: readonly number[],
  factory: ConnectionFactory = noConnections,
): HostImpl[] {
  return weights.map((w, i) => new HostImpl(info, { address: '127.0.0.1', port: 10000 + i }, factory, w));
}

export function hostSetOf(info: ClusterInfoImpl, weights: readonly number[]): HostSet {
  return new HostSet(hostsFor(info, weights), info.stats.membership_healthy, info.stats.membership_total);
}

/** Counts picks per host port. */
export function tally(pick: () => HostImpl | undefined, n: number): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const h = pick();
    const key = h === undefined ? -1 : h.address.port;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}
