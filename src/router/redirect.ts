/**
 * The Location of a redirect (Envoy's Http::Utility::newUri and processRequestHost): scheme, host,
 * port and path each taken from the redirect config when set, else from the request.
 */
import type { RequestHeaderMap } from '../api/http-codec.js';

export interface RedirectConfig {
  /** Lowercase scheme to redirect to; undefined keeps the request's. */
  readonly scheme: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly pathRedirect: string | undefined;
  readonly stripQuery: boolean;
}

/**
 * The request host without its port when the port is being replaced, or when it is the default
 * port of the request's x-forwarded-proto and the scheme changes (http://h:80 -> https://h).
 */
function requestHost(headers: RequestHeaderMap, newScheme: string, newPort: string): string {
  const host = headers.get(':authority') ?? '';
  if (host === '') return host;
  let end: number;
  if (host.charCodeAt(0) === 91 /* [ */) {
    end = host.lastIndexOf(']:');
    if (end !== -1) end += 1;
  } else {
    end = host.lastIndexOf(':');
  }
  if (end === -1) return host;
  const port = host.slice(end);
  const proto = headers.get('x-forwarded-proto') ?? '';
  let remove = newPort !== '';
  if (newScheme !== proto) {
    remove ||= (proto === 'https' && port === ':443') || (proto === 'http' && port === ':80');
  }
  return remove ? host.slice(0, end) : host;
}

/**
 * The redirect URL for a request whose `:path` is `path` (already prefix-rewritten when the
 * redirect has a prefix_rewrite). A path_redirect with its own query string keeps it regardless of
 * strip_query; otherwise the request's query string follows unless strip_query is set.
 */
export function newUri(headers: RequestHeaderMap, path: string, cfg: RedirectConfig | undefined): string {
  const scheme = cfg?.scheme ?? headers.get(':scheme') ?? 'http';
  const port = cfg?.port !== undefined ? `:${cfg.port}` : '';
  const host = cfg?.host ?? requestHost(headers, scheme, port);
  let finalPath: string;
  const redirectHasQuery = cfg?.pathRedirect !== undefined && cfg.pathRedirect.includes('?');
  if (cfg?.pathRedirect !== undefined && cfg.pathRedirect !== '') {
    if (redirectHasQuery) finalPath = cfg.pathRedirect;
    else {
      const q = path.indexOf('?');
      finalPath = q === -1 ? cfg.pathRedirect : cfg.pathRedirect + path.slice(q);
    }
  } else {
    finalPath = path;
  }
  if (!finalPath.startsWith('/')) finalPath = `/${finalPath}`;
  if (cfg !== undefined && !redirectHasQuery && cfg.stripQuery) {
    const q = finalPath.indexOf('?');
    if (q !== -1) finalPath = finalPath.slice(0, q);
  }
  return `${scheme}://${host}${port}${finalPath}`;
}
