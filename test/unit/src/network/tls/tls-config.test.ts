import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../../src/config/config-error.js';
import { parseWith } from '../../../../../src/config/schema-helpers.js';
import {
  DOWNSTREAM_TLS_CONTEXT_TYPE_URL,
  RAW_BUFFER_TYPE_URL,
  UPSTREAM_TLS_CONTEXT_TYPE_URL,
  downstreamTransportSocketSchema,
  upstreamTransportSocketSchema,
  type DownstreamTlsContextConfig,
  type UpstreamTlsContextConfig,
} from '../../../../../src/network/tls/tls-config.js';
import { createTestPki, type TestCert, type TestPki } from '../../../../support/tls-certs.js';

const P = 'fc.transport_socket';
const CTX = `${P}.typed_config.common_tls_context`;

let pki: TestPki;
let a: TestCert;
let b: TestCert;
beforeAll(() => {
  pki = createTestPki();
  a = pki.ca.issue('a.test');
  b = pki.ca.issue('b.test');
});
afterAll(() => pki.cleanup());

function downstream(typed: Record<string, unknown>): unknown {
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL, ...typed } };
}

function files(cert: TestCert): Record<string, unknown> {
  return { certificate_chain: { filename: cert.certPath }, private_key: { filename: cert.keyPath } };
}

function parseDown(raw: unknown): DownstreamTlsContextConfig | undefined {
  return parseWith(downstreamTransportSocketSchema, raw, P);
}

function parseUp(raw: unknown): UpstreamTlsContextConfig | undefined {
  return parseWith(upstreamTransportSocketSchema, raw, P);
}

/** The message of the ConfigError `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('DownstreamTlsContext', () => {
  it('reads certificates from files and inline, with defaults', () => {
    const c = parseDown(
      downstream({
        common_tls_context: {
          tls_certificates: [files(a), { certificate_chain: { inline_string: b.cert.toString() }, private_key: { inline_bytes: b.key.toString('base64') } }],
          alpn_protocols: ['h2', 'http/1.1'],
        },
      }),
    )!;
    expect(c.common.certificates.map((x) => x.leaf.subject)).toEqual(['CN=a.test', 'CN=b.test']);
    expect(c.common.alpnProtocols).toEqual(['h2', 'http/1.1']);
    expect(c.common.minVersion).toBeUndefined();
    expect(c.common.validation).toEqual({ trustedCa: undefined, sanMatchers: [], verifyTrustChain: true });
    expect(c.requireClientCertificate).toBe(false);
    expect(c.contexts.byCertificate).toHaveLength(2);
    expect(c.contexts.defaultContext).toBe(c.contexts.byCertificate[0]!.context);
  });

  it('picks the TLS socket by name alone, and raw_buffer gives no TLS', () => {
    expect(parseDown({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL, common_tls_context: { tls_certificates: [files(a)] } } })).toBeDefined();
    expect(parseDown({ name: 'envoy.transport_sockets.raw_buffer' })).toBeUndefined();
    expect(parseDown({ name: 'anything', typed_config: { '@type': RAW_BUFFER_TYPE_URL } })).toBeUndefined();
  });

  it('reads environment variables', () => {
    process.env['SLUICE_TEST_KEY'] = a.key.toString();
    try {
      const c = parseDown(downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: a.certPath }, private_key: { environment_variable: 'SLUICE_TEST_KEY' } }] } }));
      expect(c!.common.certificates[0]!.privateKey.equals(a.key)).toBe(true);
    } finally {
      delete process.env['SLUICE_TEST_KEY'];
    }
  });

  it('parses tls_params and the validation context', () => {
    const c = parseDown(
      downstream({
        common_tls_context: {
          tls_certificates: [files(a)],
          tls_params: {
            tls_minimum_protocol_version: 'TLSv1_3',
            tls_maximum_protocol_version: 'TLSv1_3',
            cipher_suites: ['[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]', 'ECDHE-RSA-AES128-GCM-SHA256'],
            ecdh_curves: ['X25519', 'P-256'],
            signature_algorithms: ['ecdsa_secp256r1_sha256'],
          },
          validation_context: {
            trusted_ca: { filename: pki.ca.certPath },
            match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'client.test' } }],
            trust_chain_verification: 'ACCEPT_UNTRUSTED',
          },
        },
        require_client_certificate: true,
        session_timeout: '60s',
      }),
    )!;
    expect(c.common.minVersion).toBe('TLSv1.3');
    expect(c.common.cipherSuites).toEqual(['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-AES128-GCM-SHA256']);
    expect(c.common.validation.trustedCa!.equals(pki.ca.cert)).toBe(true);
    expect(c.common.validation.verifyTrustChain).toBe(false);
    expect(c.common.validation.sanMatchers.map((m) => [m.sanType, m.exact])).toEqual([['DNS', 'client.test']]);
    expect(c.requireClientCertificate).toBe(true);
    expect(c.sessionTimeoutS).toBe(60);
  });

  it.each<[string, () => unknown, string | (() => string)]>([
    [
      'an unreadable certificate file',
      () => downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: '/nope.pem' }, private_key: { filename: a.keyPath } }] } }),
      `${CTX}.tls_certificates[0].certificate_chain.filename: cannot read "/nope.pem": ENOENT`,
    ],
    [
      'an unreadable key file',
      () => downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: a.certPath }, private_key: { filename: '/nope.key' } }] } }),
      `${CTX}.tls_certificates[0].private_key.filename: cannot read "/nope.key": ENOENT`,
    ],
    [
      'a directory as a file',
      () => downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: pki.dir }, private_key: { filename: a.keyPath } }] } }),
      () => `${CTX}.tls_certificates[0].certificate_chain.filename: cannot read "${pki.dir}": not a regular file`,
    ],
    [
      'a key where the certificate should be',
      () => downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: a.keyPath }, private_key: { filename: a.keyPath } }] } }),
      `${CTX}.tls_certificates[0].certificate_chain: no PEM certificate found`,
    ],
    [
      'a key that is not a key',
      () => downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: a.certPath }, private_key: { inline_string: 'nope' } }] } }),
      `${CTX}.tls_certificates[0].private_key: invalid private key: error:1E08010C:DECODER routines::unsupported`,
    ],
    [
      "another certificate's key",
      () => downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: a.certPath }, private_key: { filename: b.keyPath } }] } }),
      `${CTX}.tls_certificates[0]: private_key does not match the first certificate of certificate_chain`,
    ],
    [
      'two DataSource fields',
      () => downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: a.certPath, inline_string: 'x' }, private_key: { filename: a.keyPath } }] } }),
      `${CTX}.tls_certificates[0].certificate_chain: exactly one of filename, inline_string, inline_bytes, environment_variable is required`,
    ],
    [
      'an unset environment variable',
      () => downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { environment_variable: 'SLUICE_NOPE_NOT_SET' }, private_key: { filename: a.keyPath } }] } }),
      `${CTX}.tls_certificates[0].certificate_chain.environment_variable: environment variable "SLUICE_NOPE_NOT_SET" is not set`,
    ],
    ['no certificate', () => downstream({ common_tls_context: {} }), `${CTX}.tls_certificates: a server TLS context needs at least one certificate`],
    [
      'an unknown cipher',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)], tls_params: { cipher_suites: ['ECDHE-RSA-AES128-GCM-SHA256', 'NOPE-CIPHER'] } } }),
      `${CTX}.tls_params.cipher_suites[1]: unknown TLS 1.2 cipher suite "NOPE-CIPHER"`,
    ],
    [
      'an unknown curve',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)], tls_params: { ecdh_curves: ['X25519', 'P-999'] } } }),
      `${CTX}.tls_params.ecdh_curves[1]: unknown curve "P-999"`,
    ],
    [
      'min above max',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)], tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_2' } } }),
      `${CTX}.tls_params.tls_minimum_protocol_version: is above tls_maximum_protocol_version`,
    ],
    [
      'TLS 1.0',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)], tls_params: { tls_minimum_protocol_version: 'TLSv1_0' } } }),
      `${CTX}.tls_params.tls_minimum_protocol_version: TLSv1_0 is not supported by sluice yet`,
    ],
    [
      'SAN matching without a CA',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)], validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'x' } }] } } }),
      `${CTX}.validation_context: SAN-based verification of peer certificates without trusted_ca is insecure and not allowed`,
    ],
    [
      'a SAN matcher without its matcher',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)], validation_context: { trusted_ca: { filename: pki.ca.certPath }, match_typed_subject_alt_names: [{ san_type: 'DNS' }] } } }),
      `${CTX}.validation_context.match_typed_subject_alt_names[0].matcher: required field is missing`,
    ],
    [
      'a trusted_ca that is no certificate',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)], validation_context: { trusted_ca: { inline_string: 'x' } } } }),
      `${CTX}.validation_context.trusted_ca: no PEM certificate found`,
    ],
    [
      'require_client_certificate without a CA',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)] }, require_client_certificate: true }),
      `${P}.typed_config.require_client_certificate: needs common_tls_context.validation_context.trusted_ca`,
    ],
    [
      'an unsupported field',
      () => downstream({ common_tls_context: { tls_certificates: [files(a)] }, require_sni: true }),
      `${P}.typed_config: field "require_sni" is not supported by sluice yet`,
    ],
    ['an unknown field', () => downstream({ common_tls_context: { tls_certificates: [files(a)] }, bogus: 1 }), `${P}.typed_config: unknown field "bogus"`],
    [
      'an UpstreamTlsContext on a listener',
      () => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL } }),
      `${P}.typed_config.@type: "${UPSTREAM_TLS_CONTEXT_TYPE_URL}" is the other side's context; expected a DownstreamTlsContext (listeners)`,
    ],
    [
      'an unknown transport socket',
      () => ({ name: 'envoy.transport_sockets.alts' }),
      `${P}.name: unknown transport socket "envoy.transport_sockets.alts" (known: envoy.transport_sockets.raw_buffer, envoy.transport_sockets.tls)`,
    ],
  ])('rejects %s', (_label, raw, message) => {
    expect(errorOf(() => parseDown(raw()))).toBe(typeof message === 'string' ? message : message());
  });

  it('decrypts a private key with its password, and names the key when the password is wrong', () => {
    const encrypted = join(pki.dir, 'a-encrypted.key');
    execFileSync('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', a.keyPath, '-out', encrypted, '-passout', 'pass:s3cret'], { stdio: 'ignore', timeout: 10_000 });
    const tlsCertificate = (password: string) => ({
      certificate_chain: { filename: a.certPath },
      private_key: { filename: encrypted },
      password: { inline_string: password },
    });
    const c = parseDown(downstream({ common_tls_context: { tls_certificates: [tlsCertificate('s3cret')] } }))!;
    expect(c.common.certificates[0]!.passphrase).toBe('s3cret');
    expect(errorOf(() => parseDown(downstream({ common_tls_context: { tls_certificates: [tlsCertificate('wrong')] } })))).toMatch(
      /^fc\.transport_socket\.typed_config\.common_tls_context\.tls_certificates\[0\]\.private_key: invalid private key: .*bad decrypt$/,
    );
  });

  it('rejects files larger than 4 MiB', () => {
    const big = join(pki.dir, 'big');
    mkdirSync(big, { recursive: true });
    const path = join(big, 'huge.pem');
    writeFileSync(path, Buffer.alloc(4 * 1024 * 1024 + 1, 0x41));
    expect(errorOf(() => parseDown(downstream({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: path }, private_key: { filename: a.keyPath } }] } })))).toBe(
      `${CTX}.tls_certificates[0].certificate_chain.filename: "${path}" is larger than 4194304 bytes`,
    );
  });
});

describe('UpstreamTlsContext', () => {
  it('is valid empty (TLS without verification, as in Envoy) and keeps sni and session keys', () => {
    const c = parseUp({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL } })!;
    expect(c.sni).toBe('');
    expect(c.maxSessionKeys).toBe(1);
    expect(c.common.validation.trustedCa).toBeUndefined();
    const d = parseUp({
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL,
        sni: 'origin.test',
        max_session_keys: 0,
        common_tls_context: { validation_context: { trusted_ca: { filename: pki.ca.certPath } }, tls_certificates: [files(a)], alpn_protocols: ['h2'] },
      },
    })!;
    expect(d.sni).toBe('origin.test');
    expect(d.maxSessionKeys).toBe(0);
    expect(d.common.certificates).toHaveLength(1);
    expect(d.common.alpnProtocols).toEqual(['h2']);
  });

  it.each<[string, () => unknown, string]>([
    [
      'two client certificates',
      () => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL, common_tls_context: { tls_certificates: [files(a), files(b)] } } }),
      `${CTX}.tls_certificates: a client TLS context takes at most one certificate`,
    ],
    [
      'a DownstreamTlsContext on a cluster',
      () => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL } }),
      `${P}.typed_config.@type: "${DOWNSTREAM_TLS_CONTEXT_TYPE_URL}" is the other side's context; expected an UpstreamTlsContext (clusters)`,
    ],
    [
      'an SNI over 255 bytes',
      () => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL, sni: 'a'.repeat(256) } }),
      `${P}.typed_config.sni: expected a string of at most 255 bytes`,
    ],
  ])('rejects %s', (_label, raw, message) => {
    expect(errorOf(() => parseUp(raw()))).toBe(message);
  });
});
