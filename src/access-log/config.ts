/**
 * Parsing of `access_log[]` entries (envoy.config.accesslog.v3.AccessLog), shared by the HTTP
 * connection manager and tcp_proxy. Supported loggers: `envoy.access_loggers.file` (FileAccessLog:
 * `path`, `log_format`, the deprecated `format` / `json_format`), `envoy.access_loggers.stdout`
 * and `envoy.access_loggers.stderr` (`log_format`). Without a format, Envoy's default line is used.
 * Formats are compiled here, so a bad command operator fails the config load; files are opened by
 * createAccessLogs.
 */
import { z } from 'zod';
import type { Scope } from '../api/stats.js';
import { ConfigError, joinPath } from '../config/config-error.js';
import {
  bool,
  ignored,
  list,
  notSupported,
  parseWith,
  splitTypedConfig,
  strictObject,
  string,
} from '../config/schema-helpers.js';
import {
  accessLogFileStats,
  BufferedLogSink,
  FileLogTarget,
  FormattedAccessLog,
  type AccessLog,
  type LogTarget,
} from './access-log.js';
import { compileTextFormat, DEFAULT_FORMAT, type Formatter } from './format.js';
import { compileJsonFormat } from './json-format.js';

export const FILE_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const STDOUT_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
export const STDERR_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

type LoggerKind = 'file' | 'stdout' | 'stderr';

const BY_NAME: Readonly<Record<string, LoggerKind>> = {
  'envoy.access_loggers.file': 'file',
  'envoy.file_access_log': 'file',
  'envoy.access_loggers.stdout': 'stdout',
  'envoy.access_loggers.stderr': 'stderr',
};

const BY_TYPE_URL: Readonly<Record<string, LoggerKind>> = {
  [FILE_ACCESS_LOG_TYPE_URL]: 'file',
  [STDOUT_ACCESS_LOG_TYPE_URL]: 'stdout',
  [STDERR_ACCESS_LOG_TYPE_URL]: 'stderr',
};

/** One validated access log. */
export type AccessLogConfig =
  | { readonly kind: 'file'; readonly path: string; readonly formatter: Formatter }
  | { readonly kind: 'stdout' | 'stderr'; readonly formatter: Formatter };

const dataSource = strictObject({
  inline_string: string().optional(),
  inline_bytes: string().optional(),
  ...notSupported(['filename', 'environment_variable', 'watched_directory']),
});

const substitutionFormatString = strictObject({
  text_format: string().optional(),
  json_format: z.unknown().optional(),
  text_format_source: dataSource.optional(),
  omit_empty_values: bool().optional(),
  ...ignored(['content_type', 'json_format_options']),
  ...notSupported(['formatters', 'typed_json_format']),
});

type SubstitutionFormatString = z.infer<typeof substitutionFormatString>;

const fileAccessLog = strictObject({
  path: string({ nonEmpty: true }),
  log_format: substitutionFormatString.optional(),
  format: string().optional(),
  json_format: z.unknown().optional(),
  ...notSupported(['typed_json_format']),
});

const streamAccessLog = strictObject({
  log_format: substitutionFormatString.optional(),
});

const accessLogEntry = strictObject({
  name: string().optional(),
  typed_config: z.unknown().optional(),
  ...notSupported(['filter']),
});

function compileSubstitution(f: SubstitutionFormatString, path: string): Formatter {
  const set = [f.text_format, f.json_format, f.text_format_source].filter((x) => x !== undefined).length;
  if (set !== 1) throw new ConfigError(path, 'exactly one of text_format, json_format, text_format_source must be set');
  const opts = { omitEmptyValues: f.omit_empty_values === true };
  if (f.text_format !== undefined) return compileTextFormat(f.text_format, joinPath(path, 'text_format'), opts);
  if (f.json_format !== undefined) return compileJsonFormat(f.json_format, joinPath(path, 'json_format'), opts);
  const src = f.text_format_source!;
  const srcPath = joinPath(path, 'text_format_source');
  if (src.inline_string !== undefined && src.inline_bytes === undefined) {
    return compileTextFormat(src.inline_string, joinPath(srcPath, 'inline_string'), opts);
  }
  if (src.inline_bytes !== undefined && src.inline_string === undefined) {
    return compileTextFormat(Buffer.from(src.inline_bytes, 'base64').toString('utf8'), joinPath(srcPath, 'inline_bytes'), opts);
  }
  throw new ConfigError(srcPath, 'exactly one of inline_string, inline_bytes must be set');
}

function parseOne(raw: unknown, path: string): AccessLogConfig {
  const entry = parseWith(accessLogEntry, raw, path);
  const tcPath = joinPath(path, 'typed_config');
  const { typeUrl, body } = splitTypedConfig(entry.typed_config ?? {});
  let kind: LoggerKind | undefined;
  if (typeUrl !== undefined) {
    kind = BY_TYPE_URL[typeUrl];
    if (kind === undefined) throw new ConfigError(joinPath(tcPath, '@type'), `unsupported access logger type "${typeUrl}"`);
  } else if (entry.name !== undefined) {
    kind = BY_NAME[entry.name];
    if (kind === undefined) throw new ConfigError(joinPath(path, 'name'), `unsupported access logger "${entry.name}"`);
  } else {
    throw new ConfigError(path, 'an access log needs typed_config with an @type (or a known name)');
  }
  if (kind === 'file') {
    const f = parseWith(fileAccessLog, body, tcPath);
    const formats = [f.log_format, f.format, f.json_format].filter((x) => x !== undefined).length;
    if (formats > 1) throw new ConfigError(tcPath, 'at most one of log_format, format, json_format may be set');
    let formatter: Formatter;
    if (f.log_format !== undefined) formatter = compileSubstitution(f.log_format, joinPath(tcPath, 'log_format'));
    else if (f.format !== undefined) formatter = compileTextFormat(f.format, joinPath(tcPath, 'format'));
    else if (f.json_format !== undefined) formatter = compileJsonFormat(f.json_format, joinPath(tcPath, 'json_format'));
    else formatter = compileTextFormat(DEFAULT_FORMAT, tcPath);
    return { kind, path: f.path, formatter };
  }
  const s = parseWith(streamAccessLog, body, tcPath);
  const formatter =
    s.log_format === undefined ? compileTextFormat(DEFAULT_FORMAT, tcPath) : compileSubstitution(s.log_format, joinPath(tcPath, 'log_format'));
  return { kind, formatter };
}

/** Parses an `access_log` list at `path`; throws one ConfigError listing every problem. */
export function parseAccessLogs(raw: unknown, path: string): AccessLogConfig[] {
  const entries = parseWith(list(z.unknown()), raw, path);
  const out: AccessLogConfig[] = [];
  const problems: ConfigError[] = [];
  entries.forEach((e, i) => {
    try {
      out.push(parseOne(e, joinPath(path, i)));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err);
    }
  });
  if (problems.length > 0) throw ConfigError.aggregate(problems);
  return out;
}

/** What createAccessLogs needs besides the configs. */
export interface AccessLogContext {
  readonly scope: Scope;
  /** Where write errors of a file log are reported (they are also counted). */
  readonly onError?: (err: Error) => void;
  /** Replaces process.stdout / process.stderr (tests). */
  readonly stdout?: LogTarget;
  readonly stderr?: LogTarget;
}

/**
 * Builds the loggers; opens files for appending (throws if a file cannot be opened, naming it).
 */
export function createAccessLogs(configs: readonly AccessLogConfig[], ctx: AccessLogContext): AccessLog[] {
  const stats = accessLogFileStats(ctx.scope);
  const onError = ctx.onError ?? (() => undefined);
  return configs.map((c) => {
    let target: LogTarget;
    if (c.kind === 'file') target = new FileLogTarget(c.path, onError);
    else if (c.kind === 'stdout') target = ctx.stdout ?? process.stdout;
    else target = ctx.stderr ?? process.stderr;
    return new FormattedAccessLog(c.formatter, new BufferedLogSink(target, stats));
  });
}
