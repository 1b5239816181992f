/**
 * HTTP/2 message checks on decoded header lists (RFC 9113 §8.1-§8.3, §8.5; RFC 8441 §4), pure.
 * A failure is a malformed message: the session answers it with a stream error of type
 * PROTOCOL_ERROR (§8.1.1) and counts `http2.rx_messaging_error`.
 *
 * Checked: field names are lowercase tokens (§8.2, §8.2.1), values hold no NUL/CR/LF or other
 * controls and no leading/trailing whitespace (§8.2.1), pseudo-header fields come first, once
 * each, only the defined ones, requests without response pseudo-headers and vice versa (§8.3),
 * no connection-specific fields and `te` only `trailers` (§8.2.2), the request pseudo-headers
 * (§8.3.1), CONNECT and extended CONNECT (§8.5, RFC 8441 §4), `:status` (§8.3.2), trailers without
 * pseudo-headers (§8.1), and Content-Length values (§8.1.1).
 */
import type { HeaderList } from './hpack.js';

export interface RequestHead {
  readonly method: string;
  /** -1 when absent. */
  readonly contentLength: number;
  /** CONNECT (classic or extended). */
  readonly connect: boolean;
}

export interface ResponseHead {
  readonly status: number;
  readonly contentLength: number;
}

export interface Malformed {
  readonly kind: 'malformed';
  readonly message: string;
}

function malformed(message: string): Malformed {
  return { kind: 'malformed', message };
}

/** RFC 9110 §5.6.2 tchar, lowercase letters only (RFC 9113 §8.2: uppercase is malformed). */
const NAME_CHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;

/** RFC 9113 §8.2.2: connection-specific fields. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Checks a regular field name; returns a reason or undefined. */
function checkName(name: string): string | undefined {
  if (name.length === 0) return 'empty header name';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 255 || NAME_CHAR[c] !== 1) return `invalid character in header name ${JSON.stringify(name)}`;
  }
  return undefined;
}

/**
 * RFC 9113 §8.2.1: no NUL, CR or LF (other controls but HTAB rejected too, as nghttp2 does) and
 * no leading or trailing SP / HTAB.
 */
function checkValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

/** 1*DIGIT as a safe integer, or -1. */
function parseDecimal(v: string): number {
  if (v.length === 0 || v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Shared pass over the regular fields from `start`: names, values, connection-specific fields,
 * `te`, and Content-Length (all values equal). Returns the content length (-1 if none) or a reason.
 */
function checkRegular(headers: HeaderList, start: number): number | Malformed {
  let contentLength = -1;
  for (let i = start; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    if (name.charCodeAt(0) === 58 /* ':' */) return malformed(`pseudo-header ${name} after regular header fields`);
    const bad = checkName(name);
    if (bad !== undefined) return malformed(bad);
    if (!checkValue(value)) return malformed(`invalid value of header ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) return malformed(`connection-specific header ${name}`);
    if (name === 'te' && value !== 'trailers') return malformed('te header other than "trailers"');
    if (name === 'content-length') {
      const n = parseDecimal(value);
      if (n < 0) return malformed('invalid content-length');
      if (contentLength >= 0 && n !== contentLength) return malformed('conflicting content-length values');
      contentLength = n;
    }
  }
  return contentLength;
}

/** RFC 3986 §3.1 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
function validScheme(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const lower = c | 0x20;
    if (lower >= 0x61 && lower <= 0x7a) continue;
    if (i > 0 && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) continue;
    return false;
  }
  return true;
}

/** No whitespace or controls (an :authority or :path is one token on the wire of HTTP/1). */
function noSpaceOrControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** Checks a request header list (RFC 9113 §8.3.1, §8.5; RFC 8441 §4). */
export function validateRequest(headers: HeaderList, enableConnectProtocol: boolean): RequestHead | Malformed {
  let method: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let path: string | undefined;
  let protocol: string | undefined;
  let i = 0;
  for (; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    if (name.charCodeAt(0) !== 58) break;
    if (!checkValue(value)) return malformed(`invalid value of ${name}`);
    switch (name) {
      case ':method':
        if (method !== undefined) return malformed('duplicate :method');
        method = value;
        break;
      case ':scheme':
        if (scheme !== undefined) return malformed('duplicate :scheme');
        scheme = value;
        break;
      case ':authority':
        if (authority !== undefined) return malformed('duplicate :authority');
        authority = value;
        break;
      case ':path':
        if (path !== undefined) return malformed('duplicate :path');
        path = value;
        break;
      case ':protocol':
        if (protocol !== undefined) return malformed('duplicate :protocol');
        protocol = value;
        break;
      case ':status':
        return malformed(':status in a request');
      default:
        return malformed(`unknown pseudo-header ${name}`);
    }
  }
  const rest = checkRegular(headers, i);
  if (typeof rest !== 'number') return rest;
  if (method === undefined || method === '' || checkName(method.toLowerCase()) !== undefined) {
    return malformed('missing or invalid :method');
  }
  if (authority !== undefined && !noSpaceOrControl(authority)) return malformed('invalid :authority');
  if (path !== undefined && !noSpaceOrControl(path)) return malformed('invalid :path');
  if (method === 'CONNECT' && protocol === undefined) {
    // §8.5: only :method and :authority; no :scheme or :path.
    if (authority === undefined || authority === '') return malformed('CONNECT without :authority');
    if (scheme !== undefined || path !== undefined) return malformed('CONNECT with :scheme or :path');
    return { method, contentLength: rest, connect: true };
  }
  if (protocol !== undefined) {
    // RFC 8441 §4: only on CONNECT, only when we sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
    if (method !== 'CONNECT') return malformed(':protocol without CONNECT');
    if (!enableConnectProtocol) return malformed(':protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL');
  }
  // §8.3.1: :method, :scheme and :path are required (and :path is not empty).
  if (scheme === undefined || !validScheme(scheme)) return malformed('missing or invalid :scheme');
  if (path === undefined || path === '') return malformed('missing or empty :path');
  if (protocol !== undefined && (authority === undefined || authority === '')) {
    return malformed('extended CONNECT without :authority');
  }
  return { method, contentLength: rest, connect: protocol !== undefined };
}

/** Checks a response header list (RFC 9113 §8.3.2): `:status` only, three digits, not 101. */
export function validateResponse(headers: HeaderList): ResponseHead | Malformed {
  let status = -1;
  let i = 0;
  for (; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    if (name.charCodeAt(0) !== 58) break;
    if (name !== ':status') return malformed(`pseudo-header ${name} in a response`);
    if (status !== -1) return malformed('duplicate :status');
    status = value.length === 3 ? parseDecimal(value) : -1;
    if (status < 100) return malformed('invalid :status');
  }
  if (status === -1) return malformed('missing :status');
  // §8.6: the 101 (Switching Protocols) status code is not used in HTTP/2.
  if (status === 101) return malformed(':status 101 in HTTP/2');
  const rest = checkRegular(headers, i);
  if (typeof rest !== 'number') return rest;
  return { status, contentLength: rest };
}

/** Checks a trailer section (RFC 9113 §8.1: no pseudo-header fields). */
export function validateTrailers(headers: HeaderList): Malformed | undefined {
  if (headers.length > 0 && headers[0]![0].charCodeAt(0) === 58) return malformed('pseudo-header in trailers');
  const rest = checkRegular(headers, 0);
  return typeof rest === 'number' ? undefined : rest;
}
