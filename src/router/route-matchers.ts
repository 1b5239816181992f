/**
 * Compiled matchers of the route table: Envoy's StringMatcher, HeaderMatcher and
 * QueryParameterMatcher, and `safe_regex` compilation. Everything is prepared at config time
 * (regexes compiled once, case-insensitive patterns lowercased once); matching allocates only
 * when a request carries several values of one header (they are joined with ",", as Envoy does).
 */
import type { HeaderMap } from '../api/http-codec.js';

export type RegexResult = { readonly ok: true; readonly value: RegExp } | { readonly ok: false; readonly message: string };

/**
 * Compiles a `safe_regex` (RE2 syntax) to a JS RegExp anchored as a full match, the way Envoy's
 * Regex::CompiledGoogleReMatcher::match does. RE2 has no backtracking features, so lookaround and
 * backreferences are rejected (they would also open the door to catastrophic backtracking); the
 * RE2-only spellings `(?P<name>` and a leading `(?i)`/`(?s)` flag group are translated.
 */
export function compileSafeRegex(source: string): RegexResult {
  let flags = '';
  let body = source;
  const lead = /^\(\?([ims]+)\)/.exec(body);
  if (lead !== null) {
    for (const f of lead[1]!) if (!flags.includes(f)) flags += f;
    body = body.slice(lead[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\') {
      const next = body[i + 1];
      if (next === undefined) return { ok: false, message: `invalid regex ${JSON.stringify(source)}: trailing backslash` };
      if (!inClass && ((next >= '1' && next <= '9') || next === 'k')) {
        return { ok: false, message: `invalid regex ${JSON.stringify(source)}: backreferences are not supported (RE2 syntax)` };
      }
      if (!inClass && next === 'A') out += '^';
      else if (!inClass && next === 'z') out += '$';
      else out += ch + next;
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      out += ch;
      continue;
    }
    if (ch === '[') {
      inClass = true;
      out += ch;
      // RE2 reads a leading "]" (or "^]") as a literal; JS would read "[]" as an empty class.
      if (body[i + 1] === '^') out += body[++i]!;
      if (body[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (ch === '(' && body[i + 1] === '?') {
      const rest = body.slice(i + 2);
      if (rest.startsWith('=') || rest.startsWith('!') || rest.startsWith('<=') || rest.startsWith('<!')) {
        return { ok: false, message: `invalid regex ${JSON.stringify(source)}: lookaround is not supported (RE2 syntax)` };
      }
      if (rest.startsWith('P<')) {
        out += '(?<';
        i += 3;
        continue;
      }
      if (!rest.startsWith(':') && !rest.startsWith('<')) {
        return { ok: false, message: `invalid regex ${JSON.stringify(source)}: inline flags are only supported at the start` };
      }
    }
    out += ch;
  }
  try {
    return { ok: true, value: new RegExp(`^(?:${out})$`, flags) };
  } catch (e) {
    return { ok: false, message: `invalid regex ${JSON.stringify(source)}: ${(e as Error).message}` };
  }
}

export type StringMatchKind = 'exact' | 'prefix' | 'suffix' | 'contains' | 'safe_regex';

/** envoy.type.matcher.v3.StringMatcher. */
export class StringMatcher {
  private readonly pattern: string;

  constructor(
    readonly kind: StringMatchKind,
    value: string,
    readonly ignoreCase: boolean,
    private readonly regex: RegExp | undefined,
  ) {
    // Envoy: ignore_case has no effect on safe_regex.
    this.pattern = ignoreCase && kind !== 'safe_regex' ? value.toLowerCase() : value;
  }

  match(value: string): boolean {
    const v = this.ignoreCase && this.kind !== 'safe_regex' ? value.toLowerCase() : value;
    switch (this.kind) {
      case 'exact':
        return v === this.pattern;
      case 'prefix':
        return v.startsWith(this.pattern);
      case 'suffix':
        return v.endsWith(this.pattern);
      case 'contains':
        return v.includes(this.pattern);
      case 'safe_regex':
        return this.regex!.test(v);
    }
  }
}

/** All values of `name` as one string, joined with "," (Envoy's getAllOfHeaderAsString). */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const first = headers.get(name);
  if (first === undefined) return undefined;
  let count = 0;
  headers.forEach((n) => {
    if (n === name) count++;
  });
  return count === 1 ? first : headers.getAll(name).join(',');
}

/**
 * envoy.config.route.v3.HeaderMatcher. `present` is a presence check (present_match, or a matcher
 * with no specifier); `value` is the legacy `exact_match`, where "" matches any value.
 */
export type HeaderMatch =
  | { readonly kind: 'present'; readonly present: boolean }
  | { readonly kind: 'exact_legacy'; readonly value: string }
  | { readonly kind: 'string'; readonly matcher: StringMatcher };

export class HeaderMatcher {
  constructor(
    /** Lowercase header name. */
    readonly name: string,
    readonly match: HeaderMatch,
    readonly invert: boolean,
    readonly treatMissingAsEmpty: boolean,
  ) {}

  /** Envoy's HeaderUtility::HeaderData::matchesHeaders. */
  matches(headers: HeaderMap): boolean {
    let value = headerValue(headers, this.name);
    if (value === undefined) {
      if (!this.treatMissingAsEmpty) {
        // An absent header only ever satisfies a presence matcher (present_match: false, or an
        // inverted present_match: true).
        const m = this.match;
        return m.kind === 'present' && (this.invert ? m.present : !m.present);
      }
      value = '';
    }
    let r: boolean;
    const m = this.match;
    switch (m.kind) {
      case 'present':
        r = m.present;
        break;
      case 'exact_legacy':
        r = m.value === '' || value === m.value;
        break;
      case 'string':
        r = m.matcher.match(value);
        break;
    }
    return r !== this.invert;
  }
}

/** envoy.config.route.v3.QueryParameterMatcher. */
export class QueryParameterMatcher {
  constructor(
    readonly name: string,
    /** present_match, when set. */
    readonly presentMatch: boolean | undefined,
    readonly stringMatch: StringMatcher | undefined,
  ) {}

  matches(params: ReadonlyMap<string, string>): boolean {
    const v = params.get(this.name);
    if (v === undefined) return this.presentMatch === false;
    if (this.presentMatch !== undefined) return this.presentMatch;
    if (this.stringMatch === undefined) return true;
    return this.stringMatch.match(v);
  }
}

function decode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // Envoy's PercentEncoding::decode leaves malformed escapes as they are.
    return s;
  }
}

/**
 * The query parameters of a `:path`, percent-decoded, first occurrence of a name winning (Envoy's
 * QueryParamsMulti::getFirstValue). The fragment, if any, is not part of the query.
 */
export function parseQueryParameters(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = path.indexOf('?');
  if (q === -1) return out;
  let end = path.indexOf('#', q);
  if (end === -1) end = path.length;
  let start = q + 1;
  while (start < end) {
    let amp = path.indexOf('&', start);
    if (amp === -1 || amp > end) amp = end;
    if (amp > start) {
      const eq = path.indexOf('=', start);
      const hasValue = eq !== -1 && eq < amp;
      const name = decode(path.slice(start, hasValue ? eq : amp));
      if (!out.has(name)) out.set(name, hasValue ? decode(path.slice(eq + 1, amp)) : '');
    }
    start = amp + 1;
  }
  return out;
}

/** The path without its query string and fragment. */
export function pathWithoutQuery(path: string): string {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return path.slice(0, i);
  }
  return path;
}
