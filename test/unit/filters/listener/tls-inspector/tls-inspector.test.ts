import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTlsInspectorConfig, tlsInspectorFactory, TLS_INSPECTOR_TYPE_URL } from '../../../../../filters/listener/tls-inspector/config.js';
import { TlsInspector, tlsInspectorStats, type TlsInspectorConfig } from '../../../../../filters/listener/tls-inspector/tls-inspector.js';
import type { FactoryContext } from '../../../../../src/api/filter-config.js';
import type { Connection, ListenerFilterCallbacks, ListenerFilterStatus } from '../../../../../src/api/network.js';
import { BufferChain } from '../../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../../src/common/dispatcher.js';
import { ConfigError } from '../../../../../src/config/config-error.js';
import { type AcceptedSocketInfo, TcpListener } from '../../../../../src/network/listener.js';
import { StatsStore } from '../../../../../src/stats/store.js';
import { LOOPBACK, connectPeer, waitFor, withTimeout } from '../../../../support/net-helpers.js';
import { createTestPki, type TestPki } from '../../../../support/tls-certs.js';
import { alpnExtension, captureClientHello, clientHello, sniExtension, u16 } from './client-hello-builder.js';

const DEFAULTS: TlsInspectorConfig = { maxClientHelloSize: 64 * 1024, closeConnectionOnClientHelloParsingErrors: false };

/** ListenerFilterCallbacks over a growing byte buffer, recording what the filter set. */
class FakeCallbacks implements ListenerFilterCallbacks {
  data = Buffer.alloc(0);
  serverName: string | undefined;
  protocols: readonly string[] | undefined;
  transport: string | undefined;
  readonly continued: boolean[] = [];
  peekedData(): Buffer {
    return this.data;
  }
  setRequestedServerName(name: string): void {
    this.serverName = name;
  }
  setRequestedApplicationProtocols(protocols: readonly string[]): void {
    this.protocols = protocols;
  }
  setDetectedTransportProtocol(protocol: string): void {
    this.transport = protocol;
  }
  continueFilterChain(success: boolean): void {
    this.continued.push(success);
  }
}

function counters(store: StatsStore): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of store.counters()) if (c.name.startsWith('tls_inspector.') && c.value() > 0) out[c.name.slice('tls_inspector.'.length)] = c.value();
  return out;
}

/** Runs a filter over `chunks` fed one after another; returns the last status. */
function feed(filter: TlsInspector, cb: FakeCallbacks, chunks: readonly Buffer[]): ListenerFilterStatus[] {
  const statuses: ListenerFilterStatus[] = [filter.onAccept(cb)];
  for (const c of chunks) {
    cb.data = Buffer.concat([cb.data, c]);
    statuses.push(filter.onData(cb));
  }
  return statuses;
}

describe('TlsInspector', () => {
  let realHello: Buffer;
  beforeAll(async () => {
    realHello = await captureClientHello({ servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
  });

  it('waits for the whole ClientHello, then sets SNI, ALPN and tls', () => {
    const store = new StatsStore();
    const filter = new TlsInspector(DEFAULTS, tlsInspectorStats(store));
    const cb = new FakeCallbacks();
    const statuses = feed(filter, cb, [realHello.subarray(0, 3), realHello.subarray(3, 100), realHello.subarray(100)]);
    expect(statuses).toEqual(['StopIteration', 'StopIteration', 'StopIteration', 'Continue']);
    expect(cb.serverName).toBe('a.test');
    expect(cb.protocols).toEqual(['h2', 'http/1.1']);
    expect(cb.transport).toBe('tls');
    expect(cb.continued).toEqual([]);
    expect(counters(store)).toEqual({ tls_found: 1, sni_found: 1, alpn_found: 1 });
    expect(filter.maxReadBytes()).toBe(65_536);
  });

  it('counts a ClientHello without SNI and ALPN', () => {
    const store = new StatsStore();
    const cb = new FakeCallbacks();
    expect(feed(new TlsInspector(DEFAULTS, tlsInspectorStats(store)), cb, [clientHello({ extensions: [] })]).at(-1)).toBe('Continue');
    expect(cb.serverName).toBeUndefined();
    expect(cb.protocols).toBeUndefined();
    expect(cb.transport).toBe('tls');
    expect(counters(store)).toEqual({ tls_found: 1, sni_not_found: 1, alpn_not_found: 1 });
  });

  it('lets plaintext go on as raw_buffer after its first byte', () => {
    const store = new StatsStore();
    const cb = new FakeCallbacks();
    expect(feed(new TlsInspector(DEFAULTS, tlsInspectorStats(store)), cb, [Buffer.from('G')]).at(-1)).toBe('Continue');
    expect(cb.transport).toBeUndefined();
    expect(cb.continued).toEqual([]);
    expect(counters(store)).toEqual({ tls_not_found: 1 });
  });

  it('closes a non-ClientHello with close_connection_on_client_hello_parsing_errors', () => {
    const store = new StatsStore();
    const cb = new FakeCallbacks();
    const filter = new TlsInspector({ ...DEFAULTS, closeConnectionOnClientHelloParsingErrors: true }, tlsInspectorStats(store));
    expect(feed(filter, cb, [Buffer.from('GET / HTTP/1.1\r\n')]).at(-1)).toBe('StopIteration');
    expect(cb.continued).toEqual([false]);
    expect(counters(store)).toEqual({});
  });

  it('fails a ClientHello larger than max_client_hello_size as soon as its header says so', () => {
    const store = new StatsStore();
    const cb = new FakeCallbacks();
    const filter = new TlsInspector({ ...DEFAULTS, maxClientHelloSize: 1024 }, tlsInspectorStats(store));
    const big = clientHello({ extensions: [sniExtension('a.test'), Buffer.concat([u16(0xfe), u16(2000), Buffer.alloc(2000)])] });
    expect(feed(filter, cb, [big.subarray(0, 9)]).at(-1)).toBe('StopIteration');
    expect(cb.continued).toEqual([false]);
    expect(counters(store)).toEqual({ client_hello_too_large: 1 });
  });

  it('does not re-parse until the bytes it asked for have arrived', () => {
    const store = new StatsStore();
    const cb = new FakeCallbacks();
    const filter = new TlsInspector(DEFAULTS, tlsInspectorStats(store));
    const hello = clientHello({ extensions: [alpnExtension(['h2'])] });
    feed(filter, cb, [hello.subarray(0, 9)]);
    // Corrupt the already-seen prefix: a filter that re-parsed would now say "not TLS".
    cb.data[0] = 0x47;
    expect(filter.onData(cb)).toBe('StopIteration');
    cb.data[0] = 22;
    cb.data = Buffer.concat([cb.data, hello.subarray(9)]);
    expect(filter.onData(cb)).toBe('Continue');
    expect(cb.protocols).toEqual(['h2']);
  });
});

describe('tls_inspector config', () => {
  it('has Envoy defaults', () => {
    expect(parseTlsInspectorConfig({}, 'p')).toEqual(DEFAULTS);
  });

  it.each<[unknown, string]>([
    [{ enable_ja3_fingerprinting: true }, 'p.enable_ja3_fingerprinting: fingerprinting is not supported by sluice yet'],
    [{ max_client_hello_size: 65_537 }, 'p.max_client_hello_size: expected an integer in [1, 65536], got 65537'],
    [{ initial_read_buffer_size: 100 }, 'p.initial_read_buffer_size: expected an integer in [256, 65536], got 100'],
    [{ bogus: 1 }, 'p: unknown field "bogus"'],
  ])('rejects %j', (raw, message) => {
    expect(() => parseTlsInspectorConfig(raw, 'p')).toThrow(ConfigError);
    expect(() => parseTlsInspectorConfig(raw, 'p')).toThrow(message);
  });

  it('accepts its fields with the @type', () => {
    expect(
      parseTlsInspectorConfig(
        { '@type': TLS_INSPECTOR_TYPE_URL, initial_read_buffer_size: 4096, max_client_hello_size: 16_384, close_connection_on_client_hello_parsing_errors: true, enable_ja3_fingerprinting: false },
        'p',
      ),
    ).toEqual({ maxClientHelloSize: 16_384, closeConnectionOnClientHelloParsingErrors: true });
  });
});

describe('tls_inspector on a real listener', () => {
  let pki: TestPki;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(() => {
    pki = createTestPki();
  });
  afterAll(() => pki.cleanup());
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function listen(store: StatsStore) {
    const dispatcher = new NodeDispatcher();
    const infos: AcceptedSocketInfo[] = [];
    const received: string[] = [];
    const leaf = pki.ca.issue('a.test');
    const ctx = tls.createSecureContext({ cert: leaf.cert, key: leaf.key });
    const factoryCtx = { scope: store } as unknown as FactoryContext;
    const listener = new TcpListener({
      name: 'l',
      address: { address: LOOPBACK, port: 0 },
      dispatcher,
      scope: store.createScope('listener.test'),
      listenerFilters: [tlsInspectorFactory.createFilter(DEFAULTS, factoryCtx)],
      filterChainFactory: (info) => {
        infos.push(info);
        return {
          name: info.detectedTransportProtocol,
          ...(info.detectedTransportProtocol === 'tls'
            ? { createTransportSocket: (socket) => ({ socket: new tls.TLSSocket(socket, { isServer: true, secureContext: ctx, ALPNProtocols: ['h2'] }), readyEvent: 'secure' }) }
            : {}),
          createNetworkFilters: (conn: Connection) =>
            conn.addReadFilter({
              initializeReadFilterCallbacks: () => {},
              onNewConnection: () => 'Continue',
              onData: (data) => {
                received.push(data.toBuffer().toString());
                data.drain(data.length);
                conn.write(new BufferChain('ok'), false);
                return 'StopIteration';
              },
            }),
        };
      },
    });
    const { port } = await listener.listen();
    cleanups.push(async () => {
      listener.closeConnections();
      await listener.stop();
    });
    return { port, infos, received, listener };
  }

  it('peeks the ClientHello and leaves it for the TLS handshake', async () => {
    const store = new StatsStore();
    const { port, infos, received } = await listen(store);
    const client = tls.connect({ host: LOOPBACK, port, servername: 'a.test', ALPNProtocols: ['http/1.1', 'h2'], ca: pki.ca.cert });
    cleanups.push(() => void client.destroy());
    await withTimeout(new Promise((r) => client.once('secureConnect', r)), 3000, 'handshake');
    expect(client.authorized).toBe(true);
    expect(client.alpnProtocol).toBe('h2');
    client.write('hello');
    await waitFor(() => received.join('') === 'hello', 3000, 'data over TLS');
    expect(infos).toHaveLength(1);
    expect(infos[0]).toMatchObject({ requestedServerName: 'a.test', applicationProtocols: ['http/1.1', 'h2'], detectedTransportProtocol: 'tls' });
    expect(counters(store)).toEqual({ tls_found: 1, sni_found: 1, alpn_found: 1 });
  });

  it('passes plaintext through untouched as raw_buffer', async () => {
    const store = new StatsStore();
    const { port, infos, received } = await listen(store);
    const peer = await connectPeer(port);
    cleanups.push(() => peer.destroy());
    await peer.write('plain bytes');
    await peer.waitForText('ok', 3000);
    expect(received.join('')).toBe('plain bytes');
    expect(infos[0]).toMatchObject({ requestedServerName: '', applicationProtocols: [], detectedTransportProtocol: 'raw_buffer' });
    expect(counters(store)).toEqual({ tls_not_found: 1 });
  });

  it('closes a connection announcing a ClientHello over 64 KiB', async () => {
    const store = new StatsStore();
    const { port, infos } = await listen(store);
    const peer = await connectPeer(port);
    cleanups.push(() => peer.destroy());
    // A record of 2^14 bytes whose handshake header announces a 100000-byte ClientHello.
    await peer.write(Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0x01, 0x86, 0xa0]));
    await waitFor(() => peer.ended || peer.error !== undefined, 3000, 'the listener closing the socket');
    expect(infos).toHaveLength(0);
    expect(counters(store)).toEqual({ client_hello_too_large: 1 });
  });
});
