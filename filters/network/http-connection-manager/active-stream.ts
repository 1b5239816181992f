/**
 * One request/response exchange in the HTTP connection manager (Envoy's
 * ConnectionManagerImpl::ActiveStream): the codec's RequestDecoder and StreamCallbacks, the
 * owner of the stream's filter chain (FilterManager), its timers, its StreamInfo, and the end of
 * the encoder chain, where response headers get their final touches before the codec.
 *
 * Request headers are checked and rewritten before any filter sees them: host required, header
 * limits, headers with underscores, path normalization, x-forwarded-for / -proto, x-request-id,
 * via, hop-by-hop headers, upgrades allowed by upgrade_configs. Responses get `server`, `date`
 * when absent, `via`, and `connection: close` when the HTTP/1 connection is going away.
 *
 * A stream ends when its response is complete (the request too; a response that beats its request
 * resets an HTTP/2 stream and closes an HTTP/1 connection) or when it is reset. Then the access
 * logs run, the filters are destroyed and the stream is deferred-deleted.
 */
import type { BufferInstance } from '../../../src/api/buffer.js';
import type { DeferredDeletable, Dispatcher, Timer } from '../../../src/api/dispatcher.js';
import type {
  Protocol,
  RequestDecoder,
  RequestHeaderMap,
  ResponseEncoder,
  ResponseHeaderMap,
  StreamCallbacks,
  StreamResetReason,
  TrailerMap,
} from '../../../src/api/http-codec.js';
import type { DownstreamWatermarkCallbacks } from '../../../src/api/http-filter.js';
import type { Connection, ConnectionCloseType } from '../../../src/api/network.js';
import type { Route } from '../../../src/api/router.js';
import type { ResponseFlag } from '../../../src/api/stream-info.js';
import { StreamInfoImpl } from '../../../src/access-log/stream-info-impl.js';
import type { IntrusiveList, ListNode } from '../../../src/common/intrusive-list.js';
import { HeaderMapImpl } from '../../../codecs/index.js';
import {
  isH2UpgradeRequest,
  isUpgrade,
  mutateRequestHeaders,
  mutateResponseHeaders,
  shouldCloseConnection,
  transformUpgradeRequestFromH2toH1,
  transformUpgradeResponseFromH1toH2,
} from './conn-manager-utility.js';
import { FilterManager, type FilterManagerCallbacks } from './filter-manager.js';
import type { HcmRuntime } from './hcm-config.js';
import { chargeResponseCode } from './hcm-stats.js';
import { GrpcStatus, isGrpcContentType } from './local-reply.js';
import { upgradeType, validateRequestHeaders } from './request-validation.js';

export type DrainState = 'NotDraining' | 'Draining' | 'Closing';

/** What a stream needs from its connection manager. */
export interface ActiveStreamOwner {
  readonly runtime: HcmRuntime;
  drainState: DrainState;
  /** True once the peer closed the connection. */
  readonly remoteClosed: boolean;
  connection(): Connection;
  protocol(): Protocol;
  startDrainSequence(): void;
  /** The stream is gone: unlink it (and arm the idle timer when it was the last). */
  onStreamDestroyed(stream: ActiveStream): void;
  checkForDeferredClose(skipDelay: boolean): void;
  doConnectionClose(type: ConnectionCloseType | undefined, flag: ResponseFlag | undefined, details: string): void;
  /** The cached IMF-fixdate of the current second. */
  dateHeader(): string;
}

function responseStatus(headers: ResponseHeaderMap): number {
  const s = Number(headers.get(':status'));
  return Number.isInteger(s) ? s : 0;
}

export class ActiveStream
  implements RequestDecoder, StreamCallbacks, FilterManagerCallbacks, DeferredDeletable, ListNode<ActiveStream>
{
  /** Links in the connection manager's list of streams. */
  listPrev: ActiveStream | undefined = undefined;
  listNext: ActiveStream | undefined = undefined;
  listOwner: IntrusiveList<ActiveStream> | undefined = undefined;
  readonly streamId: number;
  readonly info: StreamInfoImpl;
  readonly fm: FilterManager;
  private readonly disp: Dispatcher;
  private requestHeadersMap: RequestHeaderMap | undefined;
  private cachedRoute: Route | undefined;
  private routeCached = false;
  /** Envoy's stream_id_: picks among weighted clusters. */
  private readonly randomValue = Math.floor(Math.random() * 0x1_0000_0000);
  private idleTimer: Timer | undefined;
  private idleTimeoutMs: number;
  private requestTimer: Timer | undefined;
  private requestHeaderTimer: Timer | undefined;
  private maxDurationTimer: Timer | undefined;
  private readonly watermarkCallbacks: DownstreamWatermarkCallbacks[] = [];
  private highWatermarkCount = 0;
  /** readDisable(true) calls on the codec stream not yet undone. */
  private readDisableCount = 0;
  private sawConnectionClose = false;
  /** An HTTP/1.0 request asked for keep-alive (its connection header is removed before routing). */
  private http10KeepAlive = false;
  /** This response carries `connection: close` (HTTP/1): close once the stream is done. */
  private drainOnCompletion = false;
  private codecResetSent = false;
  private destroyed = false;
  /** The request was an HTTP/2 extended CONNECT, handled as the HTTP/1 upgrade it stands for. */
  private h2Upgrade = false;

  constructor(
    private readonly owner: ActiveStreamOwner,
    private readonly encoder: ResponseEncoder,
  ) {
    const conn = owner.connection();
    const settings = owner.runtime.settings;
    this.disp = conn.dispatcher();
    this.streamId = encoder.stream().streamId;
    this.info = new StreamInfoImpl(this.disp);
    this.info.protocol = owner.protocol();
    this.info.downstreamRemoteAddress = conn.remoteAddress();
    this.info.downstreamLocalAddress = conn.localAddress();
    this.info.connectionId = conn.id;
    this.info.requestedServerName = conn.requestedServerName();
    this.fm = new FilterManager(this, conn.bufferLimit());
    encoder.stream().addCallbacks(this);
    this.idleTimeoutMs = settings.streamIdleTimeoutMs;
    if (this.idleTimeoutMs > 0) {
      this.idleTimer = this.disp.createTimer(() => this.onIdleTimeout());
      this.idleTimer.enableTimer(this.idleTimeoutMs);
    }
    if (settings.requestTimeoutMs > 0) {
      this.requestTimer = this.disp.createTimer(() => this.onRequestTimeout());
      this.requestTimer.enableTimer(settings.requestTimeoutMs);
    }
    if (settings.requestHeadersTimeoutMs > 0) {
      this.requestHeaderTimer = this.disp.createTimer(() => this.onRequestHeaderTimeout());
      this.requestHeaderTimer.enableTimer(settings.requestHeadersTimeoutMs);
    }
    if (settings.maxStreamDurationMs > 0) {
      this.maxDurationTimer = this.disp.createTimer(() => this.onStreamMaxDurationReached());
      this.maxDurationTimer.enableTimer(settings.maxStreamDurationMs);
    }
    for (const factory of owner.runtime.filterFactories) factory(this.fm);
  }

  // ---- RequestDecoder (from the codec) ----

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): void {
    if (this.destroyed) return;
    this.requestHeaderTimer?.disableTimer();
    this.requestHeadersMap = headers;
    this.info.requestHeaders = headers;
    const protocol = this.owner.protocol();
    this.info.protocol = protocol;
    this.sawConnectionClose = shouldCloseConnection(protocol, headers);
    this.http10KeepAlive = protocol === 'HTTP/1.0' && !this.sawConnectionClose;
    this.fm.state.isHeadRequest = headers.get(':method') === 'HEAD';
    this.fm.state.isGrpcRequest = isGrpcContentType(headers.get('content-type'));
    if (endStream) this.maybeEndDecode();
    this.resetIdleTimer();
    if (!this.prepareRequestHeaders(headers, protocol)) return;
    this.refreshCachedRoute();
    this.maybeContinue100(headers);
    this.fm.decodeHeaders(undefined, headers, endStream);
  }

  decodeData(data: BufferInstance, endStream: boolean): void {
    if (this.destroyed) return;
    this.info.bytesReceived += data.length;
    if (endStream) this.maybeEndDecode();
    this.fm.decodeData(undefined, data, endStream, 'AlwaysStartFromNext');
  }

  decodeTrailers(trailers: TrailerMap): void {
    if (this.destroyed) return;
    this.maybeEndDecode();
    this.resetIdleTimer();
    this.fm.decodeTrailers(undefined, trailers);
  }

  /** The codec found the request malformed (it returns a protocol error from dispatch next). */
  sendLocalReply(code: number, body: string, details: string): void {
    if (this.destroyed) return;
    this.info.responseFlags.add('DPE');
    this.fm.sendLocalReply(code, body, { details });
  }

  private maybeEndDecode(): void {
    this.fm.state.remoteDecodeComplete = true;
    this.info.lastDownstreamRxMonotonic = this.disp.approximateMonotonicTime();
    this.requestTimer?.disableTimer();
  }

  /**
   * Validation and rewriting before the filters (Envoy's ActiveStream::decodeHeaders). Returns
   * false when a local reply was sent instead.
   */
  private prepareRequestHeaders(headers: RequestHeaderMap, protocol: Protocol): boolean {
    const { runtime } = this.owner;
    const conn = this.owner.connection();
    if (protocol === 'HTTP/2' && isH2UpgradeRequest(headers)) {
      // RFC 8441: everything past this point sees the HTTP/1 upgrade form (Envoy's HTTP/2 codec and
      // its header validator do this before the filters); the response goes back the other way.
      transformUpgradeRequestFromH2toH1(headers);
      this.h2Upgrade = true;
    }
    const rejection = validateRequestHeaders(headers, protocol, runtime, conn.localAddress().port);
    if (rejection !== undefined) {
      this.fm.sendLocalReply(rejection.code, '', { details: rejection.details });
      return false;
    }
    const upgrade = upgradeType(headers);
    const upgradeAllowed = upgrade !== undefined && runtime.settings.upgrades.get(upgrade) === true;
    const mutation = mutateRequestHeaders(headers, conn, runtime.settings, upgradeAllowed && protocol !== 'HTTP/1.0');
    this.info.downstreamRemoteAddress = mutation.finalRemoteAddress;
    if (upgrade !== undefined && !upgradeAllowed) {
      runtime.stats.downstream_rq_ws_on_non_ws_route.inc();
      this.fm.sendLocalReply(403, '', { details: 'upgrade_failed' });
      return false;
    }
    return true;
  }

  /** Envoy answers `Expect: 100-continue` itself (proxy_100_continue is false). */
  private maybeContinue100(headers: RequestHeaderMap): void {
    const expect = headers.get('expect');
    if (expect === undefined || expect.toLowerCase() !== '100-continue') return;
    headers.remove('expect');
    if (this.owner.protocol() === 'HTTP/1.0') return;
    this.owner.runtime.stats.downstream_rq_1xx.inc();
    this.encoder.encode1xxHeaders(HeaderMapImpl.fromPairs([[':status', '100']]));
  }

  // ---- routes ----

  route(): Route | undefined {
    if (!this.routeCached) this.refreshCachedRoute();
    return this.cachedRoute;
  }

  clearRouteCache(): void {
    this.routeCached = false;
    this.cachedRoute = undefined;
  }

  private refreshCachedRoute(): void {
    const headers = this.requestHeadersMap;
    if (headers === undefined) return;
    this.routeCached = true;
    this.cachedRoute = this.owner.runtime.routeConfig.route(headers, this.randomValue);
    this.info.routeName = this.cachedRoute?.name ?? '';
    this.refreshIdleTimeout();
  }

  /** A route's idle_timeout replaces stream_idle_timeout (0 disables it). */
  private refreshIdleTimeout(): void {
    const routeIdle = this.cachedRoute?.routeEntry?.idleTimeoutMs;
    if (routeIdle === undefined) return;
    this.idleTimeoutMs = routeIdle;
    if (routeIdle === 0) {
      this.idleTimer?.disableTimer();
      this.idleTimer = undefined;
      return;
    }
    this.idleTimer ??= this.disp.createTimer(() => this.onIdleTimeout());
    this.idleTimer.enableTimer(routeIdle);
  }

  finalizeLocalReplyHeaders(headers: ResponseHeaderMap): void {
    const route = this.requestHeadersMap === undefined ? undefined : this.route();
    this.owner.runtime.routeConfig.finalizeResponseHeaders(route, headers, this.info);
  }

  // ---- the end of the encoder chain ----

  encode1xxHeadersToCodec(headers: ResponseHeaderMap): void {
    if (this.destroyed) return;
    this.owner.runtime.stats.downstream_rq_1xx.inc();
    this.encoder.encode1xxHeaders(headers);
  }

  encodeHeadersToCodec(headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.destroyed) return;
    this.requestTimer?.disableTimer();
    this.info.responseHeaders = headers;
    this.finalizeResponseHeaders(headers);
    const code = responseStatus(headers);
    this.info.responseCode = code;
    const { stats, listenerStats } = this.owner.runtime;
    stats.downstream_rq_completed.inc();
    listenerStats.downstream_rq_completed.inc();
    chargeResponseCode(stats, code);
    chargeResponseCode(listenerStats, code);
    this.encoder.encodeHeaders(headers, endStream);
    if (endStream) this.onCodecEncodeComplete();
  }

  encodeDataToCodec(data: BufferInstance, endStream: boolean): void {
    if (this.destroyed) return;
    this.info.bytesSent += data.length;
    this.encoder.encodeData(data, endStream);
    if (endStream) this.onCodecEncodeComplete();
  }

  encodeTrailersToCodec(trailers: TrailerMap): void {
    if (this.destroyed) return;
    this.encoder.encodeTrailers(trailers);
    this.onCodecEncodeComplete();
  }

  /** Envoy's ActiveStream::encodeHeaders: server, date, via, hop-by-hop, connection: close. */
  private finalizeResponseHeaders(headers: ResponseHeaderMap): void {
    const owner = this.owner;
    const s = owner.runtime.settings;
    const protocol = owner.protocol();
    if (!headers.has('date')) headers.set('date', owner.dateHeader());
    if (s.serverHeaderTransformation === 'OVERWRITE' || (s.serverHeaderTransformation === 'APPEND_IF_ABSENT' && !headers.has('server'))) {
      headers.set('server', s.serverName);
    }
    mutateResponseHeaders(headers, this.requestHeadersMap, s.via);
    if (this.h2Upgrade) transformUpgradeResponseFromH1toH2(headers);
    if (owner.drainState === 'NotDraining' && owner.runtime.drainDecision.drainClose()) {
      owner.runtime.stats.downstream_cx_drain_close.inc();
      owner.startDrainSequence();
    }
    if (protocol === 'HTTP/1.0') {
      // HTTP/1.0 cannot chunk: without a length the response is framed by the close.
      if (!headers.has('content-length')) owner.drainState = 'Closing';
      else if (owner.drainState === 'NotDraining' && this.http10KeepAlive) {
        headers.set('connection', 'keep-alive');
      }
    }
    if (owner.drainState === 'NotDraining' && this.sawConnectionClose) owner.drainState = 'Closing';
    if (!this.fm.state.remoteDecodeComplete) {
      // A response before the whole request: HTTP/1 cannot go on with this connection.
      if (protocol !== 'HTTP/2') owner.drainState = 'Closing';
      owner.runtime.stats.downstream_rq_response_before_rq_complete.inc();
    }
    if (owner.drainState !== 'NotDraining' && protocol !== 'HTTP/2' && !isUpgrade(headers) && !this.isConnectResponse(headers)) {
      headers.set('connection', 'close');
      this.drainOnCompletion = true;
      owner.drainState = 'Closing';
    }
  }

  private isConnectResponse(headers: ResponseHeaderMap): boolean {
    const code = responseStatus(headers);
    return this.requestHeadersMap?.get(':method') === 'CONNECT' && code >= 200 && code < 300;
  }

  /** The whole response reached the codec. */
  private onCodecEncodeComplete(): void {
    const now = this.disp.approximateMonotonicTime();
    this.info.endMonotonic = now;
    this.info.lastDownstreamTxMonotonic = now;
    const requestComplete = this.fm.state.remoteDecodeComplete;
    if (!requestComplete && this.owner.protocol() === 'HTTP/2') {
      // RFC 9113 §8.1: a complete response may end the stream before the request did.
      this.resetCodecStream('LocalReset');
    }
    this.destroy();
    this.owner.checkForDeferredClose(this.drainOnCompletion && requestComplete);
  }

  // ---- resets ----

  /** A filter resets the stream. */
  resetStream(reason: StreamResetReason, details: string): void {
    if (this.destroyed) return;
    this.owner.runtime.stats.downstream_rq_tx_reset.inc();
    if (details !== '') this.info.responseCodeDetails = details;
    this.fm.state.localComplete = true;
    this.resetCodecStream(reason === 'LocalReset' ? this.localResetReason() : reason);
    if (this.owner.protocol() !== 'HTTP/2') this.owner.drainState = 'Closing';
    this.destroy();
    this.owner.checkForDeferredClose(false);
  }

  /**
   * Envoy's doEndStream: a CONNECT tunnel (on HTTP/2 also an extended CONNECT, seen here as the
   * upgrade it stands for) whose upstream connection failed or was cut ends with CONNECT_ERROR
   * (RFC 9113 §8.5 "MUST send RST_STREAM with CONNECT_ERROR"); an upstream protocol error with
   * PROTOCOL_ERROR.
   */
  private localResetReason(): StreamResetReason {
    const flags = this.info.responseFlags;
    const wasConnect = this.h2Upgrade || this.requestHeadersMap?.get(':method') === 'CONNECT';
    if (wasConnect && (flags.has('UC') || flags.has('UF'))) return 'ConnectError';
    return flags.has('UPE') ? 'ProtocolError' : 'LocalReset';
  }

  private resetCodecStream(reason: StreamResetReason): void {
    if (this.codecResetSent) return;
    this.codecResetSent = true;
    const stream = this.encoder.stream();
    stream.removeCallbacks(this);
    stream.resetStream(reason);
  }

  /** StreamCallbacks: the codec reset the stream (peer RST_STREAM, or a codec-level error). */
  onResetStream(reason: StreamResetReason, details: string): void {
    if (this.destroyed) return;
    this.codecResetSent = true;
    if (reason === 'RemoteReset' || reason === 'RemoteRefusedStreamReset' || reason === 'ConnectError') {
      this.owner.runtime.stats.downstream_rq_rx_reset.inc();
    }
    if (details !== '') {
      this.info.responseCodeDetails = details;
      if (reason === 'LocalReset' || reason === 'ProtocolError') this.info.responseFlags.add('DPE');
    }
    this.destroy();
    this.owner.checkForDeferredClose(false);
  }

  /** The connection went away (or is being closed by the manager) with this stream open. */
  onConnectionTermination(flag: ResponseFlag | undefined, details: string): void {
    if (this.destroyed) return;
    this.codecResetSent = true;
    this.encoder.stream().removeCallbacks(this);
    if (flag !== undefined) this.info.responseFlags.add(flag);
    if (details !== '' && this.info.responseCodeDetails === '') this.info.responseCodeDetails = details;
    this.destroy();
  }

  // ---- watermarks ----

  onAboveWriteBufferHighWatermark(): void {
    this.callHighWatermarkCallbacks();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.callLowWatermarkCallbacks();
  }

  callHighWatermarkCallbacks(): void {
    this.highWatermarkCount++;
    for (const cb of this.watermarkCallbacks.slice()) cb.onAboveWriteBufferHighWatermark();
  }

  callLowWatermarkCallbacks(): void {
    if (this.highWatermarkCount === 0) return;
    this.highWatermarkCount--;
    for (const cb of this.watermarkCallbacks.slice()) cb.onBelowWriteBufferLowWatermark();
  }

  addDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void {
    this.watermarkCallbacks.push(cb);
    // A late subscriber is told the current state, once per outstanding high watermark.
    for (let i = 0; i < this.highWatermarkCount; i++) cb.onAboveWriteBufferHighWatermark();
  }

  removeDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void {
    const cbs = this.watermarkCallbacks;
    const i = cbs.indexOf(cb);
    if (i === -1) return;
    // In place: splice would allocate the array of removed elements.
    for (let j = i + 1; j < cbs.length; j++) cbs[j - 1] = cbs[j]!;
    cbs.pop();
  }

  onDecoderFilterAboveWriteBufferHighWatermark(): void {
    if (this.destroyed) return;
    this.owner.runtime.stats.downstream_flow_control_paused_reading_total.inc();
    this.readDisableCount++;
    this.encoder.stream().readDisable(true);
  }

  onDecoderFilterBelowWriteBufferLowWatermark(): void {
    if (this.destroyed || this.readDisableCount === 0) return;
    this.owner.runtime.stats.downstream_flow_control_resumed_reading_total.inc();
    this.readDisableCount--;
    this.encoder.stream().readDisable(false);
  }

  onRequestDataTooLarge(): void {
    this.owner.runtime.stats.downstream_rq_too_large.inc();
  }

  onResponseDataTooLarge(): void {
    this.owner.runtime.stats.rs_too_large.inc();
  }

  // ---- timers ----

  resetIdleTimer(): void {
    if (this.idleTimer !== undefined) this.idleTimer.enableTimer(this.idleTimeoutMs);
  }

  /** 408 while the request is still coming in, 504 once it is complete (Envoy's choice). */
  private timeoutCode(): number {
    return this.fm.state.remoteDecodeComplete ? 504 : 408;
  }

  private onIdleTimeout(): void {
    if (this.destroyed) return;
    this.owner.runtime.stats.downstream_rq_idle_timeout.inc();
    this.info.responseFlags.add('SI');
    this.fm.sendLocalReply(this.timeoutCode(), 'stream timeout', { details: 'stream_idle_timeout' });
  }

  private onRequestTimeout(): void {
    if (this.destroyed) return;
    this.owner.runtime.stats.downstream_rq_timeout.inc();
    this.fm.sendLocalReply(this.timeoutCode(), 'request timeout', { details: 'request_overall_timeout' });
  }

  /** Envoy answers 408 `request header timeout`; an HTTP/1 connection then closes (the request is cut). */
  private onRequestHeaderTimeout(): void {
    if (this.destroyed) return;
    this.owner.runtime.stats.downstream_rq_header_timeout.inc();
    this.fm.sendLocalReply(this.timeoutCode(), 'request header timeout', { details: 'request_header_timeout' });
  }

  private onStreamMaxDurationReached(): void {
    if (this.destroyed) return;
    this.owner.runtime.stats.downstream_rq_max_duration_reached.inc();
    this.fm.sendLocalReply(this.timeoutCode(), 'downstream duration timeout', {
      details: 'max_duration_timeout',
      grpcStatus: GrpcStatus.DeadlineExceeded,
    });
  }

  // ---- the rest of FilterManagerCallbacks ----

  connection(): Connection {
    return this.owner.connection();
  }

  dispatcher(): Dispatcher {
    return this.disp;
  }

  streamInfo(): StreamInfoImpl {
    return this.info;
  }

  // ---- the end ----

  /** Logs, destroys the filters, and unlinks the stream; runs once. */
  private destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.idleTimer?.disableTimer();
    this.requestTimer?.disableTimer();
    this.requestHeaderTimer?.disableTimer();
    this.maxDurationTimer?.disableTimer();
    const stream = this.encoder.stream();
    if (!this.codecResetSent) {
      stream.removeCallbacks(this);
      // Give back the read-disables a filter left on the codec stream.
      for (; this.readDisableCount > 0; this.readDisableCount--) stream.readDisable(false);
    }
    const info = this.info;
    info.endMonotonic ??= this.disp.approximateMonotonicTime();
    if (this.owner.remoteClosed) {
      info.responseCodeDetails = 'downstream_remote_disconnect';
      info.responseFlags.add('DC');
    }
    const { stats, accessLogs } = this.owner.runtime;
    stats.downstream_rq_active.dec();
    stats.downstream_rq_time.recordValue(Math.floor(info.endMonotonic - info.startMonotonic));
    for (const log of accessLogs) log.log(info);
    this.fm.destroyFilters();
    // Usually empty by now (the router unsubscribed); setting length is a runtime call.
    while (this.watermarkCallbacks.length > 0) this.watermarkCallbacks.pop();
    this.owner.onStreamDestroyed(this);
    this.disp.deferredDelete(this);
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }

  onDeferredDelete(): void {
    this.requestHeadersMap = undefined;
    this.cachedRoute = undefined;
  }
}
