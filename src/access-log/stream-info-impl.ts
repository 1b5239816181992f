import type { Dispatcher } from '../api/dispatcher.js';
import type { Protocol, RequestHeaderMap, ResponseHeaderMap } from '../api/http-codec.js';
import type { Address } from '../api/network.js';
import type { ResponseFlag, StreamInfo } from '../api/stream-info.js';

/**
 * The StreamInfo of one request (HTTP) or one connection (TCP), filled in as it goes and read by
 * the access logs. Timestamps come from the dispatcher so tests can drive them.
 */
export class StreamInfoImpl implements StreamInfo {
  readonly startTime: number;
  readonly startMonotonic: number;
  protocol: Protocol | undefined = undefined;
  responseCode: number | undefined = undefined;
  responseCodeDetails = '';
  private flags: Set<ResponseFlag> | undefined = undefined;
  bytesReceived = 0;
  bytesSent = 0;
  upstreamHost: Address | undefined = undefined;
  upstreamCluster: string | undefined = undefined;
  routeName = '';
  downstreamRemoteAddress: Address | undefined = undefined;
  downstreamLocalAddress: Address | undefined = undefined;
  requestHeaders: RequestHeaderMap | undefined = undefined;
  responseHeaders: ResponseHeaderMap | undefined = undefined;
  endMonotonic: number | undefined = undefined;
  upstreamTransportFailureReason = '';
  connectionId: number | undefined = undefined;
  requestedServerName = '';
  lastDownstreamRxMonotonic: number | undefined = undefined;
  firstUpstreamRxMonotonic: number | undefined = undefined;
  lastDownstreamTxMonotonic: number | undefined = undefined;

  /** Made on first use: most requests end without a flag. */
  get responseFlags(): Set<ResponseFlag> {
    return (this.flags ??= new Set());
  }

  constructor(dispatcher: Pick<Dispatcher, 'systemTime' | 'approximateMonotonicTime'>) {
    this.startTime = dispatcher.systemTime();
    this.startMonotonic = dispatcher.approximateMonotonicTime();
  }
}
