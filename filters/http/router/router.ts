/**
 * The router (Envoy's envoy.filters.http.router, source/common/router/router.cc): the terminal
 * decoder filter that forwards a request to the cluster its route names and relays the response.
 *
 * - No route: 404 `route_not_found` (NR). Direct responses and redirects: a local reply.
 * - Unknown cluster: 503 `cluster_not_found` (NC). No healthy host: 503 `no healthy upstream` (UH).
 * - One UpstreamRequest per attempt. The request body streams upstream as it arrives; while a
 *   retry is still possible it is also kept (slice references, no copy) to replay, and once that
 *   copy would exceed the decoder buffer limit retries are given up for the request.
 * - Timeouts: the route timeout (or `x-envoy-upstream-rq-timeout-ms`) runs from the end of the
 *   downstream request to the end of the response: 504 `upstream request timeout` (UT). The
 *   per-try timeout runs per attempt until the response starts; it is retried like a reset.
 * - Resets and pool failures before the response: retried per the retry policy, else 503 (502 for
 *   a protocol error) `upstream connect error or disconnect/reset before headers. reset reason:
 *   ...` with UF / UC / UR / UO / LR / UPE; URX when the retry limit was what stopped it. After the
 *   response started a failure resets the downstream stream (the HCM does that on a local reply).
 */
import type { BufferInstance } from '../../../src/api/buffer.js';
import type { Timer } from '../../../src/api/dispatcher.js';
import type { Protocol, RequestHeaderMap, ResponseHeaderMap, TrailerMap } from '../../../src/api/http-codec.js';
import type {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  StreamDecoderFilter,
  StreamDecoderFilterCallbacks,
} from '../../../src/api/http-filter.js';
import type { RouteEntry } from '../../../src/api/router.js';
import type { Counter, Histogram, Scope } from '../../../src/api/stats.js';
import type { ResponseFlag } from '../../../src/api/stream-info.js';
import type { ClusterInfo, ClusterManager, Host, HttpConnPool, ThreadLocalCluster, UpstreamProtocol } from '../../../src/api/upstream.js';
import { BufferChain } from '../../../src/common/buffer-chain.js';
import { defaultRandom, RetryState, type RandomSource, type UpstreamResetReason } from '../../../src/router/retry-state.js';
import { UpstreamRequest, type UpstreamRequestParent } from './upstream-request.js';

export interface RouterConfig {
  /** Do not add `x-envoy-*` headers (upstream-service-time, expected-rq-timeout, overloaded...). */
  readonly suppressEnvoyHeaders: boolean;
  /** Accepted for compatibility; sluice has no tracing. */
  readonly startChildSpan: boolean;
  /** Emit `upstream_rq_<code>` / `upstream_rq_<N>xx` per response (Envoy's dynamic_stats). */
  readonly dynamicStats: boolean;
}

export const DEFAULT_ROUTER_CONFIG: RouterConfig = { suppressEnvoyHeaders: false, startChildSpan: false, dynamicStats: true };

const DIGITS = /^\d+$/;

/** Envoy's Http::Utility::resetReasonToString. */
export function resetReasonToString(reason: UpstreamResetReason): string {
  switch (reason) {
    case 'LocalConnectionFailure':
      return 'local connection failure';
    case 'RemoteConnectionFailure':
      return 'remote connection failure';
    case 'ConnectionTimeout':
    case 'ConnectTimeout':
      return 'connection timeout';
    case 'ConnectionFailure':
      return 'connection failure';
    case 'ConnectionTermination':
      return 'connection termination';
    case 'LocalReset':
      return 'local reset';
    case 'LocalRefusedStreamReset':
      return 'local refused stream reset';
    case 'Overflow':
      return 'overflow';
    case 'RemoteReset':
      return 'remote reset';
    case 'RemoteRefusedStreamReset':
      return 'remote refused stream reset';
    case 'ProtocolError':
      return 'protocol error';
    case 'OverloadManager':
      return 'overload manager reset';
    case 'ConnectError':
      return 'remote error with CONNECT request';
  }
}

/** Envoy's Filter::streamResetReasonToResponseFlag. */
export function resetReasonToResponseFlag(reason: UpstreamResetReason): ResponseFlag {
  switch (reason) {
    case 'LocalConnectionFailure':
    case 'RemoteConnectionFailure':
    case 'ConnectionTimeout':
    case 'ConnectionFailure':
    case 'ConnectTimeout':
      return 'UF';
    case 'ConnectionTermination':
      return 'UC';
    case 'LocalReset':
    case 'LocalRefusedStreamReset':
    case 'OverloadManager':
      return 'LR';
    case 'Overflow':
      return 'UO';
    case 'RemoteReset':
    case 'RemoteRefusedStreamReset':
    case 'ConnectError':
      return 'UR';
    case 'ProtocolError':
      return 'UPE';
  }
}

/** A cluster's per-response stats, looked up by name once per cluster rather than per request. */
interface UpstreamResponseStats {
  readonly rqTime: Histogram;
  /** `upstream_rq_<N>xx` by N, and `upstream_rq_<code>` by code, filled as codes are seen. */
  readonly byClass: Counter[];
  readonly byCode: Map<number, Counter>;
}

const responseStatsByScope = new WeakMap<Scope, UpstreamResponseStats>();

function responseStats(scope: Scope): UpstreamResponseStats {
  let s = responseStatsByScope.get(scope);
  if (s === undefined) {
    s = { rqTime: scope.histogram('upstream_rq_time'), byClass: [], byCode: new Map() };
    responseStatsByScope.set(scope, s);
  }
  return s;
}

/** Envoy's StringUtil::replaceAllEmptySpace, used in response code details. */
function underscores(s: string): string {
  return s.replace(/\s/g, '_');
}

export class RouterFilter implements StreamDecoderFilter, UpstreamRequestParent {
  callbacks!: StreamDecoderFilterCallbacks;
  private entry: RouteEntry | undefined;
  private clusterName = '';
  private cluster: ClusterInfo | undefined;
  private headers: RequestHeaderMap | undefined;
  private trailers: TrailerMap | undefined;
  private upstreamRequest: UpstreamRequest | undefined;
  private retryState: RetryState | undefined;
  private retryTimer: Timer | undefined;
  private responseTimer: Timer | undefined;
  /** The request body kept for retries, by slice reference. */
  private retryBuffer: BufferChain | undefined;
  private retryBufferLimit = Number.POSITIVE_INFINITY;
  private pendingRetries = 0;
  private isRetry = false;
  private downstreamEnd = false;
  private requestCompleteTime: number | undefined;
  private responseStarted = false;
  /** A local reply or the complete response went downstream: nothing more to do. */
  private done = false;
  private globalTimeoutMs = 0;
  private perTryMs = 0;
  private timeoutResponseCode = 504;

  constructor(
    private readonly config: RouterConfig,
    private readonly clusterManager: ClusterManager,
    private readonly random: RandomSource = defaultRandom,
  ) {}

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.callbacks = cb;
  }

  // UpstreamRequestParent

  downstreamResponseStarted(): boolean {
    return this.responseStarted;
  }

  downstreamEndStream(): boolean {
    return this.downstreamEnd;
  }

  perTryTimeoutMs(): number {
    return this.perTryMs;
  }

  // StreamDecoderFilter

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus {
    this.headers = headers;
    const cb = this.callbacks;
    const info = cb.streamInfo();
    const route = cb.route();
    if (route === undefined || (route.routeEntry === undefined && route.directResponse === undefined)) {
      this.localReply(404, '', 'route_not_found', 'NR');
      return 'StopIteration';
    }
    info.routeName = route.name;
    const direct = route.directResponse;
    if (direct !== undefined) {
      const location = headers.has(':path') ? direct.location?.(headers) : undefined;
      this.done = true;
      cb.sendLocalReply(direct.status, direct.body, {
        details: 'direct_response',
        ...(location !== undefined && location !== '' ? { headers: { location } } : {}),
      });
      return 'StopIteration';
    }
    const entry = route.routeEntry!;
    this.entry = entry;
    this.clusterName = entry.clusterName(headers);
    const tlc = this.clusterManager.getThreadLocalCluster(this.clusterName);
    if (tlc === undefined) {
      this.localReply(503, '', 'cluster_not_found', 'NC');
      return 'StopIteration';
    }
    this.cluster = tlc.info();
    info.upstreamCluster = this.clusterName;
    const pool = this.connPool(tlc);
    if (pool === undefined) {
      this.sendNoHealthyUpstream();
      return 'StopIteration';
    }
    info.upstreamHost = pool.host.address;
    this.finalTimeout(entry, headers);
    entry.finalizeRequestHeaders(headers, info, !this.config.suppressEnvoyHeaders);
    this.setUpstreamScheme(headers);
    this.retryState = RetryState.create(entry.retryPolicy, headers, this.cluster, this.random);
    const limit = cb.decoderBufferLimit();
    this.retryBufferLimit = limit > 0 ? limit : Number.POSITIVE_INFINITY;
    this.startAttempt(pool, endStream);
    if (endStream) this.onRequestComplete();
    return 'StopIteration';
  }

  decodeData(data: BufferInstance, endStream: boolean): FilterDataStatus {
    if (this.done || (this.upstreamRequest === undefined && this.pendingRetries === 0)) {
      // Answered already (or the response finished before the request): drop the rest.
      data.drain(data.length);
      if (endStream) this.downstreamEnd = true;
      return 'StopIterationNoBuffer';
    }
    let buffering = this.retryState !== undefined;
    if (buffering && (this.retryBuffer?.length ?? 0) + data.length > this.retryBufferLimit) {
      this.cluster!.statsScope.counter('retry_or_shadow_abandoned').inc();
      this.dropRetryState();
      buffering = false;
      if (this.upstreamRequest === undefined) {
        // Waiting out a backoff with a body that can no longer be replayed.
        this.cleanup();
        data.drain(data.length);
        this.localReply(507, 'exceeded request buffer limit while retrying upstream', 'request_payload_exceeded_retry_buffer_limit');
        return 'StopIterationNoBuffer';
      }
    }
    if (buffering) {
      const keep = (this.retryBuffer ??= new BufferChain());
      for (const s of data.slices()) keep.add(s);
    }
    if (this.upstreamRequest !== undefined) this.upstreamRequest.acceptDataFromRouter(data, endStream);
    else data.drain(data.length);
    if (endStream) this.onRequestComplete();
    return 'StopIterationNoBuffer';
  }

  decodeTrailers(trailers: TrailerMap): FilterTrailersStatus {
    if (this.done) {
      this.downstreamEnd = true;
      return 'StopIteration';
    }
    this.trailers = trailers;
    this.upstreamRequest?.acceptTrailersFromRouter(trailers);
    this.onRequestComplete();
    return 'StopIteration';
  }

  onDestroy(): void {
    const ur = this.upstreamRequest;
    this.upstreamRequest = undefined;
    ur?.resetStream();
    this.cleanup();
    this.done = true;
  }

  // Attempts

  private connPool(tlc: ThreadLocalCluster): HttpConnPool | undefined {
    const info = tlc.info();
    const downstream: Protocol | undefined = this.callbacks.streamInfo().protocol;
    const protocol: UpstreamProtocol = info.useDownstreamProtocol ? (downstream === 'HTTP/2' ? 'http2' : 'http1') : info.upstreamProtocol;
    return tlc.httpConnPool(protocol, downstream === undefined ? undefined : { downstreamProtocol: downstream });
  }

  private startAttempt(pool: HttpConnPool, headersEndStream: boolean): UpstreamRequest {
    const ur = new UpstreamRequest(this, pool, this.headers!, this.callbacks.decoderBufferLimit());
    this.upstreamRequest = ur;
    ur.acceptHeadersFromRouter(headersEndStream);
    return ur;
  }

  private onRequestComplete(): void {
    this.downstreamEnd = true;
    this.requestCompleteTime = this.callbacks.dispatcher().approximateMonotonicTime();
    if (this.done || (this.upstreamRequest === undefined && this.pendingRetries === 0)) return;
    if (this.globalTimeoutMs > 0) {
      this.responseTimer = this.callbacks.dispatcher().createTimer(() => this.onResponseTimeout());
      this.responseTimer.enableTimer(this.globalTimeoutMs);
    }
    const ur = this.upstreamRequest;
    if (ur?.createPerTryTimeoutOnRequestComplete === true) ur.setupPerTryTimeout();
  }

  private scheduleRetry(): void {
    this.pendingRetries++;
    const ms = this.retryState!.nextBackOffMs();
    this.retryTimer ??= this.callbacks.dispatcher().createTimer(() => this.doRetry());
    this.retryTimer.enableTimer(ms);
  }

  private doRetry(): void {
    this.pendingRetries--;
    this.isRetry = true;
    // The cluster may have gone, or lost its healthy hosts, during the backoff.
    const tlc = this.clusterManager.getThreadLocalCluster(this.clusterName);
    const pool = tlc === undefined ? undefined : this.connPool(tlc);
    if (pool === undefined) {
      this.sendNoHealthyUpstream();
      this.cleanup();
      return;
    }
    this.callbacks.streamInfo().upstreamHost = pool.host.address;
    const elapsed = this.requestCompleteTime === undefined ? 0 : this.callbacks.dispatcher().approximateMonotonicTime() - this.requestCompleteTime;
    this.setTimeoutHeaders(Math.floor(elapsed));
    const body = this.retryBuffer;
    const hasBody = body !== undefined && body.length > 0;
    const ur = this.startAttempt(pool, !hasBody && this.trailers === undefined && this.downstreamEnd);
    // A synchronous failure may already have replaced or dropped this attempt.
    if (this.upstreamRequest !== ur) return;
    if (hasBody) {
      const copy = new BufferChain();
      for (const s of body.slices()) copy.add(s);
      ur.acceptDataFromRouter(copy, this.trailers === undefined && this.downstreamEnd);
    }
    if (this.upstreamRequest === ur && this.trailers !== undefined) ur.acceptTrailersFromRouter(this.trailers);
  }

  // Responses

  onUpstreamPoolReady(_request: UpstreamRequest, host: Host, _protocol: Protocol): void {
    this.callbacks.streamInfo().upstreamHost = host.address;
    if (this.entry?.autoHostRewrite === true && host.hostname !== '') this.headers!.set(':authority', host.hostname);
  }

  onUpstream1xxHeaders(headers: ResponseHeaderMap, request: UpstreamRequest): void {
    if (request !== this.upstreamRequest) return;
    this.responseStarted = true;
    // No retries once a 100-continue went downstream (Envoy).
    this.dropRetryState();
    this.callbacks.encode1xxHeaders(headers);
  }

  onUpstreamHeaders(status: number, headers: ResponseHeaderMap, request: UpstreamRequest, endStream: boolean): void {
    if (request !== this.upstreamRequest) return;
    const info = this.callbacks.streamInfo();
    if (this.retryState !== undefined) {
      const decision = this.retryState.shouldRetryHeaders(headers);
      if (decision === 'Yes') {
        this.upstreamRequest = undefined;
        // Resets unless both directions finished (then the stream goes back to the pool).
        request.resetStream();
        this.scheduleRetry();
        return;
      }
      if (decision === 'NoOverflow') info.responseFlags.add('UO');
      else if (decision === 'NoRetryLimitExceeded') info.responseFlags.add('URX');
    }
    this.dropRetryState();
    if (this.requestCompleteTime !== undefined && !this.config.suppressEnvoyHeaders) {
      const ms = Math.floor(this.callbacks.dispatcher().approximateMonotonicTime() - this.requestCompleteTime);
      headers.set('x-envoy-upstream-service-time', String(ms));
    }
    this.chargeUpstreamCode(status);
    this.entry!.finalizeResponseHeaders(headers, info);
    this.responseStarted = true;
    if (endStream) this.onUpstreamComplete(request);
    this.callbacks.encodeHeaders(headers, endStream, 'via_upstream');
  }

  onUpstreamData(data: BufferInstance, request: UpstreamRequest, endStream: boolean): void {
    if (request !== this.upstreamRequest) {
      data.drain(data.length);
      return;
    }
    if (endStream) this.onUpstreamComplete(request);
    this.callbacks.encodeData(data, endStream);
  }

  onUpstreamTrailers(trailers: TrailerMap, request: UpstreamRequest): void {
    if (request !== this.upstreamRequest) return;
    this.onUpstreamComplete(request);
    this.callbacks.encodeTrailers(trailers);
  }

  private onUpstreamComplete(request: UpstreamRequest): void {
    // A response that ends before the request does leaves the upstream stream unusable.
    if (!this.downstreamEnd) request.resetStream();
    else request.onComplete();
    this.upstreamRequest = undefined;
    if (this.requestCompleteTime !== undefined) {
      const ms = this.callbacks.dispatcher().approximateMonotonicTime() - this.requestCompleteTime;
      responseStats(this.cluster!.statsScope).rqTime.recordValue(Math.floor(ms));
    }
    this.done = true;
    this.cleanup();
  }

  // Failures

  onUpstreamReset(reason: UpstreamResetReason, transportFailureReason: string, request: UpstreamRequest): void {
    if (request !== this.upstreamRequest) return;
    if (this.maybeRetryReset(reason)) return;
    const code = reason === 'ProtocolError' ? 502 : 503;
    const dropped = reason === 'Overflow';
    this.chargeUpstreamAbort(code);
    this.upstreamRequest = undefined;
    const reasonText = resetReasonToString(reason);
    const body =
      'upstream connect error or disconnect/reset before headers. ' +
      (this.isRetry ? 'retried and the latest ' : '') +
      `reset reason: ${reasonText}` +
      (transportFailureReason !== '' ? `, transport failure reason: ${transportFailureReason}` : '');
    const basic = this.responseStarted ? 'upstream_reset_after_response_started' : 'upstream_reset_before_response_started';
    const details = underscores(`${basic}{${reasonText}${transportFailureReason !== '' ? `,${transportFailureReason}` : ''}}`);
    this.onUpstreamAbort(code, resetReasonToResponseFlag(reason), body, dropped, details);
  }

  onPerTryTimeout(request: UpstreamRequest): void {
    if (request !== this.upstreamRequest) return;
    this.cluster!.stats.upstream_rq_per_try_timeout.inc();
    request.resetStream();
    if (this.maybeRetryReset('LocalReset')) return;
    this.chargeUpstreamAbort(this.timeoutResponseCode);
    this.upstreamRequest = undefined;
    this.onUpstreamTimeoutAbort('upstream_per_try_timeout');
  }

  onUpstreamEncodeHeadersFailed(message: string, request: UpstreamRequest): void {
    if (request !== this.upstreamRequest) return;
    this.upstreamRequest = undefined;
    request.resetStream();
    this.cleanup();
    this.localReply(503, message, `filter_removed_required_request_headers{${underscores(message)}}`, 'DPE');
  }

  private onResponseTimeout(): void {
    const ur = this.upstreamRequest;
    this.upstreamRequest = undefined;
    if (ur !== undefined) {
      this.cluster!.stats.upstream_rq_timeout.inc();
      if (ur.awaitingHeaders) this.chargeUpstreamAbort(this.timeoutResponseCode);
      ur.resetStream();
    }
    this.onUpstreamTimeoutAbort('upstream_response_timeout');
  }

  /** A retry for a failed attempt, if the policy, the budget and the response state allow it. */
  private maybeRetryReset(reason: UpstreamResetReason): boolean {
    if (this.responseStarted || this.retryState === undefined) return false;
    const decision = this.retryState.shouldRetryReset(reason);
    if (decision === 'Yes') {
      this.upstreamRequest = undefined;
      this.scheduleRetry();
      return true;
    }
    const info = this.callbacks.streamInfo();
    if (decision === 'NoOverflow') info.responseFlags.add('UO');
    else if (decision === 'NoRetryLimitExceeded') info.responseFlags.add('URX');
    return false;
  }

  private onUpstreamTimeoutAbort(details: string): void {
    const body = this.timeoutResponseCode === 504 ? 'upstream request timeout' : '';
    this.onUpstreamAbort(this.timeoutResponseCode, 'UT', body, false, details);
  }

  /** Sends the error downstream; the HCM resets the stream instead if the response started. */
  private onUpstreamAbort(code: number, flag: ResponseFlag, body: string, dropped: boolean, details: string): void {
    this.cleanup();
    const overloaded = dropped && !this.config.suppressEnvoyHeaders ? { 'x-envoy-overloaded': 'true' } : undefined;
    this.localReply(code, body, details, flag, overloaded);
  }

  private sendNoHealthyUpstream(): void {
    this.chargeUpstreamCode(503);
    this.localReply(503, 'no healthy upstream', 'no_healthy_upstream', 'UH');
  }

  private localReply(code: number, body: string, details: string, flag?: ResponseFlag, headers?: Record<string, string>): void {
    this.done = true;
    if (flag !== undefined) this.callbacks.streamInfo().responseFlags.add(flag);
    this.callbacks.sendLocalReply(code, body, {
      details,
      ...(flag !== undefined ? { responseFlag: flag } : {}),
      ...(headers !== undefined ? { headers } : {}),
    });
  }

  private chargeUpstreamAbort(code: number): void {
    if (!this.responseStarted) this.chargeUpstreamCode(code);
  }

  /** Envoy's CodeStats::chargeBasicResponseStat on the cluster's scope. */
  private chargeUpstreamCode(code: number): void {
    const c = this.cluster;
    if (c === undefined) return;
    c.stats.upstream_rq_completed.inc();
    if (!this.config.dynamicStats) return;
    const rs = responseStats(c.statsScope);
    const n = Math.floor(code / 100);
    (rs.byClass[n] ??= c.statsScope.counter(`upstream_rq_${n}xx`)).inc();
    let byCode = rs.byCode.get(code);
    if (byCode === undefined) {
      byCode = c.statsScope.counter(`upstream_rq_${code}`);
      rs.byCode.set(code, byCode);
    }
    byCode.inc();
  }

  // Timeouts

  /** Envoy's FilterUtility::finalTimeout: route values, overridden by the request's x-envoy headers. */
  private finalTimeout(entry: RouteEntry, headers: RequestHeaderMap): void {
    this.globalTimeoutMs = entry.timeoutMs;
    this.perTryMs = entry.retryPolicy?.perTryTimeoutMs ?? 0;
    const global = headers.get('x-envoy-upstream-rq-timeout-ms');
    if (global !== undefined) {
      if (DIGITS.test(global)) this.globalTimeoutMs = Number(global);
      headers.remove('x-envoy-upstream-rq-timeout-ms');
    }
    const perTry = headers.get('x-envoy-upstream-rq-per-try-timeout-ms');
    if (perTry !== undefined) {
      if (DIGITS.test(perTry)) this.perTryMs = Number(perTry);
      headers.remove('x-envoy-upstream-rq-per-try-timeout-ms');
    }
    // A per-try timeout at or above the global one would never fire first.
    if (this.globalTimeoutMs !== 0 && this.perTryMs >= this.globalTimeoutMs) this.perTryMs = 0;
    if (headers.has('x-envoy-upstream-rq-timeout-alt-response')) {
      this.timeoutResponseCode = 204;
      headers.remove('x-envoy-upstream-rq-timeout-alt-response');
    }
    this.setTimeoutHeaders(0);
  }

  /** Tells the upstream how long it has: `x-envoy-expected-rq-timeout-ms`. */
  private setTimeoutHeaders(elapsedMs: number): void {
    let expected = this.perTryMs === 0 ? this.globalTimeoutMs : this.perTryMs;
    if (expected <= 0) return;
    if (this.globalTimeoutMs > 0) {
      // Out of time already: 0 would mean "no timeout", so say 1 ms; our timer fires soon.
      expected = elapsedMs >= this.globalTimeoutMs ? 1 : Math.min(expected, this.globalTimeoutMs - elapsedMs);
    }
    if (!this.config.suppressEnvoyHeaders) this.headers!.set('x-envoy-expected-rq-timeout-ms', String(expected));
  }

  /** Envoy's FilterUtility::setUpstreamScheme: keep a valid `:scheme`, else derive one. */
  private setUpstreamScheme(headers: RequestHeaderMap): void {
    const scheme = headers.get(':scheme');
    if (scheme === 'http' || scheme === 'https') return;
    const xfp = headers.get('x-forwarded-proto');
    if (xfp === 'http' || xfp === 'https') headers.set(':scheme', xfp);
    else headers.set(':scheme', this.callbacks.connection().ssl() ? 'https' : 'http');
  }

  private dropRetryState(): void {
    this.retryState?.release();
    this.retryState = undefined;
    this.retryBuffer = undefined;
  }

  /** Timers off, retry resources back (Envoy's Filter::cleanup). */
  private cleanup(): void {
    this.dropRetryState();
    this.retryTimer?.disableTimer();
    this.responseTimer?.disableTimer();
    this.pendingRetries = 0;
  }
}
