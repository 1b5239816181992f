/**
 * Envoy's custom header value syntax for `request_headers_to_add` / `response_headers_to_add`
 * (source/common/router/header_parser.cc): literal text with `%VAR%` or `%VAR(arg)%` substitutions,
 * `%%` for a literal percent sign. Parsed once at config time into a list of parts; evaluated per
 * request against the StreamInfo. A value made only of literal text is kept as one string, so the
 * common case allocates nothing per request.
 */
import { hostname } from 'node:os';
import type { HeaderMap } from '../api/http-codec.js';
import type { Address } from '../api/network.js';
import type { StreamInfo } from '../api/stream-info.js';

/** What a formatter may read while a header value is produced. */
export interface FormatterContext {
  readonly streamInfo: StreamInfo | undefined;
  /** The request headers (for `%REQ(name)%`). */
  readonly requestHeaders: HeaderMap | undefined;
}

type Part = string | ((ctx: FormatterContext) => string);

/** A parsed header value: constant text or a list of parts. */
export class HeaderValueFormatter {
  private constructor(
    /** The value when it has no substitutions, else undefined. */
    readonly constant: string | undefined,
    private readonly parts: readonly Part[],
  ) {}

  static literal(value: string): HeaderValueFormatter {
    return new HeaderValueFormatter(value, [value]);
  }

  static fromParts(parts: readonly Part[]): HeaderValueFormatter {
    if (parts.every((p) => typeof p === 'string')) return HeaderValueFormatter.literal(parts.join(''));
    return new HeaderValueFormatter(undefined, parts);
  }

  format(ctx: FormatterContext): string {
    if (this.constant !== undefined) return this.constant;
    let out = '';
    for (const p of this.parts) out += typeof p === 'string' ? p : p(ctx);
    return out;
  }
}

export type FormatterParseResult =
  | { readonly ok: true; readonly value: HeaderValueFormatter }
  | { readonly ok: false; readonly message: string };

function addressWithPort(a: Address | undefined): string {
  if (a === undefined) return '';
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

const START_TIME_CACHE = new WeakMap<StreamInfo, string>();

/** Envoy's default START_TIME format, `%Y-%m-%dT%H:%M:%E3SZ`, is ISO 8601 in UTC with ms. */
function startTime(ctx: FormatterContext): string {
  const si = ctx.streamInfo;
  if (si === undefined) return '';
  let s = START_TIME_CACHE.get(si);
  if (s === undefined) {
    s = new Date(si.startTime).toISOString();
    START_TIME_CACHE.set(si, s);
  }
  return s;
}

const HOSTNAME = hostname();

/** Formatters that take no argument. */
const SIMPLE: Readonly<Record<string, (ctx: FormatterContext) => string>> = {
  DOWNSTREAM_REMOTE_ADDRESS: (c) => addressWithPort(c.streamInfo?.downstreamRemoteAddress),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (c) => c.streamInfo?.downstreamRemoteAddress?.address ?? '',
  DOWNSTREAM_REMOTE_PORT: (c) => portOf(c.streamInfo?.downstreamRemoteAddress),
  DOWNSTREAM_LOCAL_ADDRESS: (c) => addressWithPort(c.streamInfo?.downstreamLocalAddress),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (c) => c.streamInfo?.downstreamLocalAddress?.address ?? '',
  DOWNSTREAM_LOCAL_PORT: (c) => portOf(c.streamInfo?.downstreamLocalAddress),
  UPSTREAM_REMOTE_ADDRESS: (c) => addressWithPort(c.streamInfo?.upstreamHost),
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (c) => c.streamInfo?.upstreamHost?.address ?? '',
  UPSTREAM_CLUSTER: (c) => c.streamInfo?.upstreamCluster ?? '',
  PROTOCOL: (c) => c.streamInfo?.protocol ?? '',
  ROUTE_NAME: (c) => c.streamInfo?.routeName ?? '',
  START_TIME: startTime,
  HOSTNAME: () => HOSTNAME,
};

function portOf(a: Address | undefined): string {
  return a === undefined ? '' : String(a.port);
}

export const SUPPORTED_FORMATTERS: readonly string[] = [...Object.keys(SIMPLE), 'REQ(header-name)'];

/** `%REQ(X?Y)%`: the first value of request header X, else of Y (pseudo-headers allowed). */
function requestHeader(arg: string): FormatterParseResult | ((ctx: FormatterContext) => string) {
  const names = arg.split('?');
  if (names.length > 2 || names.some((n) => !/^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(n))) {
    return { ok: false, message: `invalid header name in %REQ(${arg})%` };
  }
  const [main, alt] = names.map((n) => n.toLowerCase()) as [string, string | undefined];
  return (ctx) => {
    const h = ctx.requestHeaders;
    if (h === undefined) return '';
    const v = h.get(main);
    if (v !== undefined) return v;
    return alt === undefined ? '' : (h.get(alt) ?? '');
  };
}

function variable(expr: string): FormatterParseResult | ((ctx: FormatterContext) => string) {
  const open = expr.indexOf('(');
  if (open === -1) {
    const f = SIMPLE[expr];
    if (f !== undefined) return f;
    return { ok: false, message: `%${expr}% is not a supported header formatter (supported: ${SUPPORTED_FORMATTERS.join(', ')})` };
  }
  const name = expr.slice(0, open);
  if (!expr.endsWith(')')) return { ok: false, message: `malformed formatter %${expr}%: expected ")" before "%"` };
  const arg = expr.slice(open + 1, -1);
  if (name === 'REQ') return requestHeader(arg);
  if (name === 'START_TIME') return { ok: false, message: `%START_TIME(${arg})% with a custom format is not supported by sluice yet` };
  return { ok: false, message: `%${name}(...)% is not a supported header formatter (supported: ${SUPPORTED_FORMATTERS.join(', ')})` };
}

/**
 * Parses a header value format. Errors name the offending formatter; unknown ones are rejected
 * rather than sent literally, so a typo in config cannot leak into traffic.
 */
export function parseHeaderValueFormat(format: string): FormatterParseResult {
  if (!format.includes('%')) return { ok: true, value: HeaderValueFormatter.literal(format) };
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const ch = format[i]!;
    if (ch !== '%') {
      literal += ch;
      i++;
      continue;
    }
    if (format[i + 1] === '%') {
      literal += '%';
      i += 2;
      continue;
    }
    const end = format.indexOf('%', i + 1);
    if (end === -1) return { ok: false, message: `unterminated formatter at position ${i} (a literal "%" is written "%%")` };
    const expr = format.slice(i + 1, end);
    if (expr === '') return { ok: false, message: `empty formatter at position ${i}` };
    const f = variable(expr);
    if (typeof f !== 'function') return f;
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(f);
    i = end + 1;
  }
  if (literal !== '') parts.push(literal);
  return { ok: true, value: HeaderValueFormatter.fromParts(parts) };
}
