/**
 * Path normalizations of the HTTP connection manager, applied before routing (Envoy's
 * PathUtil): `normalize_path` (RFC 3986 §6.2.2: percent-decoding of unreserved characters,
 * upper-case hex in the remaining escapes, removal of dot segments, §5.2.4) and `merge_slashes`.
 * The query string is left as it is. Pure functions.
 */

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x5f || // _
    c === 0x7e // ~
  );
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Decodes %XX of unreserved characters, upper-cases the others; undefined for a bad escape. */
function normalizeEscapes(path: string): string | undefined {
  if (!path.includes('%')) return path;
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    if (ch !== '%') {
      out += ch;
      continue;
    }
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const byte = hi * 16 + lo;
    out += isUnreserved(byte) ? String.fromCharCode(byte) : `%${path[i + 1]!.toUpperCase()}${path[i + 2]!.toUpperCase()}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments for an absolute path. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is '' (the path starts with '/').
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  }
  return `/${out.join('/')}`;
}

function splitQuery(path: string): [string, string] {
  const q = path.indexOf('?');
  return q === -1 ? [path, ''] : [path.slice(0, q), path.slice(q)];
}

/**
 * Normalizes a request path. Returns undefined when the path cannot be normalized (a malformed
 * percent escape), which the connection manager answers with 400. Paths that do not start with
 * '/' (`*` of OPTIONS) are returned as they are.
 */
export function normalizePath(path: string): string | undefined {
  if (!path.startsWith('/')) return path;
  const [p, query] = splitQuery(path);
  const escaped = normalizeEscapes(p);
  if (escaped === undefined) return undefined;
  return removeDotSegments(escaped) + query;
}

/** Collapses runs of '/' in the path part (not the query). */
export function mergeSlashes(path: string): string {
  const [p, query] = splitQuery(path);
  if (!p.includes('//')) return path;
  return p.replace(/\/{2,}/g, '/') + query;
}
