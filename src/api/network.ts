import type { BufferInstance } from './buffer.js';
import type { Dispatcher } from './dispatcher.js';

/** An IP socket address. */
export interface Address {
  readonly address: string;
  readonly port: number;
  readonly family?: 'IPv4' | 'IPv6';
}

export type ConnectionEvent = 'Connected' | 'RemoteClose' | 'LocalClose';

/**
 * FlushWrite: write out what is buffered, then close. NoFlush: close now, dropping buffered data.
 * FlushWriteAndDelay: flush, then wait up to the delayed-close timeout for the peer to close.
 * Abort: reset (RST) the socket.
 */
export type ConnectionCloseType = 'FlushWrite' | 'NoFlush' | 'FlushWriteAndDelay' | 'Abort';

export type ConnectionState = 'Open' | 'Closing' | 'Closed';

export interface ConnectionCallbacks {
  onEvent(event: ConnectionEvent): void;
  /** The write buffer (ours plus the socket's) crossed the high watermark. */
  onAboveWriteBufferHighWatermark(): void;
  /** The write buffer drained below the low watermark after being above high. */
  onBelowWriteBufferLowWatermark(): void;
}

/** Per-connection byte counters, read by stats and access logs. */
export interface ConnectionStats {
  readonly rxBytes: number;
  readonly txBytes: number;
}

export type FilterStatus = 'Continue' | 'StopIteration';

/**
 * A network connection (Envoy's Network::Connection): a socket with a read buffer that the read
 * filter chain consumes, a write path through write filters, and watermarked buffers.
 */
export interface Connection {
  readonly id: number;
  dispatcher(): Dispatcher;
  addConnectionCallbacks(cb: ConnectionCallbacks): void;
  removeConnectionCallbacks(cb: ConnectionCallbacks): void;

  addReadFilter(filter: ReadFilter): void;
  addWriteFilter(filter: WriteFilter): void;
  addFilter(filter: ReadFilter & WriteFilter): void;
  /** Calls onNewConnection on the read filters; false when there are none. */
  initializeReadFilters(): boolean;

  /** Passes `data` through the write filters and queues it; drains `data`. */
  write(data: BufferInstance, endStream: boolean): void;
  close(type: ConnectionCloseType, details?: string): void;
  state(): ConnectionState;
  /** Why the connection was closed locally, if it was ('' otherwise). */
  localCloseReason(): string;

  /** Counted: each readDisable(true) needs a readDisable(false) before reading resumes. */
  readDisable(disable: boolean): void;
  readEnabled(): boolean;
  /** Sets the read and write buffer limit; high = limit, low = limit / 2. 0 disables. */
  setBufferLimits(limit: number): void;
  bufferLimit(): number;
  aboveHighWatermark(): boolean;
  /** With half-close enabled a remote FIN is delivered as endStream instead of closing. */
  enableHalfClose(enabled: boolean): void;
  isHalfCloseEnabled(): boolean;
  setDelayedCloseTimeout(ms: number): void;
  noDelay(enable: boolean): void;

  remoteAddress(): Address;
  localAddress(): Address;
  /** ALPN protocol negotiated by TLS, '' when none. */
  nextProtocol(): string;
  /** SNI sent by the client, '' when none. */
  requestedServerName(): string;
  /** True when the transport is TLS. */
  ssl(): boolean;
  stats(): ConnectionStats;
}

/** An outgoing connection; `connect()` starts it and 'Connected' or 'RemoteClose' follows. */
export interface ClientConnection extends Connection {
  connect(): void;
  /** True until the connect attempt completes. */
  connecting(): boolean;
}

export interface ReadFilterCallbacks {
  connection(): Connection;
  /** Resumes iteration at the filter after the one that stopped, with the buffered data. */
  continueReading(): void;
  /** Runs `data` through the filters after the calling one, as if read from the socket. */
  injectReadDataToFilterChain(data: BufferInstance, endStream: boolean): void;
}

export interface ReadFilter {
  /** Stores the callbacks only; called once before any other method. */
  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void;
  onNewConnection(): FilterStatus;
  /** `data` is the connection's read buffer: drain what you consume. */
  onData(data: BufferInstance, endStream: boolean): FilterStatus;
}

export interface WriteFilterCallbacks {
  connection(): Connection;
  injectWriteDataToFilterChain(data: BufferInstance, endStream: boolean): void;
}

export interface WriteFilter {
  initializeWriteFilterCallbacks?(cb: WriteFilterCallbacks): void;
  onWrite(data: BufferInstance, endStream: boolean): FilterStatus;
}

/** What a network filter factory sees: it adds filters to a new connection. */
export interface FilterManager {
  addReadFilter(filter: ReadFilter): void;
  addWriteFilter(filter: WriteFilter): void;
  addFilter(filter: ReadFilter & WriteFilter): void;
}

/** Envoy's Network::FilterFactoryCb: installs one configured filter on a connection. */
export type NetworkFilterFactoryCb = (fm: FilterManager, connection: Connection) => void;

/** What a listener filter may read and decide before a filter chain is chosen. */
export interface ListenerFilterCallbacks {
  /** Bytes peeked from the socket so far (not consumed). */
  peekedData(): Buffer;
  setRequestedServerName(name: string): void;
  setRequestedApplicationProtocols(protocols: readonly string[]): void;
  setDetectedTransportProtocol(protocol: string): void;
  /** Ends the wait: the listener goes on to filter-chain matching. */
  continueFilterChain(success: boolean): void;
}

export type ListenerFilterStatus = 'Continue' | 'StopIteration';

export interface ListenerFilter {
  onAccept(cb: ListenerFilterCallbacks): ListenerFilterStatus;
  /** Called with more peeked bytes after onAccept returned StopIteration. */
  onData(cb: ListenerFilterCallbacks): ListenerFilterStatus;
  /** Bytes this filter wants to peek at most. */
  maxReadBytes(): number;
}
