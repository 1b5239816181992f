/**
 * x-request-id UUIDs: version 4 with the RFC 9562 variant, lowercase hex in the 8-4-4-4-12 form,
 * distinct across several refills of the random pool, and every hex digit position varies (the
 * random bytes really reach the text, not a fixed or stale pattern).
 */
import { describe, expect, it } from 'vitest';
import { uuid } from '../../../../src/common/uuid.js';

const FORM = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuid', () => {
  it('is a version 4 UUID, distinct across pool refills, with random digits in every free position', () => {
    const seen = new Set<string>();
    const digits: Array<Set<string>> = Array.from({ length: 36 }, () => new Set());
    for (let i = 0; i < 2000; i++) {
      const id = uuid();
      expect(id).toMatch(FORM);
      seen.add(id);
      for (let p = 0; p < 36; p++) digits[p]!.add(id[p]!);
    }
    expect(seen.size).toBe(2000);
    for (let p = 0; p < 36; p++) {
      if ([8, 13, 18, 23].includes(p)) expect([...digits[p]!]).toEqual(['-']);
      else if (p === 14) expect([...digits[p]!]).toEqual(['4']);
      else if (p === 19) expect([...digits[p]!].sort()).toEqual(['8', '9', 'a', 'b']);
      else expect(digits[p]!.size).toBe(16);
    }
  });

  it('returns a string of its own each time (the scratch buffer is not shared)', () => {
    const a = uuid();
    const copy = `${a}`;
    uuid();
    expect(a).toBe(copy);
  });
});
