import { beforeAll, describe, expect, it } from 'vitest';
import { parseClientHello, type ClientHelloResult } from '../../../../../filters/listener/tls-inspector/client-hello.js';
import {
  alpnExtension,
  captureClientHello,
  clientHello,
  extension,
  handshake,
  helloBody,
  records,
  sniExtension,
  u16,
} from './client-hello-builder.js';

/** The handshake message inside a single-record ClientHello. */
function messageOf(hello: Buffer): Buffer {
  return hello.subarray(5);
}

function expectHello(r: ClientHelloResult, serverName: string, alpn: readonly string[] | undefined, bytes: number): void {
  expect(r).toEqual({ kind: 'ClientHello', serverName, applicationProtocols: alpn, bytesProcessed: bytes });
}

describe('parseClientHello on real ClientHellos from node tls.connect', () => {
  let tls13: Buffer;
  let tls12: Buffer;
  let bare: Buffer;

  beforeAll(async () => {
    tls13 = await captureClientHello({ servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
    tls12 = await captureClientHello({ servername: 'B.Example.COM', ALPNProtocols: ['http/1.1'], maxVersion: 'TLSv1.2' });
    // Connecting to an IP literal sends no SNI; no ALPN asked.
    bare = await captureClientHello({});
  });

  it('reads SNI and ALPN from a TLS 1.3 ClientHello', () => {
    expect(tls13[0]).toBe(22);
    expectHello(parseClientHello(tls13), 'a.test', ['h2', 'http/1.1'], tls13.length);
  });

  it('reads a TLS 1.2 ClientHello and keeps the SNI as sent', () => {
    expectHello(parseClientHello(tls12), 'B.Example.COM', ['http/1.1'], tls12.length);
  });

  it('reports no SNI and no ALPN when the client sent neither', () => {
    expectHello(parseClientHello(bare), '', undefined, bare.length);
  });

  it('needs exactly the whole record from every prefix: 1, then 5, then its full length', () => {
    for (let n = 0; n < tls13.length; n++) {
      const expected = n === 0 ? 1 : n < 5 ? 5 : tls13.length;
      expect(parseClientHello(tls13.subarray(0, n)), `prefix ${n}`).toEqual({ kind: 'NeedMoreData', needed: expected });
    }
  });

  it('ignores bytes after the ClientHello record', () => {
    const withTail = Buffer.concat([tls13, Buffer.from([23, 3, 3, 0, 1, 0])]);
    expectHello(parseClientHello(withTail), 'a.test', ['h2', 'http/1.1'], tls13.length);
  });

  it.each([1, 2, 3, 4, 100, 257])('reassembles the ClientHello from records of %i bytes, never misjudging a prefix', (size) => {
    const split = records(messageOf(tls13), size);
    expectHello(parseClientHello(split), 'a.test', ['h2', 'http/1.1'], split.length);
    for (let n = 0; n < split.length; n++) {
      const r = parseClientHello(split.subarray(0, n));
      expect(r.kind, `prefix ${n}`).toBe('NeedMoreData');
      if (r.kind === 'NeedMoreData') {
        expect(r.needed).toBeGreaterThan(n);
        expect(r.needed).toBeLessThanOrEqual(split.length);
      }
    }
  });
});

describe('parseClientHello on hand-made ClientHellos', () => {
  it('accepts a ClientHello without an extensions block (TLS <= 1.2)', () => {
    const hello = clientHello();
    expectHello(parseClientHello(hello), '', undefined, hello.length);
  });

  it('keeps the ALPN order and unknown extensions are skipped', () => {
    const hello = clientHello({ extensions: [extension(0xff01, Buffer.from([0])), alpnExtension(['x', 'h2']), sniExtension('b.test')] });
    expectHello(parseClientHello(hello), 'b.test', ['x', 'h2'], hello.length);
  });

  it('takes a malformed ALPN list as no ALPN, the ClientHello still counts (Envoy onALPN)', () => {
    const emptyName = extension(16, Buffer.concat([u16(2), Buffer.from([0, 0])]));
    const shortList = extension(16, Buffer.concat([u16(5), Buffer.from([2, 0x68])]));
    const emptyList = extension(16, u16(0));
    for (const bad of [emptyName, shortList, emptyList]) {
      const hello = clientHello({ extensions: [sniExtension('a.test'), bad] });
      expectHello(parseClientHello(hello), 'a.test', undefined, hello.length);
    }
  });

  it('learns the size from the handshake header and asks for all of it at once', () => {
    const hello = clientHello({ extensions: [sniExtension('a.test'), extension(0xfe, Buffer.alloc(3000))] });
    expect(parseClientHello(hello.subarray(0, 9))).toEqual({ kind: 'NeedMoreData', needed: hello.length });
  });

  it('asks for a ClientHello larger than a record in several records: at least the message size', () => {
    const body = helloBody({ extensions: [0xfc, 0xfd, 0xfe].map((t) => extension(t, Buffer.alloc(20_000))) });
    const msg = handshake(body);
    const split = records(msg);
    const r = parseClientHello(split.subarray(0, 20));
    expect(r.kind).toBe('NeedMoreData');
    expect(r.kind === 'NeedMoreData' && r.needed).toBe(5 + msg.length);
    expectHello(parseClientHello(split), '', undefined, split.length);
  });

  const notTls: Array<[string, Buffer, RegExp]> = [
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), /not a TLS handshake record/],
    ['the HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), /not a TLS handshake record/],
    ['an SSLv2-compatible hello', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), /not a TLS handshake record/],
    ['record version 2.x', Buffer.from([22, 2, 0]), /record-layer version/],
    ['an empty record', Buffer.from([22, 3, 1, 0, 0, 1]), /empty handshake record/],
    ['a record over 2^14 bytes', Buffer.from([22, 3, 1, 0x40, 0x01]), /longer than 2\^14/],
    ['a ServerHello', records(handshake(helloBody(), 2)), /not a ClientHello/],
    ['a handshake type split off alone', records(handshake(helloBody(), 11), 1).subarray(0, 6), /not a ClientHello/],
    ['an application_data record inside the hello', Buffer.concat([records(handshake(helloBody()).subarray(0, 10)), records(Buffer.alloc(5), 5, 23)]), /non-handshake record/],
    ['legacy_version 2.0', clientHello({ version: 0x0200 }), /legacy_version/],
    ['a 33-byte session id', clientHello({ sessionId: Buffer.alloc(33) }), /legacy_session_id/],
    ['an odd cipher_suites length', clientHello({ cipherSuites: Buffer.from([0x13, 0x01, 0x00]) }), /cipher_suites/],
    ['no cipher suites', clientHello({ cipherSuites: Buffer.alloc(0) }), /cipher_suites/],
    ['no compression methods', clientHello({ compression: Buffer.alloc(0) }), /compression/],
    ['an extensions length short of the message', clientHello({ extensions: [sniExtension('a.test')], extensionsLength: 3 }), /extensions do not fill/],
    ['a truncated extension', clientHello({ extensions: [Buffer.concat([u16(0xfe), u16(10), Buffer.alloc(4)])] }), /truncated extension/],
    ['a duplicate extension', clientHello({ extensions: [alpnExtension(['h2']), alpnExtension(['h2'])] }), /duplicate extension 16/],
    ['two server names', clientHello({ extensions: [extension(0, Buffer.concat([u16(14), Buffer.from([0, 0, 4]), Buffer.from('a.te'), Buffer.from([0, 0, 4]), Buffer.from('b.te')]))] }), /server_name/],
    ['a name_type other than host_name', clientHello({ extensions: [sniExtension('a.test', 1)] }), /server_name/],
    ['an empty host_name', clientHello({ extensions: [sniExtension('')] }), /server_name/],
    ['a host_name with NUL', clientHello({ extensions: [sniExtension(Buffer.from('a\0.test'))] }), /server_name/],
    ['a 256-byte host_name', clientHello({ extensions: [sniExtension('a'.repeat(256))] }), /server_name/],
  ];

  it.each(notTls)('rejects %s as not TLS', (_label, bytes, reason) => {
    const r = parseClientHello(bytes);
    expect(r.kind).toBe('NotTls');
    expect(r.kind === 'NotTls' && r.reason).toMatch(reason);
  });

  it('accepts a 255-byte host_name', () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`;
    expect(name).toHaveLength(255);
    const hello = clientHello({ extensions: [sniExtension(name)] });
    expectHello(parseClientHello(hello), name, undefined, hello.length);
  });
});
