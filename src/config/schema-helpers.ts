/**
 * zod building blocks shared by every config parser (the bootstrap and the filters' typed_configs),
 * so that all of them report problems the same way: `<dotted path>: <what is wrong>`.
 *
 * - `strictObject(shape, notSupported([...]))`: unknown fields are errors ("unknown field"), and
 *   Envoy fields sluice does not implement yet are named as such instead of being silently ignored.
 * - Scalars with Envoy's proto3 JSON rules: uint32 (number or digit string) with a range, durations,
 *   strict booleans, enums by name, IP socket addresses.
 * - `parseWith(schema, raw, path)`: runs a schema and turns every zod issue into one ConfigError.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { ConfigError, joinPath, type ConfigProblem } from './config-error.js';
import { parseDuration } from './duration.js';

export type Check<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

export const REQUIRED_MESSAGE = 'required field is missing';

/**
 * A schema from a plain check function. `undefined` (an absent field) reaches `check` unless the
 * schema is wrapped in `.optional()` / `.default()`.
 */
export function checked<T>(check: (raw: unknown) => Check<T>): z.ZodType<T, unknown> {
  return z.unknown().transform((raw, ctx) => {
    if (raw === undefined) {
      ctx.addIssue({ code: 'custom', message: REQUIRED_MESSAGE });
      return z.NEVER;
    }
    const r = check(raw);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.message });
      return z.NEVER;
    }
    return r.value;
  });
}

const NOT_SUPPORTED = (name: string) => `field "${name}" is not supported by sluice yet`;

/**
 * Shape entries for Envoy fields sluice does not implement yet: spread into a `strictObject` shape.
 * Setting one is an error at the enclosing object: `field "x" is not supported by sluice yet`.
 */
export function notSupported<const K extends string>(fieldNames: readonly K[]): { [P in K]: z.ZodOptional<z.ZodNever> } {
  const shape: Record<string, z.ZodOptional<z.ZodNever>> = {};
  for (const name of fieldNames) shape[name] = z.never({ error: NOT_SUPPORTED(name) }).optional();
  return shape as { [P in K]: z.ZodOptional<z.ZodNever> };
}

/** Shape entries for fields that are accepted and ignored (they do not change sluice's behaviour). */
export function ignored<const K extends string>(fieldNames: readonly K[]): { [P in K]: z.ZodOptional<z.ZodUnknown> } {
  const shape: Record<string, z.ZodOptional<z.ZodUnknown>> = {};
  for (const name of fieldNames) shape[name] = z.unknown().optional();
  return shape as { [P in K]: z.ZodOptional<z.ZodUnknown> };
}

/** An object whose unknown fields are errors (protobuf messages have a fixed set of fields). */
export function strictObject<S extends z.ZodRawShape>(shape: S): z.ZodObject<S, z.core.$strict> {
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== 'invalid_type') return undefined;
      return iss.input === undefined ? REQUIRED_MESSAGE : `expected an object, got ${describe(iss.input)}`;
    },
  });
}

/** A `typed_config` body: a strict object that also tolerates (and drops) its `@type`. */
export function typedConfigObject<S extends z.ZodRawShape>(shape: S) {
  return z.preprocess((raw) => splitTypedConfig(raw).body, strictObject(shape));
}

/** A short description of a value for messages: `got "abc"`, `got a list`. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}

/** proto3 JSON integers: a JSON number or a string of digits, within [min, max]. */
export function integer(min: number, max: number): z.ZodType<number, unknown> {
  const message = `expected an integer in [${min}, ${max}]`;
  return checked((raw) => {
    let n: number;
    if (typeof raw === 'number') n = raw;
    else if (typeof raw === 'string' && /^-?\d+$/.test(raw)) n = Number(raw);
    else return { ok: false, message: `${message}, got ${describe(raw)}` };
    if (!Number.isInteger(n) || n < min || n > max) return { ok: false, message: `${message}, got ${describe(raw)}` };
    return { ok: true, value: n };
  });
}

/** A JSON number (proto double) within [min, max]. */
export function number(min: number, max: number): z.ZodType<number, unknown> {
  return checked((raw) =>
    typeof raw === 'number' && Number.isFinite(raw) && raw >= min && raw <= max
      ? { ok: true, value: raw }
      : { ok: false, message: `expected a number in [${min}, ${max}], got ${describe(raw)}` },
  );
}

export const UINT32_MAX = 4_294_967_295;

/** A uint32 (or google.protobuf.UInt32Value) within [min, max] (defaults: the whole uint32 range). */
export function uint32(min = 0, max = UINT32_MAX): z.ZodType<number, unknown> {
  return integer(min, max);
}

/** A TCP port: 0..65535 (0 = pick an ephemeral port, for listeners). */
export function port(min = 0): z.ZodType<number, unknown> {
  return checked((raw) => {
    const r = integer(min, 65535).safeParse(raw);
    return r.success ? { ok: true, value: r.data } : { ok: false, message: `expected a port number in [${min}, 65535], got ${describe(raw)}` };
  });
}

/** A strict JSON boolean (proto3 JSON has no "yes"/"on"). */
export function bool(): z.ZodType<boolean, unknown> {
  return checked((raw) =>
    typeof raw === 'boolean' ? { ok: true, value: raw } : { ok: false, message: `expected true or false, got ${describe(raw)}` },
  );
}

/** A string; `nonEmpty` rejects "" (Envoy's `min_len: 1`). */
export function string(opts: { nonEmpty?: boolean } = {}): z.ZodType<string, unknown> {
  return checked((raw) => {
    if (typeof raw !== 'string') return { ok: false, message: `expected a string, got ${describe(raw)}` };
    if (opts.nonEmpty === true && raw === '') return { ok: false, message: 'must not be empty' };
    return { ok: true, value: raw };
  });
}

/**
 * A duration ("0.25s" or `{seconds, nanos}`) as milliseconds. `positive` is Envoy's `gt: {}`
 * (a duration of zero is rejected).
 */
export function duration(opts: { positive?: boolean } = {}): z.ZodType<number, unknown> {
  return checked((raw) => {
    const r = parseDuration(raw);
    if (!r.ok) return { ok: false, message: r.message };
    if (opts.positive === true && r.seconds === 0 && r.nanos === 0) return { ok: false, message: 'duration must be greater than 0s' };
    return { ok: true, value: r.ms };
  });
}

/**
 * An enum by its Envoy name. Names in `unsupported` are valid Envoy values sluice does not
 * implement yet, and get that message instead of "expected one of".
 */
export function enumOf<const T extends string>(supported: readonly T[], unsupported: readonly string[] = []): z.ZodType<T, unknown> {
  return checked((raw) => {
    if (typeof raw === 'string' && (supported as readonly string[]).includes(raw)) return { ok: true, value: raw as T };
    if (typeof raw === 'string' && unsupported.includes(raw)) return { ok: false, message: `${raw} is not supported by sluice yet` };
    return { ok: false, message: `expected one of ${supported.join(', ')}, got ${describe(raw)}` };
  });
}

/** A list of `item`; a missing list is empty (proto3 repeated fields). */
export function list<T>(item: z.ZodType<T, unknown>, opts: { min?: number } = {}): z.ZodType<T[], unknown> {
  const min = opts.min ?? 0;
  return z
    .array(item, { error: (iss) => (iss.code === 'invalid_type' ? `expected a list, got ${describe(iss.input)}` : undefined) })
    .optional()
    .transform((v, ctx) => {
      const out = v ?? [];
      if (out.length < min) {
        ctx.addIssue({ code: 'custom', message: min === 1 ? 'must have at least one entry' : `must have at least ${min} entries` });
        return z.NEVER;
      }
      return out;
    });
}

export interface SocketAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/**
 * envoy.config.core.v3.SocketAddress with an IP literal `address` (DNS names need a resolver,
 * which static clusters and listeners do not have).
 */
export function socketAddress(opts: { minPort?: number } = {}) {
  return strictObject({
    address: checked<string>((raw) => {
      if (typeof raw !== 'string') return { ok: false, message: `expected an IP address, got ${describe(raw)}` };
      if (isIP(raw) === 0) return { ok: false, message: `expected an IP address, got ${describe(raw)} (DNS names are not supported by sluice yet)` };
      return { ok: true, value: raw };
    }),
    port_value: port(opts.minPort ?? 0).optional(),
    protocol: enumOf(['TCP'], ['UDP']).optional(),
    ...notSupported(['named_port', 'resolver_name', 'ipv4_compat', 'network_namespace_filepath']),
  }).transform(
    (a): SocketAddress => ({ address: a.address, port: a.port_value ?? 0, family: isIP(a.address) === 6 ? 'IPv6' : 'IPv4' }),
  );
}

/** envoy.config.core.v3.Address, of which only `socket_address` is supported. */
export function address(opts: { minPort?: number } = {}) {
  return strictObject({
    socket_address: socketAddress(opts),
    ...notSupported(['pipe', 'envoy_internal_address']),
  }).transform((a) => a.socket_address);
}

/** Splits a typed_config (google.protobuf.Any in JSON form) into its type URL and its fields. */
export function splitTypedConfig(raw: unknown): { typeUrl: string | undefined; body: unknown } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { typeUrl: undefined, body: raw };
  const { '@type': typeUrl, ...body } = raw as Record<string, unknown>;
  return { typeUrl: typeof typeUrl === 'string' ? typeUrl : undefined, body };
}

function issueToProblem(base: string, issue: z.core.$ZodIssue): ConfigProblem[] {
  let path = base;
  for (const key of issue.path) path = joinPath(path, typeof key === 'symbol' ? String(key) : key);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path, detail: `unknown field "${k}"` }));
  }
  // `notSupported` fields are z.never(): report them at the enclosing object.
  if (issue.code === 'invalid_type' && issue.expected === 'never') {
    let parent = base;
    for (const key of issue.path.slice(0, -1)) parent = joinPath(parent, typeof key === 'symbol' ? String(key) : key);
    return [{ path: parent, detail: issue.message }];
  }
  return [{ path, detail: issue.message }];
}

/** Messages for issues raised by plain zod schemas (ours carry their own messages). */
function defaultMessage(iss: z.core.$ZodRawIssue): string | undefined {
  if (iss.code === 'invalid_type') {
    if (iss.input === undefined) return REQUIRED_MESSAGE;
    const expected = iss.expected === 'object' || iss.expected === 'record' ? 'an object' : iss.expected === 'array' ? 'a list' : iss.expected;
    return `expected ${expected}, got ${describe(iss.input)}`;
  }
  if (iss.code === 'invalid_value') return `expected one of ${iss.values.map((v) => String(v)).join(', ')}, got ${describe(iss.input)}`;
  return undefined;
}

/** One ConfigError for every issue of a ZodError, with paths under `path`. */
export function configErrorFromZod(err: z.ZodError, path: string): ConfigError {
  const problems = err.issues.flatMap((i) => issueToProblem(path, i));
  if (problems.length === 0) return new ConfigError(path, 'invalid value');
  return ConfigError.aggregate(problems);
}

/**
 * Parses `raw` with `schema`; on failure throws one ConfigError listing every problem, each
 * prefixed with its full dotted path under `path`.
 */
export function parseWith<T>(schema: z.ZodType<T, unknown>, raw: unknown, path: string): T {
  const r = schema.safeParse(raw, { error: defaultMessage });
  if (r.success) return r.data;
  throw configErrorFromZod(r.error, path);
}
