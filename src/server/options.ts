/**
 * Command-line options (Envoy's server/options_impl): parsed with node:util parseArgs into plain
 * values; problems come back as a message for the usage error, never as a throw.
 */
import { parseArgs } from 'node:util';
import { isLogLevel, LOG_LEVELS, type LogLevelName } from '../common/logger.js';

export const DEFAULT_DRAIN_TIME_S = 5;

export interface CommandLineOptions {
  /** `-c/--config-path`: the bootstrap file (YAML or JSON). */
  readonly configPath: string | undefined;
  /** `--config-yaml`: inline YAML, merged over the file as Envoy does (lists append). */
  readonly configYaml: string | undefined;
  /** `--validate` / `--mode validate`: check the config and exit. */
  readonly mode: 'serve' | 'validate';
  readonly logLevel: LogLevelName;
  /** `--drain-time-s`: how long a drain waits for active connections before closing them. */
  readonly drainTimeS: number;
  readonly help: boolean;
  readonly version: boolean;
  readonly printDefaultConfig: boolean;
}

export type OptionsResult = { readonly ok: true; readonly options: CommandLineOptions } | { readonly ok: false; readonly message: string };

export const USAGE = `Usage: sluice [options]

sluice is an HTTP/1.1 and HTTP/2 reverse proxy configured with Envoy's v3 bootstrap YAML.
Without -c it runs an embedded demo: a proxy on 127.0.0.1:8080 in front of a demo origin on
127.0.0.1:8081, and the admin listener on 127.0.0.1:9901.

Options:
  -c, --config-path FILE     bootstrap config file (YAML or JSON)
      --config-yaml YAML     inline bootstrap YAML; merged over --config-path (lists append)
      --validate             validate the config, print the result and exit (0 = valid)
      --mode serve|validate  same as --validate when "validate" (Envoy's flag)
  -l, --log-level LEVEL      ${LOG_LEVELS.join('|')} (default: info)
      --drain-time-s N       on SIGTERM/SIGINT, wait up to N seconds for active connections
                             (default: ${DEFAULT_DRAIN_TIME_S})
      --print-default-config print the embedded default config and exit
  -h, --help                 print this help and exit
  -v, --version              print the version and exit
`;

export function parseOptions(argv: readonly string[]): OptionsResult {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'config-path': { type: 'string', short: 'c' },
        'config-yaml': { type: 'string' },
        validate: { type: 'boolean' },
        mode: { type: 'string' },
        'log-level': { type: 'string', short: 'l' },
        'drain-time-s': { type: 'string' },
        'print-default-config': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    }));
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  const logLevel = values['log-level'] ?? 'info';
  if (!isLogLevel(logLevel)) return { ok: false, message: `--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"` };
  const mode = values.mode ?? 'serve';
  if (mode !== 'serve' && mode !== 'validate') return { ok: false, message: `--mode must be serve or validate, got "${mode}"` };
  let drainTimeS = DEFAULT_DRAIN_TIME_S;
  const drain = values['drain-time-s'];
  if (drain !== undefined) {
    drainTimeS = Number(drain);
    if (!/^\d+(\.\d+)?$/.test(drain) || !Number.isFinite(drainTimeS)) {
      return { ok: false, message: `--drain-time-s must be a non-negative number of seconds, got "${drain}"` };
    }
  }
  const configPath = values['config-path'];
  if (configPath === '') return { ok: false, message: '--config-path must not be empty' };
  return {
    ok: true,
    options: {
      configPath,
      configYaml: values['config-yaml'],
      mode: values.validate === true ? 'validate' : mode,
      logLevel,
      drainTimeS,
      help: values.help === true,
      version: values.version === true,
      printDefaultConfig: values['print-default-config'] === true,
    },
  };
}
