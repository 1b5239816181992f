/**
 * node:tls SecureContexts from parsed TLS config, with Envoy's defaults where OpenSSL's differ:
 * TLS 1.2 minimum on both sides; TLS 1.3 maximum for servers and 1.2 for clients (Envoy's
 * TLS_AUTO); Envoy's cipher suites and ECDH curves; the server's cipher preference. TLS 1.3 suites
 * are not configurable (as with BoringSSL); they are always on when TLS 1.3 is.
 */
import { constants } from 'node:crypto';
import type { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { CommonTlsContextConfig, DownstreamTlsContextConfig, TlsCertificateConfig, UpstreamTlsContextConfig } from './tls-config.js';

/** Envoy's default TLS 1.2 cipher suites (BoringSSL's equal-preference groups in order). */
export const DEFAULT_CIPHER_SUITES: readonly string[] = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
];

/** Envoy's default ecdh_curves. */
export const DEFAULT_ECDH_CURVES: readonly string[] = ['X25519', 'P-256'];

/**
 * The TLS 1.3 suites. Node hands names starting with TLS_ to SSL_CTX_set_ciphersuites, and without
 * any it caps the context at TLS 1.2; they are listed so that `ciphers` only narrows TLS 1.2.
 */
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

type ContextInput = Pick<DownstreamTlsContextConfig, 'common'> & Partial<Omit<DownstreamTlsContextConfig, 'common' | 'contexts'>>;

function baseOptions(common: CommonTlsContextConfig, side: 'server' | 'client'): SecureContextOptions {
  const ciphers = common.cipherSuites.length > 0 ? common.cipherSuites : DEFAULT_CIPHER_SUITES;
  const curves = common.ecdhCurves.length > 0 ? common.ecdhCurves : DEFAULT_ECDH_CURVES;
  const options: SecureContextOptions = {
    minVersion: common.minVersion ?? 'TLSv1.2',
    maxVersion: common.maxVersion ?? (side === 'server' ? 'TLSv1.3' : 'TLSv1.2'),
    ciphers: [...ciphers, ...TLS13_SUITES].join(':'),
    ecdhCurve: curves.join(':'),
  };
  if (common.signatureAlgorithms.length > 0) options.sigalgs = common.signatureAlgorithms.join(':');
  if (common.validation.trustedCa !== undefined) options.ca = common.validation.trustedCa;
  return options;
}

function withCertificate(options: SecureContextOptions, cert: TlsCertificateConfig | undefined): SecureContextOptions {
  if (cert === undefined) return options;
  return {
    ...options,
    cert: cert.certificateChain,
    key: cert.privateKey,
    ...(cert.passphrase !== undefined ? { passphrase: cert.passphrase } : {}),
  };
}

/** A server's contexts: one per certificate, the first being the default (no SNI, no match). */
export interface ServerContexts {
  readonly defaultContext: SecureContext;
  readonly byCertificate: readonly { readonly leaf: X509Certificate; readonly context: SecureContext }[];
}

/** Builds the contexts of a DownstreamTlsContext; throws what OpenSSL rejects. */
export function createServerContexts(c: ContextInput): ServerContexts {
  const base = baseOptions(c.common, 'server');
  base.honorCipherOrder = !(c.preferClientCiphers ?? false);
  if (c.sessionTimeoutS !== undefined) base.sessionTimeout = c.sessionTimeoutS;
  if (c.disableStatelessSessionResumption === true) base.secureOptions = constants.SSL_OP_NO_TICKET;
  const byCertificate = c.common.certificates.map((cert) => ({
    leaf: cert.leaf,
    context: createSecureContext(withCertificate(base, cert)),
  }));
  if (byCertificate.length === 0) throw new Error('a server TLS context needs at least one certificate');
  return { defaultContext: byCertificate[0]!.context, byCertificate };
}

/**
 * The context for `serverName` (Envoy's certificate selection by SNI): a certificate whose names
 * match exactly first, then one whose wildcard matches, else the first certificate.
 */
export function selectServerContext(contexts: ServerContexts, serverName: string): SecureContext {
  if (contexts.byCertificate.length === 1 || serverName === '') return contexts.defaultContext;
  for (const c of contexts.byCertificate) if (c.leaf.checkHost(serverName, { wildcards: false }) !== undefined) return c.context;
  for (const c of contexts.byCertificate) if (c.leaf.checkHost(serverName) !== undefined) return c.context;
  return contexts.defaultContext;
}

/** Builds the context of an UpstreamTlsContext; throws what OpenSSL rejects. */
export function createClientContext(c: Pick<UpstreamTlsContextConfig, 'common'>): SecureContext {
  return createSecureContext(withCertificate(baseOptions(c.common, 'client'), c.common.certificates[0]));
}
