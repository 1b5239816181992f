/**
 * The downstream TLS transport socket (Envoy's SslSocket in server mode): wraps an accepted socket
 * in a server tls.TLSSocket with the filter chain's context. Bytes a listener filter peeked were
 * put back into the socket and reach the TLS layer. The connection is told it is ready (and raises
 * Connected) only once the handshake is done and the client's certificate, if one is asked for,
 * passed verification; until then it holds its writes.
 *
 * Stats under the listener scope: `ssl.handshake`, `ssl.connection_error`, `ssl.no_certificate`,
 * `ssl.fail_verify_*`, `ssl.versions.*`, `ssl.ciphers.*`, and
 * `downstream_cx_transport_socket_connect_timeout` when the handshake outlasts
 * transport_socket_connect_timeout.
 */
import type * as net from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Dispatcher, Timer } from '../../api/dispatcher.js';
import type { Counter, Scope } from '../../api/stats.js';
import type { AcceptedSocketInfo, TransportSocket } from '../listener.js';
import { verifyPeer } from './peer-verification.js';
import { SslStats } from './ssl-stats.js';
import type { DownstreamTlsContextConfig } from './tls-config.js';
import { selectServerContext } from './tls-context.js';

/** Emitted on a TLS socket once it is ready for application data (the connection's readyEvent). */
export const TLS_READY_EVENT = 'sluice:tls-ready';

export interface ServerTransportOptions {
  /** The listener's scope (`listener.<address>.`). */
  readonly scope: Scope;
  readonly dispatcher: Dispatcher;
  /** The filter chain's transport_socket_connect_timeout; 0 waits for the handshake forever. */
  readonly connectTimeoutMs?: number;
}

/**
 * Makes the server-side ALPN list for one connection. Envoy (BoringSSL) goes on without ALPN when
 * the client offers nothing it supports; OpenSSL under Node answers that with a fatal
 * no_application_protocol alert. When tls_inspector saw the client's list, a connection without
 * overlap is therefore set up without ALPN, as Envoy would end up.
 */
function alpnFor(configured: readonly string[], offered: readonly string[]): string[] | undefined {
  if (configured.length === 0) return undefined;
  if (offered.length > 0 && !configured.some((p) => offered.includes(p))) return undefined;
  return [...configured];
}

export class TlsServerTransportFactory {
  readonly stats: SslStats;
  private readonly connectTimeoutCounter: Counter;
  private readonly connectTimeoutMs: number;
  private readonly requestCert: boolean;
  private readonly sniCallback: ((servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void) | undefined;

  constructor(
    private readonly config: DownstreamTlsContextConfig,
    private readonly options: ServerTransportOptions,
  ) {
    this.stats = new SslStats(options.scope);
    this.connectTimeoutCounter = options.scope.counter('downstream_cx_transport_socket_connect_timeout');
    this.connectTimeoutMs = options.connectTimeoutMs ?? 0;
    // Envoy asks for a client certificate whenever it has something to verify it against.
    this.requestCert = config.common.validation.trustedCa !== undefined;
    const contexts = config.contexts;
    this.sniCallback =
      contexts.byCertificate.length > 1 ? (servername, cb) => cb(null, selectServerContext(contexts, servername)) : undefined;
  }

  /** The filter chain's createTransportSocket. */
  create(socket: net.Socket, info: AcceptedSocketInfo): TransportSocket {
    const alpn = alpnFor(this.config.common.alpnProtocols, info.applicationProtocols);
    const tlsSocket = new TLSSocket(socket, {
      isServer: true,
      // With tls_inspector's SNI the certificate is known now; otherwise the SNI callback picks it.
      secureContext: selectServerContext(this.config.contexts, info.requestedServerName),
      ...(alpn !== undefined ? { ALPNProtocols: alpn } : {}),
      ...(this.sniCallback !== undefined && info.requestedServerName === '' ? { SNICallback: this.sniCallback } : {}),
      requestCert: this.requestCert,
      // Verified by us after the handshake, with Envoy's rules and stats.
      rejectUnauthorized: false,
    });
    new ServerHandshake(this, tlsSocket);
    return { socket: tlsSocket, readyEvent: TLS_READY_EVENT };
  }

  /** @internal */
  createTimer(cb: () => void): Timer | undefined {
    if (this.connectTimeoutMs <= 0) return undefined;
    const t = this.options.dispatcher.createTimer(cb);
    t.enableTimer(this.connectTimeoutMs);
    return t;
  }

  /** @internal */
  onConnectTimeout(): void {
    this.connectTimeoutCounter.inc();
  }

  /** @internal */
  verify(socket: TLSSocket): boolean {
    const r = verifyPeer(socket, this.config.common.validation, this.config.requireClientCertificate);
    if (!r.ok) {
      this.stats[r.stat].inc();
      this.stats.connection_error.inc();
      return false;
    }
    // Envoy counts every successful handshake whose client sent no certificate.
    if (r.noCertificate === true) this.stats.no_certificate.inc();
    this.stats.onHandshake(socket);
    return true;
  }
}

/** One handshake in progress: counts its outcome, enforces the connect timeout. */
class ServerHandshake {
  private done = false;
  private readonly timer: Timer | undefined;

  constructor(
    private readonly factory: TlsServerTransportFactory,
    private readonly socket: TLSSocket,
  ) {
    // Registered before the connection's own listeners, so the outcome is known when they run.
    socket.once('secure', this.onSecure);
    socket.on('error', this.onError);
    socket.once('close', this.onClose);
    this.timer = factory.createTimer(this.onTimeout);
  }

  private finish(): void {
    this.done = true;
    this.timer?.disableTimer();
  }

  private readonly onSecure = (): void => {
    if (this.done) return;
    this.finish();
    if (this.factory.verify(this.socket)) this.socket.emit(TLS_READY_EVENT);
    else this.socket.destroy();
  };

  private readonly onError = (): void => {
    if (this.done) return;
    this.finish();
    this.factory.stats.connection_error.inc();
  };

  private readonly onClose = (): void => {
    this.socket.off('error', this.onError);
    if (this.done) return;
    // The client went away mid-handshake.
    this.finish();
    this.factory.stats.connection_error.inc();
  };

  private readonly onTimeout = (): void => {
    if (this.done) return;
    this.finish();
    this.factory.onConnectTimeout();
    this.socket.destroy();
  };
}
