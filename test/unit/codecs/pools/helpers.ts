/**
 * Shared pieces of the HTTP pool tests: a real host (HostImpl, ClusterInfoImpl, StatsStore,
 * ClientConnectionImpl to 127.0.0.1) and a recording exchange that is both the pool callbacks and
 * the response decoder. Every wait has a timeout.
 */
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type {
  HeaderMap,
  Protocol,
  RequestEncoder,
  ResponseDecoder,
  ResponseHeaderMap,
  StreamCallbacks,
  StreamResetReason,
  TrailerMap,
} from '../../../../src/api/http-codec.js';
import type { ClientConnection } from '../../../../src/api/network.js';
import type { Cancellable, Host, HttpConnPool, HttpPoolCallbacks, PoolFailureReason } from '../../../../src/api/upstream.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ClientConnectionImpl } from '../../../../src/network/connection.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { ClusterInfoImpl } from '../../../../src/upstream/cluster-info.js';
import type { ClusterOptions } from '../../../../src/upstream/cluster-options.js';
import { HostImpl } from '../../../../src/upstream/host.js';
import { HeaderMapImpl } from '../../../../codecs/headers.js';
import { withTimeout } from '../../../support/net-helpers.js';

export const WAIT_MS = 5000;


export interface HostSetup {
  readonly dispatcher: NodeDispatcher;
  readonly store: StatsStore;
  readonly info: ClusterInfoImpl;
  readonly host: HostImpl;
  /** Every upstream connection the host made, in order. */
  readonly connections: ClientConnection[];
  /** `cluster.c.<name>` counter value. */
  counter(name: string): number;
  gauge(name: string): number;
}

export function hostSetup(port: number, opts: Partial<ClusterOptions> = {}): HostSetup {
  const dispatcher = new NodeDispatcher({ name: 'test' });
  const store = new StatsStore();
  const info = new ClusterInfoImpl({ name: 'c', hosts: [], connectTimeoutMs: 2000, ...opts }, store);
  const connections: ClientConnection[] = [];
  const host = new HostImpl(info, { address: '127.0.0.1', port }, (address, bufferLimit) => {
    const c = new ClientConnectionImpl(dispatcher, address, { bufferLimit });
    connections.push(c);
    return c;
  });
  return {
    dispatcher,
    store,
    info,
    host,
    connections,
    counter: (name) => info.statsScope.counter(name).value(),
    gauge: (name) => info.statsScope.gauge(name).value(),
  };
}

export function requestHeaders(method: string, path: string, extra: Record<string, string> = {}): HeaderMap {
  return HeaderMapImpl.fromObject({ ':method': method, ':path': path, ':authority': '127.0.0.1', ':scheme': 'http', ...extra });
}

export interface RequestSpec {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Do not send anything on onPoolReady (the test drives the encoder). */
  readonly manual?: boolean;
}

type Outcome = 'complete' | 'reset' | 'failure';

/** One request through a pool: records the pool callback, the response and any reset. */
export class Exchange implements HttpPoolCallbacks, ResponseDecoder, StreamCallbacks {
  handle: Cancellable | undefined;
  encoder: RequestEncoder | undefined;
  host: Host | undefined;
  protocol: Protocol | undefined;
  headers: ResponseHeaderMap | undefined;
  readonly informational: ResponseHeaderMap[] = [];
  trailers: TrailerMap | undefined;
  reset: { reason: StreamResetReason; details: string } | undefined;
  failure: { reason: PoolFailureReason; details: string; host: Host | undefined } | undefined;
  complete = false;
  /** Order of what happened, for sequencing assertions. */
  readonly events: string[] = [];
  private readonly chunks: Buffer[] = [];
  private settled: ((o: Outcome) => void) | undefined;
  private outcome: Outcome | undefined;
  private readyWaiter: (() => void) | undefined;

  constructor(private readonly spec: RequestSpec = {}) {}

  get status(): number {
    return Number(this.headers?.get(':status') ?? 0);
  }

  get body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }

  /** Resolves when the response completed, the stream was reset, or the pool failed. */
  done(ms = WAIT_MS): Promise<Outcome> {
    if (this.outcome !== undefined) return Promise.resolve(this.outcome);
    return withTimeout(new Promise<Outcome>((r) => (this.settled = r)), ms, `exchange ${this.spec.path ?? '/'} to end`);
  }

  ready(ms = WAIT_MS): Promise<void> {
    if (this.encoder !== undefined) return Promise.resolve();
    return withTimeout(new Promise<void>((r) => (this.readyWaiter = r)), ms, 'onPoolReady');
  }

  /** Sends the request as specified (called on onPoolReady unless manual). */
  send(): void {
    const enc = this.encoder!;
    const spec = this.spec;
    const headers = requestHeaders(spec.method ?? 'GET', spec.path ?? '/', spec.headers ?? {});
    if (spec.body !== undefined) headers.set('content-length', String(Buffer.byteLength(spec.body)));
    const status = enc.encodeHeaders(headers, spec.body === undefined);
    if (!status.ok) throw new Error(`encodeHeaders failed: ${status.message}`);
    if (spec.body !== undefined) enc.encodeData(new BufferChain(Buffer.from(spec.body)), true);
  }

  onPoolReady(encoder: RequestEncoder, host: Host, protocol: Protocol): void {
    this.events.push('ready');
    this.encoder = encoder;
    this.host = host;
    this.protocol = protocol;
    encoder.stream().addCallbacks(this);
    if (this.spec.manual !== true) this.send();
    this.readyWaiter?.();
  }

  onPoolFailure(reason: PoolFailureReason, details: string, host: Host | undefined): void {
    this.events.push(`failure:${reason}`);
    this.failure = { reason, details, host };
    this.settle('failure');
  }

  decode1xxHeaders(headers: ResponseHeaderMap): void {
    this.informational.push(headers);
  }

  decodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    this.events.push(`headers:${headers.get(':status')}`);
    this.headers = headers;
    if (endStream) this.finish();
  }

  decodeData(data: BufferInstance, endStream: boolean): void {
    this.chunks.push(Buffer.from(data.toBuffer()));
    data.drain(data.length);
    if (endStream) this.finish();
  }

  decodeTrailers(trailers: TrailerMap): void {
    this.trailers = trailers;
    this.finish();
  }

  onResetStream(reason: StreamResetReason, details: string): void {
    this.events.push(`reset:${reason}`);
    this.reset = { reason, details };
    this.settle('reset');
  }

  onAboveWriteBufferHighWatermark(): void {}

  onBelowWriteBufferLowWatermark(): void {}

  private finish(): void {
    this.events.push('complete');
    this.complete = true;
    this.settle('complete');
  }

  private settle(o: Outcome): void {
    if (this.outcome !== undefined) return;
    this.outcome = o;
    this.settled?.(o);
  }
}

/** Starts a request through `pool`. */
export function startExchange(pool: HttpConnPool, spec: RequestSpec = {}): Exchange {
  const ex = new Exchange(spec);
  ex.handle = pool.newStream(ex, ex);
  return ex;
}

/** Resolves once the pool has gone idle (no connection, nothing pending). */
export function idle(pool: HttpConnPool, ms = WAIT_MS): Promise<void> {
  if (pool.isIdle()) return Promise.resolve();
  return withTimeout(new Promise<void>((r) => pool.addIdleCallback(r)), ms, 'pool idle');
}
