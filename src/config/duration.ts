/**
 * Envoy durations (google.protobuf.Duration). In YAML/JSON config they are proto3 JSON strings:
 * seconds with up to nine fractional digits and an `s` suffix ("0.25s", "1s", "1.5s"). Envoy's YAML
 * loader also takes the message form `{ seconds, nanos }`, so both are accepted here.
 *
 * Conversion to milliseconds truncates below one millisecond, as Envoy's
 * DurationUtil::durationToMilliseconds does.
 */

/** The largest seconds value of google.protobuf.Duration (10,000 years). */
export const MAX_DURATION_SECONDS = 315_576_000_000;

export const DURATION_FORMAT_MESSAGE = 'expected a duration like "0.25s"';

export type DurationResult =
  | { readonly ok: true; readonly seconds: number; readonly nanos: number; readonly ms: number }
  | { readonly ok: false; readonly message: string };

const DURATION_STRING = /^(\d+)(?:\.(\d{1,9}))?s$/;

function ok(seconds: number, nanos: number): DurationResult {
  if (seconds > MAX_DURATION_SECONDS) {
    return { ok: false, message: `duration exceeds the maximum of ${MAX_DURATION_SECONDS}s` };
  }
  return { ok: true, seconds, nanos, ms: seconds * 1000 + Math.floor(nanos / 1_000_000) };
}

function fail(message: string): DurationResult {
  return { ok: false, message };
}

function parseDurationString(s: string): DurationResult {
  if (s.startsWith('-')) return fail('duration must not be negative');
  const m = DURATION_STRING.exec(s);
  if (m === null) return fail(DURATION_FORMAT_MESSAGE);
  const seconds = Number(m[1]);
  const frac = m[2] ?? '';
  const nanos = frac === '' ? 0 : Number(frac.padEnd(9, '0'));
  return ok(seconds, nanos);
}

function integerField(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  // int64 fields are strings in proto3 JSON.
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

function parseDurationObject(o: Record<string, unknown>): DurationResult {
  for (const key of Object.keys(o)) {
    if (key !== 'seconds' && key !== 'nanos') return fail(`unknown field "${key}" in duration`);
  }
  const seconds = o['seconds'] === undefined ? 0 : integerField(o['seconds']);
  const nanos = o['nanos'] === undefined ? 0 : integerField(o['nanos']);
  if (seconds === undefined) return fail('duration seconds must be an integer');
  if (nanos === undefined) return fail('duration nanos must be an integer');
  if (seconds < 0 || nanos < 0) return fail('duration must not be negative');
  if (nanos > 999_999_999) return fail('duration nanos must be in [0, 999999999]');
  return ok(seconds, nanos);
}

/** Parses a config duration: "1.5s" or `{ seconds: 1, nanos: 500000000 }`. Negative is an error. */
export function parseDuration(raw: unknown): DurationResult {
  if (typeof raw === 'string') return parseDurationString(raw);
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    return parseDurationObject(raw as Record<string, unknown>);
  }
  return fail(DURATION_FORMAT_MESSAGE);
}

/** Formats milliseconds as a proto3 JSON duration ("0.25s"), for config dumps. */
export function formatDuration(ms: number): string {
  const whole = Math.floor(ms / 1000);
  const rest = ms - whole * 1000;
  if (rest === 0) return `${whole}s`;
  return `${whole}.${String(Math.round(rest * 1_000_000)).padStart(9, '0').replace(/0+$/, '')}s`;
}
