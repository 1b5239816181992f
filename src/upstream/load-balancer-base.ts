import type { Counter } from '../api/stats.js';
import type { LoadBalancer, LoadBalancerContext } from '../api/upstream.js';
import { EdfScheduler } from './edf-scheduler.js';
import type { HostImpl } from './host.js';
import type { HostSet } from './host-set.js';

/** A source of unsigned 32-bit random integers; injected so tests are deterministic. */
export type RandomSource = () => number;

export const defaultRandom: RandomSource = () => Math.floor(Math.random() * 0x1_0000_0000);

/**
 * How many hosts chooseHost tries while the context's shouldSelectAnotherHost rejects them
 * (Envoy's `host_selection_retry_max_attempts` + 1 with the usual retry setting of 2).
 */
export const DEFAULT_HOST_SELECTION_ATTEMPTS = 3;

export interface LoadBalancerParams {
  readonly hostSet: HostSet;
  /** healthy_panic_threshold as a fraction in [0, 1]; 0 disables panic mode. */
  readonly healthyPanicThreshold: number;
  /** `cluster.<name>.lb_healthy_panic`, counted once per pick made in panic mode. */
  readonly panicCounter?: Counter;
  readonly random?: RandomSource;
  readonly hostSelectionAttempts?: number;
}

/** Which host list a pick draws from: the healthy subset, or every host in panic mode. */
export type HostsSource = 0 | 1;
const HEALTHY: HostsSource = 0;
const ALL: HostsSource = 1;

/**
 * What every policy shares (Envoy's LoadBalancerBase / ZoneAwareLoadBalancerBase): unhealthy hosts
 * are skipped unless fewer than healthy_panic_threshold of the hosts are healthy (panic: all hosts
 * take traffic rather than overload the few healthy ones), and a retry that rejects the chosen
 * host through shouldSelectAnotherHost gets a few more picks.
 */
export abstract class LoadBalancerBase implements LoadBalancer {
  protected readonly hostSet: HostSet;
  protected readonly random: RandomSource;
  private readonly panicThreshold: number;
  private readonly panicCounter: Counter | undefined;
  private readonly attempts: number;

  constructor(p: LoadBalancerParams) {
    this.hostSet = p.hostSet;
    this.random = p.random ?? defaultRandom;
    this.panicThreshold = p.healthyPanicThreshold;
    this.panicCounter = p.panicCounter;
    this.attempts = Math.max(1, p.hostSelectionAttempts ?? DEFAULT_HOST_SELECTION_ATTEMPTS);
  }

  chooseHost(ctx: LoadBalancerContext | undefined): HostImpl | undefined {
    const attempts = ctx?.shouldSelectAnotherHost !== undefined ? this.attempts : 1;
    let host: HostImpl | undefined;
    for (let i = 0; i < attempts; i++) {
      host = this.chooseHostOnce(ctx);
      if (host === undefined || ctx?.shouldSelectAnotherHost === undefined || !ctx.shouldSelectAnotherHost(host)) {
        return host;
      }
    }
    // Every attempt was rejected: use the last pick rather than fail the request (as Envoy).
    return host;
  }

  private chooseHostOnce(ctx: LoadBalancerContext | undefined): HostImpl | undefined {
    const all = this.hostSet.hosts;
    if (all.length === 0) return undefined;
    const healthy = this.hostSet.healthyHosts();
    if (healthy.length < all.length && healthy.length / all.length < this.panicThreshold) {
      this.panicCounter?.inc();
      return this.pick(all, ALL, ctx);
    }
    if (healthy.length === 0) return undefined;
    return this.pick(healthy, HEALTHY, ctx);
  }

  /** Picks one of `hosts` (never empty). `source` keys any per-list state the policy keeps. */
  protected abstract pick(
    hosts: readonly HostImpl[],
    source: HostsSource,
    ctx: LoadBalancerContext | undefined,
  ): HostImpl | undefined;
}

interface EdfState {
  version: number;
  hosts: readonly HostImpl[];
  /** Undefined when every weight is equal: the policy's unweighted pick is used. */
  scheduler: EdfScheduler<HostImpl> | undefined;
}

/**
 * Envoy's EdfLoadBalancerBase: weighted picks through an EDF scheduler per host list, rebuilt
 * when the list changes; equal weights take the policy's cheaper unweighted pick.
 */
export abstract class EdfLoadBalancerBase extends LoadBalancerBase {
  private readonly states: [EdfState | undefined, EdfState | undefined] = [undefined, undefined];
  /** Start offset so workers and restarts do not all begin at the same host. */
  protected readonly seed: number;

  constructor(p: LoadBalancerParams) {
    super(p);
    this.seed = this.random();
  }

  protected pick(hosts: readonly HostImpl[], source: HostsSource): HostImpl | undefined {
    let st = this.states[source];
    if (st === undefined || st.version !== this.hostSet.version || st.hosts !== hosts) {
      st = this.rebuild(hosts, source);
    }
    if (st.scheduler !== undefined) return st.scheduler.pickAndAdd((h) => this.hostWeight(h));
    return this.unweightedPick(hosts, source);
  }

  /** The current EDF weight of a host (LEAST_REQUEST divides by its active requests). */
  protected abstract hostWeight(host: HostImpl): number;
  protected abstract unweightedPick(hosts: readonly HostImpl[], source: HostsSource): HostImpl;
  /** Called when a host list was rebuilt (policies reset per-list state). */
  protected onRebuild(_source: HostsSource): void {}

  private rebuild(hosts: readonly HostImpl[], source: HostsSource): EdfState {
    const first = hosts[0]!.weight;
    const equal = hosts.every((h) => h.weight === first);
    let scheduler: EdfScheduler<HostImpl> | undefined;
    if (!equal) {
      scheduler = new EdfScheduler<HostImpl>();
      for (const h of hosts) scheduler.add(this.hostWeight(h), h);
      const skip = this.seed % hosts.length;
      for (let i = 0; i < skip; i++) scheduler.pickAndAdd((h) => this.hostWeight(h));
    }
    const st: EdfState = { version: this.hostSet.version, hosts, scheduler };
    this.states[source] = st;
    this.onRebuild(source);
    return st;
  }
}
