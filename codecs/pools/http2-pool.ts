/**
 * Envoy's Http2::ConnPoolImpl (MultiplexedActiveClientBase): many streams per connection.
 *
 * - A connection carries at most min(peer's SETTINGS_MAX_CONCURRENT_STREAMS, the cluster's
 *   `http2_protocol_options.max_concurrent_streams`) streams at once; when every connection is full
 *   the pool opens another. Until the peer's first SETTINGS arrives a connection is assumed to take
 *   100 (nghttp2's assumption; RFC 9113 §6.5.2 recommends no less), so a burst of streams on an
 *   empty pool opens enough connections instead of piling onto one. The first SETTINGS replaces
 *   the assumption (RFC 9113 §6.5.2: unlimited when it omits the setting); later ones change it.
 *   Later connections to the host start from the limit last seen instead of 100.
 * - Over its life a connection carries max_requests_per_connection streams, or 2^29 (Envoy's cap,
 *   well within the 2^31 stream ids).
 * - GOAWAY (RFC 9113 §6.8): the connection takes no new stream and closes after its last one
 *   (`upstream_cx_close_notify`). Streams above the GOAWAY's last-stream-id are reset by the codec
 *   as refused (RemoteRefusedStreamReset): the upstream never processed them, so they are safe to
 *   retry. After any reset the pending streams are attached on the next loop turn, not inside the
 *   codec's callback: a GOAWAY whose refused streams are reported before the GOAWAY itself must
 *   not see its connection handed new streams.
 * - Resets are counted as Envoy does: `upstream_rq_tx_reset` (ours), `upstream_rq_rx_reset` (the
 *   peer's), `upstream_rq_pending_failure_eject` (the connection went away under the stream).
 */
import type { RequestEncoder, ResponseDecoder, StreamResetReason } from '../../src/api/http-codec.js';
import type { ConnectionEvent } from '../../src/api/network.js';
import type { Counter } from '../../src/api/stats.js';
import type { Host } from '../../src/api/upstream.js';
import { clientCodecOptionsFor } from '../codec-client.js';
import { HttpActiveClient, HttpConnPoolBase, type HttpPoolOptions } from './http-pool-base.js';

/** Streams a connection is assumed to take before the peer's first SETTINGS (nghttp2's default). */
export const INITIAL_PEER_MAX_CONCURRENT_STREAMS = 100;
/** Envoy's DEFAULT_MAX_STREAMS: streams over a connection's life when no limit is configured. */
export const DEFAULT_MAX_STREAMS_PER_CONNECTION = 2 ** 29;

export class Http2ActiveClient extends HttpActiveClient {
  private readonly closeNotify: Counter;
  private settingsReceived = false;
  /** The stream being destroyed was reset (attach pending streams on the next turn). */
  private resetInProgress = false;

  constructor(private readonly pool: Http2ConnPoolImpl) {
    const perConnection = pool.host.cluster.maxRequestsPerConnection;
    super(
      pool.host,
      pool.codecFactory,
      'http2',
      perConnection > 0 ? perConnection : DEFAULT_MAX_STREAMS_PER_CONNECTION,
      pool.maxConcurrentStreams,
    );
    const assumed = pool.peerMaxConcurrentStreams ?? INITIAL_PEER_MAX_CONCURRENT_STREAMS;
    this.concurrentStreamLimit = Math.min(assumed, this.configuredStreamLimit);
    const scope = pool.host.cluster.statsScope;
    this.closeNotify = scope.counter('upstream_cx_close_notify');
    scope.counter('upstream_cx_http2_total').inc();
  }

  newStreamEncoder(decoder: ResponseDecoder): RequestEncoder {
    return this.codecClient.newStream(decoder);
  }

  numActiveStreams(): number {
    return this.codecClient.numActiveRequests();
  }

  closingWithIncompleteStream(): boolean {
    return this.codecClient.numActiveRequests() > 0;
  }

  // CodecClientCallbacks

  onEvent(event: ConnectionEvent): void {
    this.pool.onConnectionEvent(this, event, event === 'Connected' ? '' : this.codecClient.connectionFailureReason());
  }

  onStreamReset(reason: StreamResetReason): void {
    this.resetInProgress = true;
    const stats = this.pool.host.cluster.stats;
    switch (reason) {
      case 'ConnectionTermination':
      case 'ConnectionFailure':
      case 'ConnectTimeout':
        stats.upstream_rq_pending_failure_eject.inc();
        break;
      case 'LocalReset':
      case 'ProtocolError':
      case 'OverloadManager':
        stats.upstream_rq_tx_reset.inc();
        break;
      case 'RemoteReset':
        stats.upstream_rq_rx_reset.inc();
        break;
      case 'LocalRefusedStreamReset':
      case 'RemoteRefusedStreamReset':
      case 'Overflow':
      case 'ConnectError':
        break;
    }
  }

  onStreamDestroy(): void {
    const delay = this.resetInProgress;
    this.resetInProgress = false;
    this.pool.onStreamClosed(this, delay);
  }

  onGoAway(_errorCode: number): void {
    this.closeNotify.inc();
    if (this.state === 'Draining' || this.state === 'Closed') return;
    if (this.codecClient.numActiveRequests() === 0) this.close();
    else this.pool.transitionActiveClientState(this, 'Draining');
  }

  onSettings(settings: { readonly maxConcurrentStreams?: number }): void {
    let limit = settings.maxConcurrentStreams;
    if (!this.settingsReceived) {
      this.settingsReceived = true;
      // RFC 9113 §6.5.2: "Initially, there is no limit to this value": the first SETTINGS replaces
      // the assumption made before it.
      limit ??= Number.POSITIVE_INFINITY;
    }
    if (limit === undefined || this.state === 'Closed') return;
    this.pool.peerMaxConcurrentStreams = limit;
    this.pool.updateConcurrentStreamLimit(this, limit);
  }
}

/** Envoy's HTTP/2 connection pool for one host. */
export class Http2ConnPoolImpl extends HttpConnPoolBase<Http2ActiveClient> {
  readonly protocol = 'http2' as const;
  /** The cluster's `http2_protocol_options.max_concurrent_streams` (default 2^31-1). */
  readonly maxConcurrentStreams: number;
  /**
   * The host's SETTINGS_MAX_CONCURRENT_STREAMS as last seen on any connection: what a new
   * connection assumes until its own SETTINGS arrives (a small version of Envoy's HTTP server
   * properties cache), so a burst on a host that allows few streams opens enough connections.
   */
  peerMaxConcurrentStreams: number | undefined;

  constructor(host: Host, options: HttpPoolOptions) {
    super(host, options);
    this.maxConcurrentStreams = clientCodecOptionsFor(host.cluster.http2Options).http2.maxConcurrentStreams;
  }

  protected instantiateActiveClient(): Http2ActiveClient {
    return new Http2ActiveClient(this);
  }
}
