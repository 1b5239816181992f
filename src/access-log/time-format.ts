/**
 * The strftime subset of Envoy's %START_TIME(...)% (always UTC, as Envoy formats it), compiled once
 * per format string into a list of parts. Envoy's own extensions: `%s` (epoch seconds), `%f` /
 * `%[1-9]f` (fractional second digits, default 9) and absl's `%E[1-9]S` (seconds with that many
 * fractional digits). Times are whole milliseconds, so digits past the third are zeros.
 */

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
] as const;

type Part = string | ((d: Date) => string);

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad3(n: number): string {
  return n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n);
}

/** `digits` fractional digits of the second (1..9) from a millisecond value. */
function fraction(ms: number, digits: number): string {
  const nine = `${pad3(ms)}000000`;
  return nine.slice(0, digits);
}

function dayOfYear(d: Date): number {
  const start = Date.UTC(d.getUTCFullYear(), 0, 1);
  return Math.floor((d.getTime() - start) / 86_400_000) + 1;
}

function hour12(d: Date): number {
  const h = d.getUTCHours() % 12;
  return h === 0 ? 12 : h;
}

const SIMPLE: Readonly<Record<string, (d: Date) => string>> = {
  Y: (d) => String(d.getUTCFullYear()),
  y: (d) => pad2(d.getUTCFullYear() % 100),
  C: (d) => pad2(Math.floor(d.getUTCFullYear() / 100)),
  m: (d) => pad2(d.getUTCMonth() + 1),
  d: (d) => pad2(d.getUTCDate()),
  e: (d) => String(d.getUTCDate()).padStart(2, ' '),
  H: (d) => pad2(d.getUTCHours()),
  k: (d) => String(d.getUTCHours()).padStart(2, ' '),
  I: (d) => pad2(hour12(d)),
  l: (d) => String(hour12(d)).padStart(2, ' '),
  M: (d) => pad2(d.getUTCMinutes()),
  S: (d) => pad2(d.getUTCSeconds()),
  p: (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
  j: (d) => pad3(dayOfYear(d)),
  a: (d) => DAYS[d.getUTCDay()]!.slice(0, 3),
  A: (d) => DAYS[d.getUTCDay()]!,
  b: (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3),
  h: (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3),
  B: (d) => MONTHS[d.getUTCMonth()]!,
  u: (d) => String(d.getUTCDay() === 0 ? 7 : d.getUTCDay()),
  w: (d) => String(d.getUTCDay()),
  z: () => '+0000',
  Z: () => 'UTC',
  s: (d) => String(Math.floor(d.getTime() / 1000)),
  T: (d) => `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`,
  R: (d) => `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`,
  D: (d) => `${pad2(d.getUTCMonth() + 1)}/${pad2(d.getUTCDate())}/${pad2(d.getUTCFullYear() % 100)}`,
  F: (d) => `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`,
  n: () => '\n',
  t: () => '\t',
  '%': () => '%',
};

function secondsWithFraction(digits: number): (d: Date) => string {
  return (d) => `${pad2(d.getUTCSeconds())}.${fraction(d.getUTCMilliseconds(), digits)}`;
}

/** A compiled strftime format; `format` takes epoch milliseconds. */
export interface TimeFormatter {
  format(epochMs: number): string;
}

/**
 * Compiles `fmt`. Returns an error message for a specifier it does not know, so the config parser
 * can name the field.
 */
export function compileTimeFormat(fmt: string): TimeFormatter | { readonly error: string } {
  const parts: Part[] = [];
  let literal = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%') {
      literal += c;
      continue;
    }
    const next = fmt[i + 1];
    if (next === undefined) return { error: `time format "${fmt}" ends with a lone "%"` };
    let fn: ((d: Date) => string) | undefined;
    let width = 1;
    if (next >= '1' && next <= '9' && fmt[i + 2] === 'f') {
      const digits = Number(next);
      fn = (d) => fraction(d.getUTCMilliseconds(), digits);
      width = 2;
    } else if (next === 'f') {
      fn = (d) => fraction(d.getUTCMilliseconds(), 9);
    } else if (next === 'E' && fmt[i + 3] === 'S' && fmt[i + 2]! >= '1' && fmt[i + 2]! <= '9') {
      fn = secondsWithFraction(Number(fmt[i + 2]));
      width = 3;
    } else {
      fn = SIMPLE[next];
    }
    if (fn === undefined) return { error: `time format "${fmt}" has an unsupported specifier "%${next}"` };
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(fn);
    i += width;
  }
  if (literal !== '') parts.push(literal);
  return new CompiledTimeFormat(parts);
}

class CompiledTimeFormat implements TimeFormatter {
  constructor(private readonly parts: readonly Part[]) {}

  format(epochMs: number): string {
    const d = new Date(epochMs);
    let out = '';
    for (const p of this.parts) out += typeof p === 'string' ? p : p(d);
    return out;
  }
}
