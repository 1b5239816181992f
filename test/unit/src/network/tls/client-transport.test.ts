import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionEvent } from '../../../../../src/api/network.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../../src/common/dispatcher.js';
import { parseWith } from '../../../../../src/config/schema-helpers.js';
import { ClientConnectionImpl } from '../../../../../src/network/connection.js';
import { TlsClientTransport } from '../../../../../src/network/tls/client-transport.js';
import { upstreamTlsContextSchema } from '../../../../../src/network/tls/tls-config.js';
import { CERTIFICATE_VERIFY_FAILED } from '../../../../../src/network/tls/tls-failure-reason.js';
import { StatsStore } from '../../../../../src/stats/store.js';
import { LOOPBACK, closedPort, waitFor, withTimeout } from '../../../../support/net-helpers.js';
import { createTestPki, type TestCert, type TestPki } from '../../../../support/tls-certs.js';

let pki: TestPki;
let origin: TestCert;
let wildOrigin: TestCert;
let strangerOrigin: TestCert;
let client: TestCert;
beforeAll(() => {
  pki = createTestPki();
  origin = pki.ca.issue('origin.test');
  wildOrigin = pki.ca.issue('wild', { dns: ['*.wild.test'] });
  strangerOrigin = pki.otherCa.issue('origin.test');
  client = pki.ca.issue('sluice.client');
});
afterAll(() => pki.cleanup());

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Origin {
  readonly port: number;
  /** What each accepted TLS connection negotiated. */
  readonly seen: Array<{ servername: string | false; alpn: string | false; authorized: boolean; peerCn: string | undefined }>;
}

/** A TLS echo server. */
async function startOrigin(cert: TestCert, options: tls.TlsOptions = {}): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const server = tls.createServer({ cert: cert.cert, key: cert.key, ALPNProtocols: ['h2', 'http/1.1'], ...options }, (s) => {
    const peer = s.getPeerCertificate();
    seen.push({
      servername: (s as tls.TLSSocket & { servername: string | false }).servername,
      alpn: s.alpnProtocol ?? false,
      authorized: s.authorized,
      peerCn: (peer.subject as tls.PeerCertificate['subject'] | undefined)?.CN?.toString(),
    });
    s.on('error', () => {});
    s.pipe(s);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, seen };
}

function transport(typed: Record<string, unknown>, store: StatsStore, alpnFallback: string[] = []): TlsClientTransport {
  const config = parseWith(upstreamTlsContextSchema, typed, 'ctx');
  return new TlsClientTransport(config, { scope: store.createScope('cluster.c'), alpnFallback });
}

const trusted = () => ({ validation_context: { trusted_ca: { inline_string: pki.ca.cert.toString() } } });

async function dial(port: number, t: TlsClientTransport) {
  const events: ConnectionEvent[] = [];
  let echoed = '';
  const conn = new ClientConnectionImpl(new NodeDispatcher(), { address: LOOPBACK, port }, { transport: t });
  cleanups.push(() => conn.close('NoFlush'));
  conn.addConnectionCallbacks({ onEvent: (e) => events.push(e), onAboveWriteBufferHighWatermark: () => {}, onBelowWriteBufferLowWatermark: () => {} });
  conn.addReadFilter({
    initializeReadFilterCallbacks: () => {},
    onNewConnection: () => 'Continue',
    onData: (data) => {
      echoed += data.toBuffer().toString();
      data.drain(data.length);
      return 'Continue';
    },
  });
  conn.initializeReadFilters();
  conn.connect();
  await waitFor(() => events.length > 0, 3000, 'Connected or RemoteClose');
  return { conn, events, echoed: () => echoed };
}

function counter(store: StatsStore, name: string): number {
  return store.findCounter(`cluster.c.ssl.${name}`)?.value() ?? 0;
}

describe('TlsClientTransport', () => {
  it('verifies the origin against trusted_ca, sends SNI and the ALPN fallback, and carries data', async () => {
    const o = await startOrigin(origin);
    const store = new StatsStore();
    const { conn, events, echoed } = await dial(o.port, transport({ sni: 'origin.test', common_tls_context: trusted() }, store, ['h2']));
    expect(events).toEqual(['Connected']);
    expect(conn.ssl()).toBe(true);
    expect(conn.nextProtocol()).toBe('h2');
    conn.write(new BufferChain('ping'), false);
    await waitFor(() => echoed() === 'ping', 3000, 'echo');
    expect(o.seen).toEqual([{ servername: 'origin.test', alpn: 'h2', authorized: false, peerCn: undefined }]);
    expect(counter(store, 'handshake')).toBe(1);
    // Envoy's client default maximum is TLS 1.2.
    expect(counter(store, 'versions.TLSv1.2')).toBe(1);
  });

  it('offers the configured alpn_protocols instead of the fallback', async () => {
    const o = await startOrigin(origin);
    const { conn } = await dial(o.port, transport({ common_tls_context: { alpn_protocols: ['http/1.1'] } }, new StatsStore(), ['h2']));
    expect(conn.nextProtocol()).toBe('http/1.1');
    expect(o.seen[0]!.servername).toBe(false);
  });

  it('fails with CERTIFICATE_VERIFY_FAILED when another CA signed the origin', async () => {
    const o = await startOrigin(strangerOrigin);
    const store = new StatsStore();
    const { conn, events } = await dial(o.port, transport({ sni: 'origin.test', common_tls_context: trusted() }, store));
    expect(events).toEqual(['RemoteClose']);
    expect(conn.transportFailureReason()).toBe(CERTIFICATE_VERIFY_FAILED);
    expect(CERTIFICATE_VERIFY_FAILED).toBe('TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end');
    expect(counter(store, 'fail_verify_error')).toBe(1);
    expect(counter(store, 'connection_error')).toBe(1);
    expect(counter(store, 'handshake')).toBe(0);
  });

  it('connects to any origin without a validation context (Envoy does not verify then)', async () => {
    const o = await startOrigin(strangerOrigin);
    const { events } = await dial(o.port, transport({}, new StatsStore()));
    expect(events).toEqual(['Connected']);
  });

  it('does not check the SNI against the certificate: only SAN matchers do', async () => {
    const o = await startOrigin(origin);
    const { events } = await dial(o.port, transport({ sni: 'not-the-name.test', common_tls_context: trusted() }, new StatsStore()));
    expect(events).toEqual(['Connected']);
  });

  it('fails when no SAN matches match_typed_subject_alt_names', async () => {
    const o = await startOrigin(origin);
    const store = new StatsStore();
    const ctx = { validation_context: { ...trusted().validation_context, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'other.test' } }] } };
    const { conn, events } = await dial(o.port, transport({ common_tls_context: ctx }, store));
    expect(events).toEqual(['RemoteClose']);
    expect(conn.transportFailureReason()).toBe(CERTIFICATE_VERIFY_FAILED);
    expect(counter(store, 'fail_verify_san')).toBe(1);
  });

  it('matches a wildcard DNS SAN against an exact matcher', async () => {
    const o = await startOrigin(wildOrigin);
    const ctx = { validation_context: { ...trusted().validation_context, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'api.wild.test' } }] } };
    const { events } = await dial(o.port, transport({ common_tls_context: ctx }, new StatsStore()));
    expect(events).toEqual(['Connected']);
  });

  it("reports a handshake alert in Envoy's format", async () => {
    const o = await startOrigin(origin, { minVersion: 'TLSv1.3' });
    const store = new StatsStore();
    const { conn, events } = await dial(o.port, transport({ common_tls_context: trusted() }, store));
    expect(events).toEqual(['RemoteClose']);
    expect(conn.transportFailureReason()).toBe('TLS_error:|268436526:SSL routines:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION:TLS_error_end');
    expect(counter(store, 'connection_error')).toBe(1);
  });

  it('presents its client certificate', async () => {
    const o = await startOrigin(origin, { requestCert: true, rejectUnauthorized: true, ca: pki.ca.cert });
    const tlsCert = { certificate_chain: { inline_string: client.cert.toString() }, private_key: { inline_string: client.key.toString() } };
    const { events } = await dial(o.port, transport({ common_tls_context: { ...trusted(), tls_certificates: [tlsCert] } }, new StatsStore()));
    expect(events).toEqual(['Connected']);
    await waitFor(() => o.seen.length === 1, 3000, 'server side');
    expect(o.seen[0]).toMatchObject({ authorized: true, peerCn: 'sluice.client' });
  });

  it('resumes the session on the next connection', async () => {
    const o = await startOrigin(origin);
    const store = new StatsStore();
    const t = transport({ common_tls_context: trusted() }, store);
    const first = await dial(o.port, t);
    first.conn.close('NoFlush');
    const second = await dial(o.port, t);
    expect(second.conn.transportFailureReason()).toBe('');
    expect(second.events).toEqual(['Connected']);
    expect(counter(store, 'session_reused')).toBe(1);
    expect(counter(store, 'handshake')).toBe(2);
  });

  it('never keeps the session of an origin that failed verification', async () => {
    const o = await startOrigin(strangerOrigin);
    const store = new StatsStore();
    const t = transport({ common_tls_context: trusted() }, store);
    for (let i = 0; i < 2; i++) {
      const { conn, events } = await dial(o.port, t);
      expect(events).toEqual(['RemoteClose']);
      expect(conn.transportFailureReason()).toBe(CERTIFICATE_VERIFY_FAILED);
    }
    expect(counter(store, 'fail_verify_error')).toBe(2);
    expect(counter(store, 'session_reused')).toBe(0);
  });

  it('does not resume with max_session_keys 0', async () => {
    const o = await startOrigin(origin);
    const store = new StatsStore();
    const t = transport({ max_session_keys: 0, common_tls_context: trusted() }, store);
    (await dial(o.port, t)).conn.close('NoFlush');
    await dial(o.port, t);
    expect(counter(store, 'session_reused')).toBe(0);
    expect(counter(store, 'handshake')).toBe(2);
  });

  it('keeps a TCP failure as it is and does not count it as a TLS error', async () => {
    const port = await closedPort();
    const store = new StatsStore();
    const { conn, events } = await withTimeout(dial(port, transport({}, store)), 3000, 'refused');
    expect(events).toEqual(['RemoteClose']);
    expect(conn.transportFailureReason()).toBe(`connect ECONNREFUSED ${LOOPBACK}:${port}`);
    expect(counter(store, 'connection_error')).toBe(0);
  });
});
