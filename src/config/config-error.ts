/**
 * Configuration errors. Every problem names the dotted path of the offending field the way Envoy
 * users read their YAML (`static_resources.clusters[0].connect_timeout`), so a message can be
 * acted on without a debugger: `<path>: <what is wrong>`.
 */

/** One problem at one place in the config. */
export interface ConfigProblem {
  /** Dotted path of the field ('' for the document itself). */
  readonly path: string;
  /** What is wrong, without the path. */
  readonly detail: string;
}

/** Renders a path for messages: the empty root path reads as `(root)`. */
export function displayPath(path: string): string {
  return path === '' ? '(root)' : path;
}

function formatProblem(p: ConfigProblem): string {
  return `${displayPath(p.path)}: ${p.detail}`;
}

/**
 * A rejected configuration. `path` and `detail` describe the first problem; `problems` lists all
 * of them (one line each in `message`, in document order).
 */
export class ConfigError extends Error {
  readonly path: string;
  readonly detail: string;
  readonly problems: readonly ConfigProblem[];

  constructor(path: string, detail: string, more: readonly ConfigProblem[] = []) {
    const problems = [{ path, detail }, ...more];
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.path = path;
    this.detail = detail;
    this.problems = problems;
  }

  /** One error listing every problem of `errors` (flattened); throws on an empty list. */
  static aggregate(errors: readonly (ConfigError | ConfigProblem)[]): ConfigError {
    const problems: ConfigProblem[] = [];
    for (const e of errors) {
      if (e instanceof ConfigError) problems.push(...e.problems);
      else problems.push(e);
    }
    const [first, ...rest] = problems;
    if (first === undefined) throw new RangeError('ConfigError.aggregate needs at least one problem');
    return new ConfigError(first.path, first.detail, rest);
  }
}

const IDENTIFIER = /^@?[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Appends one step to a dotted path: numbers become `[i]`, identifiers `.name`, anything else
 * (map keys such as extension names with dots) `["key"]`.
 */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (!IDENTIFIER.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base === '' ? key : `${base}.${key}`;
}

/** Collects problems while validating, to report all of them at once. */
export class ConfigProblems {
  private readonly list: ConfigProblem[] = [];

  add(path: string, detail: string): void {
    this.list.push({ path, detail });
  }

  /** Records the problems of a thrown ConfigError; rethrows anything else. */
  capture(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.list.push(...e.problems);
    }
  }

  get size(): number {
    return this.list.length;
  }

  /** Throws one ConfigError listing everything collected, if anything was. */
  throwIfAny(): void {
    if (this.list.length > 0) throw ConfigError.aggregate(this.list);
  }
}
