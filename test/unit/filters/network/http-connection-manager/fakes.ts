/**
 * Test doubles for the HTTP connection manager's unit tests: a dispatcher with a manual clock,
 * a connection, a codec stream/encoder that record what reaches them, recording filters, and a
 * fake route table.
 */
import { DEFAULT_HTTP1_OPTIONS, DEFAULT_HTTP2_OPTIONS } from '../../../../../codecs/index.js';
import type { ActiveStream, ActiveStreamOwner, DrainState } from '../../../../../filters/network/http-connection-manager/active-stream.js';
import type { HcmRuntime, HcmSettings } from '../../../../../filters/network/http-connection-manager/hcm-config.js';
import { createHcmListenerStats, createHcmStats } from '../../../../../filters/network/http-connection-manager/hcm-stats.js';
import type { AccessLog } from '../../../../../src/access-log/access-log.js';
import type { BufferInstance } from '../../../../../src/api/buffer.js';
import type { DrainDecision } from '../../../../../src/api/filter-config.js';
import { StatsStore } from '../../../../../src/stats/store.js';
import type { DeferredDeletable, Dispatcher, Timer } from '../../../../../src/api/dispatcher.js';
import type {
  HeaderMap,
  Protocol,
  RequestHeaderMap,
  ResponseEncoder,
  ResponseHeaderMap,
  Stream,
  StreamCallbacks,
  StreamResetReason,
  TrailerMap,
} from '../../../../../src/api/http-codec.js';
import type {
  FilterChainFactoryCallbacks,
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  StreamDecoderFilterCallbacks,
  StreamEncoderFilterCallbacks,
  StreamFilter,
} from '../../../../../src/api/http-filter.js';
import type {
  Address,
  Connection,
  ConnectionCallbacks,
  ConnectionCloseType,
  ConnectionState,
  ReadFilter,
  WriteFilter,
} from '../../../../../src/api/network.js';
import type { Route, RouteConfig } from '../../../../../src/api/router.js';
import type { ResponseFlag, StreamInfo } from '../../../../../src/api/stream-info.js';
import { headersObject } from '../../../../support/headers-object.js';
import { silentLogger } from '../../../../support/silent-logger.js';

export { headersObject, silentLogger };

export class FakeTimer implements Timer {
  due: number | undefined;
  constructor(
    private readonly d: FakeDispatcher,
    readonly cb: () => void,
  ) {}
  enableTimer(ms: number): void {
    this.due = this.d.now + ms;
  }
  disableTimer(): void {
    this.due = undefined;
  }
  enabled(): boolean {
    return this.due !== undefined;
  }
}

/** A dispatcher whose clock moves only with advance(); deferred deletes run on runDeferred(). */
export class FakeDispatcher implements Dispatcher {
  now = 1000;
  wall = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
  readonly timers: FakeTimer[] = [];
  readonly deferred: DeferredDeletable[] = [];
  readonly posted: Array<() => void> = [];

  createTimer(cb: () => void): Timer {
    const t = new FakeTimer(this, cb);
    this.timers.push(t);
    return t;
  }
  deferredDelete(d: DeferredDeletable): void {
    this.deferred.push(d);
  }
  post(cb: () => void): void {
    this.posted.push(cb);
  }
  approximateMonotonicTime(): number {
    return this.now;
  }
  systemTime(): number {
    return this.wall;
  }
  /** Moves the clock, firing due timers in order. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers) if (t.due !== undefined && t.due <= target && (next === undefined || t.due < next.due!)) next = t;
      if (next === undefined) break;
      this.now = next.due!;
      next.due = undefined;
      next.cb();
    }
    this.now = target;
  }
  runDeferred(): void {
    while (this.deferred.length > 0) this.deferred.shift()!.onDeferredDelete();
  }
}

export class FakeConnection implements Connection {
  readonly id = 7;
  readonly callbacks: ConnectionCallbacks[] = [];
  closes: Array<{ type: ConnectionCloseType; details: string | undefined }> = [];
  currentState: ConnectionState = 'Open';
  readDisables = 0;
  limit = 1024 * 1024;
  delayedCloseMs = -1;
  remote: Address = { address: '203.0.113.7', port: 51000, family: 'IPv4' };
  local: Address = { address: '10.0.0.1', port: 8080, family: 'IPv4' };
  tls = false;
  alpn = '';
  written = '';
  closeReason = '';

  constructor(readonly disp: FakeDispatcher) {}

  dispatcher(): Dispatcher {
    return this.disp;
  }
  addConnectionCallbacks(cb: ConnectionCallbacks): void {
    this.callbacks.push(cb);
  }
  removeConnectionCallbacks(cb: ConnectionCallbacks): void {
    const i = this.callbacks.indexOf(cb);
    if (i !== -1) this.callbacks.splice(i, 1);
  }
  addReadFilter(_f: ReadFilter): void {}
  addWriteFilter(_f: WriteFilter): void {}
  addFilter(_f: ReadFilter & WriteFilter): void {}
  initializeReadFilters(): boolean {
    return true;
  }
  write(data: BufferInstance, _endStream: boolean): void {
    this.written += data.toBuffer().toString('latin1');
    data.drain(data.length);
  }
  close(type: ConnectionCloseType, details?: string): void {
    this.closes.push({ type, details });
    if (this.currentState !== 'Open') return;
    this.currentState = 'Closed';
    this.closeReason = details ?? '';
    for (const cb of [...this.callbacks]) cb.onEvent('LocalClose');
  }
  /** The peer closes. */
  remoteClose(): void {
    this.currentState = 'Closed';
    for (const cb of [...this.callbacks]) cb.onEvent('RemoteClose');
  }
  state(): ConnectionState {
    return this.currentState;
  }
  localCloseReason(): string {
    return this.closeReason;
  }
  readDisable(disable: boolean): void {
    this.readDisables += disable ? 1 : -1;
  }
  readEnabled(): boolean {
    return this.readDisables === 0;
  }
  setBufferLimits(limit: number): void {
    this.limit = limit;
  }
  bufferLimit(): number {
    return this.limit;
  }
  aboveHighWatermark(): boolean {
    return false;
  }
  enableHalfClose(_e: boolean): void {}
  isHalfCloseEnabled(): boolean {
    return false;
  }
  setDelayedCloseTimeout(ms: number): void {
    this.delayedCloseMs = ms;
  }
  noDelay(_e: boolean): void {}
  remoteAddress(): Address {
    return this.remote;
  }
  localAddress(): Address {
    return this.local;
  }
  nextProtocol(): string {
    return this.alpn;
  }
  requestedServerName(): string {
    return '';
  }
  ssl(): boolean {
    return this.tls;
  }
  stats() {
    return { rxBytes: 0, txBytes: 0 };
  }
}

export class FakeStream implements Stream {
  readonly callbacks: StreamCallbacks[] = [];
  resets: StreamResetReason[] = [];
  readDisabled = 0;
  constructor(readonly streamId: number) {}
  addCallbacks(cb: StreamCallbacks): void {
    this.callbacks.push(cb);
  }
  removeCallbacks(cb: StreamCallbacks): void {
    const i = this.callbacks.indexOf(cb);
    if (i !== -1) this.callbacks.splice(i, 1);
  }
  resetStream(reason: StreamResetReason): void {
    this.resets.push(reason);
  }
  readDisable(disable: boolean): void {
    this.readDisabled += disable ? 1 : -1;
  }
  bufferLimit(): number {
    return 1024 * 1024;
  }
}

/** Records what reaches the codec, as readable strings. */
export class FakeEncoder implements ResponseEncoder {
  readonly events: string[] = [];
  readonly s: FakeStream;
  headers: ResponseHeaderMap | undefined;
  body = '';
  ended = false;
  constructor(id = 1) {
    this.s = new FakeStream(id);
  }
  stream(): Stream {
    return this.s;
  }
  encode1xxHeaders(headers: ResponseHeaderMap): void {
    this.events.push(`1xx ${headers.get(':status')}`);
  }
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    this.headers = headers;
    this.events.push(`headers ${headers.get(':status')}${endStream ? ' end' : ''}`);
    if (endStream) this.ended = true;
  }
  encodeData(data: BufferInstance, endStream: boolean): void {
    const text = data.toBuffer().toString();
    data.drain(data.length);
    this.body += text;
    this.events.push(`data ${JSON.stringify(text)}${endStream ? ' end' : ''}`);
    if (endStream) this.ended = true;
  }
  encodeTrailers(trailers: TrailerMap): void {
    this.events.push(`trailers ${JSON.stringify(headersObject(trailers))}`);
    this.ended = true;
  }
}

type Step<T> = T | ((cb: RecordingFilter) => T);

/**
 * A filter that records every call into a shared log as `<name>.<call>` and answers with the
 * scripted statuses (a function may also act through the callbacks before answering).
 */
export class RecordingFilter implements StreamFilter {
  decoderCallbacks!: StreamDecoderFilterCallbacks;
  encoderCallbacks!: StreamEncoderFilterCallbacks;
  decodeHeadersStatus: Step<FilterHeadersStatus> = 'Continue';
  decodeDataStatus: Step<FilterDataStatus> = 'Continue';
  decodeTrailersStatus: Step<FilterTrailersStatus> = 'Continue';
  encodeHeadersStatus: Step<FilterHeadersStatus> = 'Continue';
  encodeDataStatus: Step<FilterDataStatus> = 'Continue';
  encodeTrailersStatus: Step<FilterTrailersStatus> = 'Continue';
  /** Drain decoded data (like a terminal filter that forwards it). */
  consumeData = false;
  destroyed = 0;

  constructor(
    readonly name: string,
    readonly log: string[],
  ) {}

  private run<T>(s: Step<T>): T {
    return typeof s === 'function' ? (s as (cb: RecordingFilter) => T)(this) : s;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.decoderCallbacks = cb;
  }
  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void {
    this.encoderCallbacks = cb;
  }
  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus {
    this.log.push(`${this.name}.decodeHeaders ${headers.get(':path')}${endStream ? ' end' : ''}`);
    return this.run(this.decodeHeadersStatus);
  }
  decodeData(data: BufferInstance, endStream: boolean): FilterDataStatus {
    this.log.push(`${this.name}.decodeData ${JSON.stringify(data.toBuffer().toString())}${endStream ? ' end' : ''}`);
    const status = this.run(this.decodeDataStatus);
    if (this.consumeData && status === 'Continue') data.drain(data.length);
    return status;
  }
  decodeTrailers(trailers: TrailerMap): FilterTrailersStatus {
    this.log.push(`${this.name}.decodeTrailers ${JSON.stringify(headersObject(trailers))}`);
    return this.run(this.decodeTrailersStatus);
  }
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): FilterHeadersStatus {
    this.log.push(`${this.name}.encodeHeaders ${headers.get(':status')}${endStream ? ' end' : ''}`);
    return this.run(this.encodeHeadersStatus);
  }
  encodeData(data: BufferInstance, endStream: boolean): FilterDataStatus {
    this.log.push(`${this.name}.encodeData ${JSON.stringify(data.toBuffer().toString())}${endStream ? ' end' : ''}`);
    return this.run(this.encodeDataStatus);
  }
  encodeTrailers(trailers: TrailerMap): FilterTrailersStatus {
    this.log.push(`${this.name}.encodeTrailers ${JSON.stringify(headersObject(trailers))}`);
    return this.run(this.encodeTrailersStatus);
  }
  onDestroy(): void {
    this.destroyed++;
    this.log.push(`${this.name}.onDestroy`);
  }
}

/** Routes every request to `route`, and records local-reply finalization. */
export class FakeRouteConfig implements RouteConfig {
  calls = 0;
  lastRandom = -1;
  finalized = 0;
  constructor(public routeToReturn: Route | undefined = { name: 'r0', routeEntry: undefined, directResponse: undefined }) {}
  route(_headers: RequestHeaderMap, randomValue: number): Route | undefined {
    this.calls++;
    this.lastRandom = randomValue;
    return this.routeToReturn;
  }
  finalizeResponseHeaders(_route: Route | undefined, headers: HeaderMap, _info?: StreamInfo): void {
    this.finalized++;
    headers.set('x-route-finalized', 'yes');
  }
}

/** An access log that keeps the StreamInfo snapshots it was given. */
export class RecordingAccessLog implements AccessLog {
  readonly entries: Array<{ code: number | undefined; flags: string; details: string; bytesReceived: number; bytesSent: number }> = [];
  log(info: StreamInfo): void {
    this.entries.push({
      code: info.responseCode,
      flags: [...info.responseFlags].sort().join(','),
      details: info.responseCodeDetails,
      bytesReceived: info.bytesReceived,
      bytesSent: info.bytesSent,
    });
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

export const TEST_SETTINGS: HcmSettings = {
  statPrefix: 'ingress',
  codecType: 'AUTO',
  useRemoteAddress: false,
  xffNumTrustedHops: 0,
  skipXffAppend: false,
  via: '',
  generateRequestId: true,
  preserveExternalRequestId: false,
  serverName: 'sluice',
  serverHeaderTransformation: 'OVERWRITE',
  idleTimeoutMs: 3_600_000,
  maxConnectionDurationMs: 0,
  maxStreamDurationMs: 0,
  maxRequestsPerConnection: 0,
  streamIdleTimeoutMs: 300_000,
  requestTimeoutMs: 0,
  requestHeadersTimeoutMs: 0,
  drainTimeoutMs: 5000,
  delayedCloseTimeoutMs: 1000,
  headersWithUnderscoresAction: 'ALLOW',
  maxRequestHeadersKb: 60,
  maxHeadersCount: 100,
  upgrades: new Map(),
  normalizePath: false,
  mergeSlashes: false,
  stripPortMode: 'none',
  http1: DEFAULT_HTTP1_OPTIONS,
  http2: DEFAULT_HTTP2_OPTIONS,
};

export class FakeDrain implements DrainDecision {
  draining = false;
  readonly cbs = new Set<() => void>();
  drainClose(): boolean {
    return this.draining;
  }
  addOnDrainCloseCb(cb: () => void): () => void {
    this.cbs.add(cb);
    return () => this.cbs.delete(cb);
  }
  start(): void {
    this.draining = true;
    for (const cb of [...this.cbs]) cb();
  }
}

export interface TestRuntime extends HcmRuntime {
  readonly store: StatsStore;
  readonly routes: FakeRouteConfig;
  readonly accessLog: RecordingAccessLog;
  readonly drain: FakeDrain;
}

/** A runtime whose filter chain is built by `filters` (called once per stream). */
export function makeRuntime(
  settings: Partial<HcmSettings> = {},
  filters: (fm: FilterChainFactoryCallbacks) => void = () => undefined,
): TestRuntime {
  const store = new StatsStore();
  const routes = new FakeRouteConfig();
  const accessLog = new RecordingAccessLog();
  const drain = new FakeDrain();
  const full = { ...TEST_SETTINGS, ...settings };
  return {
    settings: full,
    routeConfig: routes,
    filterFactories: [filters],
    accessLogs: [accessLog],
    stats: createHcmStats(store.createScope(`http.${full.statPrefix}`)),
    listenerStats: createHcmListenerStats(store.createScope(`listener.10.0.0.1_8080.http.${full.statPrefix}`)),
    codecScope: store,
    drainDecision: drain,
    logger: silentLogger,
    store,
    routes,
    accessLog,
    drain,
  };
}

/** An ActiveStreamOwner that records what the stream asks of its connection manager. */
export class FakeOwner implements ActiveStreamOwner {
  drainState: DrainState = 'NotDraining';
  remoteClosed = false;
  readonly destroyedStreams: ActiveStream[] = [];
  readonly deferredCloseChecks: boolean[] = [];
  readonly connectionCloses: Array<{ type: ConnectionCloseType | undefined; flag: ResponseFlag | undefined; details: string }> = [];
  drainSequences = 0;

  constructor(
    readonly runtime: TestRuntime,
    readonly conn: FakeConnection,
    public proto: Protocol = 'HTTP/1.1',
  ) {}

  connection(): Connection {
    return this.conn;
  }
  protocol(): Protocol {
    return this.proto;
  }
  startDrainSequence(): void {
    this.drainSequences++;
    this.drainState = 'Draining';
  }
  onStreamDestroyed(stream: ActiveStream): void {
    this.destroyedStreams.push(stream);
  }
  checkForDeferredClose(skipDelay: boolean): void {
    this.deferredCloseChecks.push(skipDelay);
  }
  doConnectionClose(type: ConnectionCloseType | undefined, flag: ResponseFlag | undefined, details: string): void {
    this.connectionCloses.push({ type, flag, details });
  }
  dateHeader(): string {
    return 'Tue, 02 Jan 2024 03:04:05 GMT';
  }
}
