import { describe, expect, it } from 'vitest';
import { DEFAULT_DRAIN_TIME_S, parseOptions } from '../../../../src/server/options.js';

const defaults = {
  configPath: undefined,
  configYaml: undefined,
  mode: 'serve',
  logLevel: 'info',
  drainTimeS: DEFAULT_DRAIN_TIME_S,
  help: false,
  version: false,
  printDefaultConfig: false,
};

describe('parseOptions', () => {
  it('has defaults', () => {
    expect(parseOptions([])).toEqual({ ok: true, options: defaults });
  });

  it.each([
    [['-c', 'a.yaml'], { configPath: 'a.yaml' }],
    [['--config-path', 'a.yaml'], { configPath: 'a.yaml' }],
    [['--config-path=a.yaml'], { configPath: 'a.yaml' }],
    [['--config-yaml', 'admin: {}'], { configYaml: 'admin: {}' }],
    [['--validate'], { mode: 'validate' }],
    [['--mode', 'validate'], { mode: 'validate' }],
    [['--mode', 'serve', '--validate'], { mode: 'validate' }],
    [['-l', 'debug'], { logLevel: 'debug' }],
    [['--log-level', 'warning'], { logLevel: 'warning' }],
    [['--drain-time-s', '0'], { drainTimeS: 0 }],
    [['--drain-time-s', '2.5'], { drainTimeS: 2.5 }],
    [['--drain-time-s', '600'], { drainTimeS: 600 }],
    [['-h'], { help: true }],
    [['--version'], { version: true }],
    [['-v'], { version: true }],
    [['--print-default-config'], { printDefaultConfig: true }],
  ])('%j', (argv, expected) => {
    expect(parseOptions(argv)).toEqual({ ok: true, options: { ...defaults, ...expected } });
  });

  it.each([
    [['--bogus'], "Unknown option '--bogus'"],
    [['extra'], "Unexpected argument 'extra'. This command does not take positional arguments"],
    [['-c'], "Option '-c, --config-path <value>' argument missing"],
    [['-c', ''], '--config-path must not be empty'],
    [['--log-level', 'loud'], '--log-level must be one of trace, debug, info, warn, warning, error, critical, off, got "loud"'],
    [['--mode', 'init_only'], '--mode must be serve or validate, got "init_only"'],
    [['--drain-time-s=-1'], '--drain-time-s must be a non-negative number of seconds, got "-1"'],
    [['--drain-time-s', '-1'], "Option '--drain-time-s' argument is ambiguous.\nDid you forget to specify the option argument for '--drain-time-s'?\nTo specify an option argument starting with a dash use '--drain-time-s=-XYZ'."],
    [['--drain-time-s', '5s'], '--drain-time-s must be a non-negative number of seconds, got "5s"'],
    [['--drain-time-s', ''], '--drain-time-s must be a non-negative number of seconds, got ""'],
  ])('rejects %j', (argv, message) => {
    const r = parseOptions(argv);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.message).toBe(message);
  });
});
