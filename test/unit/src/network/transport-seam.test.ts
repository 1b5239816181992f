/**
 * The TLS seam: a listener filter peeks the start of a ClientHello, the filter chain wraps the
 * accepted socket in a tls.TLSSocket (the peeked bytes reach the TLS layer), and the connection
 * raises Connected once the handshake is done; a client connection takes a TLS transport. TLS
 * configuration itself belongs to the transport-socket work; this only proves the seam.
 */
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type {
  Connection,
  ConnectionEvent,
  FilterStatus,
  ListenerFilter,
  ListenerFilterCallbacks,
  ReadFilter,
} from '../../../../src/api/network.js';
import type { Scope } from '../../../../src/api/stats.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ClientConnectionImpl, type ClientTransport } from '../../../../src/network/connection.js';
import { type AcceptedSocketInfo, TcpListener } from '../../../../src/network/listener.js';
import { LOOPBACK, waitFor, withTimeout } from '../../../support/net-helpers.js';

// A throwaway self-signed test credential for CN/SAN sluice.test (clients here do not verify it).
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIU49KbIA0S69tipS
N7kfgxSexEplW6fS20omMYML8sOhRANCAAQT8a+aHO0yRJbx/soaTFSf6GF0ADg1
/0Ro4/r6rNd8b+es7x4Y4cGjZhV+rZJE3QotBW+aJ7VdQMPH5TBXOD8b
-----END PRIVATE KEY-----`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUUquho677vQC3T8zv7Djl7fmUWfwwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLc2x1aWNlLnRlc3QwIBcNMjYxMTI1MTQyOTM4WhgPMjEyNjEx
MDExNDI5MzhaMBYxFDASBgNVBAMMC3NsdWljZS50ZXN0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEE/GvmhztMkSW8f7KGkxUn+hhdAA4Nf9EaOP6+qzXfG/nrO8e
GOHBo2YVfq2SRN0KLQVvmie1XUDDx+UwVzg/G6NrMGkwHQYDVR0OBBYEFB/yckb4
w+UyQEfIaq6YaL3LYZTQMB8GA1UdIwQYMBaAFB/yckb4w+UyQEfIaq6YaL3LYZTQ
MA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0RBA8wDYILc2x1aWNlLnRlc3QwCgYIKoZI
zj0EAwIDSAAwRQIhAKS/Whfh8WulLdaSLaUeJN2M+jjqudfihXJ83WwRSY2MAiAi
GgqUNg4UPJ76nHnxw87M09zZcGs40NNAskGtQJaZXw==
-----END CERTIFICATE-----`;

const noopScope: Scope = {
  prefix: '',
  counter: (name) => ({ name, inc: () => {}, value: () => 0 }),
  gauge: (name) => ({ name, inc: () => {}, dec: () => {}, set: () => {}, value: () => 0 }),
  histogram: (name) => ({ name, recordValue: () => {} }),
  createScope: () => noopScope,
};

/** Marks TLS when the first peeked byte is a handshake record (what tls_inspector starts with). */
class RecordTypeSniffer implements ListenerFilter {
  onAccept(): 'StopIteration' {
    return 'StopIteration';
  }
  onData(cb: ListenerFilterCallbacks): 'Continue' {
    if (cb.peekedData()[0] === 0x16) cb.setDetectedTransportProtocol('tls');
    return 'Continue';
  }
  maxReadBytes(): number {
    return 5;
  }
}

class Echo implements ReadFilter {
  private conn!: Connection;
  initializeReadFilterCallbacks(cb: { connection(): Connection }): void {
    this.conn = cb.connection();
  }
  onNewConnection(): FilterStatus {
    return 'Continue';
  }
  onData(data: BufferInstance): FilterStatus {
    const out = new BufferChain();
    out.move(data);
    this.conn.write(out, false);
    return 'StopIteration';
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('TLS through the transport seam', () => {
  it('server: peeked ClientHello bytes reach a TLSSocket wrapped by the filter chain', async () => {
    const ctx = tls.createSecureContext({ key: KEY, cert: CERT });
    const infos: AcceptedSocketInfo[] = [];
    const conns: Connection[] = [];
    const events: ConnectionEvent[] = [];
    const listener = new TcpListener({
      name: 'tls',
      address: { address: LOOPBACK, port: 0 },
      dispatcher: new NodeDispatcher(),
      scope: noopScope,
      listenerFilters: [() => new RecordTypeSniffer()],
      filterChainFactory: (info) => {
        infos.push(info);
        return {
          name: 'tls-echo',
          createTransportSocket: (socket) => ({
            socket: new tls.TLSSocket(socket, { isServer: true, secureContext: ctx, ALPNProtocols: ['h2', 'http/1.1'] }),
            readyEvent: 'secure',
          }),
          createNetworkFilters: (conn) => {
            conns.push(conn);
            conn.addConnectionCallbacks({
              onEvent: (e) => events.push(e),
              onAboveWriteBufferHighWatermark: () => {},
              onBelowWriteBufferLowWatermark: () => {},
            });
            conn.addReadFilter(new Echo());
          },
        };
      },
    });
    const { port } = await listener.listen();
    cleanups.push(async () => {
      listener.closeConnections();
      await listener.stop();
    });
    const client = tls.connect({
      host: LOOPBACK,
      port,
      servername: 'sluice.test',
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
    });
    cleanups.push(() => void client.destroy());
    const echoed = withTimeout(
      new Promise<string>((resolve, reject) => {
        let got = '';
        client.on('data', (d: Buffer) => {
          got += d.toString();
          if (got === 'over tls') resolve(got);
        });
        client.on('error', reject);
      }),
      3000,
      'echo over TLS',
    );
    await withTimeout(new Promise((r) => client.once('secureConnect', r)), 3000, 'handshake');
    expect(client.alpnProtocol).toBe('h2');
    client.write('over tls');
    expect(await echoed).toBe('over tls');
    expect(infos[0]!.detectedTransportProtocol).toBe('tls');
    const conn = conns[0]!;
    expect(events).toEqual(['Connected']);
    expect(conn.ssl()).toBe(true);
    expect(conn.nextProtocol()).toBe('h2');
    expect(conn.requestedServerName()).toBe('sluice.test');
    expect(conn.remoteAddress()).toEqual({ address: LOOPBACK, port: client.localPort, family: 'IPv4' });
    expect(conn.localAddress()).toEqual({ address: LOOPBACK, port, family: 'IPv4' });
  });

  it('client: a TLS ClientTransport raises Connected after the handshake', async () => {
    const server = tls.createServer({ key: KEY, cert: CERT, ALPNProtocols: ['h2'], allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => server.listen(0, LOOPBACK, () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    const transport: ClientTransport = {
      connect: (remote) =>
        tls.connect({
          host: remote.address,
          port: remote.port,
          servername: 'sluice.test',
          ALPNProtocols: ['h2'],
          rejectUnauthorized: false,
        }),
      readyEvent: 'secureConnect',
    };
    const conn = new ClientConnectionImpl(new NodeDispatcher(), { address: LOOPBACK, port }, { transport });
    cleanups.push(() => conn.close('NoFlush'));
    const events: ConnectionEvent[] = [];
    let echoed = '';
    conn.addConnectionCallbacks({
      onEvent: (e) => events.push(e),
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    });
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
    conn.write(new BufferChain('held until secure'), false);
    conn.connect();
    await waitFor(() => events.includes('Connected'), 3000, 'Connected');
    expect(conn.ssl()).toBe(true);
    expect(conn.nextProtocol()).toBe('h2');
    await waitFor(() => echoed === 'held until secure', 3000, 'echo');
    conn.close('NoFlush');
    expect(events).toEqual(['Connected', 'LocalClose']);
  });
});
