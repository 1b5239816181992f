import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../../src/config/duration.js';

describe('parseDuration', () => {
  it.each([
    ['0s', 0],
    ['0.25s', 250],
    ['1s', 1000],
    ['1.5s', 1500],
    ['15s', 15_000],
    ['0.000000001s', 0],
    ['0.0015s', 1],
    ['3600s', 3_600_000],
    ['1.123456789s', 1123],
  ])('%s -> %d ms', (raw, ms) => {
    expect(parseDuration(raw)).toMatchObject({ ok: true, ms });
  });

  it.each([
    [{ seconds: 1, nanos: 500_000_000 }, 1500],
    [{ seconds: '2' }, 2000],
    [{ nanos: 250_000_000 }, 250],
    [{}, 0],
  ])('object form %j -> %d ms', (raw, ms) => {
    expect(parseDuration(raw)).toMatchObject({ ok: true, ms });
  });

  it.each([
    ['1', 'expected a duration like "0.25s"'],
    ['250ms', 'expected a duration like "0.25s"'],
    ['1m', 'expected a duration like "0.25s"'],
    ['1.s', 'expected a duration like "0.25s"'],
    ['.5s', 'expected a duration like "0.25s"'],
    ['1.0000000001s', 'expected a duration like "0.25s"'],
    [' 1s', 'expected a duration like "0.25s"'],
    ['', 'expected a duration like "0.25s"'],
    [1, 'expected a duration like "0.25s"'],
    [null, 'expected a duration like "0.25s"'],
    [['1s'], 'expected a duration like "0.25s"'],
    ['-1s', 'duration must not be negative'],
    [{ seconds: -1 }, 'duration must not be negative'],
    [{ seconds: 1.5 }, 'duration seconds must be an integer'],
    [{ nanos: 1_000_000_000 }, 'duration nanos must be in [0, 999999999]'],
    [{ seconds: 1, millis: 2 }, 'unknown field "millis" in duration'],
    ['315576000001s', 'duration exceeds the maximum of 315576000000s'],
  ])('rejects %j: %s', (raw, message) => {
    expect(parseDuration(raw)).toEqual({ ok: false, message });
  });

  it('keeps seconds and nanos', () => {
    expect(parseDuration('2.000000005s')).toEqual({ ok: true, seconds: 2, nanos: 5, ms: 2000 });
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [250, '0.25s'],
    [1000, '1s'],
    [1500, '1.5s'],
    [5, '0.005s'],
  ])('%d ms -> %s', (ms, s) => {
    expect(formatDuration(ms)).toBe(s);
    expect(parseDuration(s)).toMatchObject({ ok: true, ms });
  });
});
