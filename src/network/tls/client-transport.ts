/**
 * The upstream TLS transport (Envoy's SslSocket in client mode) as a ClientTransport: tls.connect
 * with the cluster's context, SNI (`sni`), ALPN and session resumption. The peer is verified after
 * the handshake with Envoy's rules (peer-verification.ts); the connection becomes ready only if it
 * passes. Failures reach the connection as socket errors whose message is Envoy's transport failure
 * reason (`TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end`),
 * which the router puts in the 503 body and %UPSTREAM_TRANSPORT_FAILURE_REASON%.
 *
 * Stats under the cluster scope: `ssl.handshake`, `ssl.connection_error`, `ssl.session_reused`,
 * `ssl.fail_verify_error`, `ssl.fail_verify_san`, `ssl.versions.*`, `ssl.ciphers.*`.
 */
import type * as net from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import type { Address } from '../../api/network.js';
import type { Scope } from '../../api/stats.js';
import type { ClientTransport } from '../connection-options.js';
import { verifyPeer } from './peer-verification.js';
import { TLS_READY_EVENT } from './server-transport.js';
import { SslStats } from './ssl-stats.js';
import type { UpstreamTlsContextConfig } from './tls-config.js';
import { CERTIFICATE_VERIFY_FAILED, TlsTransportError, tlsFailureReason } from './tls-failure-reason.js';

export interface ClientTransportOptions {
  /** The cluster's scope (`cluster.<name>.`). */
  readonly scope: Scope;
  /**
   * ALPN to offer when the context configures none (Envoy's ALPN fallback from the connection
   * pool: `h2` for HTTP/2 clusters). Empty: no ALPN.
   */
  readonly alpnFallback?: readonly string[];
}

export class TlsClientTransport implements ClientTransport {
  readonly readyEvent = TLS_READY_EVENT;
  readonly stats: SslStats;
  private readonly alpn: string[] | undefined;
  /** The most recent session ticket (Envoy keeps max_session_keys of them; sluice keeps one or none). */
  private session: Buffer | undefined;

  constructor(
    private readonly config: UpstreamTlsContextConfig,
    options: ClientTransportOptions,
  ) {
    this.stats = new SslStats(options.scope);
    const alpn = config.common.alpnProtocols.length > 0 ? config.common.alpnProtocols : (options.alpnFallback ?? []);
    this.alpn = alpn.length > 0 ? [...alpn] : undefined;
  }

  connect(remote: Address, options: { readonly noDelay: boolean; readonly localAddress?: string }): net.Socket {
    const socket = connect({
      host: remote.address,
      port: remote.port,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
      secureContext: this.config.context,
      // No SNI unless configured (Envoy's UpstreamTlsContext.sni); hosts are IP literals.
      ...(this.config.sni !== '' ? { servername: this.config.sni } : {}),
      ...(this.alpn !== undefined ? { ALPNProtocols: this.alpn } : {}),
      ...(this.session !== undefined ? { session: this.session } : {}),
      // Verified after the handshake with Envoy's rules (no host name check unless SAN matchers).
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    new ClientHandshake(this, socket);
    return socket;
  }

  /** @internal */
  onSession(session: Buffer): void {
    if (this.config.maxSessionKeys > 0) this.session = session;
  }

  /** @internal Verifies the server; returns the failure to close with, or undefined. */
  verify(socket: TLSSocket): TlsTransportError | undefined {
    // A resumed session was verified when it was made (only verified ones are kept); its peer
    // certificate is not available again.
    const r = socket.isSessionReused() ? { ok: true as const } : verifyPeer(socket, this.config.common.validation, true);
    if (!r.ok) {
      this.stats[r.stat].inc();
      this.stats.connection_error.inc();
      return new TlsTransportError(CERTIFICATE_VERIFY_FAILED, r.detail);
    }
    this.stats.onHandshake(socket);
    return undefined;
  }
}

/** One handshake in progress: its outcome, stats and Envoy-style failure reasons. */
class ClientHandshake {
  private done = false;
  private verified = false;
  /** A session that arrived before the peer was verified (TLS 1.2): kept only if it passes. */
  private pendingSession: Buffer | undefined;
  /** TCP is up: failures from here on are TLS failures (Envoy counts only those). */
  private tcpConnected = false;

  constructor(
    private readonly transport: TlsClientTransport,
    private readonly socket: TLSSocket,
  ) {
    // Registered before the connection's listeners: they see the rewritten reason.
    socket.on('error', this.onError);
    socket.once('connect', this.onConnect);
    socket.once('secureConnect', this.onSecureConnect);
    socket.on('session', this.onSession);
    socket.once('close', this.onClose);
  }

  private readonly onConnect = (): void => {
    this.tcpConnected = true;
  };

  private readonly onSecureConnect = (): void => {
    if (this.done) return;
    this.done = true;
    const failure = this.transport.verify(this.socket);
    if (failure !== undefined) {
      this.pendingSession = undefined;
      this.socket.destroy(failure);
      return;
    }
    this.verified = true;
    if (this.pendingSession !== undefined) this.transport.onSession(this.pendingSession);
    this.pendingSession = undefined;
    this.socket.emit(TLS_READY_EVENT);
  };

  private readonly onError = (err: Error): void => {
    const reason = tlsFailureReason(err);
    // The error is this socket's own; its message becomes the connection's failure reason.
    if (reason !== undefined) err.message = reason;
    if (this.done) return;
    this.done = true;
    if (this.tcpConnected) this.transport.stats.connection_error.inc();
  };

  private readonly onSession = (session: Buffer): void => {
    if (this.verified) this.transport.onSession(session);
    else if (!this.done) this.pendingSession = session;
  };

  private readonly onClose = (): void => {
    this.socket.off('error', this.onError);
    this.socket.off('session', this.onSession);
    if (this.done) return;
    this.done = true;
    if (this.tcpConnected) this.transport.stats.connection_error.inc();
  };
}
