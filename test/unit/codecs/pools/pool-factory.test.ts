import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCodecOptionsFor } from '../../../../codecs/codec-client.js';
import { createHttpConnPoolFactory as fromIndex, DEFAULT_HTTP2_OPTIONS } from '../../../../codecs/index.js';
import { Http1ConnPoolImpl } from '../../../../codecs/pools/http1-pool.js';
import { Http2ConnPoolImpl } from '../../../../codecs/pools/http2-pool.js';
import { createHttpConnPoolFactory } from '../../../../codecs/pools/pool-factory.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ClientConnectionImpl } from '../../../../src/network/connection.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { ClusterManagerImpl } from '../../../../src/upstream/cluster-manager.js';
import { withTimeout } from '../../../support/net-helpers.js';
import { hostSetup, startExchange } from './helpers.js';

const servers: http.Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise<void>((r) => s.close(() => r()));
    }),
  );
});

describe('HTTP pool factory', () => {
  it('is what codecs/index.ts exports', () => {
    expect(fromIndex).toBe(createHttpConnPoolFactory);
  });

  it('makes the pool of the protocol asked for', () => {
    const setup = hostSetup(1);
    const factory = createHttpConnPoolFactory({ dispatcher: setup.dispatcher });
    const h1 = factory(setup.host, 'http1');
    const h2 = factory(setup.host, 'http2');
    expect(h1).toBeInstanceOf(Http1ConnPoolImpl);
    expect(h2).toBeInstanceOf(Http2ConnPoolImpl);
    expect([h1.protocol, h2.protocol]).toEqual(['http1', 'http2']);
    expect(h1.host).toBe(setup.host);
    expect(h1.isIdle()).toBe(true);
  });

  it('serves requests through the cluster manager it is registered with', async () => {
    const server = http.createServer((req, res) => res.end(`via ${req.url}`));
    servers.push(server);
    await withTimeout(new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r())), 2000, 'listen');
    const port = (server.address() as AddressInfo).port;
    const dispatcher = new NodeDispatcher();
    const store = new StatsStore();
    const cm = new ClusterManagerImpl({
      clusters: [{ name: 'web', hosts: [{ address: '127.0.0.1', port }] }],
      scope: store,
      dispatcher,
      connectionFactory: (address, bufferLimit) => new ClientConnectionImpl(dispatcher, address, { bufferLimit }),
    });
    cm.setHttpConnPoolFactory(createHttpConnPoolFactory({ dispatcher }));
    const cluster = cm.getThreadLocalCluster('web')!;
    const pool = cluster.httpConnPool('http1', undefined)!;
    expect(cluster.httpConnPool('http1', undefined)).toBe(pool);
    const ex = startExchange(pool, { path: '/cm' });
    expect(await ex.done()).toBe('complete');
    expect(ex.body).toBe('via /cm');
    expect(store.counter('cluster.web.upstream_rq_total').value()).toBe(1);
    await withTimeout(cm.shutdown(), 2000, 'cluster manager shutdown');
    expect(cluster.poolCount()).toBe(0);
  });
});

describe('clientCodecOptionsFor', () => {
  it('takes the known http2_protocol_options of the cluster over the defaults', () => {
    const o = clientCodecOptionsFor({ maxConcurrentStreams: 7, hpackTableSize: 0, unknown: 1, allowConnect: 'yes' });
    expect(o.http2).toEqual({ ...DEFAULT_HTTP2_OPTIONS, maxConcurrentStreams: 7, hpackTableSize: 0 });
    expect(clientCodecOptionsFor(undefined).http2).toBe(DEFAULT_HTTP2_OPTIONS);
  });
});
