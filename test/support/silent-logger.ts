/** A Logger that drops everything, for tests that build servers, filters or harnesses. */
import type { Logger } from '../../src/api/logger.js';

export const silentLogger: Logger = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
  isLevelEnabled: () => false,
};
