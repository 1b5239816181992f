import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, isLogLevel, type LogLevelName } from '../../../../src/common/logger.js';

function capture(level: LogLevelName) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level, destination, base: { node: 't' } }), lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line with a level label', () => {
    const { logger, lines } = capture('info');
    logger.info({ a: 1 }, 'hello');
    logger.debug('hidden');
    logger.child({ listener: 'l' }).warn('careful');
    expect(lines.map(({ time: _t, pid: _p, ...rest }) => rest)).toEqual([
      { level: 'info', node: 't', a: 1, msg: 'hello' },
      { level: 'warn', node: 't', listener: 'l', msg: 'careful' },
    ]);
    expect(typeof lines[0]!['time']).toBe('number');
    expect(lines[0]!['pid']).toBe(process.pid);
  });

  it.each<[LogLevelName, string[]]>([
    ['trace', ['trace', 'debug', 'info', 'warn', 'error']],
    ['debug', ['debug', 'info', 'warn', 'error']],
    ['warning', ['warn', 'error']],
    ['error', ['error']],
    ['critical', []],
    ['off', []],
  ])('level %s lets through %j', (level, expected) => {
    const { logger, lines } = capture(level);
    logger.trace('t');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines.map((l) => l['level'])).toEqual(expected);
    expect(logger.isLevelEnabled('debug')).toBe(expected.includes('debug'));
  });

  it('knows the level names', () => {
    expect(isLogLevel('warning')).toBe(true);
    expect(isLogLevel('verbose')).toBe(false);
  });
});
