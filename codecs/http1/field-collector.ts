/**
 * Collects the field lines of an HTTP/1 head or trailer section from the parser's span callbacks
 * into a flat `[name, value, ...]` list (HeaderMapImpl's own layout, so the list becomes the map
 * without a copy), and the RFC 9110 field-syntax helpers both HTTP/1 connections share.
 *
 * A name or value may arrive in several pieces when it spans reads; pieces are concatenated.
 * Names are lowercased; common ones are recognised from their bytes, so they cost neither a string
 * nor a lowercased copy. Values arrive without leading whitespace (llhttp skips it) and lose their
 * trailing OWS here (RFC 9112 §5). The count limit is checked as each field completes; the size
 * limit is the parser's headerBytes, checked by the connection on every piece.
 */

/** Field names common enough to be recognised from their bytes. */
const COMMON_FIELD_NAMES: readonly string[] = [
  'accept', 'accept-encoding', 'accept-language', 'accept-ranges', 'access-control-allow-origin',
  'age', 'authorization', 'cache-control', 'connection', 'content-encoding', 'content-length',
  'content-type', 'cookie', 'date', 'etag', 'expect', 'expires', 'host', 'if-modified-since',
  'if-none-match', 'keep-alive', 'last-modified', 'location', 'origin', 'pragma', 'range', 'referer',
  'server', 'set-cookie', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary',
  'via', 'x-forwarded-for', 'x-forwarded-proto', 'x-real-ip', 'x-request-id',
];

/** Bytes of an input chunk converted to text at once for the pieces of a head (see text()). */
const TEXT_WINDOW = 1024;

interface KnownName {
  readonly bytes: Buffer;
  readonly name: string;
}

const NAMES_BY_LENGTH: KnownName[][] = [];
for (const name of COMMON_FIELD_NAMES) (NAMES_BY_LENGTH[name.length] ??= []).push({ bytes: Buffer.from(name, 'latin1'), name });

/**
 * The lowercase common field name spelled, in any case, by `data[start, end)`, or undefined. The
 * bytes are tchars (llhttp checked them), and for tchars `| 0x20` folds exactly the letters: the
 * other bytes it changes are not tchars, or (`^`) appear in no common name.
 */
export function commonFieldName(data: Buffer, start: number, end: number): string | undefined {
  const bucket = NAMES_BY_LENGTH[end - start];
  if (bucket === undefined) return undefined;
  outer: for (const known of bucket) {
    const b = known.bytes;
    for (let i = 0; i < b.length; i++) {
      if ((data[start + i]! | 0x20) !== b[i]) continue outer;
    }
    return known.name;
  }
  return undefined;
}

export class FieldCollector {
  /** The list being filled; the caller takes it once the section is complete. */
  list: string[] = [];
  /** Fields completed in this section. */
  count = 0;
  private field = '';
  private value = '';
  private inValue = false;
  /** `field` is a complete lowercase common name (from one piece). */
  private known = false;
  /**
   * `srcText` is `src[srcStart, srcStart + srcText.length)` as latin1: the pieces of one head
   * mostly lie in one input chunk, so it is converted once and each piece is a String#slice of it
   * (a Buffer#toString per piece costs ~120 ns; a slice ~10 ns).
   */
  private src: Buffer | null = null;
  private srcStart = 0;
  private srcText = '';

  constructor(private readonly maxCount: number) {}

  /**
   * `data[start, end)` as a latin1 string, cut from the converted window of `data` when it lies in
   * it; otherwise a new window of up to TEXT_WINDOW bytes is converted from `start`. Input chunks
   * are never modified after they are parsed (parser.ts), so a window stays valid for its chunk.
   */
  text(data: Buffer, start: number, end: number): string {
    const offset = start - this.srcStart;
    if (data === this.src && offset >= 0 && end - this.srcStart <= this.srcText.length) {
      return this.srcText.slice(offset, offset + end - start);
    }
    const stop = Math.max(end, Math.min(data.length, start + TEXT_WINDOW));
    this.src = data;
    this.srcStart = start;
    this.srcText = data.toString('latin1', start, stop);
    return end === stop ? this.srcText : this.srcText.slice(0, end - start);
  }

  /** Starts a section that fills `list` (which may already hold entries, e.g. pseudo-headers). */
  reset(list: string[]): void {
    this.list = list;
    this.count = 0;
    this.field = '';
    this.value = '';
    this.inValue = false;
    this.known = false;
  }

  /** A piece of a field name. False when completing the previous field crossed the count limit. */
  onField(data: Buffer, start: number, end: number): boolean {
    if (this.inValue && !this.complete()) return false;
    if (this.field === '') {
      const known = commonFieldName(data, start, end);
      this.known = known !== undefined;
      this.field = known ?? this.text(data, start, end);
    } else {
      this.known = false;
      this.field += this.text(data, start, end);
    }
    return true;
  }

  /** A piece of a field value. */
  onValue(data: Buffer, start: number, end: number): void {
    this.inValue = true;
    if (start < end) this.value += this.text(data, start, end);
  }

  /**
   * Completes the pending field, if any (at the end of the section), and lets go of the input
   * chunk. False: over the count limit.
   */
  finish(): boolean {
    this.src = null;
    this.srcText = '';
    return !this.inValue || this.complete();
  }

  private complete(): boolean {
    this.list.push(this.known ? this.field : this.field.toLowerCase(), trimOws(this.value));
    this.field = '';
    this.value = '';
    this.inValue = false;
    this.known = false;
    return ++this.count <= this.maxCount;
  }
}

/** The fields the HTTP/1 codecs act on, as found in a flat list. */
export interface FieldFacts {
  /** The first Host value. */
  host: string | undefined;
  hostCount: number;
  contentLength: boolean;
  transferEncoding: boolean;
  /** Every Connection value, joined with ','. */
  connection: string | undefined;
  expect: string | undefined;
  /** The first Upgrade value. */
  upgrade: string | undefined;
}

/** Reused by every scan: the codecs read the facts at once, inside one synchronous call. */
const facts: FieldFacts = {
  host: undefined,
  hostCount: 0,
  contentLength: false,
  transferEncoding: false,
  connection: undefined,
  expect: undefined,
  upgrade: undefined,
};

/** One pass over `list[from..]` (names lowercase), by name length first. */
export function scanFields(list: readonly string[], from = 0): FieldFacts {
  const f = facts;
  f.host = undefined;
  f.hostCount = 0;
  f.contentLength = false;
  f.transferEncoding = false;
  f.connection = undefined;
  f.expect = undefined;
  f.upgrade = undefined;
  for (let i = from; i + 1 < list.length; i += 2) {
    const name = list[i]!;
    switch (name.length) {
      case 4:
        if (name === 'host') {
          f.hostCount++;
          f.host ??= list[i + 1];
        }
        break;
      case 6:
        if (name === 'expect') f.expect ??= list[i + 1];
        break;
      case 7:
        if (name === 'upgrade') f.upgrade ??= list[i + 1];
        break;
      case 10:
        if (name === 'connection') f.connection = f.connection === undefined ? list[i + 1] : `${f.connection},${list[i + 1]!}`;
        break;
      case 14:
        if (name === 'content-length') f.contentLength = true;
        break;
      case 17:
        if (name === 'transfer-encoding') f.transferEncoding = true;
        break;
      default:
        break;
    }
  }
  return f;
}

/** Whether a comma-separated field value holds `token` (lowercase), case-insensitively. */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  const v = value.toLowerCase();
  if (!v.includes(token)) return false;
  for (const part of v.split(',')) if (trimOws(part) === token) return true;
  return false;
}

/** Strips SP and HTAB (RFC 9110 §5.6.3 OWS) from both ends; obs-text such as 0xA0 stays. */
export function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}
