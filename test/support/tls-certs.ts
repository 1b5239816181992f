/**
 * Test certificates made with the `openssl` command line (Debian's openssl package; .ci/run
 * installs it) into a temporary directory: a CA, leaf certificates it signs (P-256 keys, SANs as
 * asked), and a second, unrelated CA for "wrong CA" cases. Everything expires in two days.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  /** Paths of the PEM files. */
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestCa extends TestCert {
  /** Signs a leaf for `commonName` with DNS SANs (default: the common name) and IP SANs. */
  issue(commonName: string, options?: { dns?: readonly string[]; ips?: readonly string[]; uris?: readonly string[] }): TestCert;
}

export interface TestPki {
  readonly dir: string;
  /** The CA the tests trust. */
  readonly ca: TestCa;
  /** Another CA, trusted by nobody. */
  readonly otherCa: TestCa;
  cleanup(): void;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

function keyArgs(keyPath: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath];
}

function load(certPath: string, keyPath: string): TestCert {
  return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

function makeCa(dir: string, name: string): TestCa {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  openssl(
    [
      'req', '-x509', ...keyArgs(keyPath), '-out', certPath, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  let serial = 1;
  return {
    ...load(certPath, keyPath),
    issue(commonName, options = {}) {
      const base = `${name}-${commonName.replace(/[^A-Za-z0-9.-]/g, '_')}-${serial}`;
      const leafKey = join(dir, `${base}.key`);
      const csr = join(dir, `${base}.csr`);
      const leafCert = join(dir, `${base}.pem`);
      const ext = join(dir, `${base}.ext`);
      const sans = [
        ...(options.dns ?? [commonName]).map((d) => `DNS:${d}`),
        ...(options.ips ?? []).map((i) => `IP:${i}`),
        ...(options.uris ?? []).map((u) => `URI:${u}`),
      ];
      writeFileSync(
        ext,
        [
          'basicConstraints=CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth,clientAuth',
          ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
        ].join('\n'),
      );
      openssl(['req', '-new', ...keyArgs(leafKey), '-out', csr, '-subj', `/CN=${commonName}`], dir);
      openssl(
        ['x509', '-req', '-in', csr, '-CA', certPath, '-CAkey', keyPath, '-set_serial', String(serial++), '-out', leafCert, '-days', '2', '-extfile', ext],
        dir,
      );
      return load(leafCert, leafKey);
    },
  };
}

/** A fresh PKI in a temporary directory; call cleanup() when done. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pki-'));
  return {
    dir,
    ca: makeCa(dir, 'test-ca'),
    otherCa: makeCa(dir, 'other-ca'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
