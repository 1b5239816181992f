/**
 * zod schemas for the leaves of a RouteConfiguration: string/header/query matchers, header value
 * options, retry policies and regex rewrites. Each schema validates the Envoy JSON/YAML form and
 * transforms it into a compiled object (matchers, formatters, RegExps), so problems are reported at
 * config load with their dotted path and nothing is compiled per request.
 */
import { z } from 'zod';
import {
  bool,
  checked,
  duration,
  enumOf,
  ignored,
  list,
  notSupported,
  strictObject,
  string,
  uint32,
  describe,
  type Check,
} from '../config/schema-helpers.js';
import type { RetryPolicy } from '../api/router.js';
import { parseHeaderValueFormat, type HeaderValueFormatter } from './header-formatter.js';
import { APPEND_ACTIONS, HeaderParser, type AppendAction, type HeaderToAdd } from './header-parser.js';
import { compileSafeRegex, HeaderMatcher, QueryParameterMatcher, StringMatcher, type HeaderMatch, type StringMatchKind } from './route-matchers.js';

/** Issues a problem for each oneof group with more than one member set (or none when required). */
export function oneOf(fields: readonly string[], opts: { required?: boolean } = {}) {
  return (v: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    const set = fields.filter((f) => v[f] !== undefined);
    if (set.length > 1) {
      ctx.addIssue({ code: 'custom', message: `only one of ${fields.map((f) => `"${f}"`).join(', ')} may be set (got ${set.join(' and ')})` });
    } else if (set.length === 0 && opts.required === true) {
      ctx.addIssue({ code: 'custom', message: `one of ${fields.map((f) => `"${f}"`).join(', ')} is required` });
    }
  };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An HTTP header name (RFC 9110 token), lowercased; `:`-pseudo-headers allowed when `pseudo`. */
export function headerName(opts: { pseudo?: boolean } = {}): z.ZodType<string, unknown> {
  return checked((raw): Check<string> => {
    if (typeof raw !== 'string') return { ok: false, message: `expected a header name, got ${describe(raw)}` };
    const body = opts.pseudo === true && raw.startsWith(':') ? raw.slice(1) : raw;
    if (!TOKEN.test(body)) return { ok: false, message: `invalid header name ${describe(raw)}` };
    return { ok: true, value: raw.toLowerCase() };
  });
}

/** A header value or URL part: no CR, LF or NUL (they would split or truncate the message). */
export function headerSafeString(): z.ZodType<string, unknown> {
  return checked((raw): Check<string> => {
    if (typeof raw !== 'string') return { ok: false, message: `expected a string, got ${describe(raw)}` };
    if (/[\r\n\0]/.test(raw)) return { ok: false, message: 'must not contain CR, LF or NUL characters' };
    return { ok: true, value: raw };
  });
}

/** `safe_regex` (envoy.type.matcher.v3.RegexMatcher), compiled as an anchored full match. */
export const regexMatcher = strictObject({
  regex: string({ nonEmpty: true }),
  ...ignored(['google_re2']),
}).transform((v, ctx) => {
  const r = compileSafeRegex(v.regex);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.message, path: ['regex'] });
    return z.NEVER;
  }
  return r.value;
});

const STRING_MATCH_FIELDS = ['exact', 'prefix', 'suffix', 'contains', 'safe_regex'] as const;

/** envoy.type.matcher.v3.StringMatcher. */
export const stringMatcher = strictObject({
  exact: z.string().optional(),
  prefix: string({ nonEmpty: true }).optional(),
  suffix: string({ nonEmpty: true }).optional(),
  contains: string({ nonEmpty: true }).optional(),
  safe_regex: regexMatcher.optional(),
  ignore_case: bool().optional(),
  ...notSupported(['custom']),
})
  .superRefine(oneOf(STRING_MATCH_FIELDS, { required: true }))
  .transform((v) => {
    const kind = STRING_MATCH_FIELDS.find((f) => v[f] !== undefined) as StringMatchKind;
    const value = kind === 'safe_regex' ? '' : (v[kind] as string);
    return new StringMatcher(kind, value, v.ignore_case ?? false, v.safe_regex);
  });

const HEADER_MATCH_FIELDS = [
  'exact_match',
  'safe_regex_match',
  'present_match',
  'prefix_match',
  'suffix_match',
  'contains_match',
  'string_match',
] as const;

/** envoy.config.route.v3.HeaderMatcher, including its deprecated `*_match` spellings. */
export const headerMatcher = strictObject({
  name: headerName({ pseudo: true }),
  exact_match: z.string().optional(),
  safe_regex_match: regexMatcher.optional(),
  present_match: bool().optional(),
  prefix_match: string({ nonEmpty: true }).optional(),
  suffix_match: string({ nonEmpty: true }).optional(),
  contains_match: string({ nonEmpty: true }).optional(),
  string_match: stringMatcher.optional(),
  invert_match: bool().optional(),
  treat_missing_header_as_empty: bool().optional(),
  ...notSupported(['range_match']),
})
  .superRefine(oneOf(HEADER_MATCH_FIELDS))
  .transform((v) => {
    let match: HeaderMatch;
    if (v.exact_match !== undefined) match = { kind: 'exact_legacy', value: v.exact_match };
    else if (v.safe_regex_match !== undefined) match = { kind: 'string', matcher: new StringMatcher('safe_regex', '', false, v.safe_regex_match) };
    else if (v.prefix_match !== undefined) match = { kind: 'string', matcher: new StringMatcher('prefix', v.prefix_match, false, undefined) };
    else if (v.suffix_match !== undefined) match = { kind: 'string', matcher: new StringMatcher('suffix', v.suffix_match, false, undefined) };
    else if (v.contains_match !== undefined) match = { kind: 'string', matcher: new StringMatcher('contains', v.contains_match, false, undefined) };
    else if (v.string_match !== undefined) match = { kind: 'string', matcher: v.string_match };
    else match = { kind: 'present', present: v.present_match ?? true };
    return new HeaderMatcher(v.name, match, v.invert_match ?? false, v.treat_missing_header_as_empty ?? false);
  });

/** envoy.config.route.v3.QueryParameterMatcher. */
export const queryParameterMatcher = strictObject({
  name: string({ nonEmpty: true }),
  string_match: stringMatcher.optional(),
  present_match: bool().optional(),
})
  .superRefine(oneOf(['string_match', 'present_match']))
  .transform((v) => new QueryParameterMatcher(v.name, v.present_match, v.string_match));

/** A header value format (`%VAR%` substitutions), validated at load. */
const headerValueFormat = checked((raw): Check<HeaderValueFormatter> => {
  if (typeof raw !== 'string') return { ok: false, message: `expected a string, got ${describe(raw)}` };
  if (/[\r\n\0]/.test(raw)) return { ok: false, message: 'must not contain CR, LF or NUL characters' };
  const r = parseHeaderValueFormat(raw);
  return r.ok ? { ok: true, value: r.value } : { ok: false, message: r.message };
});

/** Envoy forbids changing pseudo-headers and Host through header mutations. */
function modifiableHeaderName(verb: 'modified' | 'removed'): z.ZodType<string, unknown> {
  return headerName({ pseudo: true }).transform((name, ctx) => {
    if (name.startsWith(':') || name === 'host') {
      ctx.addIssue({ code: 'custom', message: `:-prefixed or host headers may not be ${verb}` });
      return z.NEVER;
    }
    return name;
  });
}

/** envoy.config.core.v3.HeaderValueOption. */
export const headerValueOption = strictObject({
  header: strictObject({
    key: modifiableHeaderName('modified'),
    value: headerValueFormat.optional(),
    ...notSupported(['raw_value']),
  }),
  append: bool().optional(),
  append_action: enumOf<AppendAction>(APPEND_ACTIONS).optional(),
  keep_empty_value: bool().optional(),
})
  .superRefine((v, ctx) => {
    if (v.append !== undefined && v.append_action !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'both "append" and "append_action" are set; use "append_action" only' });
    }
  })
  .transform((v): HeaderToAdd => {
    const action: AppendAction =
      v.append_action ?? (v.append === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
    return {
      name: v.header.key,
      value: v.header.value ?? parseLiteral(''),
      action,
      keepEmptyValue: v.keep_empty_value ?? false,
    };
  });

function parseLiteral(s: string): HeaderValueFormatter {
  const r = parseHeaderValueFormat(s);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

/** The four `*_headers_to_add/remove` fields of one level, as two HeaderParsers. */
export const headerMutationFields = {
  request_headers_to_add: list(headerValueOption),
  request_headers_to_remove: list(modifiableHeaderName('removed')),
  response_headers_to_add: list(headerValueOption),
  response_headers_to_remove: list(modifiableHeaderName('removed')),
};

export interface HeaderMutationLevel {
  readonly request: HeaderParser;
  readonly response: HeaderParser;
}

export function headerMutationLevel(v: {
  request_headers_to_add: HeaderToAdd[];
  request_headers_to_remove: string[];
  response_headers_to_add: HeaderToAdd[];
  response_headers_to_remove: string[];
}): HeaderMutationLevel {
  const build = (add: HeaderToAdd[], remove: string[]) =>
    add.length === 0 && remove.length === 0 ? HeaderParser.EMPTY : new HeaderParser(add, remove);
  return {
    request: build(v.request_headers_to_add, v.request_headers_to_remove),
    response: build(v.response_headers_to_add, v.response_headers_to_remove),
  };
}

/** retry_on conditions sluice implements. */
export const RETRY_ON_SUPPORTED = [
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
] as const;

/** Valid Envoy retry_on conditions sluice does not implement yet. */
const RETRY_ON_UNSUPPORTED = [
  'envoy-ratelimited',
  'retriable-headers',
  'reset-before-request',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
];

const retryOn = checked((raw): Check<Set<string>> => {
  if (typeof raw !== 'string') return { ok: false, message: `expected a comma-separated list of retry conditions, got ${describe(raw)}` };
  const out = new Set<string>();
  for (const token of raw.split(',')) {
    const t = token.trim();
    if (t === '') continue;
    if ((RETRY_ON_SUPPORTED as readonly string[]).includes(t)) out.add(t);
    else if (RETRY_ON_UNSUPPORTED.includes(t)) return { ok: false, message: `retry condition "${t}" is not supported by sluice yet` };
    else return { ok: false, message: `unknown retry condition "${t}" (expected ${RETRY_ON_SUPPORTED.join(', ')})` };
  }
  return { ok: true, value: out };
});

/** Envoy's defaults: base 25 ms, max 10 x base. */
export const DEFAULT_RETRY_BASE_INTERVAL_MS = 25;

/** envoy.config.route.v3.RetryPolicy. */
export const retryPolicy = strictObject({
  retry_on: retryOn.optional(),
  num_retries: uint32().optional(),
  per_try_timeout: duration().optional(),
  retry_back_off: strictObject({
    base_interval: duration({ positive: true }),
    max_interval: duration({ positive: true }).optional(),
  })
    .superRefine((v, ctx) => {
      if (v.max_interval !== undefined && v.max_interval < v.base_interval) {
        ctx.addIssue({ code: 'custom', message: 'must be greater than or equal to base_interval', path: ['max_interval'] });
      }
    })
    .optional(),
  retriable_status_codes: list(uint32(100, 599)),
  ...notSupported([
    'per_try_idle_timeout',
    'retry_priority',
    'retry_host_predicate',
    'retry_options_predicates',
    'host_selection_retry_max_attempts',
    'rate_limited_retry_back_off',
    'retriable_headers',
    'retriable_request_headers',
  ]),
}).transform((v): RetryPolicy => {
  const base = v.retry_back_off?.base_interval ?? DEFAULT_RETRY_BASE_INTERVAL_MS;
  return {
    retryOn: v.retry_on ?? new Set<string>(),
    numRetries: v.num_retries ?? 1,
    perTryTimeoutMs: v.per_try_timeout ?? 0,
    retriableStatusCodes: new Set(v.retriable_status_codes),
    baseIntervalMs: base,
    maxIntervalMs: v.retry_back_off?.max_interval ?? base * 10,
  };
});

export interface RegexRewrite {
  /** Global, unanchored: every match in the path is replaced. */
  readonly pattern: RegExp;
  /** In JS replacement syntax (`$1`), translated from RE2's `\1`. */
  readonly substitution: string;
}

/** RE2 substitutions write groups as `\1`; JS replace() wants `$1`, and a literal `$` as `$$`. */
function translateSubstitution(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '$') out += '$$';
    else if (c === '\\' && i + 1 < s.length && s[i + 1]! >= '0' && s[i + 1]! <= '9') {
      out += `$${s[i + 1]!}`;
      i++;
    } else if (c === '\\' && s[i + 1] === '\\') {
      out += '\\';
      i++;
    } else out += c;
  }
  return out;
}

/** envoy.type.matcher.v3.RegexMatchAndSubstitute. */
export const regexRewrite = strictObject({
  pattern: strictObject({ regex: string({ nonEmpty: true }), ...ignored(['google_re2']) }),
  substitution: headerSafeString(),
}).transform((v, ctx): RegexRewrite => {
  const r = compileSafeRegex(v.pattern.regex);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.message, path: ['pattern', 'regex'] });
    return z.NEVER;
  }
  // The anchored form validated the syntax; rewriting needs the bare pattern, matched globally.
  const bare = r.value.source.slice('^(?:'.length, -')$'.length);
  return { pattern: new RegExp(bare, `${r.value.flags}g`), substitution: translateSubstitution(v.substitution) };
});
