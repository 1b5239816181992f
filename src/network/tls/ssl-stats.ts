/**
 * Envoy's SslStats, under `<owner scope>.ssl.` (`listener.<address>.ssl.handshake`,
 * `cluster.<name>.ssl.connection_error`), plus the per-handshake `ssl.versions.<version>` and
 * `ssl.ciphers.<cipher>` counters.
 */
import type { TLSSocket } from 'node:tls';
import type { Counter, Scope } from '../../api/stats.js';

export type VerifyFailure = 'fail_verify_no_cert' | 'fail_verify_error' | 'fail_verify_san';

export class SslStats {
  readonly connection_error: Counter;
  readonly handshake: Counter;
  readonly session_reused: Counter;
  readonly no_certificate: Counter;
  readonly fail_verify_no_cert: Counter;
  readonly fail_verify_error: Counter;
  readonly fail_verify_san: Counter;
  private readonly scope: Scope;
  /** The dynamic counters, looked up once per name. */
  private readonly dynamic = new Map<string, Counter>();

  constructor(owner: Scope) {
    this.scope = owner.createScope('ssl');
    this.connection_error = this.scope.counter('connection_error');
    this.handshake = this.scope.counter('handshake');
    this.session_reused = this.scope.counter('session_reused');
    this.no_certificate = this.scope.counter('no_certificate');
    this.fail_verify_no_cert = this.scope.counter('fail_verify_no_cert');
    this.fail_verify_error = this.scope.counter('fail_verify_error');
    this.fail_verify_san = this.scope.counter('fail_verify_san');
  }

  /** A handshake completed and the peer passed verification. */
  onHandshake(socket: TLSSocket): void {
    this.handshake.inc();
    if (socket.isSessionReused()) this.session_reused.inc();
    const version = socket.getProtocol();
    if (version !== null) this.dynamicCounter(`versions.${version}`).inc();
    const cipher = socket.getCipher() as { name?: string } | undefined;
    if (cipher?.name !== undefined) this.dynamicCounter(`ciphers.${cipher.name}`).inc();
  }

  private dynamicCounter(name: string): Counter {
    let c = this.dynamic.get(name);
    if (c === undefined) {
      c = this.scope.counter(name);
      this.dynamic.set(name, c);
    }
    return c;
  }
}
