/**
 * The checks and rewrites a request goes through before any HTTP filter sees it (the first half of
 * Envoy's ActiveStream::decodeHeaders): a host is required (HTTP/1.0 may get the configured
 * default), header limits, headers_with_underscores_action, a relative path, normalize_path /
 * merge_slashes, the host port stripping. A rejection is a value (the local reply to send).
 */
import type { Protocol, RequestHeaderMap } from '../../../src/api/http-codec.js';
import { isUpgrade, stripHostPort } from './conn-manager-utility.js';
import type { HcmRuntime } from './hcm-config.js';
import { mergeSlashes, normalizePath } from './path-utility.js';

/** Why a request is answered locally instead of being routed. */
export interface Rejection {
  readonly code: number;
  readonly details: string;
}

/** Checks and rewrites `headers` in place; returns the rejection, or undefined when it may go on. */
export function validateRequestHeaders(
  headers: RequestHeaderMap,
  protocol: Protocol,
  runtime: HcmRuntime,
  localPort: number,
): Rejection | undefined {
  const s = runtime.settings;
  const authority = headers.get(':authority');
  if (authority === undefined || authority === '') {
    if (protocol !== 'HTTP/1.0' || s.http1.defaultHostForHttp10 === '') return { code: 400, details: 'missing_host_header' };
    headers.set(':authority', s.http1.defaultHostForHttp10);
  }
  if (headers.size > s.maxHeadersCount || headers.byteSize() > s.maxRequestHeadersKb * 1024) {
    return { code: 431, details: 'request_headers_too_large' };
  }
  if (s.headersWithUnderscoresAction !== 'ALLOW') {
    const r = handleUnderscores(headers, protocol, runtime);
    if (r !== undefined) return r;
  }
  const path = headers.get(':path');
  if (headers.get(':method') !== 'CONNECT' || path !== undefined) {
    if (path === undefined || path === '') return { code: 404, details: 'missing_path_rejected' };
    if (!path.startsWith('/') && path !== '*') {
      runtime.stats.downstream_rq_non_relative_path.inc();
      return { code: 404, details: 'absolute_path_rejected' };
    }
    const r = normalizeRequestPath(headers, path, runtime);
    if (r !== undefined) return r;
  }
  if (s.stripPortMode !== 'none') stripHostPort(headers, s.stripPortMode === 'any' ? undefined : localPort);
  return undefined;
}

/** headers_with_underscores_action: DROP_HEADER removes them, REJECT_REQUEST answers 400. */
function handleUnderscores(headers: RequestHeaderMap, protocol: Protocol, runtime: HcmRuntime): Rejection | undefined {
  const codecPrefix = protocol === 'HTTP/2' ? 'http2' : 'http1';
  const withUnderscore: string[] = [];
  headers.forEach((name) => {
    if (name.charCodeAt(0) !== 58 /* ':' */ && name.includes('_')) withUnderscore.push(name);
  });
  if (withUnderscore.length === 0) return undefined;
  const scope = runtime.codecScope;
  if (runtime.settings.headersWithUnderscoresAction === 'REJECT_REQUEST') {
    scope.counter(`${codecPrefix}.requests_rejected_with_underscores_in_headers`).inc();
    return { code: 400, details: `${codecPrefix}.unexpected_underscore` };
  }
  for (const name of withUnderscore) {
    if (headers.remove(name) > 0) scope.counter(`${codecPrefix}.dropped_headers_with_underscores`).inc();
  }
  return undefined;
}

function normalizeRequestPath(headers: RequestHeaderMap, path: string, runtime: HcmRuntime): Rejection | undefined {
  const s = runtime.settings;
  let p = path;
  if (s.normalizePath) {
    const n = normalizePath(p);
    if (n === undefined) {
      runtime.stats.downstream_rq_failed_path_normalization.inc();
      return { code: 400, details: 'path_normalization_failed' };
    }
    p = n;
  }
  if (s.mergeSlashes) p = mergeSlashes(p);
  if (p !== path) headers.set(':path', p);
  return undefined;
}

/**
 * The upgrade a request asks for, lowercased: an HTTP/1 Upgrade, CONNECT, or HTTP/2 extended
 * CONNECT. On HTTP/2 the upgrade form can only come from an extended CONNECT the connection manager
 * transformed (the codec rejects connection-specific fields, RFC 9113 §8.2.2).
 */
export function upgradeType(headers: RequestHeaderMap): string | undefined {
  if (headers.get(':method') === 'CONNECT') {
    const proto = headers.get(':protocol');
    return proto === undefined ? 'connect' : proto.toLowerCase();
  }
  if (isUpgrade(headers)) return headers.get('upgrade')!.toLowerCase();
  return undefined;
}
