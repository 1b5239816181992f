import type { Gauge } from '../api/stats.js';
import type { HostImpl } from './host.js';

/**
 * The hosts of one cluster (Envoy's HostSet at priority 0) with the healthy subset kept current:
 * a host's health change rebuilds the subset and bumps `version`, which the load balancers compare
 * to rebuild their schedulers lazily.
 */
export class HostSet {
  private healthy: readonly HostImpl[] = [];
  private versionCounter = 0;

  constructor(
    readonly hosts: readonly HostImpl[],
    private readonly membershipHealthy?: Gauge,
    membershipTotal?: Gauge,
  ) {
    membershipTotal?.set(hosts.length);
    for (const h of hosts) h.setHealthListener(() => this.recompute());
    this.recompute();
  }

  healthyHosts(): readonly HostImpl[] {
    return this.healthy;
  }

  /** Changes whenever the healthy subset changes. */
  get version(): number {
    return this.versionCounter;
  }

  private recompute(): void {
    this.healthy = this.hosts.filter((h) => h.health() === 'Healthy');
    this.versionCounter++;
    this.membershipHealthy?.set(this.healthy.length);
  }
}
