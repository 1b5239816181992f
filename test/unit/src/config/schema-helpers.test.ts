import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, joinPath } from '../../../../src/config/config-error.js';
import {
  bool,
  configErrorFromZod,
  duration,
  enumOf,
  integer,
  list,
  notSupported,
  parseWith,
  port,
  socketAddress,
  strictObject,
  string,
  typedConfigObject,
  uint32,
} from '../../../../src/config/schema-helpers.js';

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return 'no error';
}

describe('joinPath', () => {
  it.each([
    ['', 'a', 'a'],
    ['a', 'b', 'a.b'],
    ['a', 0, 'a[0]'],
    ['a', '@type', 'a.@type'],
    ['a', 'envoy.x.v3.Y', 'a["envoy.x.v3.Y"]'],
    ['', 'has space', '["has space"]'],
  ])('%j + %j = %s', (base, key, out) => {
    expect(joinPath(base, key)).toBe(out);
  });
});

describe('scalars', () => {
  it.each<[string, z.ZodType<unknown, unknown>, unknown, unknown]>([
    ['uint32 number', uint32(), 7, 7],
    ['uint32 digit string (proto3 JSON)', uint32(), '42', 42],
    ['integer range', integer(-5, 5), -5, -5],
    ['port 0', port(), 0, 0],
    ['bool', bool(), false, false],
    ['string', string(), '', ''],
    ['duration', duration(), '2.5s', 2500],
    ['enum', enumOf(['A', 'B']), 'B', 'B'],
    ['list default', list(string()), undefined, []],
  ])('%s', (_label, schema, raw, out) => {
    expect(parseWith(schema, raw, 'x')).toEqual(out);
  });

  it.each<[string, z.ZodType<unknown, unknown>, unknown, string]>([
    ['uint32 negative', uint32(), -1, 'x: expected an integer in [0, 4294967295], got -1'],
    ['uint32 too big', uint32(), 2 ** 32, 'x: expected an integer in [0, 4294967295], got 4294967296'],
    ['uint32 with min', uint32(1), 0, 'x: expected an integer in [1, 4294967295], got 0'],
    ['uint32 as bool', uint32(), true, 'x: expected an integer in [0, 4294967295], got true'],
    ['port', port(1), '80x', 'x: expected a port number in [1, 65535], got "80x"'],
    ['bool as string', bool(), 'true', 'x: expected true or false, got "true"'],
    ['empty string', string({ nonEmpty: true }), '', 'x: must not be empty'],
    ['string as number', string(), 1, 'x: expected a string, got 1'],
    ['zero duration', duration({ positive: true }), { nanos: 0 }, 'x: duration must be greater than 0s'],
    ['required', string(), undefined, 'x: required field is missing'],
    ['list of one', list(string(), { min: 1 }), [], 'x: must have at least one entry'],
    ['list as object', list(string()), {}, 'x: expected a list, got an object'],
    ['list item', list(uint32()), [1, 'a'], 'x[1]: expected an integer in [0, 4294967295], got "a"'],
    ['enum unsupported', enumOf(['A'], ['Z']), 'Z', 'x: Z is not supported by sluice yet'],
    ['long input is cut', uint32(), 'a'.repeat(50), `x: expected an integer in [0, 4294967295], got "${'a'.repeat(40)}..."`],
  ])('%s', (_label, schema, raw, message) => {
    expect(problem(() => parseWith(schema, raw, 'x'))).toBe(message);
  });
});

describe('objects', () => {
  const schema = strictObject({ a: uint32().optional(), inner: strictObject({ b: string() }).optional(), ...notSupported(['legacy']) });

  it('names unknown and unsupported fields at the enclosing object, in schema order', () => {
    expect(problem(() => parseWith(schema, { zz: 1, legacy: true, inner: { b: 'x', c: 2 } }, 'root.obj'))).toBe(
      ['root.obj.inner: unknown field "c"', 'root.obj: field "legacy" is not supported by sluice yet', 'root.obj: unknown field "zz"'].join('\n'),
    );
  });

  it('says when an object is expected', () => {
    expect(problem(() => parseWith(schema, [], 'o'))).toBe('o: expected an object, got a list');
    expect(problem(() => parseWith(schema, null, 'o'))).toBe('o: expected an object, got null');
  });

  it('typedConfigObject drops @type and keeps other fields strict', () => {
    const t = typedConfigObject({ n: uint32() });
    expect(parseWith(t, { '@type': 'type.googleapis.com/x', n: 1 }, 'f.typed_config')).toEqual({ n: 1 });
    expect(problem(() => parseWith(t, { n: 1, m: 2 }, 'f.typed_config'))).toBe('f.typed_config: unknown field "m"');
  });

  it('socket addresses need an IP literal and give the family', () => {
    expect(parseWith(socketAddress(), { address: '::1', port_value: '80' }, 's')).toEqual({ address: '::1', port: 80, family: 'IPv6' });
    expect(problem(() => parseWith(socketAddress(), { address: '10.0.0.1', protocol: 'UDP' }, 's'))).toBe('s.protocol: UDP is not supported by sluice yet');
  });

  it('turns a plain ZodError into a ConfigError under a path', () => {
    const r = z.object({ q: z.number() }).safeParse({ q: 'x' });
    expect(r.success).toBe(false);
    const e = configErrorFromZod(r.error!, 'filters[0].typed_config');
    expect(e.path).toBe('filters[0].typed_config.q');
    expect(e.message.startsWith('filters[0].typed_config.q: ')).toBe(true);
  });
});
