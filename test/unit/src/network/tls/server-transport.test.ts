import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tlsInspectorFactory } from '../../../../../filters/listener/tls-inspector/config.js';
import type { FactoryContext } from '../../../../../src/api/filter-config.js';
import type { Connection, ConnectionEvent } from '../../../../../src/api/network.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../../src/common/dispatcher.js';
import { parseWith } from '../../../../../src/config/schema-helpers.js';
import { TcpListener } from '../../../../../src/network/listener.js';
import { TlsServerTransportFactory } from '../../../../../src/network/tls/server-transport.js';
import { downstreamTlsContextSchema } from '../../../../../src/network/tls/tls-config.js';
import { StatsStore } from '../../../../../src/stats/store.js';
import { LOOPBACK, connectPeer, waitFor, withTimeout } from '../../../../support/net-helpers.js';
import { createTestPki, type TestCert, type TestPki } from '../../../../support/tls-certs.js';

let pki: TestPki;
let a: TestCert;
let b: TestCert;
let client: TestCert;
let strangerClient: TestCert;
beforeAll(() => {
  pki = createTestPki();
  a = pki.ca.issue('a.test');
  b = pki.ca.issue('b.test', { dns: ['b.test', '*.wild.test'] });
  client = pki.ca.issue('client.test');
  strangerClient = pki.otherCa.issue('client.test');
});
afterAll(() => pki.cleanup());

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function cert(c: TestCert): Record<string, unknown> {
  return { certificate_chain: { inline_string: c.cert.toString() }, private_key: { inline_string: c.key.toString() } };
}

interface Served {
  readonly port: number;
  readonly store: StatsStore;
  readonly conns: Connection[];
  readonly events: ConnectionEvent[][];
  counter(name: string): number;
}

/** A listener whose one chain is TLS with `context`; connections echo what they read. */
async function serve(context: Record<string, unknown>, options: { inspector?: boolean; connectTimeoutMs?: number } = {}): Promise<Served> {
  const store = new StatsStore();
  const dispatcher = new NodeDispatcher();
  const scope = store.createScope('listener.test');
  const factory = new TlsServerTransportFactory(parseWith(downstreamTlsContextSchema, context, 'ctx'), {
    scope,
    dispatcher,
    connectTimeoutMs: options.connectTimeoutMs ?? 0,
  });
  const conns: Connection[] = [];
  const events: ConnectionEvent[][] = [];
  const listener = new TcpListener({
    name: 'tls',
    address: { address: LOOPBACK, port: 0 },
    dispatcher,
    scope,
    listenerFilters: options.inspector === true ? [tlsInspectorFactory.createFilter({ maxClientHelloSize: 65536, closeConnectionOnClientHelloParsingErrors: false }, { scope: store } as unknown as FactoryContext)] : [],
    filterChainFactory: () => ({
      name: 'tls',
      createTransportSocket: (socket, info) => factory.create(socket, info),
      createNetworkFilters: (conn) => {
        conns.push(conn);
        const seen: ConnectionEvent[] = [];
        events.push(seen);
        conn.addConnectionCallbacks({ onEvent: (e) => seen.push(e), onAboveWriteBufferHighWatermark: () => {}, onBelowWriteBufferLowWatermark: () => {} });
        conn.addReadFilter({
          initializeReadFilterCallbacks: () => {},
          onNewConnection: () => 'Continue',
          onData: (data) => {
            const out = new BufferChain();
            out.move(data);
            conn.write(out, false);
            return 'StopIteration';
          },
        });
      },
    }),
  });
  const { port } = await listener.listen();
  cleanups.push(async () => {
    listener.closeConnections();
    await listener.stop();
  });
  return { port, store, conns, events, counter: (name) => store.findCounter(`listener.test.${name}`)?.value() ?? 0 };
}

function connect(port: number, options: tls.ConnectionOptions): tls.TLSSocket {
  const s = tls.connect({ host: LOOPBACK, port, ca: pki.ca.cert, ...options });
  s.on('error', () => {});
  cleanups.push(() => void s.destroy());
  return s;
}

function secureConnect(s: tls.TLSSocket): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    }),
    3000,
    'secureConnect',
  );
}

function closed(s: tls.TLSSocket): Promise<void> {
  return withTimeout(new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve()))), 3000, 'client close');
}

async function echo(s: tls.TLSSocket, text: string): Promise<string> {
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  s.write(text);
  await waitFor(() => got.length >= text.length, 3000, 'echo');
  return got;
}

describe('TlsServerTransportFactory', () => {
  it('completes the handshake, negotiates ALPN and raises Connected; counts ssl stats', async () => {
    const srv = await serve({ common_tls_context: { tls_certificates: [cert(a)], alpn_protocols: ['h2', 'http/1.1'] } });
    const s = connect(srv.port, { servername: 'a.test', ALPNProtocols: ['http/1.1', 'h2'] });
    await secureConnect(s);
    expect(s.authorized).toBe(true);
    expect(s.alpnProtocol).toBe('h2');
    expect(await echo(s, 'over tls')).toBe('over tls');
    const conn = srv.conns[0]!;
    expect(srv.events[0]).toEqual(['Connected']);
    expect(conn.ssl()).toBe(true);
    expect(conn.nextProtocol()).toBe('h2');
    expect(conn.requestedServerName()).toBe('a.test');
    expect(srv.counter('ssl.handshake')).toBe(1);
    expect(srv.counter('ssl.connection_error')).toBe(0);
    expect(srv.counter('ssl.no_certificate')).toBe(1);
    expect(srv.counter('ssl.versions.TLSv1.3')).toBe(1);
    expect(srv.counter(`ssl.ciphers.${s.getCipher().name}`)).toBe(1);
  });

  it('serves TLS 1.2 when that is the maximum', async () => {
    const srv = await serve({ common_tls_context: { tls_certificates: [cert(a)], tls_params: { tls_maximum_protocol_version: 'TLSv1_2' } } });
    const s = connect(srv.port, { servername: 'a.test' });
    await secureConnect(s);
    expect(s.getProtocol()).toBe('TLSv1.2');
    expect(s.getCipher().name).toBe('ECDHE-ECDSA-AES128-GCM-SHA256');
    expect(srv.counter('ssl.versions.TLSv1.2')).toBe(1);
  });

  it('refuses a client below tls_minimum_protocol_version', async () => {
    const srv = await serve({ common_tls_context: { tls_certificates: [cert(a)], tls_params: { tls_minimum_protocol_version: 'TLSv1_3' } } });
    const s = connect(srv.port, { servername: 'a.test', maxVersion: 'TLSv1.2' });
    await expect(secureConnect(s)).rejects.toThrow(/alert protocol version/);
    await waitFor(() => srv.counter('ssl.connection_error') === 1, 3000, 'connection_error');
    expect(srv.counter('ssl.handshake')).toBe(0);
  });

  it('goes on without ALPN when tls_inspector saw no protocol in common (Envoy, not OpenSSL)', async () => {
    const srv = await serve({ common_tls_context: { tls_certificates: [cert(a)], alpn_protocols: ['h2'] } }, { inspector: true });
    const s = connect(srv.port, { servername: 'a.test', ALPNProtocols: ['spdy/3'] });
    await secureConnect(s);
    expect(s.alpnProtocol).toBe(false);
    expect(await echo(s, 'x')).toBe('x');
    expect(srv.conns[0]!.nextProtocol()).toBe('');
  });

  it('fails the handshake on an ALPN mismatch when it cannot know the offer (no tls_inspector)', async () => {
    const srv = await serve({ common_tls_context: { tls_certificates: [cert(a)], alpn_protocols: ['h2'] } });
    const s = connect(srv.port, { servername: 'a.test', ALPNProtocols: ['spdy/3'] });
    await expect(secureConnect(s)).rejects.toThrow(/no application protocol/);
    await waitFor(() => srv.counter('ssl.connection_error') === 1, 3000, 'connection_error');
    expect(srv.events[0]).toEqual(['RemoteClose']);
  });

  it.each([true, false])('picks the certificate by SNI among several (tls_inspector: %s)', async (inspector) => {
    const srv = await serve({ common_tls_context: { tls_certificates: [cert(a), cert(b)] } }, { inspector });
    const names: Array<[string | undefined, string]> = [
      ['b.test', 'CN=b.test'],
      ['x.wild.test', 'CN=b.test'],
      ['a.test', 'CN=a.test'],
      ['unknown.test', 'CN=a.test'],
      [undefined, 'CN=a.test'],
    ];
    for (const [servername, subject] of names) {
      const s = connect(srv.port, { ...(servername !== undefined ? { servername } : {}), checkServerIdentity: () => undefined });
      await secureConnect(s);
      expect(`${servername} -> ${s.getPeerCertificate().subject.CN}`).toBe(`${servername} -> ${subject.slice(3)}`);
      s.destroy();
    }
  });

  it('counts plaintext sent to a TLS chain as a connection error', async () => {
    const srv = await serve({ common_tls_context: { tls_certificates: [cert(a)] } });
    const peer = await connectPeer(srv.port);
    cleanups.push(() => peer.destroy());
    await peer.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    await waitFor(() => srv.counter('ssl.connection_error') === 1, 3000, 'connection_error');
    await waitFor(() => peer.ended || peer.error !== undefined, 3000, 'close');
    expect(srv.events[0]).toEqual(['RemoteClose']);
  });

  it('closes a handshake that outlasts transport_socket_connect_timeout', async () => {
    const srv = await serve({ common_tls_context: { tls_certificates: [cert(a)] } }, { connectTimeoutMs: 50 });
    const peer = await connectPeer(srv.port);
    cleanups.push(() => peer.destroy());
    await waitFor(() => peer.ended || peer.error !== undefined, 3000, 'close by timeout');
    expect(srv.counter('downstream_cx_transport_socket_connect_timeout')).toBe(1);
    expect(srv.events[0]).toEqual(['RemoteClose']);
  });
});

describe('client certificates', () => {
  const ctx = (extra: Record<string, unknown> = {}, validation: Record<string, unknown> = {}) => ({
    common_tls_context: {
      tls_certificates: [cert(a)],
      validation_context: { trusted_ca: { inline_string: pki.ca.cert.toString() }, ...validation },
    },
    ...extra,
  });

  it('accepts a client certificate signed by trusted_ca', async () => {
    const srv = await serve(ctx({ require_client_certificate: true }));
    const s = connect(srv.port, { servername: 'a.test', cert: client.cert, key: client.key });
    await secureConnect(s);
    expect(await echo(s, 'mtls')).toBe('mtls');
    expect(srv.counter('ssl.handshake')).toBe(1);
    expect(srv.counter('ssl.no_certificate')).toBe(0);
  });

  it('closes a client without a certificate when one is required', async () => {
    const srv = await serve(ctx({ require_client_certificate: true }));
    const s = connect(srv.port, { servername: 'a.test' });
    await closed(s);
    expect(srv.counter('ssl.fail_verify_no_cert')).toBe(1);
    expect(srv.counter('ssl.no_certificate')).toBe(0);
    expect(srv.counter('ssl.connection_error')).toBe(1);
    expect(srv.counter('ssl.handshake')).toBe(0);
    await waitFor(() => srv.events[0]?.length === 1, 3000, 'close event');
    expect(srv.events[0]).toEqual(['RemoteClose']);
  });

  it('lets a client without a certificate in when none is required', async () => {
    const srv = await serve(ctx());
    const s = connect(srv.port, { servername: 'a.test' });
    await secureConnect(s);
    expect(await echo(s, 'anon')).toBe('anon');
    expect(srv.counter('ssl.no_certificate')).toBe(1);
    expect(srv.counter('ssl.handshake')).toBe(1);
  });

  it('closes a client whose certificate another CA signed', async () => {
    const srv = await serve(ctx());
    const s = connect(srv.port, { servername: 'a.test', cert: strangerClient.cert, key: strangerClient.key });
    await closed(s);
    expect(srv.counter('ssl.fail_verify_error')).toBe(1);
    expect(srv.counter('ssl.handshake')).toBe(0);
  });

  it('checks the client certificate against match_typed_subject_alt_names', async () => {
    const srv = await serve(ctx({}, { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'someone-else.test' } }] }));
    const s = connect(srv.port, { servername: 'a.test', cert: client.cert, key: client.key });
    await closed(s);
    expect(srv.counter('ssl.fail_verify_san')).toBe(1);
    const ok = await serve(ctx({}, { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { suffix: '.test' } }] }));
    const s2 = connect(ok.port, { servername: 'a.test', cert: client.cert, key: client.key });
    await secureConnect(s2);
    expect(await echo(s2, 'san')).toBe('san');
    expect(ok.counter('ssl.handshake')).toBe(1);
  });
});
