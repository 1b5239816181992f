/**
 * The TLS transport socket's configuration: `transport_socket` entries naming
 * `envoy.transport_sockets.tls` with a DownstreamTlsContext (filter chains) or an
 * UpstreamTlsContext (clusters), the subset sluice implements, validated the way Envoy does at
 * load time. Certificates and keys are read and checked here, so that a bad one is a config error
 * naming its field (`...tls_certificates[0].certificate_chain.filename: cannot read "/x.pem": ENOENT`),
 * and the node:tls SecureContexts are built here too (tls-context.ts), so `--validate` catches
 * what OpenSSL would refuse.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, getCiphers, type SecureContext } from 'node:tls';
import { z } from 'zod';
import {
  bool,
  checked,
  duration,
  enumOf,
  ignored,
  list,
  notSupported,
  REQUIRED_MESSAGE,
  splitTypedConfig,
  strictObject,
  string,
  uint32,
} from '../../config/schema-helpers.js';
import { stringMatcher } from '../../router/route-config-schema.js';
import type { StringMatcher } from '../../router/route-matchers.js';
import { createClientContext, createServerContexts, type ServerContexts } from './tls-context.js';

export const TLS_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.tls';
export const RAW_BUFFER_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.raw_buffer';
export const DOWNSTREAM_TLS_CONTEXT_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_CONTEXT_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const RAW_BUFFER_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

/** The largest file a DataSource may name (certificates, keys, CA bundles). */
export const MAX_DATA_SOURCE_BYTES = 4 * 1024 * 1024;

/** node:tls's names of the versions sluice implements. */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export type SanType = 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS';

/** One `match_typed_subject_alt_names` entry; `sanType` undefined (the deprecated form) matches any type. */
export interface SanMatcherConfig {
  readonly sanType: SanType | undefined;
  readonly matcher: StringMatcher;
  /** The matcher's `exact` value, when it is an exact matcher. */
  readonly exact: string | undefined;
}

export interface TlsCertificateConfig {
  /** PEM, the leaf first. */
  readonly certificateChain: Buffer;
  /** PEM. */
  readonly privateKey: Buffer;
  readonly passphrase: string | undefined;
  /** The parsed leaf certificate (for choosing a certificate by SNI). */
  readonly leaf: X509Certificate;
}

export interface ValidationContextConfig {
  /** PEM bundle; undefined: peers are not verified (Envoy's behaviour without trusted_ca). */
  readonly trustedCa: Buffer | undefined;
  readonly sanMatchers: readonly SanMatcherConfig[];
  /** false for `trust_chain_verification: ACCEPT_UNTRUSTED`. */
  readonly verifyTrustChain: boolean;
}

export interface CommonTlsContextConfig {
  /** undefined: TLS_AUTO (the side's default). */
  readonly minVersion: TlsVersion | undefined;
  readonly maxVersion: TlsVersion | undefined;
  /** TLS 1.2 cipher suites in preference order; empty: Envoy's defaults. */
  readonly cipherSuites: readonly string[];
  readonly ecdhCurves: readonly string[];
  readonly signatureAlgorithms: readonly string[];
  readonly certificates: readonly TlsCertificateConfig[];
  readonly validation: ValidationContextConfig;
  readonly alpnProtocols: readonly string[];
}

export interface DownstreamTlsContextConfig {
  readonly common: CommonTlsContextConfig;
  readonly requireClientCertificate: boolean;
  /** Seconds; undefined keeps OpenSSL's default (300). */
  readonly sessionTimeoutS: number | undefined;
  readonly disableStatelessSessionResumption: boolean;
  readonly preferClientCiphers: boolean;
  readonly contexts: ServerContexts;
}

export interface UpstreamTlsContextConfig {
  readonly common: CommonTlsContextConfig;
  /** SNI to send; '' sends none. */
  readonly sni: string;
  /** Sessions kept for resumption (Envoy's max_session_keys, default 1; 0 disables). */
  readonly maxSessionKeys: number;
  readonly context: SecureContext;
}

type Issue = Parameters<z.core.$RefinementCtx['addIssue']>[0];

function errorCode(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ?? (e instanceof Error ? e.message : String(e));
}

/** Reads a DataSource file with Envoy's checks: a regular file, not too large. */
function readDataFile(file: string): { ok: true; data: Buffer } | { ok: false; message: string } {
  try {
    const st = statSync(file);
    if (!st.isFile()) return { ok: false, message: `cannot read "${file}": not a regular file` };
    if (st.size > MAX_DATA_SOURCE_BYTES) return { ok: false, message: `"${file}" is larger than ${MAX_DATA_SOURCE_BYTES} bytes` };
    return { ok: true, data: readFileSync(file) };
  } catch (e) {
    return { ok: false, message: `cannot read "${file}": ${errorCode(e)}` };
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

const DATA_SOURCE_FIELDS = ['filename', 'inline_string', 'inline_bytes', 'environment_variable'] as const;

/** envoy.config.core.v3.DataSource, read into bytes. */
export const dataSource = strictObject({
  filename: string({ nonEmpty: true }).optional(),
  inline_string: string({ nonEmpty: true }).optional(),
  inline_bytes: string({ nonEmpty: true }).optional(),
  environment_variable: string({ nonEmpty: true }).optional(),
  ...notSupported(['watched_directory']),
}).transform((d, ctx): Buffer => {
  const set = DATA_SOURCE_FIELDS.filter((f) => d[f] !== undefined);
  if (set.length !== 1) {
    ctx.addIssue({ code: 'custom', message: `exactly one of ${DATA_SOURCE_FIELDS.join(', ')} is required` });
    return z.NEVER;
  }
  if (d.filename !== undefined) {
    const r = readDataFile(d.filename);
    if (r.ok) return r.data;
    ctx.addIssue({ code: 'custom', path: ['filename'], message: r.message });
    return z.NEVER;
  }
  if (d.inline_string !== undefined) return Buffer.from(d.inline_string, 'utf8');
  if (d.inline_bytes !== undefined) {
    // proto3 JSON bytes: standard or URL-safe base64.
    const std = d.inline_bytes.replaceAll('-', '+').replaceAll('_', '/');
    if (!BASE64.test(std)) {
      ctx.addIssue({ code: 'custom', path: ['inline_bytes'], message: 'expected base64' });
      return z.NEVER;
    }
    return Buffer.from(std, 'base64');
  }
  const name = d.environment_variable!;
  const value = process.env[name];
  if (value === undefined) {
    ctx.addIssue({ code: 'custom', path: ['environment_variable'], message: `environment variable "${name}" is not set` });
    return z.NEVER;
  }
  return Buffer.from(value, 'utf8');
});

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle, parsed; an error message when there is none or one is bad. */
export function parsePemCertificates(pem: Buffer): { ok: true; certs: X509Certificate[] } | { ok: false; message: string } {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { ok: false, message: 'no PEM certificate found' };
  const certs: X509Certificate[] = [];
  for (let i = 0; i < blocks.length; i++) {
    try {
      certs.push(new X509Certificate(blocks[i]!));
    } catch (e) {
      return { ok: false, message: `certificate ${i + 1} is invalid: ${(e as Error).message}` };
    }
  }
  return { ok: true, certs };
}

/** envoy.extensions.transport_sockets.tls.v3.TlsCertificate with a PEM chain and key. */
const tlsCertificateSchema = strictObject({
  certificate_chain: dataSource,
  private_key: dataSource,
  password: dataSource.optional(),
  ...notSupported([
    'pkcs12',
    'watched_directory',
    'private_key_provider',
    'ocsp_staple',
    'signed_certificate_timestamp',
  ]),
}).transform((c, ctx): TlsCertificateConfig => {
  const chain = parsePemCertificates(c.certificate_chain);
  if (!chain.ok) ctx.addIssue({ code: 'custom', path: ['certificate_chain'], message: chain.message });
  const passphrase = c.password?.toString('utf8');
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey({ key: c.private_key, format: 'pem', ...(passphrase !== undefined ? { passphrase } : {}) });
  } catch (e) {
    ctx.addIssue({ code: 'custom', path: ['private_key'], message: `invalid private key: ${(e as Error).message}` });
  }
  if (!chain.ok || key === undefined) return z.NEVER;
  const leaf = chain.certs[0]!;
  if (!leaf.checkPrivateKey(key)) {
    ctx.addIssue({ code: 'custom', message: 'private_key does not match the first certificate of certificate_chain' });
    return z.NEVER;
  }
  return { certificateChain: c.certificate_chain, privateKey: c.private_key, passphrase, leaf };
});

/** A StringMatcher that also keeps its `exact` value (DNS SANs match an exact value by wildcard). */
const sanStringMatcher = z.unknown().transform((raw, ctx): { matcher: StringMatcher; exact: string | undefined } => {
  if (raw === undefined) {
    ctx.addIssue({ code: 'custom', message: REQUIRED_MESSAGE });
    return z.NEVER;
  }
  const r = stringMatcher.safeParse(raw);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue(issue as Issue);
    return z.NEVER;
  }
  const exact = (raw as { exact?: unknown }).exact;
  return { matcher: r.data, exact: typeof exact === 'string' ? exact : undefined };
});

const sanMatcherSchema = strictObject({
  san_type: enumOf(['DNS', 'URI', 'EMAIL', 'IP_ADDRESS'], ['OTHER_NAME']),
  matcher: sanStringMatcher,
  ...notSupported(['oid']),
}).transform((m): SanMatcherConfig => ({ sanType: m.san_type, ...m.matcher }));

const validationContextSchema = strictObject({
  trusted_ca: dataSource.optional(),
  match_typed_subject_alt_names: list(sanMatcherSchema),
  match_subject_alt_names: list(sanStringMatcher),
  trust_chain_verification: enumOf(['VERIFY_TRUST_CHAIN', 'ACCEPT_UNTRUSTED']).optional(),
  ...notSupported([
    'ca_certificate_provider_instance',
    'system_root_certs',
    'watched_directory',
    'verify_certificate_spki',
    'verify_certificate_hash',
    'require_signed_certificate_timestamp',
    'crl',
    'allow_expired_certificate',
    'custom_validator_config',
    'only_verify_leaf_cert_crl',
    'max_verify_depth',
  ]),
}).transform((v, ctx): ValidationContextConfig => {
  if (v.trusted_ca !== undefined) {
    const cas = parsePemCertificates(v.trusted_ca);
    if (!cas.ok) ctx.addIssue({ code: 'custom', path: ['trusted_ca'], message: cas.message });
  }
  const sanMatchers = [...v.match_typed_subject_alt_names, ...v.match_subject_alt_names.map((m) => ({ sanType: undefined, ...m }))];
  if (sanMatchers.length > 0 && v.trusted_ca === undefined) {
    ctx.addIssue({ code: 'custom', message: 'SAN-based verification of peer certificates without trusted_ca is insecure and not allowed' });
  }
  return { trustedCa: v.trusted_ca, sanMatchers, verifyTrustChain: v.trust_chain_verification !== 'ACCEPT_UNTRUSTED' };
});

const NO_VALIDATION: ValidationContextConfig = { trustedCa: undefined, sanMatchers: [], verifyTrustChain: true };

const tlsVersion = enumOf(['TLS_AUTO', 'TLSv1_2', 'TLSv1_3'], ['TLSv1_0', 'TLSv1_1']);
const VERSION_RANK = { 'TLSv1.2': 2, 'TLSv1.3': 3 } as const;

function nodeVersion(v: 'TLS_AUTO' | 'TLSv1_2' | 'TLSv1_3' | undefined): TlsVersion | undefined {
  return v === 'TLSv1_2' ? 'TLSv1.2' : v === 'TLSv1_3' ? 'TLSv1.3' : undefined;
}

/** A TLS 1.2 cipher suite OpenSSL knows (BoringSSL's `[a|b]` equal-preference groups are flattened). */
const KNOWN_CIPHERS = new Set(getCiphers().filter((c) => !c.startsWith('tls_')));

/** Whether OpenSSL takes `options` (a curve or signature algorithm name, checked one by one). */
function openSslAccepts(options: { ecdhCurve?: string; sigalgs?: string }): boolean {
  try {
    createSecureContext(options);
    return true;
  } catch {
    return false;
  }
}

const tlsParamsSchema = strictObject({
  tls_minimum_protocol_version: tlsVersion.optional(),
  tls_maximum_protocol_version: tlsVersion.optional(),
  cipher_suites: list(string({ nonEmpty: true })),
  ecdh_curves: list(string({ nonEmpty: true })),
  signature_algorithms: list(string({ nonEmpty: true })),
  ...notSupported(['compliance_policies']),
}).transform((p, ctx) => {
  const min = nodeVersion(p.tls_minimum_protocol_version);
  const max = nodeVersion(p.tls_maximum_protocol_version);
  if (min !== undefined && max !== undefined && VERSION_RANK[min] > VERSION_RANK[max]) {
    ctx.addIssue({ code: 'custom', path: ['tls_minimum_protocol_version'], message: 'is above tls_maximum_protocol_version' });
  }
  const cipherSuites: string[] = [];
  p.cipher_suites.forEach((entry, i) => {
    for (const name of entry.replace(/^\[(.*)\]$/, '$1').split('|')) {
      if (!KNOWN_CIPHERS.has(name.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: ['cipher_suites', i], message: `unknown TLS 1.2 cipher suite "${name}"` });
      } else {
        cipherSuites.push(name);
      }
    }
  });
  p.ecdh_curves.forEach((name, i) => {
    if (!openSslAccepts({ ecdhCurve: name })) ctx.addIssue({ code: 'custom', path: ['ecdh_curves', i], message: `unknown curve "${name}"` });
  });
  p.signature_algorithms.forEach((name, i) => {
    if (!openSslAccepts({ sigalgs: name })) {
      ctx.addIssue({ code: 'custom', path: ['signature_algorithms', i], message: `unknown signature algorithm "${name}"` });
    }
  });
  return { minVersion: min, maxVersion: max, cipherSuites, ecdhCurves: p.ecdh_curves, signatureAlgorithms: p.signature_algorithms };
});

/** An ALPN protocol id: 1..255 bytes (RFC 7301 §3.1). */
const alpnProtocol = checked<string>((raw) => {
  if (typeof raw !== 'string' || raw === '') return { ok: false, message: 'expected a non-empty string' };
  if (Buffer.byteLength(raw) > 255) return { ok: false, message: 'ALPN protocol ids are at most 255 bytes' };
  return { ok: true, value: raw };
});

const commonTlsContextSchema = strictObject({
  tls_params: tlsParamsSchema.optional(),
  tls_certificates: list(tlsCertificateSchema),
  validation_context: validationContextSchema.optional(),
  alpn_protocols: list(alpnProtocol),
  ...ignored(['key_log']),
  ...notSupported([
    'tls_certificate_sds_secret_configs',
    'tls_certificate_provider_instance',
    'custom_tls_certificate_selector',
    'tls_certificate_certificate_provider',
    'tls_certificate_certificate_provider_instance',
    'validation_context_sds_secret_config',
    'combined_validation_context',
    'validation_context_certificate_provider',
    'validation_context_certificate_provider_instance',
    'custom_handshaker',
  ]),
}).transform(
  (c): CommonTlsContextConfig => ({
    minVersion: c.tls_params?.minVersion,
    maxVersion: c.tls_params?.maxVersion,
    cipherSuites: c.tls_params?.cipherSuites ?? [],
    ecdhCurves: c.tls_params?.ecdhCurves ?? [],
    signatureAlgorithms: c.tls_params?.signatureAlgorithms ?? [],
    certificates: c.tls_certificates,
    validation: c.validation_context ?? NO_VALIDATION,
    alpnProtocols: c.alpn_protocols,
  }),
);

const EMPTY_COMMON = commonTlsContextSchema.parse({});

/** Reports an error of building the SecureContext at the typed_config itself. */
function contextError(ctx: z.core.$RefinementCtx, e: unknown): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', message: `cannot create the TLS context: ${(e as Error).message}` });
  return z.NEVER;
}

/** envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext (without its `@type`). */
export const downstreamTlsContextSchema = strictObject({
  common_tls_context: commonTlsContextSchema.optional(),
  require_client_certificate: bool().optional(),
  session_timeout: duration().optional(),
  disable_stateless_session_resumption: bool().optional(),
  prefer_client_ciphers: bool().optional(),
  // Stateful (session-id cache) resumption is never on in sluice, so disabling it changes nothing.
  ...ignored(['disable_stateful_session_resumption']),
  ...notSupported([
    'require_sni',
    'session_ticket_keys',
    'session_ticket_keys_sds_secret_config',
    'ocsp_staple_policy',
    'full_scan_certs_on_sni_mismatch',
  ]),
}).transform((d, ctx): DownstreamTlsContextConfig => {
  const common = d.common_tls_context ?? EMPTY_COMMON;
  if (common.certificates.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['common_tls_context', 'tls_certificates'], message: 'a server TLS context needs at least one certificate' });
    return z.NEVER;
  }
  const requireClientCertificate = d.require_client_certificate ?? false;
  if (requireClientCertificate && common.validation.trustedCa === undefined) {
    ctx.addIssue({ code: 'custom', path: ['require_client_certificate'], message: 'needs common_tls_context.validation_context.trusted_ca' });
    return z.NEVER;
  }
  const config = {
    common,
    requireClientCertificate,
    sessionTimeoutS: d.session_timeout === undefined ? undefined : Math.max(1, Math.round(d.session_timeout / 1000)),
    disableStatelessSessionResumption: d.disable_stateless_session_resumption ?? false,
    preferClientCiphers: d.prefer_client_ciphers ?? false,
  };
  try {
    return { ...config, contexts: createServerContexts(config) };
  } catch (e) {
    return contextError(ctx, e);
  }
});

/** envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext (without its `@type`). */
export const upstreamTlsContextSchema = strictObject({
  common_tls_context: commonTlsContextSchema.optional(),
  sni: checked<string>((raw) =>
    typeof raw === 'string' && Buffer.byteLength(raw) <= 255
      ? { ok: true, value: raw }
      : { ok: false, message: 'expected a string of at most 255 bytes' },
  ).optional(),
  max_session_keys: uint32().optional(),
  ...ignored(['enforce_rsa_key_usage']),
  ...notSupported(['allow_renegotiation', 'auto_host_sni', 'auto_sni_san_validation']),
}).transform((u, ctx): UpstreamTlsContextConfig => {
  const common = u.common_tls_context ?? EMPTY_COMMON;
  if (common.certificates.length > 1) {
    ctx.addIssue({ code: 'custom', path: ['common_tls_context', 'tls_certificates'], message: 'a client TLS context takes at most one certificate' });
    return z.NEVER;
  }
  const config = { common, sni: u.sni ?? '', maxSessionKeys: u.max_session_keys ?? 1 };
  try {
    return { ...config, context: createClientContext(config) };
  } catch (e) {
    return contextError(ctx, e);
  }
});

/**
 * envoy.config.core.v3.TransportSocket for one side: `tls` with that side's context, or
 * `raw_buffer` (undefined: plain TCP). The typed_config `@type` picks the socket, else the name.
 */
function transportSocketSchema<T>(side: 'downstream' | 'upstream', contextSchema: z.ZodType<T, unknown>) {
  const tlsType = side === 'downstream' ? DOWNSTREAM_TLS_CONTEXT_TYPE_URL : UPSTREAM_TLS_CONTEXT_TYPE_URL;
  const otherType = side === 'downstream' ? UPSTREAM_TLS_CONTEXT_TYPE_URL : DOWNSTREAM_TLS_CONTEXT_TYPE_URL;
  return strictObject({
    name: string({ nonEmpty: true }),
    typed_config: z.unknown().optional(),
  }).transform((t, ctx): T | undefined => {
    const { typeUrl, body } = splitTypedConfig(t.typed_config);
    if (t.typed_config !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
      ctx.addIssue({ code: 'custom', path: ['typed_config'], message: 'expected an object with an "@type"' });
      return z.NEVER;
    }
    let kind: 'tls' | 'raw' | undefined;
    if (typeUrl === tlsType) kind = 'tls';
    else if (typeUrl === RAW_BUFFER_TYPE_URL) kind = 'raw';
    else if (typeUrl === otherType) {
      const want = side === 'downstream' ? 'a DownstreamTlsContext (listeners)' : 'an UpstreamTlsContext (clusters)';
      ctx.addIssue({ code: 'custom', path: ['typed_config', '@type'], message: `"${typeUrl}" is the other side's context; expected ${want}` });
      return z.NEVER;
    } else if (typeUrl !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['typed_config', '@type'], message: `unknown transport socket type "${typeUrl}" (expected ${tlsType} or ${RAW_BUFFER_TYPE_URL})` });
      return z.NEVER;
    } else if (t.name === TLS_TRANSPORT_SOCKET_NAME) kind = 'tls';
    else if (t.name === RAW_BUFFER_TRANSPORT_SOCKET_NAME) kind = 'raw';
    else {
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: `unknown transport socket "${t.name}" (known: ${RAW_BUFFER_TRANSPORT_SOCKET_NAME}, ${TLS_TRANSPORT_SOCKET_NAME})`,
      });
      return z.NEVER;
    }
    if (kind === 'raw') return undefined;
    const r = contextSchema.safeParse(body ?? {});
    if (r.success) return r.data;
    for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: ['typed_config', ...issue.path] } as Issue);
    return z.NEVER;
  });
}

/** A filter chain's `transport_socket`: a DownstreamTlsContext, or undefined for raw_buffer. */
export const downstreamTransportSocketSchema = transportSocketSchema('downstream', downstreamTlsContextSchema);

/** A cluster's `transport_socket`: an UpstreamTlsContext, or undefined for raw_buffer. */
export const upstreamTransportSocketSchema = transportSocketSchema('upstream', upstreamTlsContextSchema);
