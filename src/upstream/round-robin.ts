import type { HostImpl } from './host.js';
import { EdfLoadBalancerBase, type HostsSource, type LoadBalancerParams } from './load-balancer-base.js';

/**
 * ROUND_ROBIN (Envoy's RoundRobinLoadBalancer): equal weights cycle through the hosts from a
 * random start; unequal weights go through the EDF scheduler, so a host of weight 3 gets three
 * picks for every one of a host of weight 1, interleaved.
 */
export class RoundRobinLoadBalancer extends EdfLoadBalancerBase {
  private readonly rrIndexes: [number, number];

  constructor(p: LoadBalancerParams) {
    super(p);
    this.rrIndexes = [this.seed, this.seed];
  }

  protected hostWeight(host: HostImpl): number {
    return host.weight;
  }

  protected unweightedPick(hosts: readonly HostImpl[], source: HostsSource): HostImpl {
    const i = this.rrIndexes[source];
    this.rrIndexes[source] = (i + 1) % 0x1_0000_0000;
    return hosts[i % hosts.length]!;
  }

  protected override onRebuild(source: HostsSource): void {
    this.rrIndexes[source] = this.seed;
  }
}
