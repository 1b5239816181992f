/**
 * The HTTP half shared by the HTTP/1 and HTTP/2 pools (Envoy's HttpConnPoolImplBase and
 * Http::ActiveClient): a pool client owns a CodecClient; attaching a stream asks the client for a
 * RequestEncoder and hands it to the caller with the codec's protocol.
 */
import type { Dispatcher } from '../../src/api/dispatcher.js';
import type { Protocol, RequestEncoder, ResponseDecoder } from '../../src/api/http-codec.js';
import type { ClientConnection, ConnectionEvent, ConnectionStats } from '../../src/api/network.js';
import type { Counter, Gauge } from '../../src/api/stats.js';
import type {
  Cancellable,
  Host,
  HttpConnPool,
  HttpPoolCallbacks,
  PoolFailureReason,
  UpstreamProtocol,
} from '../../src/api/upstream.js';
import { ActiveClient, ConnPoolBase } from '../../src/upstream/conn-pool-base.js';
import { CodecClient, type ClientCodecFactory, type CodecClientCallbacks } from '../codec-client.js';
import type { CodecKind } from '../codec-detect.js';

/** What a pending HTTP stream carries until it gets a connection (Envoy's HttpAttachContext). */
export interface HttpAttachContext {
  readonly decoder: ResponseDecoder;
  readonly callbacks: HttpPoolCallbacks;
}

export interface HttpPoolOptions {
  readonly dispatcher: Dispatcher;
  /** Makes the client codec (codecs/index.ts's createClientCodec). */
  readonly codecFactory: ClientCodecFactory;
}

/** What src/network's ConnectionImpl offers beyond the api, used when present. */
interface LiveStatsConnection {
  setStatsCounters(counters: {
    readonly rxTotal?: Counter;
    readonly txTotal?: Counter;
    readonly rxBuffered?: Gauge;
    readonly txBuffered?: Gauge;
  }): void;
}

function hasLiveStats(c: ClientConnection): c is ClientConnection & LiveStatsConnection {
  return typeof (c as Partial<LiveStatsConnection>).setStatsCounters === 'function';
}

/**
 * One upstream HTTP connection of a pool. Subclasses report connection events to their pool
 * (onEvent: the CodecClient reports a close before it resets the streams) and end each stream with
 * the pool's onStreamClosed.
 */
export abstract class HttpActiveClient extends ActiveClient implements CodecClientCallbacks {
  readonly codecClient: CodecClient;
  private readonly liveStats: boolean;

  constructor(
    host: Host,
    codecFactory: ClientCodecFactory,
    type: CodecKind,
    lifetimeStreamLimit: number,
    concurrentStreamLimit: number,
  ) {
    super(lifetimeStreamLimit, concurrentStreamLimit);
    const connection = host.createConnection();
    this.liveStats = hasLiveStats(connection);
    if (hasLiveStats(connection)) {
      const cluster = host.cluster;
      connection.setStatsCounters({
        rxTotal: cluster.stats.upstream_cx_rx_bytes_total,
        txTotal: cluster.stats.upstream_cx_tx_bytes_total,
        rxBuffered: cluster.statsScope.gauge('upstream_cx_rx_bytes_buffered'),
        txBuffered: cluster.statsScope.gauge('upstream_cx_tx_bytes_buffered'),
      });
    }
    this.codecClient = new CodecClient({ type, connection, host, codecFactory });
    this.codecClient.setCodecClientCallbacks(this);
  }

  /** Opens a stream on this connection for a caller; the pool counted it already. */
  abstract newStreamEncoder(decoder: ResponseDecoder): RequestEncoder;
  /** Connected or the close, from the CodecClient: report it to the pool. */
  abstract onEvent(event: ConnectionEvent): void;

  connect(): void {
    this.codecClient.connect();
  }

  close(): void {
    this.codecClient.close();
  }

  override connectionStats(): ConnectionStats | undefined {
    // With live counters the totals are already counted as bytes move.
    return this.liveStats ? undefined : this.codecClient.connection.stats();
  }
}

/** The HttpConnPool surface over ConnPoolBase (Envoy's HttpConnPoolImplBase). */
export abstract class HttpConnPoolBase<C extends HttpActiveClient>
  extends ConnPoolBase<C, HttpAttachContext>
  implements HttpConnPool
{
  abstract readonly protocol: UpstreamProtocol;
  readonly codecFactory: ClientCodecFactory;

  constructor(host: Host, options: HttpPoolOptions) {
    super(host, options.dispatcher);
    this.codecFactory = options.codecFactory;
  }

  newStream(decoder: ResponseDecoder, callbacks: HttpPoolCallbacks): Cancellable | undefined {
    return this.newStreamImpl({ decoder, callbacks });
  }

  protected onPoolReady(client: C, context: HttpAttachContext): void {
    const encoder = client.newStreamEncoder(context.decoder);
    const protocol: Protocol = client.codecClient.protocol();
    context.callbacks.onPoolReady(encoder, this.host, protocol);
  }

  protected onPoolFailure(
    host: Host | undefined,
    reason: PoolFailureReason,
    details: string,
    context: HttpAttachContext,
  ): void {
    context.callbacks.onPoolFailure(reason, details, host);
  }
}
