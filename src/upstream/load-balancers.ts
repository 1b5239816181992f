import type { LoadBalancer } from '../api/upstream.js';
import type { ClusterInfoImpl } from './cluster-info.js';
import type { HostSet } from './host-set.js';
import { LeastRequestLoadBalancer } from './least-request.js';
import type { LoadBalancerParams, RandomSource } from './load-balancer-base.js';
import { RandomLoadBalancer } from './random.js';
import { RoundRobinLoadBalancer } from './round-robin.js';

export { LeastRequestLoadBalancer } from './least-request.js';
export { DEFAULT_HOST_SELECTION_ATTEMPTS, defaultRandom, type RandomSource } from './load-balancer-base.js';
export { RandomLoadBalancer } from './random.js';
export { RoundRobinLoadBalancer } from './round-robin.js';

/** Builds the cluster's `lb_policy` over its host set. */
export function createLoadBalancer(info: ClusterInfoImpl, hostSet: HostSet, random?: RandomSource): LoadBalancer {
  const params: LoadBalancerParams = {
    hostSet,
    healthyPanicThreshold: info.healthyPanicThreshold,
    panicCounter: info.stats.lb_healthy_panic,
    ...(random !== undefined ? { random } : {}),
  };
  switch (info.lbPolicy) {
    case 'ROUND_ROBIN':
      return new RoundRobinLoadBalancer(params);
    case 'LEAST_REQUEST':
      return new LeastRequestLoadBalancer(params, info.options.leastRequest);
    case 'RANDOM':
      return new RandomLoadBalancer(params);
  }
}
