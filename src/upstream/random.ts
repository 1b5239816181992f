import type { HostImpl } from './host.js';
import { LoadBalancerBase, type HostsSource } from './load-balancer-base.js';

/** RANDOM (Envoy's RandomLoadBalancer): a uniform pick among the hosts; weights are ignored. */
export class RandomLoadBalancer extends LoadBalancerBase {
  protected pick(hosts: readonly HostImpl[], _source: HostsSource): HostImpl {
    return hosts[this.random() % hosts.length]!;
  }
}
