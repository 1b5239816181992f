import { isIPv6 } from 'node:net';
import type { Address, ClientConnection } from '../api/network.js';
import type { ClusterInfo, Host, HostHealth } from '../api/upstream.js';
import type { ClientTransport } from '../network/connection-options.js';

/**
 * Makes an unconnected client connection to `address` with `bufferLimit` as its read/write
 * buffer limit, over the cluster's `transport` (raw TCP when undefined). The network layer
 * supplies it (src/network/connection.ts); tests inject fakes.
 */
export type ConnectionFactory = (address: Address, bufferLimit: number, transport?: ClientTransport) => ClientConnection;

/** Envoy's Host::HealthFlag values that apply to static clusters, with their /clusters spelling. */
export const HealthFlag = {
  FAILED_ACTIVE_HC: 0x01,
  FAILED_OUTLIER_CHECK: 0x02,
  DEGRADED_ACTIVE_HC: 0x04,
  PENDING_ACTIVE_HC: 0x08,
  ACTIVE_HC_TIMEOUT: 0x10,
} as const;
export type HealthFlagValue = (typeof HealthFlag)[keyof typeof HealthFlag];

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [HealthFlag.FAILED_ACTIVE_HC, '/failed_active_hc'],
  [HealthFlag.FAILED_OUTLIER_CHECK, '/failed_outlier_check'],
  [HealthFlag.DEGRADED_ACTIVE_HC, '/degraded_active_hc'],
  [HealthFlag.PENDING_ACTIVE_HC, '/pending_active_hc'],
  [HealthFlag.ACTIVE_HC_TIMEOUT, '/active_hc_timeout'],
];

/** Flags that make a host unhealthy (degraded hosts still take traffic). */
const UNHEALTHY_MASK =
  HealthFlag.FAILED_ACTIVE_HC | HealthFlag.FAILED_OUTLIER_CHECK | HealthFlag.PENDING_ACTIVE_HC | HealthFlag.ACTIVE_HC_TIMEOUT;

/**
 * Envoy's per-host stats (primitive counters and gauges, not in the stats store; /clusters
 * prints them as `<cluster>::<host>::<stat>::<value>`).
 */
export interface HostStats {
  cx_total: number;
  cx_active: number;
  cx_connect_fail: number;
  rq_total: number;
  rq_active: number;
  rq_error: number;
  rq_success: number;
  rq_timeout: number;
}

/** `address:port`, `[v6]:port` for IPv6 (Envoy's Address::asString). */
export function addressToString(a: Address): string {
  return isIPv6(a.address) ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/**
 * One upstream endpoint. The connection pool is the only writer of the connection and request
 * counts (onConnectionOpen/Close, onRequestStart/End), so LEAST_REQUEST and /clusters see exactly
 * what the pools hold.
 */
export class HostImpl implements Host {
  readonly address: Address;
  readonly addressString: string;
  readonly stats: HostStats = {
    cx_total: 0,
    cx_active: 0,
    cx_connect_fail: 0,
    rq_total: 0,
    rq_active: 0,
    rq_error: 0,
    rq_success: 0,
    rq_timeout: 0,
  };
  private flags = 0;
  private healthListener: ((host: HostImpl) => void) | undefined;

  constructor(
    readonly cluster: ClusterInfo,
    address: Address,
    private readonly connectionFactory: ConnectionFactory,
    readonly weight = 1,
    readonly hostname = '',
  ) {
    this.address = { address: address.address, port: address.port, family: isIPv6(address.address) ? 'IPv6' : 'IPv4' };
    this.addressString = addressToString(this.address);
  }

  health(): HostHealth {
    return (this.flags & UNHEALTHY_MASK) === 0 ? 'Healthy' : 'Unhealthy';
  }

  get activeRequests(): number {
    return this.stats.rq_active;
  }

  get activeConnections(): number {
    return this.stats.cx_active;
  }

  onRequestStart(): void {
    this.stats.rq_total++;
    this.stats.rq_active++;
  }

  onRequestEnd(): void {
    if (this.stats.rq_active > 0) this.stats.rq_active--;
  }

  onConnectionOpen(): void {
    this.stats.cx_total++;
    this.stats.cx_active++;
  }

  onConnectionClose(): void {
    if (this.stats.cx_active > 0) this.stats.cx_active--;
  }

  /** A connect attempt failed (refused, reset or timed out before Connected). */
  onConnectFail(): void {
    this.stats.cx_connect_fail++;
  }

  /** The router's verdict on a finished request, for /clusters and outlier detection. */
  onRequestResult(result: 'success' | 'error' | 'timeout'): void {
    if (result === 'success') this.stats.rq_success++;
    else if (result === 'error') this.stats.rq_error++;
    else this.stats.rq_timeout++;
  }

  createConnection(): ClientConnection {
    return this.connectionFactory(this.address, this.cluster.perConnectionBufferLimitBytes);
  }

  healthFlagGet(flag: HealthFlagValue): boolean {
    return (this.flags & flag) !== 0;
  }

  healthFlagSet(flag: HealthFlagValue): void {
    this.setFlags(this.flags | flag);
  }

  healthFlagClear(flag: HealthFlagValue): void {
    this.setFlags(this.flags & ~flag);
  }

  /** Envoy's HostUtility::healthFlagsToString: `healthy` or `/failed_active_hc/...`. */
  healthFlagsString(): string {
    if (this.flags === 0) return 'healthy';
    let out = '';
    for (const [flag, name] of FLAG_NAMES) if ((this.flags & flag) !== 0) out += name;
    return out;
  }

  /** The host set subscribes to learn when health changes; one listener. */
  setHealthListener(cb: ((host: HostImpl) => void) | undefined): void {
    this.healthListener = cb;
  }

  private setFlags(next: number): void {
    if (next === this.flags) return;
    const before = this.health();
    this.flags = next;
    if (this.health() !== before) this.healthListener?.(this);
  }
}
