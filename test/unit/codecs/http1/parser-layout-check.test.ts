/**
 * The start-up check that guards parser.ts's direct reads of `llhttp_t` fields: it passes on the
 * real llhttp build, and throws when any field read back is not what the probe message says
 * (as a changed struct layout would make it).
 */
import { describe, expect, it } from 'vitest';
import { Parser } from '../../../../codecs/http1/parser.js';
import { checkParserLayout } from '../../../../codecs/http1/parser-layout-check.js';

/** A parser that reports one field wrongly, as a wrong offset would. */
function misreading(field: 'httpMinor' | 'httpMajor' | 'method' | 'contentLength'): typeof Parser {
  return class extends Parser {
    override get httpMinor(): number {
      return field === 'httpMinor' ? 1 : super.httpMinor;
    }
    override get httpMajor(): number {
      return field === 'httpMajor' ? 0 : super.httpMajor;
    }
    override get method(): string {
      return field === 'method' ? 'GET' : super.method;
    }
    override get contentLength(): number | undefined {
      return field === 'contentLength' ? 7 : super.contentLength;
    }
  };
}

describe('checkParserLayout', () => {
  it('passes on the pinned llhttp build', () => {
    expect(() => checkParserLayout((cb) => new Parser('request', cb))).not.toThrow();
  });

  it.each(['httpMinor', 'httpMajor', 'method', 'contentLength'] as const)('throws when %s reads wrong', (field) => {
    const P = misreading(field);
    expect(() => checkParserLayout((cb) => new P('request', cb))).toThrow('llhttp_t layout differs');
  });
});
