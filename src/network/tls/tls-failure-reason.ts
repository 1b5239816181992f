/**
 * Transport failure reasons in Envoy's spelling, for %UPSTREAM_TRANSPORT_FAILURE_REASON% and the
 * 503 body: `TLS_error:|<packed code>:SSL routines:OPENSSL_internal:<REASON>:TLS_error_end`.
 * Envoy prints BoringSSL's error queue; Node reports OpenSSL 3 errors, whose reason numbers are
 * the same for alerts (1000 + the alert) and the common handshake failures, so the codes are
 * repacked the BoringSSL way (library << 24 | reason). Certificate verification, which Node does
 * after the handshake, is reported as BoringSSL's CERTIFICATE_VERIFY_FAILED.
 */

/** BoringSSL's ERR_LIB_SSL. */
const LIB_SSL = 16;
/** BoringSSL's SSL_R_CERTIFICATE_VERIFY_FAILED. */
const SSL_R_CERTIFICATE_VERIFY_FAILED = 125;

/** BoringSSL's packing of an error code. */
function pack(reason: number): number {
  return LIB_SSL * 2 ** 24 + reason;
}

export function tlsErrorString(code: number, reasonName: string): string {
  return `TLS_error:|${code}:SSL routines:OPENSSL_internal:${reasonName}:TLS_error_end`;
}

/** What Envoy reports when the peer's certificate fails verification. */
export const CERTIFICATE_VERIFY_FAILED = tlsErrorString(pack(SSL_R_CERTIFICATE_VERIFY_FAILED), 'CERTIFICATE_VERIFY_FAILED');

/** An OpenSSL error as Node raises it (`err.library`, `err.reason`, `error:0A000410:` in the message). */
interface OpenSslError extends Error {
  readonly library?: unknown;
  readonly reason?: unknown;
}

/**
 * Envoy's failure reason for an OpenSSL error of the SSL library raised by a TLS socket; undefined
 * for anything else (socket errors keep their own message).
 */
export function tlsFailureReason(err: Error): string | undefined {
  const e = err as OpenSslError;
  if (e.library !== 'SSL routines' || typeof e.reason !== 'string') return undefined;
  const name = e.reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  const m = /error:([0-9A-Fa-f]{8}):/.exec(e.message);
  // OpenSSL 3 packs the library in the top 9 bits and the reason in the low 23.
  const reason = m === null ? 0 : parseInt(m[1]!, 16) & 0x7fffff;
  return tlsErrorString(pack(reason), name);
}

/** An error that carries an Envoy-style transport failure reason as its message. */
export class TlsTransportError extends Error {
  constructor(
    reason: string,
    readonly detail: string,
  ) {
    super(reason);
    this.name = 'TlsTransportError';
  }
}
