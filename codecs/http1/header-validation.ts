/**
 * Header-level checks of an HTTP/1 message head that llhttp (see parser.ts) cannot make because
 * they need the field names and values: framing (Content-Length, Transfer-Encoding) and Host.
 * Pure: a parsed head in, the first problem found (an Envoy-style response-code detail) or null out.
 * The server connection answers a request error with {@link framingErrorStatus}; the client
 * connection treats a response error as an upstream protocol error (502).
 *
 * The parser already rejects Content-Length together with Transfer-Encoding, any repeated
 * Content-Length, obs-fold and a request whose final coding is not chunked; the same checks are
 * repeated here so the helper is complete on its own (a head built by other means, or tests).
 */
import { HeaderMapImpl } from '../headers.js';

/** Why a head is rejected (after Envoy's `Http1ResponseCodeDetails`). */
export type FramingError =
  /** Content-Length is not 1*DIGIT, or a list with an empty or non-numeric element. */
  | 'http1.content_length_invalid'
  /** Several Content-Length values that differ (RFC 9110 §8.6). */
  | 'http1.content_length_conflict'
  /** Content-Length together with Transfer-Encoding (RFC 9112 §6.1). */
  | 'http1.content_length_and_chunked_not_allowed'
  /** Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1). */
  | 'http1.transfer_encoding_http10'
  /** Empty, malformed, chunked not final, or chunked more than once (RFC 9112 §6.1, §6.3). */
  | 'http1.invalid_transfer_encoding'
  /** A transfer coding other than chunked, which sluice does not decode (RFC 9112 §6.1: 501). */
  | 'http1.transfer_encoding_not_implemented'
  /** Transfer-Encoding in a 1xx or 204 response (RFC 9112 §6.1). */
  | 'http1.transfer_encoding_not_allowed'
  /** A non-zero Content-Length in a 1xx or 204 response (RFC 9110 §8.6). */
  | 'http1.content_length_not_allowed'
  /** A CONNECT request with content framing (RFC 9110 §9.3.6: CONNECT has no content). */
  | 'http1.connect_with_body'
  /** RFC 9112 §3.2: an HTTP/1.1 request without Host. */
  | 'http1.missing_host'
  /** RFC 9112 §3.2: more than one Host. */
  | 'http1.multiple_host'
  /** RFC 9112 §3.2: a Host that is not `uri-host [ ":" port ]`. */
  | 'http1.invalid_host';

type Headers = Iterable<readonly [string, string]>;

/** The status a server answers a request error with: 501 for unknown codings, else 400. */
export function framingErrorStatus(error: FramingError): 400 | 501 {
  return error === 'http1.transfer_encoding_not_implemented' ? 501 : 400;
}

/** Checks a request head; `httpMinor` is 0 or 1 (the parser rejects other versions). */
export function validateRequestFraming(method: string, httpMinor: number, headers: Headers): FramingError | null {
  const f = collect(headers);
  if (f.error !== null) return f.error;
  const framing = checkFraming(f, httpMinor, true);
  if (framing !== null) return framing;
  if (method === 'CONNECT' && (f.transferEncoding !== null || (f.contentLength !== null && f.contentLength !== '0'))) {
    return 'http1.connect_with_body';
  }
  if (f.hostCount > 1) return 'http1.multiple_host';
  if (f.hostCount === 0) return httpMinor >= 1 ? 'http1.missing_host' : null;
  return HOST.test(f.host) ? null : 'http1.invalid_host';
}

/** Checks a response head (the client side of the proxy). */
export function validateResponseFraming(statusCode: number, httpMinor: number, headers: Headers): FramingError | null {
  const f = collect(headers);
  if (f.error !== null) return f.error;
  const noContent = (statusCode >= 100 && statusCode < 200) || statusCode === 204;
  if (noContent && f.transferEncoding !== null) return 'http1.transfer_encoding_not_allowed';
  if (noContent && f.contentLength !== null && f.contentLength !== '0') return 'http1.content_length_not_allowed';
  return checkFraming(f, httpMinor, false);
}

interface Fields {
  error: FramingError | null;
  /** The Content-Length value without leading zeros, or null when absent. */
  contentLength: string | null;
  /** Transfer-Encoding field values joined as one list, or null when absent. */
  transferEncoding: string | null;
  hostCount: number;
  host: string;
}

function collect(headers: Headers): Fields {
  const f: Fields = { error: null, contentLength: null, transferEncoding: null, hostCount: 0, host: '' };
  if (headers instanceof HeaderMapImpl) {
    // The codecs' own maps: walk the flat list, no iterator and no pair per field.
    const raw = headers.raw();
    for (let i = 0; i + 1 < raw.length; i += 2) collectField(f, raw[i]!, raw[i + 1]!);
    return f;
  }
  for (const [name, value] of headers) collectField(f, name, value);
  return f;
}

function collectField(f: Fields, name: string, value: string): void {
  // Codec maps hold lowercase names: the exact comparison decides without a lowercased copy.
  switch (name.length) {
    case 4:
      if (name === 'host' || name.toLowerCase() === 'host') {
        f.hostCount++;
        f.host = trimOws(value);
      }
      break;
    case 14:
      if (name === 'content-length' || name.toLowerCase() === 'content-length') addContentLength(f, value);
      break;
    case 17:
      if (name === 'transfer-encoding' || name.toLowerCase() === 'transfer-encoding') {
        f.transferEncoding = f.transferEncoding === null ? value : `${f.transferEncoding},${value}`;
      }
      break;
    default:
      break;
  }
}

/** RFC 9110 §8.6: repeated or listed identical values MAY be accepted; differing ones are errors. */
function addContentLength(f: Fields, value: string): void {
  if (isPlainLength(value)) {
    // One element of digits without leading zeros (nearly every message): no split, no regexes.
    if (f.contentLength === null) f.contentLength = value;
    else if (f.contentLength !== value) f.error ??= 'http1.content_length_conflict';
    return;
  }
  for (const element of value.split(',')) {
    const digits = trimOws(element);
    if (!DIGITS.test(digits)) {
      f.error ??= 'http1.content_length_invalid';
      return;
    }
    const normalized = digits.replace(LEADING_ZEROS, '');
    if (f.contentLength === null) f.contentLength = normalized;
    else if (f.contentLength !== normalized) f.error ??= 'http1.content_length_conflict';
  }
}

/** 1*DIGIT with no leading zero (or just "0"): already the normalized form. */
function isPlainLength(value: string): boolean {
  const n = value.length;
  if (n === 0 || n > 16 || (n > 1 && value.charCodeAt(0) === 0x30)) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function checkFraming(f: Fields, httpMinor: number, request: boolean): FramingError | null {
  const te = f.transferEncoding;
  if (te === null) return null;
  if (httpMinor === 0) return 'http1.transfer_encoding_http10';
  if (f.contentLength !== null) return 'http1.content_length_and_chunked_not_allowed';
  const codings: string[] = [];
  for (const element of te.split(',')) {
    const coding = trimOws(element);
    if (coding !== '') codings.push(coding);
  }
  if (codings.length === 0) return 'http1.invalid_transfer_encoding';
  let other = false;
  for (let i = 0; i < codings.length; i++) {
    const c = codings[i]!;
    if (!TRANSFER_CODING.test(c)) return 'http1.invalid_transfer_encoding';
    const chunked = c.toLowerCase() === 'chunked';
    const last = i === codings.length - 1;
    // RFC 9112 §6.1: chunked is applied at most once, and last. A response may end without it
    // (read until close), but its coding is still one sluice cannot pass on.
    if (chunked && !last) return 'http1.invalid_transfer_encoding';
    if (!chunked && last && request) return 'http1.invalid_transfer_encoding';
    if (!chunked) other = true;
  }
  return other ? 'http1.transfer_encoding_not_implemented' : null;
}

function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isOws(s.charCodeAt(start))) start++;
  while (end > start && isOws(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

const DIGITS = /^[0-9]+$/;
const LEADING_ZEROS = /^0+(?=[0-9])/;
/** transfer-coding = token *( OWS ";" OWS token "=" ( token / quoted-string ) ) (RFC 9110 §10.1.4). */
const TRANSFER_CODING =
  /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))*$/;
/** Host = uri-host [ ":" port ]: an IP literal or reg-name/IPv4 characters (RFC 3986 §3.2.2). */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;
