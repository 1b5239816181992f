/**
 * Envoy's tls_inspector listener filter: peeks the first bytes of a new connection and, when they
 * are a TLS ClientHello, records the SNI, the client's ALPN list and the transport protocol `tls`
 * for filter-chain matching (server_names, application_protocols, transport_protocol). Anything
 * else goes on as `raw_buffer`. Nothing is consumed: the listener puts the peeked bytes back for
 * the connection's transport.
 */
import type { ListenerFilter, ListenerFilterCallbacks, ListenerFilterStatus } from '../../../src/api/network.js';
import type { Counter, Histogram, Scope } from '../../../src/api/stats.js';
import { parseClientHello } from './client-hello.js';

/** Envoy's TLS_MAX_CLIENT_HELLO: the most a ClientHello may take before the connection is dropped. */
export const DEFAULT_MAX_CLIENT_HELLO_SIZE = 64 * 1024;

export interface TlsInspectorConfig {
  /** Bytes the filter peeks at most; a larger ClientHello closes the connection. */
  readonly maxClientHelloSize: number;
  /** Close connections that are not a parsable ClientHello instead of going on as raw_buffer. */
  readonly closeConnectionOnClientHelloParsingErrors: boolean;
}

/** Envoy's stats under `tls_inspector.` (ALL_TLS_INSPECTOR_STATS). */
export interface TlsInspectorStats {
  readonly client_hello_too_large: Counter;
  readonly tls_found: Counter;
  readonly tls_not_found: Counter;
  readonly alpn_found: Counter;
  readonly alpn_not_found: Counter;
  readonly sni_found: Counter;
  readonly sni_not_found: Counter;
  /** Bytes of the ClientHello records (or of what was judged not to be one). */
  readonly bytes_processed: Histogram;
}

/** The stats of every tls_inspector of the process, rooted at `tls_inspector.` like Envoy's. */
export function tlsInspectorStats(root: Scope): TlsInspectorStats {
  const s = root.createScope('tls_inspector');
  return {
    client_hello_too_large: s.counter('client_hello_too_large'),
    tls_found: s.counter('tls_found'),
    tls_not_found: s.counter('tls_not_found'),
    alpn_found: s.counter('alpn_found'),
    alpn_not_found: s.counter('alpn_not_found'),
    sni_found: s.counter('sni_found'),
    sni_not_found: s.counter('sni_not_found'),
    bytes_processed: s.histogram('bytes_processed'),
  };
}

export class TlsInspector implements ListenerFilter {
  /** Peeked bytes below this cannot change the verdict: the parser said it needs at least this many. */
  private needed = 0;

  constructor(
    private readonly config: TlsInspectorConfig,
    private readonly stats: TlsInspectorStats,
  ) {}

  onAccept(_cb: ListenerFilterCallbacks): ListenerFilterStatus {
    return 'StopIteration';
  }

  onData(cb: ListenerFilterCallbacks): ListenerFilterStatus {
    const data = cb.peekedData();
    if (data.length < this.needed) return 'StopIteration';
    const r = parseClientHello(data);
    switch (r.kind) {
      case 'NeedMoreData':
        if (r.needed > this.config.maxClientHelloSize) {
          // Known from the handshake header: no need to read 64 KiB to find out.
          this.stats.client_hello_too_large.inc();
          cb.continueFilterChain(false);
          return 'StopIteration';
        }
        this.needed = r.needed;
        return 'StopIteration';
      case 'NotTls':
        this.stats.bytes_processed.recordValue(data.length);
        if (this.config.closeConnectionOnClientHelloParsingErrors) {
          cb.continueFilterChain(false);
          return 'StopIteration';
        }
        this.stats.tls_not_found.inc();
        return 'Continue';
      case 'ClientHello':
        this.stats.bytes_processed.recordValue(r.bytesProcessed);
        this.stats.tls_found.inc();
        if (r.serverName !== '') {
          this.stats.sni_found.inc();
          cb.setRequestedServerName(r.serverName);
        } else {
          this.stats.sni_not_found.inc();
        }
        if (r.applicationProtocols !== undefined) {
          this.stats.alpn_found.inc();
          cb.setRequestedApplicationProtocols(r.applicationProtocols);
        } else {
          this.stats.alpn_not_found.inc();
        }
        cb.setDetectedTransportProtocol('tls');
        return 'Continue';
    }
  }

  maxReadBytes(): number {
    return this.config.maxClientHelloSize;
  }
}
