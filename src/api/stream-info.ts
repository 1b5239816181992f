import type { Protocol, RequestHeaderMap, ResponseHeaderMap } from './http-codec.js';
import type { Address } from './network.js';

/** Envoy's response flags, by their short names as printed in access logs. */
export type ResponseFlag =
  | 'NR' // no route
  | 'NC' // no cluster found (the route names an unknown cluster)
  | 'UF' // upstream connection failure
  | 'UH' // no healthy upstream
  | 'UO' // upstream overflow (circuit breaker)
  | 'UT' // upstream request timeout
  | 'UC' // upstream connection termination
  | 'URX' // upstream retry limit exceeded
  | 'DC' // downstream connection termination
  | 'LR' // local reset
  | 'UR' // upstream remote reset
  | 'SI' // stream idle timeout
  | 'DPE' // downstream protocol error
  | 'UPE' // upstream protocol error
  | 'DT'; // duration timeout (max_connection_duration, max_downstream_connection_duration)

/** What is known about one request, filled in as it goes; the access log reads it. */
export interface StreamInfo {
  readonly startTime: number; // wall clock ms
  readonly startMonotonic: number;
  protocol: Protocol | undefined;
  responseCode: number | undefined;
  responseCodeDetails: string;
  readonly responseFlags: Set<ResponseFlag>;
  bytesReceived: number;
  bytesSent: number;
  upstreamHost: Address | undefined;
  upstreamCluster: string | undefined;
  routeName: string;
  downstreamRemoteAddress: Address | undefined;
  downstreamLocalAddress: Address | undefined;
  requestHeaders: RequestHeaderMap | undefined;
  responseHeaders: ResponseHeaderMap | undefined;
  /** Monotonic ms when the last downstream byte was sent (for %DURATION%). */
  endMonotonic: number | undefined;
  upstreamTransportFailureReason: string;
  /** The downstream connection's id (%CONNECTION_ID%); undefined when there is none. */
  connectionId: number | undefined;
  /** The SNI the downstream client sent (%REQUESTED_SERVER_NAME%); '' when none. */
  requestedServerName: string;
  /** Monotonic ms when the last byte of the downstream request was received (%REQUEST_DURATION%). */
  lastDownstreamRxMonotonic: number | undefined;
  /** Monotonic ms when the first byte of the upstream response arrived, of the last attempt (%RESPONSE_DURATION%). */
  firstUpstreamRxMonotonic: number | undefined;
  /**
   * Monotonic ms when the last byte of the response was sent downstream (%RESPONSE_TX_DURATION%);
   * unlike endMonotonic it stays unset when the stream ended without a complete response.
   */
  lastDownstreamTxMonotonic: number | undefined;
}
