import { describe, expect, it } from 'vitest';
import { HealthFlag } from '../../../../src/upstream/host.js';
import { EdfScheduler } from '../../../../src/upstream/edf-scheduler.js';
import {
  createLoadBalancer,
  LeastRequestLoadBalancer,
  RandomLoadBalancer,
  RoundRobinLoadBalancer,
} from '../../../../src/upstream/load-balancers.js';
import { clusterInfo, hostSetOf, xorshift, sequence, tally } from './helpers.js';

const params = (hostSet: ReturnType<typeof hostSetOf>, random: () => number, info = clusterInfo()) => ({
  hostSet,
  healthyPanicThreshold: info.healthyPanicThreshold,
  panicCounter: info.stats.lb_healthy_panic,
  random,
});

describe('EdfScheduler', () => {
  it('picks in proportion to weight, interleaved, ties by insertion order', () => {
    const s = new EdfScheduler<string>();
    s.add(1, 'a');
    s.add(2, 'b');
    const picks = Array.from({ length: 6 }, () => s.pickAndAdd((x) => (x === 'a' ? 1 : 2)));
    expect(picks).toEqual(['b', 'a', 'b', 'b', 'a', 'b']);
  });
});

describe('ROUND_ROBIN', () => {
  it('cycles through equal-weight hosts from the random start', () => {
    const info = clusterInfo();
    const lb = new RoundRobinLoadBalancer(params(hostSetOf(info, [1, 1, 1]), sequence([4]), info));
    const ports = Array.from({ length: 6 }, () => lb.chooseHost(undefined)!.address.port);
    // seed 4 -> starts at index 4 % 3 = 1
    expect(ports).toEqual([10001, 10002, 10000, 10001, 10002, 10000]);
    expect(tally(() => lb.chooseHost(undefined), 300)).toEqual(
      new Map([
        [10000, 100],
        [10001, 100],
        [10002, 100],
      ]),
    );
  });

  it('weights hosts through EDF: 1:2:3 over 600 picks', () => {
    const info = clusterInfo();
    const lb = new RoundRobinLoadBalancer(params(hostSetOf(info, [1, 2, 3]), sequence([0]), info));
    expect(tally(() => lb.chooseHost(undefined), 600)).toEqual(
      new Map([
        [10002, 300],
        [10001, 200],
        [10000, 100],
      ]),
    );
  });

  it('skips unhealthy hosts and returns them when healthy again', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 1, 1, 1]);
    const lb = new RoundRobinLoadBalancer(params(set, sequence([0]), info));
    set.hosts[2]!.healthFlagSet(HealthFlag.FAILED_ACTIVE_HC);
    expect(info.stats.membership_healthy.value()).toBe(3);
    expect(info.stats.membership_total.value()).toBe(4);
    const t = tally(() => lb.chooseHost(undefined), 300);
    expect(t.get(10002)).toBeUndefined();
    expect([t.get(10000), t.get(10001), t.get(10003)]).toEqual([100, 100, 100]);
    set.hosts[2]!.healthFlagClear(HealthFlag.FAILED_ACTIVE_HC);
    expect(tally(() => lb.chooseHost(undefined), 400).get(10002)).toBe(100);
    expect(info.stats.lb_healthy_panic.value()).toBe(0);
  });

  it('panics below the healthy threshold (50%): every host takes traffic', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 1, 1, 1]);
    const lb = new RoundRobinLoadBalancer(params(set, sequence([0]), info));
    for (const i of [0, 1, 2]) set.hosts[i]!.healthFlagSet(HealthFlag.FAILED_OUTLIER_CHECK);
    expect(tally(() => lb.chooseHost(undefined), 8).size).toBe(4);
    expect(info.stats.lb_healthy_panic.value()).toBe(8);
  });

  it('with panic disabled and no healthy host returns undefined', () => {
    const info = clusterInfo({ healthyPanicThresholdPercent: 0 });
    const set = hostSetOf(info, [1, 1]);
    const lb = new RoundRobinLoadBalancer(params(set, sequence([0]), info));
    for (const h of set.hosts) h.healthFlagSet(HealthFlag.FAILED_ACTIVE_HC);
    expect(lb.chooseHost(undefined)).toBeUndefined();
    expect(info.stats.lb_healthy_panic.value()).toBe(0);
  });

  it('a retry avoids the previous host', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 1, 1]);
    const lb = new RoundRobinLoadBalancer(params(set, sequence([0]), info));
    for (let i = 0; i < 10; i++) {
      const first = lb.chooseHost(undefined)!;
      const second = lb.chooseHost({ shouldSelectAnotherHost: (h) => h === first })!;
      expect(second).not.toBe(first);
    }
  });

  it('gives up after the attempts and returns the last pick', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1]);
    const lb = new RoundRobinLoadBalancer({ ...params(set, sequence([0]), info), hostSelectionAttempts: 3 });
    let asked = 0;
    const h = lb.chooseHost({
      shouldSelectAnotherHost: () => {
        asked++;
        return true;
      },
    });
    expect(h).toBe(set.hosts[0]);
    expect(asked).toBe(3);
  });
});

describe('LEAST_REQUEST', () => {
  it('power of two choices: the sampled host with fewer active requests wins, first sample on ties', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 1, 1]);
    const [a, b, c] = set.hosts;
    for (let i = 0; i < 5; i++) a!.onRequestStart();
    c!.onRequestStart();
    // the seed (99), then sample pairs: (a,b) (b,c) (c,a) (a,a) (b,b)
    const lb = new LeastRequestLoadBalancer(params(set, sequence([99, 0, 1, 1, 2, 2, 0, 0, 0, 1, 1]), info));
    const picks = Array.from({ length: 5 }, () => lb.chooseHost(undefined));
    expect(picks).toEqual([b, b, c, a, b]);
  });

  it('over many picks the loaded host gets only the picks where it is sampled twice', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 1, 1]);
    for (let i = 0; i < 10; i++) set.hosts[0]!.onRequestStart();
    const random = xorshift(42);
    const lb = new LeastRequestLoadBalancer(params(set, random, info));
    // Replay the same random stream to know how often both samples land on host 0.
    const replay = xorshift(42);
    replay(); // the seed the balancer drew at construction
    let both = 0;
    for (let i = 0; i < 9000; i++) {
      const x = replay() % 3;
      const y = replay() % 3;
      if (x === 0 && y === 0) both++;
    }
    const t = tally(() => lb.chooseHost(undefined), 9000);
    expect(t.get(10000)).toBe(both);
    expect(both).toBeGreaterThan(800);
    expect(both).toBeLessThan(1200);
  });

  it('weighted: weight / (active + 1) through EDF', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 3]);
    const lb = new LeastRequestLoadBalancer(params(set, sequence([0]), info));
    const idle = tally(() => lb.chooseHost(undefined), 400);
    expect([idle.get(10000), idle.get(10001)]).toEqual([100, 300]);
    // Host 1 carries 2 requests: its weight drops to 3 / 3 = 1, as host 0's.
    set.hosts[1]!.onRequestStart();
    set.hosts[1]!.onRequestStart();
    const loaded = tally(() => lb.chooseHost(undefined), 400);
    expect(Math.abs(loaded.get(10000)! - loaded.get(10001)!)).toBeLessThanOrEqual(2);
  });

  it('skips unhealthy hosts', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 1, 1]);
    set.hosts[1]!.healthFlagSet(HealthFlag.FAILED_ACTIVE_HC);
    const lb = new LeastRequestLoadBalancer(params(set, xorshift(7), info));
    const t = tally(() => lb.chooseHost(undefined), 1000);
    expect(t.get(10001)).toBeUndefined();
    expect(t.get(10000)! + t.get(10002)!).toBe(1000);
  });
});

describe('RANDOM', () => {
  it('picks uniformly by the random value and ignores weights', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 5, 1]);
    let i = 0;
    const lb = new RandomLoadBalancer(params(set, () => i++, info));
    expect(tally(() => lb.chooseHost(undefined), 300)).toEqual(
      new Map([
        [10000, 100],
        [10001, 100],
        [10002, 100],
      ]),
    );
  });

  it('skips unhealthy hosts and retries away from the previous host', () => {
    const info = clusterInfo();
    const set = hostSetOf(info, [1, 1, 1]);
    set.hosts[0]!.healthFlagSet(HealthFlag.FAILED_ACTIVE_HC);
    // healthy = [h1, h2]; 0 -> h1 (rejected), 0 -> h1 (rejected), 1 -> h2
    const lb = new RandomLoadBalancer(params(set, sequence([0, 0, 1]), info));
    const h = lb.chooseHost({ shouldSelectAnotherHost: (x) => x === set.hosts[1] });
    expect(h).toBe(set.hosts[2]);
  });
});

describe('createLoadBalancer', () => {
  it('builds the configured policy', () => {
    for (const [policy, cls] of [
      ['ROUND_ROBIN', RoundRobinLoadBalancer],
      ['LEAST_REQUEST', LeastRequestLoadBalancer],
      ['RANDOM', RandomLoadBalancer],
    ] as const) {
      const info = clusterInfo({ lbPolicy: policy });
      expect(createLoadBalancer(info, hostSetOf(info, [1]), sequence([0]))).toBeInstanceOf(cls);
    }
  });
});
