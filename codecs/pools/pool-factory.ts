/**
 * The HttpConnPoolFactory the composition root registers with the cluster manager
 * (ClusterManagerImpl.setHttpConnPoolFactory): the core asks for a pool per (host, protocol) and
 * gets Envoy's HTTP/1 or HTTP/2 pool without importing codecs/.
 */
import type { Dispatcher } from '../../src/api/dispatcher.js';
import type { Host, HttpConnPool, HttpConnPoolFactory, UpstreamProtocol } from '../../src/api/upstream.js';
import { NodeDispatcher } from '../../src/common/dispatcher.js';
import type { ClientCodecFactory } from '../codec-client.js';
import { Http1ClientConnection } from '../http1/client-connection.js';
import { createHttp2ClientConnection } from '../http2/client-connection.js';
import { Http1ConnPoolImpl } from './http1-pool.js';
import { Http2ConnPoolImpl } from './http2-pool.js';

export interface HttpConnPoolFactoryOptions {
  /**
   * The worker's dispatcher: pool timers and deferred deletions run on it. Default: a dispatcher
   * of its own on this thread's loop (Node has one loop per thread, so it behaves the same).
   */
  readonly dispatcher?: Dispatcher;
  /** Makes client codecs; default: the HTTP/1 and HTTP/2 client codecs of this package. */
  readonly codecFactory?: ClientCodecFactory;
}

/** The client codecs of this package, by kind (what codecs/index.ts's createClientCodec does). */
export const defaultClientCodecFactory: ClientCodecFactory = (kind, connection, callbacks, options, scope) =>
  kind === 'http2'
    ? createHttp2ClientConnection(connection, callbacks, options.http2, scope)
    : new Http1ClientConnection(connection, callbacks, options.http1, scope);

export function createHttpConnPoolFactory(options: HttpConnPoolFactoryOptions = {}): HttpConnPoolFactory {
  const poolOptions = {
    dispatcher: options.dispatcher ?? new NodeDispatcher({ name: 'upstream' }),
    codecFactory: options.codecFactory ?? defaultClientCodecFactory,
  };
  return (host: Host, protocol: UpstreamProtocol): HttpConnPool =>
    protocol === 'http2' ? new Http2ConnPoolImpl(host, poolOptions) : new Http1ConnPoolImpl(host, poolOptions);
}
