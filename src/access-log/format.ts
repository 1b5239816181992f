/**
 * Envoy's substitution format strings (`%REQ(:METHOD)% %RESPONSE_CODE% ...`), compiled once into a
 * list of literal strings and command operators, then evaluated per log line without re-parsing.
 *
 * A command is `%NAME%`, `%NAME(arg)%` or either with a `:N` suffix that truncates the value to N
 * characters; `%%` is a literal percent sign. A value that is absent or empty prints as `-`
 * (or nothing with omit_empty_values). An unknown command is a config error naming the field.
 */
import { hostname } from 'node:os';
import type { Address } from '../api/network.js';
import type { ResponseFlag, StreamInfo } from '../api/stream-info.js';
import { ConfigError } from '../config/config-error.js';
import { compileTimeFormat } from './time-format.js';

/** Envoy's default access log format, byte for byte. */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** A value a command produces: numbers stay numbers for typed (JSON) output; undefined = unset. */
export type FormatValue = string | number | undefined;

/** One compiled command operator. */
export type CommandOperator = (info: StreamInfo) => FormatValue;

/** Turns a StreamInfo into one log line (or JSON document, newline included). */
export interface Formatter {
  format(info: StreamInfo): string;
}

/**
 * The order in which Envoy prints response flags (its ResponseFlag bit order), so that
 * `%RESPONSE_FLAGS%` reads `UF,URX`, never `URX,UF`.
 */
const RESPONSE_FLAG_ORDER: readonly ResponseFlag[] = [
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'NR',
  'DC',
  'URX',
  'SI',
  'DPE',
  'DT',
  'UPE',
  'NC',
];

/** The short form of the flags, comma-joined in Envoy's order; undefined when there are none. */
export function responseFlagsString(flags: ReadonlySet<ResponseFlag>): string | undefined {
  if (flags.size === 0) return undefined;
  let out = '';
  for (const f of RESPONSE_FLAG_ORDER) {
    if (flags.has(f)) out = out === '' ? f : `${out},${f}`;
  }
  return out;
}

/** `ip:port`, with IPv6 in brackets, as Envoy prints addresses. */
export function addressString(a: Address): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function withoutPort(a: Address | undefined): string | undefined {
  return a === undefined ? undefined : a.address;
}

function withPort(a: Address | undefined): string | undefined {
  return a === undefined ? undefined : addressString(a);
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === '' ? undefined : s;
}

/** Whole milliseconds from `from` to `to` (truncated, as Envoy's duration operators); unset if either is. */
function millisBetween(from: number | undefined, to: number | undefined): number | undefined {
  return from === undefined || to === undefined ? undefined : Math.floor(to - from);
}

/** Operators without an argument. */
const PLAIN: Readonly<Record<string, CommandOperator>> = {
  PROTOCOL: (i) => i.protocol,
  // Envoy prints 0 when no response began (the client went away first).
  RESPONSE_CODE: (i) => i.responseCode ?? 0,
  RESPONSE_CODE_DETAILS: (i) => nonEmpty(i.responseCodeDetails),
  RESPONSE_FLAGS: (i) => responseFlagsString(i.responseFlags),
  BYTES_RECEIVED: (i) => i.bytesReceived,
  BYTES_SENT: (i) => i.bytesSent,
  DURATION: (i) => millisBetween(i.startMonotonic, i.endMonotonic),
  // From the start to the last byte of the request received from the downstream.
  REQUEST_DURATION: (i) => millisBetween(i.startMonotonic, i.lastDownstreamRxMonotonic),
  // From the start to the first byte of the response received from the upstream.
  RESPONSE_DURATION: (i) => millisBetween(i.startMonotonic, i.firstUpstreamRxMonotonic),
  // From the first byte received from the upstream to the last byte sent downstream.
  RESPONSE_TX_DURATION: (i) => millisBetween(i.firstUpstreamRxMonotonic, i.lastDownstreamTxMonotonic),
  // Envoy prints 0 when the stream has no downstream connection id.
  CONNECTION_ID: (i) => i.connectionId ?? 0,
  REQUESTED_SERVER_NAME: (i) => nonEmpty(i.requestedServerName),
  UPSTREAM_HOST: (i) => withPort(i.upstreamHost),
  UPSTREAM_REMOTE_ADDRESS: (i) => withPort(i.upstreamHost),
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (i) => withoutPort(i.upstreamHost),
  UPSTREAM_CLUSTER: (i) => nonEmpty(i.upstreamCluster),
  UPSTREAM_TRANSPORT_FAILURE_REASON: (i) => nonEmpty(i.upstreamTransportFailureReason),
  DOWNSTREAM_REMOTE_ADDRESS: (i) => withPort(i.downstreamRemoteAddress),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (i) => withoutPort(i.downstreamRemoteAddress),
  DOWNSTREAM_REMOTE_PORT: (i) => i.downstreamRemoteAddress?.port,
  DOWNSTREAM_LOCAL_ADDRESS: (i) => withPort(i.downstreamLocalAddress),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (i) => withoutPort(i.downstreamLocalAddress),
  DOWNSTREAM_LOCAL_PORT: (i) => i.downstreamLocalAddress?.port,
  ROUTE_NAME: (i) => nonEmpty(i.routeName),
};

/** `%START_TIME%` is ISO 8601 in UTC with milliseconds: `2016-04-15T20:17:00.310Z`. */
const startTimeDefault: CommandOperator = (i) => new Date(i.startTime).toISOString();

function headerOperator(arg: string, which: 'request' | 'response', where: string): CommandOperator {
  const names = arg.split('?');
  if (names.length > 2 || names.some((n) => n === '')) {
    throw new ConfigError(where, `invalid header specification "${arg}": expected NAME or NAME?ALTERNATIVE`);
  }
  const main = names[0]!.toLowerCase();
  const alt = names[1]?.toLowerCase();
  return (i) => {
    const headers = which === 'request' ? i.requestHeaders : i.responseHeaders;
    if (headers === undefined) return undefined;
    const v = headers.get(main) ?? (alt === undefined ? undefined : headers.get(alt));
    return nonEmpty(v);
  };
}

const HEADER_COMMANDS: Readonly<Record<string, 'request' | 'response'>> = {
  REQ: 'request',
  REQUEST_HEADER: 'request',
  RESP: 'response',
  RESPONSE_HEADER: 'response',
};

let cachedHostname: string | undefined;

function compileCommand(name: string, arg: string | undefined, where: string): CommandOperator {
  const headerKind = HEADER_COMMANDS[name];
  if (headerKind !== undefined) {
    if (arg === undefined) throw new ConfigError(where, `%${name}% needs a header name: %${name}(NAME)%`);
    return headerOperator(arg, headerKind, where);
  }
  if (name === 'START_TIME') {
    if (arg === undefined || arg === '') return startTimeDefault;
    const tf = compileTimeFormat(arg);
    if ('error' in tf) throw new ConfigError(where, tf.error);
    return (i) => tf.format(i.startTime);
  }
  if (name === 'HOSTNAME' && arg === undefined) {
    cachedHostname ??= hostname();
    const h = cachedHostname;
    return () => h;
  }
  const plain = PLAIN[name];
  if (plain === undefined) throw new ConfigError(where, `unknown or unsupported command operator %${name}%`);
  if (arg !== undefined) throw new ConfigError(where, `%${name}% takes no argument`);
  return plain;
}

/** A compiled format string: literals and operators in order. */
export interface Template {
  readonly parts: readonly (string | CommandOperator)[];
  readonly maxLengths: readonly (number | undefined)[];
}

// NAME, optional (ARG) without ')', optional :N, closing %.
const COMMAND = /([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/y;

/** Parses `fmt` into a Template; throws a ConfigError at `path` for a bad or unknown command. */
export function compileTemplate(fmt: string, path: string): Template {
  const parts: (string | CommandOperator)[] = [];
  const maxLengths: (number | undefined)[] = [];
  let literal = '';
  let i = 0;
  while (i < fmt.length) {
    const c = fmt[i]!;
    if (c !== '%') {
      literal += c;
      i++;
      continue;
    }
    if (fmt[i + 1] === '%') {
      literal += '%';
      i += 2;
      continue;
    }
    COMMAND.lastIndex = i + 1;
    const m = COMMAND.exec(fmt);
    if (m === null) throw new ConfigError(path, `invalid command operator at position ${i} of "${fmt}"`);
    if (literal !== '') {
      parts.push(literal);
      maxLengths.push(undefined);
      literal = '';
    }
    parts.push(compileCommand(m[1]!, m[2], path));
    maxLengths.push(m[3] === undefined ? undefined : Number(m[3]));
    i = COMMAND.lastIndex;
  }
  if (literal !== '') {
    parts.push(literal);
    maxLengths.push(undefined);
  }
  return { parts, maxLengths };
}

/** The string form of a value, truncated to `max`; undefined for an unset or empty value. */
export function renderValue(v: FormatValue, max: number | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = typeof v === 'number' ? String(v) : v;
  if (s === '') return undefined;
  return max !== undefined && s.length > max ? s.slice(0, max) : s;
}

/** Evaluates a template as text: unset values become `placeholder` ('-' or ''). */
export function renderTemplate(t: Template, info: StreamInfo, placeholder: string): string {
  let out = '';
  const { parts, maxLengths } = t;
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k]!;
    if (typeof p === 'string') out += p;
    else out += renderValue(p(info), maxLengths[k]) ?? placeholder;
  }
  return out;
}

class TextFormatter implements Formatter {
  constructor(
    private readonly template: Template,
    private readonly placeholder: string,
  ) {}

  format(info: StreamInfo): string {
    return renderTemplate(this.template, info, this.placeholder);
  }
}

export interface FormatOptions {
  /** Unset values print as '' instead of '-' (Envoy's omit_empty_values). */
  readonly omitEmptyValues?: boolean;
}

/** Compiles a text format string; throws a ConfigError at `path`. */
export function compileTextFormat(fmt: string, path: string, opts: FormatOptions = {}): Formatter {
  return new TextFormatter(compileTemplate(fmt, path), opts.omitEmptyValues === true ? '' : '-');
}
