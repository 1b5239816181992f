import type { LeastRequestOptions } from './cluster-options.js';
import type { HostImpl } from './host.js';
import { EdfLoadBalancerBase, type HostsSource, type LoadBalancerParams } from './load-balancer-base.js';

/**
 * LEAST_REQUEST (Envoy's LeastRequestLoadBalancer). Equal weights: sample `choiceCount` hosts at
 * random (2 by default: the power of two choices) and take the one with the fewest active
 * requests; the first sample wins ties. Unequal weights: EDF with each host's weight divided by
 * (active requests + 1)^active_request_bias, recomputed as the host is re-queued after each pick.
 */
export class LeastRequestLoadBalancer extends EdfLoadBalancerBase {
  private readonly choiceCount: number;
  private readonly bias: number;

  constructor(p: LoadBalancerParams, opts: LeastRequestOptions = {}) {
    super(p);
    this.choiceCount = Math.max(1, opts.choiceCount ?? 2);
    this.bias = opts.activeRequestBias ?? 1;
  }

  protected hostWeight(host: HostImpl): number {
    if (this.bias === 0) return host.weight;
    const divisor = this.bias === 1 ? host.activeRequests + 1 : (host.activeRequests + 1) ** this.bias;
    return host.weight / divisor;
  }

  protected unweightedPick(hosts: readonly HostImpl[], _source: HostsSource): HostImpl {
    let candidate: HostImpl | undefined;
    for (let i = 0; i < this.choiceCount; i++) {
      const sampled = hosts[this.random() % hosts.length]!;
      if (candidate === undefined || sampled.activeRequests < candidate.activeRequests) candidate = sampled;
    }
    return candidate!;
  }
}
