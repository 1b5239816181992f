/** Shared builders for the route table tests. */
import { HeaderMapImpl } from '../../../../codecs/index.js';
import { StreamInfoImpl } from '../../../../src/access-log/stream-info-impl.js';
import type { HeaderMap } from '../../../../src/api/http-codec.js';
import { RouteTable } from '../../../../src/router/route-table.js';

/** A GET request with the four pseudo-headers and any extra headers (repeat names as arrays). */
export function request(authority: string | undefined, path: string, extra: Record<string, string | string[]> = {}): HeaderMapImpl {
  const h = new HeaderMapImpl();
  h.add(':method', 'GET');
  h.add(':scheme', 'http');
  if (authority !== undefined) h.add(':authority', authority);
  h.add(':path', path);
  for (const [k, v] of Object.entries(extra)) {
    if (typeof v === 'string') h.add(k, v);
    else for (const x of v) h.add(k, x);
  }
  return h;
}

export function table(config: unknown): RouteTable {
  return RouteTable.fromConfig(config, 'route_config');
}

/** One virtual host matching every domain with the given routes. */
export function oneHost(routes: unknown[], vhostExtra: Record<string, unknown> = {}, configExtra: Record<string, unknown> = {}): RouteTable {
  return table({ virtual_hosts: [{ name: 'vh', domains: ['*'], routes, ...vhostExtra }], ...configExtra });
}

/** 2024-01-02T03:04:05.678Z */
export const START_TIME = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

export function streamInfo(): StreamInfoImpl {
  const si = new StreamInfoImpl({ systemTime: () => START_TIME, approximateMonotonicTime: () => 0 });
  si.protocol = 'HTTP/1.1';
  si.downstreamRemoteAddress = { address: '10.0.0.7', port: 51000 };
  si.downstreamLocalAddress = { address: '127.0.0.1', port: 10000 };
  si.upstreamHost = { address: '::1', port: 8080, family: 'IPv6' };
  si.upstreamCluster = 'backend';
  si.routeName = 'r1';
  return si;
}

export function all(h: HeaderMap, name: string): string[] {
  return h.getAll(name);
}
