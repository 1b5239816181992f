/**
 * Scriptable fakes for the router: a manual-clock dispatcher, decoder filter callbacks that record
 * what the router asks of the HCM (with the HCM's local-reply-after-headers => reset rule), and a
 * cluster manager whose pools hand out recorded request encoders the test drives.
 */
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import { StreamInfoImpl } from '../../../../../src/access-log/stream-info-impl.js';
import type { BufferInstance } from '../../../../../src/api/buffer.js';
import type { DeferredDeletable, Dispatcher, Timer } from '../../../../../src/api/dispatcher.js';
import type {
  CodecStatus,
  Protocol,
  RequestEncoder,
  RequestHeaderMap,
  ResponseDecoder,
  ResponseHeaderMap,
  Stream,
  StreamCallbacks,
  StreamResetReason,
  TrailerMap,
} from '../../../../../src/api/http-codec.js';
import type { DownstreamWatermarkCallbacks, LocalReplyOptions, StreamDecoderFilterCallbacks } from '../../../../../src/api/http-filter.js';
import type { Connection } from '../../../../../src/api/network.js';
import type { RouteConfig } from '../../../../../src/api/router.js';
import type {
  Cancellable,
  ClusterManager,
  Host,
  HostHealth,
  HttpConnPool,
  HttpPoolCallbacks,
  LoadBalancer,
  LoadBalancerContext,
  PoolFailureReason,
  ThreadLocalCluster,
  UpstreamProtocol,
} from '../../../../../src/api/upstream.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import { StatsStore } from '../../../../../src/stats/store.js';
import { ClusterInfoImpl } from '../../../../../src/upstream/cluster-info.js';
import type { ClusterOptions } from '../../../../../src/upstream/cluster-options.js';

interface FakeTimerEntry {
  deadline: number;
  seq: number;
  timer: FakeTimer;
}

class FakeTimer implements Timer {
  entry: FakeTimerEntry | undefined;
  constructor(
    private readonly d: FakeDispatcher,
    readonly cb: () => void,
  ) {}
  enableTimer(ms: number): void {
    this.d.arm(this, ms);
  }
  disableTimer(): void {
    this.entry = undefined;
  }
  enabled(): boolean {
    return this.entry !== undefined;
  }
}

/** A dispatcher with a manual clock: advance(ms) fires due timers in deadline order. */
export class FakeDispatcher implements Dispatcher {
  now = 1000;
  private seq = 0;
  private readonly timers = new Set<FakeTimer>();

  createTimer(cb: () => void): Timer {
    const t = new FakeTimer(this, cb);
    this.timers.add(t);
    return t;
  }

  arm(t: FakeTimer, ms: number): void {
    t.entry = { deadline: this.now + ms, seq: this.seq++, timer: t };
  }

  deferredDelete(d: DeferredDeletable): void {
    d.onDeferredDelete();
  }

  post(cb: () => void): void {
    cb();
  }

  approximateMonotonicTime(): number {
    return this.now;
  }

  systemTime(): number {
    return 1_700_000_000_000 + this.now;
  }

  /** Timers armed now, as [delay from now] sorted. */
  pendingDelays(): number[] {
    return [...this.timers].filter((t) => t.entry !== undefined).map((t) => t.entry!.deadline - this.now).sort((a, b) => a - b);
  }

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: FakeTimerEntry | undefined;
      for (const t of this.timers) {
        const e = t.entry;
        if (e !== undefined && e.deadline <= end && (next === undefined || e.deadline < next.deadline || (e.deadline === next.deadline && e.seq < next.seq))) next = e;
      }
      if (next === undefined) break;
      this.now = next.deadline;
      next.timer.entry = undefined;
      next.timer.cb();
    }
    this.now = end;
  }
}

export interface LocalReplyRecord {
  code: number;
  body: string;
  options: LocalReplyOptions;
}

/** What the HCM would see from its terminal filter. */
export class FakeCallbacks implements StreamDecoderFilterCallbacks {
  readonly streamId = 1;
  readonly info: StreamInfoImpl;
  localReplies: LocalReplyRecord[] = [];
  resets: { reason: StreamResetReason | undefined; details: string | undefined }[] = [];
  encoded: { kind: 'headers' | 'data' | 'trailers' | '1xx'; headers?: ResponseHeaderMap; data?: string; endStream?: boolean; details?: string }[] = [];
  aboveCalls = 0;
  belowCalls = 0;
  watermarkSubscribers = new Set<DownstreamWatermarkCallbacks>();
  downstreamAbove = false;
  bufferLimit = 1024 * 1024;
  routeConfig: RouteConfig | undefined;
  randomValue = 0;
  ssl = false;
  private headersSent = false;

  constructor(readonly d: FakeDispatcher) {
    this.info = new StreamInfoImpl(d);
    this.info.protocol = 'HTTP/1.1';
  }

  connection(): Connection {
    return { ssl: () => this.ssl } as unknown as Connection;
  }
  dispatcher(): Dispatcher {
    return this.d;
  }
  streamInfo(): StreamInfoImpl {
    return this.info;
  }
  route() {
    const h = this.info.requestHeaders;
    return h === undefined ? undefined : this.routeConfig?.route(h, this.randomValue);
  }
  clearRouteCache(): void {}
  resetStream(reason?: StreamResetReason, details?: string): void {
    this.resets.push({ reason, details });
  }
  continueDecoding(): void {}
  decodingBuffer(): BufferInstance | undefined {
    return undefined;
  }
  /** As the HCM does: once response headers went out, a local reply becomes a reset. */
  sendLocalReply(code: number, body: string, options: LocalReplyOptions): void {
    this.info.responseCodeDetails = options.details;
    if (options.responseFlag !== undefined) this.info.responseFlags.add(options.responseFlag);
    if (this.headersSent) {
      this.resetStream('LocalReset', options.details);
      return;
    }
    this.localReplies.push({ code, body, options });
  }
  encode1xxHeaders(headers: ResponseHeaderMap): void {
    this.encoded.push({ kind: '1xx', headers });
  }
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean, details: string): void {
    this.headersSent = true;
    this.encoded.push({ kind: 'headers', headers, endStream, details });
  }
  encodeData(data: BufferInstance, endStream: boolean): void {
    this.encoded.push({ kind: 'data', data: data.toBuffer().toString(), endStream });
    data.drain(data.length);
  }
  encodeTrailers(trailers: TrailerMap): void {
    this.encoded.push({ kind: 'trailers', headers: trailers });
  }
  onDecoderFilterAboveWriteBufferHighWatermark(): void {
    this.aboveCalls++;
  }
  onDecoderFilterBelowWriteBufferLowWatermark(): void {
    this.belowCalls++;
  }
  addDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void {
    this.watermarkSubscribers.add(cb);
    if (this.downstreamAbove) cb.onAboveWriteBufferHighWatermark();
  }
  removeDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void {
    this.watermarkSubscribers.delete(cb);
  }
  decoderBufferLimit(): number {
    return this.bufferLimit;
  }
  requestComplete(): boolean {
    return false;
  }

  setDownstreamAbove(above: boolean): void {
    this.downstreamAbove = above;
    for (const cb of [...this.watermarkSubscribers]) {
      if (above) cb.onAboveWriteBufferHighWatermark();
      else cb.onBelowWriteBufferLowWatermark();
    }
  }

  /** Net read-disable of the downstream requested by the router. */
  readDisabled(): number {
    return this.aboveCalls - this.belowCalls;
  }
}

export class FakeStream implements Stream {
  readonly streamId = 1;
  callbacks = new Set<StreamCallbacks>();
  resets: StreamResetReason[] = [];
  readDisables: boolean[] = [];
  addCallbacks(cb: StreamCallbacks): void {
    this.callbacks.add(cb);
  }
  removeCallbacks(cb: StreamCallbacks): void {
    this.callbacks.delete(cb);
  }
  resetStream(reason: StreamResetReason): void {
    this.resets.push(reason);
  }
  readDisable(disable: boolean): void {
    this.readDisables.push(disable);
  }
  bufferLimit(): number {
    return 1024 * 1024;
  }
  /** Net readDisable count. */
  disabledCount(): number {
    return this.readDisables.reduce((n, d) => n + (d ? 1 : -1), 0);
  }
  /** Simulates the codec resetting the stream (the peer or the connection). */
  remoteReset(reason: StreamResetReason, details = ''): void {
    for (const cb of [...this.callbacks]) cb.onResetStream(reason, details);
  }
  above(): void {
    for (const cb of [...this.callbacks]) cb.onAboveWriteBufferHighWatermark();
  }
  below(): void {
    for (const cb of [...this.callbacks]) cb.onBelowWriteBufferLowWatermark();
  }
}

export class FakeEncoder implements RequestEncoder {
  readonly s = new FakeStream();
  headers: Record<string, string> | undefined;
  headersEndStream: boolean | undefined;
  data: { data: string; endStream: boolean }[] = [];
  trailers: TrailerMap | undefined;
  headersStatus: CodecStatus = { ok: true };

  stream(): Stream {
    return this.s;
  }
  encodeHeaders(headers: RequestHeaderMap, endStream: boolean): CodecStatus {
    const o: Record<string, string> = {};
    headers.forEach((n, v) => {
      o[n] = o[n] === undefined ? v : `${o[n]},${v}`;
    });
    this.headers = o;
    this.headersEndStream = endStream;
    return this.headersStatus;
  }
  encodeData(data: BufferInstance, endStream: boolean): void {
    this.data.push({ data: data.toBuffer().toString(), endStream });
    data.drain(data.length);
  }
  encodeTrailers(trailers: TrailerMap): void {
    this.trailers = trailers;
  }
  /** Everything sent, body concatenated. */
  body(): string {
    return this.data.map((d) => d.data).join('');
  }
  ended(): boolean {
    return this.headersEndStream === true || this.data.some((d) => d.endStream) || this.trailers !== undefined;
  }
}

export function fakeHost(cluster: ClusterInfoImpl, hostname = '', port = 8080): Host {
  return {
    address: { address: '127.0.0.1', port },
    addressString: `127.0.0.1:${port}`,
    hostname,
    cluster,
    weight: 1,
    health: (): HostHealth => 'Healthy',
    activeRequests: 0,
    activeConnections: 0,
    onRequestStart: () => undefined,
    onRequestEnd: () => undefined,
    onConnectionOpen: () => undefined,
    onConnectionClose: () => undefined,
    createConnection: () => {
      throw new Error('not used');
    },
  };
}

/** One pool request: the router's decoder and callbacks, for the test to answer. */
export class PendingStream {
  cancelled: 'Default' | 'CloseExcess' | undefined;
  encoder: FakeEncoder | undefined;
  constructor(
    readonly decoder: ResponseDecoder,
    readonly cb: HttpPoolCallbacks,
    readonly host: Host,
  ) {}

  ready(protocol: Protocol = 'HTTP/1.1', headersStatus: CodecStatus = { ok: true }): FakeEncoder {
    this.encoder = new FakeEncoder();
    this.encoder.headersStatus = headersStatus;
    this.cb.onPoolReady(this.encoder, this.host, protocol);
    return this.encoder;
  }

  fail(reason: PoolFailureReason, details = ''): void {
    this.cb.onPoolFailure(reason, details, this.host);
  }

  respond(status: number, endStream: boolean, extra: Record<string, string> = {}): void {
    this.decoder.decodeHeaders(HeaderMapImpl.fromObject({ ':status': String(status), ...extra }), endStream);
  }

  data(s: string, endStream: boolean): void {
    this.decoder.decodeData(new BufferChain(s), endStream);
  }
}

export class FakePool implements HttpConnPool {
  streams: PendingStream[] = [];
  /** Set to answer newStream synchronously. */
  immediate: ((p: PendingStream) => void) | undefined;
  constructor(
    readonly host: Host,
    readonly protocol: UpstreamProtocol,
  ) {}
  newStream(decoder: ResponseDecoder, cb: HttpPoolCallbacks): Cancellable | undefined {
    const p = new PendingStream(decoder, cb, this.host);
    this.streams.push(p);
    if (this.immediate !== undefined) {
      this.immediate(p);
      return undefined;
    }
    return { cancel: (policy) => (p.cancelled = policy) };
  }
  isIdle(): boolean {
    return true;
  }
  drainConnections(): void {}
  addIdleCallback(): void {}
}

export class FakeCluster implements ThreadLocalCluster {
  readonly store = new StatsStore();
  readonly clusterInfo: ClusterInfoImpl;
  readonly pool: FakePool;
  healthy = true;
  requested: { protocol: UpstreamProtocol; ctx: LoadBalancerContext | undefined }[] = [];

  constructor(options: Partial<ClusterOptions> & { name: string }, hostname = '') {
    this.clusterInfo = new ClusterInfoImpl({ hosts: [], ...options }, this.store);
    this.pool = new FakePool(fakeHost(this.clusterInfo, hostname), 'http1');
  }
  info(): ClusterInfoImpl {
    return this.clusterInfo;
  }
  loadBalancer(): LoadBalancer {
    return { chooseHost: () => this.pool.host };
  }
  hosts(): readonly Host[] {
    return [this.pool.host];
  }
  tcpConnPool(): undefined {
    return undefined;
  }
  httpConnPool(protocol: UpstreamProtocol, ctx: LoadBalancerContext | undefined): HttpConnPool | undefined {
    this.requested.push({ protocol, ctx });
    return this.healthy ? this.pool : undefined;
  }
  counter(name: string): number {
    return this.store.counter(`cluster.${this.clusterInfo.name}.${name}`).value();
  }
  /** The pool requests, oldest first. */
  get streams(): PendingStream[] {
    return this.pool.streams;
  }
  last(): PendingStream {
    return this.pool.streams[this.pool.streams.length - 1]!;
  }
}

export class FakeClusterManager implements ClusterManager {
  readonly clusters = new Map<string, FakeCluster>();
  add(c: FakeCluster): FakeCluster {
    this.clusters.set(c.info().name, c);
    return c;
  }
  getThreadLocalCluster(name: string): ThreadLocalCluster | undefined {
    return this.clusters.get(name);
  }
  clusterNames(): readonly string[] {
    return [...this.clusters.keys()];
  }
  async shutdown(): Promise<void> {}
}
