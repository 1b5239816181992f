/**
 * A compiled route_config (Envoy's ConfigImpl + RouteMatcher): picks the virtual host by
 * `:authority`, then the first route of that host whose match succeeds.
 *
 * Virtual host selection follows Envoy's precedence: an exact domain, then the longest suffix
 * wildcard (`*.foo.com`, `*-bar.foo.com`), then the longest prefix wildcard (`foo.*`), then `*`.
 * A wildcard never matches the empty string. Domains are compared lowercase. When the authority
 * carries a port and the full value finds nothing at a level, the host without the port is tried
 * at that level before moving to the next (with `ignore_port_in_host_matching` the port is always
 * stripped first).
 */
import type { ConfigValidationContext } from '../api/filter-config.js';
import type { HeaderMap, RequestHeaderMap } from '../api/http-codec.js';
import type { RetryPolicy, Route, RouteConfig } from '../api/router.js';
import type { StreamInfo } from '../api/stream-info.js';
import { parseRouteConfiguration, type HeaderMutationLevel, type RouteConfigurationSpec, type VirtualHostSpec } from './route-config-parse.js';
import { createRoute, ForwardingRoute, MatchContext, RouteBase, WeightedClusterEntry, type TableLevel, type VirtualHostLevel } from './route-entry.js';

export class VirtualHostImpl implements VirtualHostLevel {
  readonly name: string;
  readonly headers: HeaderMutationLevel;
  readonly retryPolicy: RetryPolicy | undefined;
  readonly routes: readonly RouteBase[];

  constructor(
    spec: VirtualHostSpec,
    readonly table: TableLevel,
  ) {
    this.name = spec.name;
    this.headers = spec.headers;
    this.retryPolicy = spec.retryPolicy;
    this.routes = spec.routes.map((r) => createRoute(r, this));
  }

  /** The first matching route, resolved to a weighted cluster entry where there is one. */
  route(headers: RequestHeaderMap, randomValue: number): Route | undefined {
    const path = headers.get(':path');
    if (path === undefined) return undefined;
    const ctx = new MatchContext(headers, path);
    for (const r of this.routes) if (r.matches(ctx)) return r.select(randomValue);
    return undefined;
  }
}

/** Wildcard domains grouped by the length of their fixed part, longest first. */
type WildcardTable = ReadonlyArray<readonly [number, ReadonlyMap<string, VirtualHostImpl>]>;

function wildcardTable(entries: Map<string, VirtualHostImpl>): WildcardTable {
  const byLength = new Map<number, Map<string, VirtualHostImpl>>();
  for (const [k, v] of entries) {
    let m = byLength.get(k.length);
    if (m === undefined) byLength.set(k.length, (m = new Map()));
    m.set(k, v);
  }
  return [...byLength.entries()].sort((a, b) => b[0] - a[0]);
}

/** The index where an authority's port starts (at its ':'), or -1; IPv6 literals are bracketed. */
export function portStart(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon === -1) return -1;
  const bracket = host.lastIndexOf(']');
  if (bracket !== -1 && bracket > colon) return -1;
  return colon;
}

export class RouteTable implements RouteConfig, TableLevel {
  readonly name: string;
  readonly headers: HeaderMutationLevel;
  readonly mostSpecificHeaderMutationsWins: boolean;
  readonly finalized = new WeakSet<HeaderMap>();
  readonly virtualHosts: readonly VirtualHostImpl[];
  private readonly exact = new Map<string, VirtualHostImpl>();
  private readonly suffixes: WildcardTable;
  private readonly prefixes: WildcardTable;
  private readonly defaultVirtualHost: VirtualHostImpl | undefined;
  private readonly ignorePort: boolean;

  constructor(spec: RouteConfigurationSpec) {
    this.name = spec.name;
    this.headers = spec.headers;
    this.mostSpecificHeaderMutationsWins = spec.mostSpecificHeaderMutationsWins;
    this.ignorePort = spec.ignorePortInHostMatching;
    this.virtualHosts = spec.virtualHosts.map((v) => new VirtualHostImpl(v, this));
    const suffixes = new Map<string, VirtualHostImpl>();
    const prefixes = new Map<string, VirtualHostImpl>();
    let def: VirtualHostImpl | undefined;
    spec.virtualHosts.forEach((v, i) => {
      const vh = this.virtualHosts[i]!;
      for (const d of v.domains) {
        if (d === '*') def = vh;
        else if (d.startsWith('*')) suffixes.set(d.slice(1), vh);
        else if (d.endsWith('*')) prefixes.set(d.slice(0, -1), vh);
        else this.exact.set(d, vh);
      }
    });
    this.defaultVirtualHost = def;
    this.suffixes = wildcardTable(suffixes);
    this.prefixes = wildcardTable(prefixes);
  }

  /** Parses and compiles a RouteConfiguration (see parseRouteConfiguration). */
  static fromConfig(raw: unknown, path: string, ctx?: ConfigValidationContext): RouteTable {
    return new RouteTable(parseRouteConfiguration(raw, path, ctx));
  }

  route(headers: RequestHeaderMap, randomValue: number): Route | undefined {
    return this.findVirtualHost(headers)?.route(headers, randomValue);
  }

  finalizeResponseHeaders(route: Route | undefined, headers: HeaderMap, streamInfo?: StreamInfo): void {
    // Routes of other tables (or test doubles) carry no mutations of this table.
    if (route instanceof WeightedClusterEntry || route instanceof RouteBase) route.finalizeResponseHeaders(headers, streamInfo);
  }

  /** Every cluster a route may forward to (for validation against the cluster manager). */
  clusterNames(): string[] {
    const out = new Set<string>();
    for (const vh of this.virtualHosts) {
      for (const r of vh.routes) {
        if (!(r instanceof ForwardingRoute)) continue;
        if (r.weighted === undefined) out.add(r.clusterName());
        else for (const w of r.weighted) out.add(w.clusterName());
      }
    }
    return [...out];
  }

  /** Envoy's RouteMatcher::findVirtualHost. */
  findVirtualHost(headers: RequestHeaderMap): VirtualHostImpl | undefined {
    if (this.exact.size === 0 && this.suffixes.length === 0 && this.prefixes.length === 0) return this.defaultVirtualHost;
    const authority = headers.get(':authority');
    if (authority === undefined) return undefined;
    let host = authority.toLowerCase();
    const p = portStart(host);
    let bare = p === -1 ? host : host.slice(0, p);
    if (this.ignorePort) host = bare;
    const stripped = bare !== host;
    if (!stripped) bare = host;

    const exact = this.exact.get(host) ?? (stripped ? this.exact.get(bare) : undefined);
    if (exact !== undefined) return exact;
    const suffix = findWildcard(host, this.suffixes, true) ?? (stripped ? findWildcard(bare, this.suffixes, true) : undefined);
    if (suffix !== undefined) return suffix;
    const prefix = findWildcard(host, this.prefixes, false) ?? (stripped ? findWildcard(bare, this.prefixes, false) : undefined);
    if (prefix !== undefined) return prefix;
    return this.defaultVirtualHost;
  }
}

/** The longest wildcard matching `host`; `>=` because `*.foo.com` must not match `.foo.com`. */
function findWildcard(host: string, table: WildcardTable, suffix: boolean): VirtualHostImpl | undefined {
  for (const [len, map] of table) {
    if (len >= host.length) continue;
    const vh = map.get(suffix ? host.slice(host.length - len) : host.slice(0, len));
    if (vh !== undefined) return vh;
  }
  return undefined;
}
