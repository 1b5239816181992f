import { describe, expect, it } from 'vitest';
import { FakeConnection, ManualDispatcher } from '../../../support/l4-fakes.js';
import { addressToString, HealthFlag, HostImpl } from '../../../../src/upstream/host.js';
import { clusterInfo } from './helpers.js';

describe('HostImpl', () => {
  it('formats addresses as Envoy does', () => {
    expect(addressToString({ address: '10.0.0.1', port: 80 })).toBe('10.0.0.1:80');
    expect(addressToString({ address: '::1', port: 443 })).toBe('[::1]:443');
  });

  it('creates connections through the injected factory with the cluster buffer limit', () => {
    const info = clusterInfo({ perConnectionBufferLimitBytes: 777 });
    const seen: Array<[string, number, number]> = [];
    const d = new ManualDispatcher();
    const host = new HostImpl(info, { address: '::1', port: 9 }, (a, limit) => {
      seen.push([a.address, a.port, limit]);
      return new FakeConnection(d);
    });
    expect(host.address.family).toBe('IPv6');
    host.createConnection();
    expect(seen).toEqual([['::1', 9, 777]]);
  });

  it('tracks health flags, notifies on health changes and prints them', () => {
    const host = new HostImpl(clusterInfo(), { address: '127.0.0.1', port: 1 }, () => {
      throw new Error('unused');
    });
    const changes: string[] = [];
    host.setHealthListener((h) => changes.push(h.health()));
    expect(host.healthFlagsString()).toBe('healthy');
    host.healthFlagSet(HealthFlag.FAILED_ACTIVE_HC);
    host.healthFlagSet(HealthFlag.FAILED_OUTLIER_CHECK);
    expect(host.health()).toBe('Unhealthy');
    expect(host.healthFlagsString()).toBe('/failed_active_hc/failed_outlier_check');
    host.healthFlagClear(HealthFlag.FAILED_ACTIVE_HC);
    host.healthFlagClear(HealthFlag.FAILED_OUTLIER_CHECK);
    expect(changes).toEqual(['Unhealthy', 'Healthy']);
    // Degraded still takes traffic.
    host.healthFlagSet(HealthFlag.DEGRADED_ACTIVE_HC);
    expect(host.health()).toBe('Healthy');
    expect(host.healthFlagsString()).toBe('/degraded_active_hc');
  });

  it('counts requests and connections', () => {
    const host = new HostImpl(clusterInfo(), { address: '127.0.0.1', port: 1 }, () => {
      throw new Error('unused');
    });
    host.onConnectionOpen();
    host.onRequestStart();
    host.onRequestStart();
    host.onRequestEnd();
    host.onRequestResult('success');
    host.onRequestResult('timeout');
    expect(host.stats).toEqual({ cx_total: 1, cx_active: 1, cx_connect_fail: 0, rq_total: 2, rq_active: 1, rq_error: 0, rq_success: 1, rq_timeout: 1 });
    host.onConnectionClose();
    host.onConnectionClose();
    expect(host.activeConnections).toBe(0);
  });
});
