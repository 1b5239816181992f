import * as net from 'node:net';
import type { Dispatcher, Timer } from '../api/dispatcher.js';
import type { Logger } from '../api/logger.js';
import type {
  Address,
  Connection,
  ConnectionCallbacks,
  ConnectionCloseType,
  ConnectionEvent,
  ListenerFilter,
  ListenerFilterCallbacks,
} from '../api/network.js';
import type { Counter, Gauge, Histogram, Scope } from '../api/stats.js';
import { localAddressOf, makeAddress, remoteAddressOf } from './address.js';
import { ConnectionImpl, DEFAULT_BUFFER_LIMIT_BYTES, type ConnectionOptions } from './connection.js';

/** Envoy's listener_filters_timeout default. */
export const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

/** What is known about an accepted socket when its filter chain is chosen. */
export interface AcceptedSocketInfo {
  readonly remoteAddress: Address;
  readonly localAddress: Address;
  /** SNI, from a listener filter (tls_inspector); '' when none. */
  readonly requestedServerName: string;
  /** ALPN offered by the client, from a listener filter; empty when none. */
  readonly applicationProtocols: readonly string[];
  /** 'tls' when a listener filter saw a ClientHello; 'raw_buffer' otherwise (Envoy's default). */
  readonly detectedTransportProtocol: string;
}

/** A transport-wrapped socket for a new connection (the TLS seam). */
export interface TransportSocket {
  readonly socket: net.Socket;
  /** The socket event after which application data flows ('secure' for a server TLSSocket). */
  readonly readyEvent?: string;
}

/** One filter chain of a listener: its transport and its network filters. */
export interface FilterChain {
  readonly name: string;
  /**
   * Wraps the accepted socket in the chain's transport: a TLS chain returns a tls.TLSSocket over
   * it (bytes peeked by listener filters are back in the socket and reach the TLS layer). Raw
   * chains leave this out.
   */
  createTransportSocket?(socket: net.Socket, info: AcceptedSocketInfo): TransportSocket;
  /** Adds the chain's network filters to the connection (read filters are initialized after). */
  createNetworkFilters(connection: Connection): void;
}

/** Chooses the filter chain for a socket (Envoy's filter chain match); undefined: none matches. */
export type FilterChainFactory = (info: AcceptedSocketInfo) => FilterChain | undefined;

export interface ListenerConfig {
  readonly name: string;
  /** Where to listen; port 0 picks a free port (see address() after listen()). */
  readonly address: Address;
  readonly dispatcher: Dispatcher;
  /** The listener's stats scope (`listener.<address>.`). */
  readonly scope: Scope;
  readonly filterChainFactory: FilterChainFactory;
  /** One filter of each factory runs on every accepted socket, in order. */
  readonly listenerFilters?: readonly (() => ListenerFilter)[];
  /** Default 15000; 0 waits forever. */
  readonly listenerFiltersTimeoutMs?: number;
  /** On a listener filter timeout, go on to filter chain matching instead of closing. */
  readonly continueOnListenerFiltersTimeout?: boolean;
  /** per_connection_buffer_limit_bytes; default 1 MiB. */
  readonly perConnectionBufferLimitBytes?: number;
  /** Kernel accept queue length; also bounds the sockets held while accepting is paused. */
  readonly backlog?: number;
  /** Accepted sockets (connections plus those in listener filters) allowed at once. */
  readonly maxConnections?: number;
  readonly logger?: Logger;
  /** Extra options for every server connection (delayed close timeout, ...). */
  readonly connectionOptions?: Omit<ConnectionOptions, 'bufferLimit' | 'readyEvent' | 'requestedServerName'>;
}

/** Envoy's listener stats, under the listener scope. */
export interface ListenerStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_destroy: Counter;
  readonly downstream_cx_active: Gauge;
  readonly downstream_cx_length_ms: Histogram;
  readonly downstream_cx_overflow: Counter;
  readonly downstream_pre_cx_active: Gauge;
  readonly downstream_pre_cx_timeout: Counter;
  readonly downstream_listener_filter_error: Counter;
  readonly downstream_listener_filter_remote_close: Counter;
  readonly no_filter_chain_match: Counter;
}

function listenerStats(scope: Scope): ListenerStats {
  return {
    downstream_cx_total: scope.counter('downstream_cx_total'),
    downstream_cx_destroy: scope.counter('downstream_cx_destroy'),
    downstream_cx_active: scope.gauge('downstream_cx_active'),
    downstream_cx_length_ms: scope.histogram('downstream_cx_length_ms'),
    downstream_cx_overflow: scope.counter('downstream_cx_overflow'),
    downstream_pre_cx_active: scope.gauge('downstream_pre_cx_active'),
    downstream_pre_cx_timeout: scope.counter('downstream_pre_cx_timeout'),
    downstream_listener_filter_error: scope.counter('downstream_listener_filter_error'),
    downstream_listener_filter_remote_close: scope.counter('downstream_listener_filter_remote_close'),
    no_filter_chain_match: scope.counter('no_filter_chain_match'),
  };
}

const EMPTY = Buffer.alloc(0);

/**
 * Envoy's ActiveTcpSocket: an accepted socket going through the listener filters. Filters peek:
 * bytes are read into `peeked` and, once the filters are done, unshifted back into the socket so
 * the connection (or a TLS layer wrapping the socket) reads them again from the start.
 */
class ActiveTcpSocket implements ListenerFilterCallbacks {
  private readonly filters: ListenerFilter[];
  /** The most any filter peeks (Envoy's listener filter buffer capacity); reading stops there. */
  private readonly capacity: number;
  private index = -1;
  private peeked: Buffer = EMPTY;
  private reading = false;
  private waitingForData = false;
  private done = false;
  private timer: Timer | undefined;
  private serverName = '';
  private protocols: readonly string[] = [];
  private transportProtocol = '';

  constructor(
    private readonly listener: TcpListener,
    readonly socket: net.Socket,
    factories: readonly (() => ListenerFilter)[],
    private readonly timeoutMs: number,
  ) {
    this.filters = factories.map((f) => f());
    this.capacity = Math.max(1, ...this.filters.map((f) => f.maxReadBytes()));
    socket.on('error', this.onSocketError);
  }

  start(): void {
    this.runFilters(0);
  }

  peekedData(): Buffer {
    const max = this.index >= 0 && this.index < this.filters.length ? this.filters[this.index]!.maxReadBytes() : 0;
    return max > 0 && this.peeked.length > max ? this.peeked.subarray(0, max) : this.peeked;
  }

  setRequestedServerName(name: string): void {
    this.serverName = name;
  }

  setRequestedApplicationProtocols(protocols: readonly string[]): void {
    this.protocols = protocols;
  }

  setDetectedTransportProtocol(protocol: string): void {
    this.transportProtocol = protocol;
  }

  continueFilterChain(success: boolean): void {
    if (this.done) return;
    if (success) this.runFilters(this.index + 1);
    else this.fail();
  }

  /** Drops the socket (listener stop). */
  abort(): void {
    if (!this.done) this.fail();
  }

  private runFilters(from: number): void {
    this.waitingForData = false;
    for (let i = from; i < this.filters.length; i++) {
      this.index = i;
      const filter = this.filters[i]!;
      const status = this.guard(() => filter.onAccept(this));
      // The filter may have continued (or failed) the chain itself from inside onAccept.
      if (this.done || this.index !== i || status === undefined) return;
      if (status === 'StopIteration') {
        // Either it wants bytes, or (maxReadBytes 0) it waits for something asynchronous; in both
        // cases we read, to see the bytes or the peer going away.
        this.waitingForData = filter.maxReadBytes() > 0;
        if (this.timer === undefined && this.timeoutMs > 0) {
          this.timer = this.listener.dispatcher.createTimer(this.onTimeout);
          this.timer.enableTimer(this.timeoutMs);
        }
        this.startReading();
        if (this.waitingForData && this.peeked.length > 0) this.deliverPeek();
        return;
      }
    }
    this.finish();
  }

  private deliverPeek(): void {
    const i = this.index;
    const filter = this.filters[i]!;
    const status = this.guard(() => filter.onData(this));
    if (this.done || this.index !== i || status === undefined) return;
    if (status === 'Continue') {
      this.runFilters(i + 1);
    } else if (this.peeked.length >= filter.maxReadBytes()) {
      // It has every byte it asked for and still wants more: it can never be satisfied.
      this.listener.stats.downstream_listener_filter_error.inc();
      this.fail();
    }
  }

  private startReading(): void {
    if (this.reading) return;
    this.reading = true;
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.done) return;
    this.peeked = this.peeked.length === 0 ? chunk : Buffer.concat([this.peeked, chunk]);
    // Bounded like Envoy's peek buffer: no filter wants more, so the rest stays in the kernel.
    if (this.peeked.length >= this.capacity) this.socket.pause();
    if (this.waitingForData) this.deliverPeek();
  };

  private readonly onEnd = (): void => {
    if (this.done) return;
    this.listener.stats.downstream_listener_filter_remote_close.inc();
    this.fail();
  };

  private readonly onSocketError = (): void => {
    if (this.done) return;
    this.listener.stats.downstream_listener_filter_error.inc();
    this.fail();
  };

  private readonly onTimeout = (): void => {
    if (this.done) return;
    this.listener.stats.downstream_pre_cx_timeout.inc();
    if (this.listener.continueOnTimeout) this.finish();
    else this.fail();
  };

  private guard<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      this.listener.reportError(e, 'listener filter');
      if (!this.done) {
        this.listener.stats.downstream_listener_filter_error.inc();
        this.fail();
      }
      return undefined;
    }
  }

  private stopReading(): void {
    this.timer?.disableTimer();
    this.socket.off('error', this.onSocketError);
    if (!this.reading) return;
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
  }

  private finish(): void {
    this.done = true;
    this.stopReading();
    if (this.peeked.length > 0) this.socket.unshift(this.peeked);
    this.listener.onListenerFiltersDone(this, {
      remoteAddress: remoteAddressOf(this.socket),
      localAddress: localAddressOf(this.socket),
      requestedServerName: this.serverName,
      applicationProtocols: this.protocols,
      detectedTransportProtocol: this.transportProtocol === '' ? 'raw_buffer' : this.transportProtocol,
    });
  }

  private fail(): void {
    this.done = true;
    this.stopReading();
    this.socket.destroy();
    this.listener.onListenerFiltersDone(this, undefined);
  }
}

/**
 * A TCP listener on net.Server (Envoy's TcpListenerImpl + ActiveTcpListener): accepts, runs the
 * listener filters, asks the filter chain factory for a chain, and creates a server Connection
 * with the chain's transport and filters. Sockets are accepted paused (pauseOnConnect) so that
 * nothing is read before a listener filter or the connection asks for it.
 *
 * Node cannot stop a listening socket from accepting without closing it, so pauseAccepting()
 * holds newly accepted sockets unread (at most `backlog` of them; beyond that they are closed as
 * overflow) and resumeAccepting() processes them in order.
 */
export class TcpListener {
  readonly stats: ListenerStats;
  readonly dispatcher: Dispatcher;
  readonly continueOnTimeout: boolean;
  private readonly config: ListenerConfig;
  private readonly server: net.Server;
  private readonly bufferLimit: number;
  private readonly backlog: number;
  private readonly pending = new Set<ActiveTcpSocket>();
  private readonly active = new Map<Connection, ConnectionCallbacks>();
  private held: net.Socket[] = [];
  private paused = false;
  private stopped = false;
  private listening = false;
  private boundAddress: Address | undefined;

  constructor(config: ListenerConfig) {
    this.config = config;
    this.dispatcher = config.dispatcher;
    this.stats = listenerStats(config.scope);
    this.continueOnTimeout = config.continueOnListenerFiltersTimeout ?? false;
    this.bufferLimit = config.perConnectionBufferLimitBytes ?? DEFAULT_BUFFER_LIMIT_BYTES;
    this.backlog = config.backlog ?? 511;
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, this.onAccept);
  }

  get name(): string {
    return this.config.name;
  }

  /** Binds and listens; resolves with the bound address (the real port when 0 was asked). */
  listen(): Promise<Address> {
    if (this.listening || this.stopped) return Promise.reject(new Error(`listener ${this.name}: already started`));
    this.listening = true;
    return new Promise<Address>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server.off('listening', onListening);
        this.listening = false;
        reject(err);
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        // Accept errors (EMFILE, ...) must not take the process down; the server keeps listening.
        this.server.on('error', (err) => this.reportError(err, 'accept'));
        const a = this.server.address() as net.AddressInfo;
        this.boundAddress = makeAddress(a.address, a.port);
        resolve(this.boundAddress);
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen({ host: this.config.address.address, port: this.config.address.port, backlog: this.backlog });
    });
  }

  /** The bound address after listen(), else the configured one. */
  address(): Address {
    return this.boundAddress ?? this.config.address;
  }

  pauseAccepting(): void {
    this.paused = true;
  }

  resumeAccepting(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const socket of held) {
      if (this.stopped || socket.destroyed) socket.destroy();
      else this.process(socket);
    }
  }

  isAccepting(): boolean {
    return this.listening && !this.paused && !this.stopped;
  }

  /**
   * Stops listening (the port is released), drops sockets not yet connections (held or in
   * listener filters); established connections are left to their owners (drain, closeConnections).
   */
  stop(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.stopped = true;
    for (const socket of this.held) socket.destroy();
    this.held = [];
    for (const p of [...this.pending]) p.abort();
    if (this.listening) this.server.close();
    // The listening fd is closed synchronously by close(); its handle's close callback comes later.
    return new Promise((resolve) => setImmediate(resolve));
  }

  numConnections(): number {
    return this.active.size;
  }

  connections(): IterableIterator<Connection> {
    return this.active.keys();
  }

  /** Closes every connection of this listener (shutdown). */
  closeConnections(type: ConnectionCloseType = 'NoFlush'): void {
    for (const conn of [...this.active.keys()]) conn.close(type);
  }

  /** @internal */
  reportError(e: unknown, what: string): void {
    const log = this.config.logger;
    if (log !== undefined) log.error({ err: e, listener: this.name }, `listener ${what} error`);
    else console.error(`sluice: listener ${this.name}: ${what} error`, e);
  }

  /** @internal The listener filters finished: `info` when they succeeded, undefined when not. */
  onListenerFiltersDone(s: ActiveTcpSocket, info: AcceptedSocketInfo | undefined): void {
    if (!this.pending.delete(s)) return;
    this.stats.downstream_pre_cx_active.dec();
    if (info === undefined) return;
    s.socket.off('error', this.onPreConnectionError);
    this.newConnection(s.socket, info);
  }

  private readonly onAccept = (socket: net.Socket): void => {
    socket.on('error', this.onPreConnectionError);
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.paused) {
      if (this.held.length >= this.backlog) {
        this.stats.downstream_cx_overflow.inc();
        socket.destroy();
      } else {
        this.held.push(socket);
      }
      return;
    }
    this.process(socket);
  };

  /**
   * Errors before a connection owns the socket (held while paused, reset during listener
   * filters): Node destroys the socket; listener filters learn it from their own handler. This
   * one only keeps an unhandled 'error' from taking the process down.
   */
  private readonly onPreConnectionError = (): void => {};

  private process(socket: net.Socket): void {
    const max = this.config.maxConnections;
    if (max !== undefined && this.active.size + this.pending.size >= max) {
      this.stats.downstream_cx_overflow.inc();
      socket.destroy();
      return;
    }
    const factories = this.config.listenerFilters ?? [];
    if (factories.length === 0) {
      socket.off('error', this.onPreConnectionError);
      this.newConnection(socket, {
        remoteAddress: remoteAddressOf(socket),
        localAddress: localAddressOf(socket),
        requestedServerName: '',
        applicationProtocols: [],
        detectedTransportProtocol: 'raw_buffer',
      });
      return;
    }
    const s = new ActiveTcpSocket(
      this,
      socket,
      factories,
      this.config.listenerFiltersTimeoutMs ?? DEFAULT_LISTENER_FILTERS_TIMEOUT_MS,
    );
    this.pending.add(s);
    this.stats.downstream_pre_cx_active.inc();
    s.start();
  }

  private newConnection(socket: net.Socket, info: AcceptedSocketInfo): void {
    if (socket.destroyed) return;
    let chain: FilterChain | undefined;
    try {
      chain = this.config.filterChainFactory(info);
    } catch (e) {
      this.reportError(e, 'filter chain match');
    }
    if (chain === undefined) {
      this.stats.no_filter_chain_match.inc();
      socket.destroy();
      return;
    }
    let transport: TransportSocket = { socket };
    if (chain.createTransportSocket !== undefined) {
      try {
        transport = chain.createTransportSocket(socket, info);
      } catch (e) {
        this.reportError(e, 'transport socket');
        socket.destroy();
        return;
      }
    }
    const conn = new ConnectionImpl(this.dispatcher, transport.socket, {
      ...this.config.connectionOptions,
      bufferLimit: this.bufferLimit,
      ...(this.config.logger !== undefined ? { logger: this.config.logger } : {}),
      ...(info.requestedServerName !== '' ? { requestedServerName: info.requestedServerName } : {}),
      ...(transport.readyEvent !== undefined ? { readyEvent: transport.readyEvent } : {}),
    });
    this.stats.downstream_cx_total.inc();
    this.stats.downstream_cx_active.inc();
    const start = this.dispatcher.approximateMonotonicTime();
    const tracker: ConnectionCallbacks = {
      onEvent: (event: ConnectionEvent) => {
        if (event === 'Connected' || !this.active.delete(conn)) return;
        this.stats.downstream_cx_active.dec();
        this.stats.downstream_cx_destroy.inc();
        this.stats.downstream_cx_length_ms.recordValue(Math.round(this.dispatcher.approximateMonotonicTime() - start));
      },
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    };
    this.active.set(conn, tracker);
    conn.addConnectionCallbacks(tracker);
    try {
      chain.createNetworkFilters(conn);
      // Envoy closes a connection whose chain installed no read filter: nothing would read it.
      if (!conn.initializeReadFilters()) conn.close('NoFlush', 'no_read_filters');
    } catch (e) {
      this.reportError(e, 'network filter chain');
      conn.close('NoFlush', 'filter_chain_exception');
    }
  }
}
