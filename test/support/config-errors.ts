/** Assertions on configuration errors: what a parser throws, as a ConfigError or as lines. */
import { ConfigError } from '../../src/config/config-error.js';

/** The ConfigError `fn` throws; anything else thrown is rethrown, and not throwing is an error. */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

/** Every problem of the ConfigError `fn` throws, one `path: detail` line each. */
export function problemLines(fn: () => unknown): string[] {
  return configErrorOf(fn).problems.map((p) => `${p.path}: ${p.detail}`);
}
