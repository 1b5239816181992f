/** A HeaderMap as a plain object for exact assertions; repeated names join with ',' (undefined: {}). */
import type { HeaderMap } from '../../src/api/http-codec.js';

export function headersObject(h: HeaderMap | undefined): Record<string, string> {
  const o: Record<string, string> = {};
  h?.forEach((n, v) => {
    o[n] = o[n] === undefined ? v : `${o[n]},${v}`;
  });
  return o;
}
