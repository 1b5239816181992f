/**
 * The codec layer's public face: everything outside codecs/ imports from here only.
 * Implementations are registered in this file as they land (HTTP/1 on llhttp, HTTP/2 on our session).
 */
import type {
  ClientConnection,
  CodecConnectionCallbacks,
  ServerConnection,
  ServerConnectionCallbacks,
} from '../src/api/http-codec.js';
import type { Connection } from '../src/api/network.js';
import type { Scope } from '../src/api/stats.js';
import type { CodecKind } from './codec-detect.js';
import type { Http1CodecOptions, Http2CodecOptions } from './codec-options.js';
import { Http1ClientConnection } from './http1/client-connection.js';
import { Http1ServerConnection } from './http1/server-connection.js';
import { createHttp2ClientConnection } from './http2/client-connection.js';
import { createHttp2ServerConnection } from './http2/server-connection.js';

export { HeaderMapImpl } from './headers.js';
export { detectCodec, HTTP2_PREFACE, type CodecKind } from './codec-detect.js';
export {
  DEFAULT_HTTP1_OPTIONS,
  DEFAULT_HTTP2_OPTIONS,
  DEFAULT_SETTINGS_TIMEOUT_MS,
  type Http1CodecOptions,
  type Http2CodecOptions,
  type Http2KeepaliveOptions,
} from './codec-options.js';
export { createHttp2ServerConnection } from './http2/server-connection.js';
export { createHttp2ClientConnection } from './http2/client-connection.js';
export { createHttpConnPoolFactory, type HttpConnPoolFactoryOptions } from './pools/pool-factory.js';

/** The options of both codecs; each reads its own half. */
export interface CodecOptions {
  readonly http1: Http1CodecOptions;
  readonly http2: Http2CodecOptions;
}

/** The downstream codec of `kind` over `connection` (the HCM's ServerConnection). */
export function createServerCodec(
  kind: CodecKind,
  connection: Connection,
  callbacks: ServerConnectionCallbacks,
  options: CodecOptions,
  scope: Scope,
): ServerConnection {
  if (kind === 'http2') return createHttp2ServerConnection(connection, callbacks, options.http2, scope);
  return new Http1ServerConnection(connection, callbacks, options.http1, scope);
}

/**
 * The upstream codec of `kind` over `connection`. An HTTP/1 one also has isReusable(); it reports
 * `connection: close` and other ends of reuse through callbacks.onGoAway(0).
 */
export function createClientCodec(
  kind: CodecKind,
  connection: Connection,
  callbacks: CodecConnectionCallbacks,
  options: CodecOptions,
  scope: Scope,
): ClientConnection {
  if (kind === 'http2') return createHttp2ClientConnection(connection, callbacks, options.http2, scope);
  return new Http1ClientConnection(connection, callbacks, options.http1, scope);
}
