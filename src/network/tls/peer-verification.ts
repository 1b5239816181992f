/**
 * Verification of the peer's certificate after the handshake, with Envoy's semantics
 * (CertValidator): with a trusted_ca the chain must verify (unless ACCEPT_UNTRUSTED); with SAN
 * matchers one of the certificate's subjectAltNames must match one of them (DNS SANs with a
 * leading `*.` match an exact matcher by wildcard); without a trusted_ca nothing is verified.
 * Host names are not checked against SNI: Envoy checks only what the SAN matchers ask for.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { SanMatcherConfig, SanType, ValidationContextConfig } from './tls-config.js';
import type { VerifyFailure } from './ssl-stats.js';

export type VerifyResult = { readonly ok: true } | { readonly ok: false; readonly stat: VerifyFailure; readonly detail: string };

const OK: VerifyResult = { ok: true };

export interface SubjectAltName {
  readonly type: SanType | 'OTHER';
  readonly value: string;
}

const NODE_SAN_TYPES: Readonly<Record<string, SanType>> = {
  DNS: 'DNS',
  URI: 'URI',
  email: 'EMAIL',
  'IP Address': 'IP_ADDRESS',
};

/**
 * Node's `subjectaltname` string (`DNS:a.test, IP Address:127.0.0.1, URI:"x,y"`): entries split by
 * ", ", a value that holds special characters JSON-quoted.
 */
export function parseSubjectAltNames(s: string | undefined): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  if (s === undefined || s === '') return out;
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon === -1) break;
    const typeName = s.slice(i, colon);
    let value: string;
    let next: number;
    if (s[colon + 1] === '"') {
      let j = colon + 2;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(colon + 1, j + 1)) as string;
      } catch {
        value = s.slice(colon + 2, j);
      }
      next = s.indexOf(', ', j + 1);
    } else {
      next = s.indexOf(', ', colon + 1);
      value = s.slice(colon + 1, next === -1 ? s.length : next);
    }
    out.push({ type: NODE_SAN_TYPES[typeName] ?? 'OTHER', value });
    if (next === -1) break;
    i = next + 2;
  }
  return out;
}

/** Envoy's Utility::dnsNameMatch: `*.example.com` matches one extra label, case-insensitively. */
export function dnsNameMatch(name: string, san: string): boolean {
  const n = name.toLowerCase();
  const p = san.toLowerCase();
  if (n === p) return true;
  if (p.length > 1 && p.startsWith('*.') && n.length > p.length - 1) {
    const off = n.length - p.length + 1;
    return !n.slice(0, off).includes('.') && n.slice(off) === p.slice(1);
  }
  return false;
}

function sanMatches(m: SanMatcherConfig, san: SubjectAltName): boolean {
  if (m.sanType !== undefined && m.sanType !== san.type) return false;
  if (san.type === 'OTHER') return false;
  if (san.type === 'DNS' && m.exact !== undefined) return dnsNameMatch(m.exact, san.value);
  return m.matcher.match(san.value);
}

/** The part of Node's TLSWrap handle that holds OpenSSL's verification result. */
interface VerifyHandle {
  verifyError?: () => (Error & { code?: string }) | null;
}

/**
 * OpenSSL's verdict on the peer's chain (SSL_get_verify_result), or null when it verified. Node
 * verifies with the context's CAs during the handshake but only records the result; it turns it
 * into `authorized` for client sockets and for server sockets a tls.Server created, not for a
 * server TLSSocket made by hand like ours. Both read it from the handle; if that ever changes,
 * verification fails closed.
 */
function chainVerifyError(socket: TLSSocket): string | null {
  const handle = (socket as unknown as { _handle?: VerifyHandle | null })._handle;
  if (handle === undefined || handle === null || typeof handle.verifyError !== 'function') {
    return 'the TLS socket does not expose its verification result';
  }
  const err = handle.verifyError();
  if (err === null || err === undefined) return null;
  return err.code !== undefined ? `${err.code}: ${err.message}` : err.message;
}

function hasCertificate(cert: PeerCertificate | Record<string, never>): cert is PeerCertificate {
  return Object.keys(cert).length > 0;
}

/**
 * Verifies the peer of a finished handshake. `requireCertificate` fails a peer without one (the
 * server side's require_client_certificate; a server always presents one).
 */
export function verifyPeer(socket: TLSSocket, validation: ValidationContextConfig, requireCertificate: boolean): VerifyResult & { readonly noCertificate?: boolean } {
  const cert = socket.getPeerCertificate() as PeerCertificate | Record<string, never>;
  if (!hasCertificate(cert)) {
    if (requireCertificate) return { ok: false, stat: 'fail_verify_no_cert', detail: 'peer did not present a certificate', noCertificate: true };
    return { ok: true, noCertificate: true };
  }
  if (validation.trustedCa === undefined) return OK;
  if (validation.verifyTrustChain) {
    const err = chainVerifyError(socket);
    if (err !== null) return { ok: false, stat: 'fail_verify_error', detail: err };
  }
  if (validation.sanMatchers.length > 0) {
    const sans = parseSubjectAltNames(cert.subjectaltname);
    const matched = validation.sanMatchers.some((m) => sans.some((san) => sanMatches(m, san)));
    if (!matched) return { ok: false, stat: 'fail_verify_san', detail: `no subjectAltName matches (${cert.subjectaltname ?? 'none'})` };
  }
  return OK;
}
