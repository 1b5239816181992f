import * as net from 'node:net';
import type { Logger } from '../api/logger.js';
import type { Address } from '../api/network.js';
import type { Counter, Gauge } from '../api/stats.js';

/** Envoy's per_connection_buffer_limit_bytes default. */
export const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;
/** Envoy's delayed_close_timeout default. */
export const DEFAULT_DELAYED_CLOSE_TIMEOUT_MS = 1000;

/** Counters a listener, cluster or filter attaches to a connection (Envoy's ConnectionStats). */
export interface ConnectionStatsCounters {
  /** `downstream_cx_rx_bytes_total` / `upstream_cx_rx_bytes_total`. */
  readonly rxTotal?: Counter;
  readonly txTotal?: Counter;
  /** Bytes held in the read buffer (`*_cx_rx_bytes_buffered`). */
  readonly rxBuffered?: Gauge;
  /** Bytes held for writing, ours plus the socket's (`*_cx_tx_bytes_buffered`). */
  readonly txBuffered?: Gauge;
  /** `downstream_cx_delayed_close_timeout`. */
  readonly delayedCloseTimeouts?: Counter;
}

export interface ConnectionOptions {
  /** Read and write buffer limit; default 1 MiB. 0 disables the watermarks. */
  readonly bufferLimit?: number;
  /** Default 1000 ms; 0 waits for a flush without limit and makes FlushWriteAndDelay a FlushWrite. */
  readonly delayedCloseTimeoutMs?: number;
  /** TCP_NODELAY; default true. */
  readonly noDelay?: boolean;
  /** Exceptions thrown by filters or callbacks are logged here, then the connection is closed. */
  readonly logger?: Logger;
  /** SNI found before the transport (by tls_inspector), reported until a TLS socket knows it. */
  readonly requestedServerName?: string;
  /**
   * Server side TLS seam: the socket event after which the transport carries application data
   * ('secure' for a server tls.TLSSocket). Until it, writes are held; on it, 'Connected' is raised.
   */
  readonly readyEvent?: string;
}

/**
 * How a client connection gets its socket. Raw TCP is the default; a TLS transport returns a
 * tls.connect() socket and names 'secureConnect' as its ready event.
 */
export interface ClientTransport {
  /** Starts connecting. The socket must not have been read from or written to. */
  connect(remote: Address, options: { readonly noDelay: boolean; readonly localAddress?: string }): net.Socket;
  /** The socket event that means the transport is ready and 'Connected' is raised. */
  readonly readyEvent: string;
}

export const rawClientTransport: ClientTransport = {
  connect: (remote, options) =>
    net.connect({
      host: remote.address,
      port: remote.port,
      allowHalfOpen: true,
      noDelay: options.noDelay,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    }),
  readyEvent: 'connect',
};

export interface ClientConnectionOptions extends ConnectionOptions {
  /** Raw TCP by default. */
  readonly transport?: ClientTransport;
  /** Local address to bind before connecting (Envoy's upstream_bind_config source address). */
  readonly sourceAddress?: string;
}
