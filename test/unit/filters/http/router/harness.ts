/** Builds a RouterFilter over the fakes and a real route table. */
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import type { FilterDataStatus } from '../../../../../src/api/http-filter.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import { RouteTable } from '../../../../../src/router/route-table.js';
import type { ClusterOptions } from '../../../../../src/upstream/cluster-options.js';
import { DEFAULT_ROUTER_CONFIG, RouterFilter, type RouterConfig } from '../../../../../filters/http/router/router.js';
import { FakeCallbacks, FakeCluster, FakeClusterManager, FakeDispatcher } from './fakes.js';

/** Request header overrides for a POST. */
export const POST = { ':method': 'POST' };

export interface SetupOptions {
  /** Routes of the single virtual host (default: everything to cluster "backend"). */
  routes?: unknown[];
  /** Extra fields of the default route's `route` action. */
  action?: Record<string, unknown>;
  router?: Partial<RouterConfig>;
  cluster?: Partial<ClusterOptions>;
  hostname?: string;
  /** Values returned by the router's random source, the last one repeating. */
  random?: number[];
}

export function setup(opts: SetupOptions = {}) {
  const d = new FakeDispatcher();
  const cb = new FakeCallbacks(d);
  const cm = new FakeClusterManager();
  const cluster = cm.add(new FakeCluster({ name: 'backend', ...opts.cluster }, opts.hostname));
  const routes = opts.routes ?? [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'backend', ...opts.action } }];
  cb.routeConfig = RouteTable.fromConfig({ virtual_hosts: [{ name: 'vh', domains: ['*'], routes }] }, 'route_config');
  const randoms = opts.random ?? [0];
  let i = 0;
  const router = new RouterFilter({ ...DEFAULT_ROUTER_CONFIG, ...opts.router }, cm, () => randoms[Math.min(i++, randoms.length - 1)]!);
  router.setDecoderFilterCallbacks(cb);

  /** Sends request headers (a GET to http://example.com/ unless overridden). */
  function send(headers: Record<string, string> = {}, endStream = true) {
    const h = HeaderMapImpl.fromObject({ ':method': 'GET', ':scheme': 'http', ':authority': 'example.com', ':path': '/', ...headers });
    cb.info.requestHeaders = h;
    const status = router.decodeHeaders(h, endStream);
    return { headers: h, status };
  }

  function data(s: string, endStream: boolean): FilterDataStatus {
    return router.decodeData(new BufferChain(s), endStream);
  }

  return { d, cb, cm, cluster, router, send, data };
}
