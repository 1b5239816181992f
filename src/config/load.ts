/**
 * Loading a configuration: YAML (or JSON, which YAML reads too) text -> the typed bootstrap, with
 * every filter's typed_config parsed by its registered factory at its path
 * (`static_resources.listeners[0].filter_chains[0].filters[0].typed_config`).
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseAllDocuments } from 'yaml';
import { ZodError } from 'zod';
import type {
  ConfigValidationContext,
  NamedListenerFilterConfigFactory,
  NamedNetworkFilterConfigFactory,
} from '../api/filter-config.js';
import { parseBootstrap, type BootstrapConfig } from './bootstrap.js';
import { ConfigError, ConfigProblems, joinPath } from './config-error.js';
import type { FilterRegistry } from './filter-registry.js';
import type { FilterChainConfig, ListenerConfig, RawFilterConfig } from './listener-config.js';
import { configErrorFromZod } from './schema-helpers.js';

/** A network filter with its factory and parsed config, ready to build filter factories. */
export interface ResolvedNetworkFilter {
  readonly name: string;
  readonly factory: NamedNetworkFilterConfigFactory;
  readonly config: unknown;
  /** Where it was configured, for messages. */
  readonly path: string;
}

export interface ResolvedListenerFilter {
  readonly name: string;
  readonly factory: NamedListenerFilterConfigFactory;
  readonly config: unknown;
  readonly path: string;
}

export type LoadedBootstrap = BootstrapConfig<ResolvedNetworkFilter, ResolvedListenerFilter>;
export type LoadedListenerConfig = ListenerConfig<ResolvedNetworkFilter, ResolvedListenerFilter>;
export type LoadedFilterChain = FilterChainConfig<ResolvedNetworkFilter>;

/**
 * Parses YAML or JSON text into a plain document. Syntax errors become a ConfigError whose path
 * is `<source>:<line>:<column>`. An empty document is `{}`.
 */
export function parseConfigText(text: string, source = '<config>'): unknown {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) return {}; // an empty stream
  const problems = new ConfigProblems();
  for (const doc of docs) {
    for (const err of doc.errors) {
      const { line, col } = lineCounter.linePos(err.pos[0]);
      problems.add(`${source}:${line}:${col}`, `YAML syntax error: ${err.message}`);
    }
  }
  problems.throwIfAny();
  if (docs.length > 1) {
    const { line, col } = lineCounter.linePos(docs[1]!.range[0]);
    throw new ConfigError(`${source}:${line}:${col}`, 'expected one YAML document, found several');
  }
  const value: unknown = docs[0]?.toJS({ maxAliasCount: 100 });
  return value ?? {};
}

/** Runs a factory's parseConfig, turning any ZodError it lets escape into a ConfigError at `path`. */
function runParse<C>(parse: () => C, path: string): C {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ZodError) throw configErrorFromZod(e, path);
    throw e;
  }
}

function resolveChain(
  chain: FilterChainConfig<RawFilterConfig>,
  chainPath: string,
  registry: FilterRegistry,
  ctx: ConfigValidationContext,
  problems: ConfigProblems,
): LoadedFilterChain {
  const filters: ResolvedNetworkFilter[] = [];
  const base = joinPath(chainPath, 'filters');
  chain.filters.forEach((raw, k) => {
    const path = joinPath(base, k);
    problems.capture(() => {
      const factory = registry.network.resolve(raw.name, raw.typeUrl, path);
      const last = k === chain.filters.length - 1;
      if (factory.isTerminalFilter && !last) {
        problems.add(path, `terminal filter "${factory.name}" must be the last filter in a network filter chain`);
      } else if (!factory.isTerminalFilter && last) {
        problems.add(path, `non-terminal filter "${factory.name}" is the last filter in a network filter chain`);
      }
      const config = runParse(() => factory.parseConfig(raw.typedConfig, joinPath(path, 'typed_config'), ctx), joinPath(path, 'typed_config'));
      filters.push({ name: raw.name, factory, config, path });
    });
  });
  return { ...chain, filters };
}

/**
 * Validates a parsed document and resolves its filters through `registry`. Throws one
 * ConfigError listing every problem.
 */
export function loadBootstrap(raw: unknown, registry: FilterRegistry): LoadedBootstrap {
  const bootstrap = parseBootstrap(raw);
  const clusterNames = new Set(bootstrap.clusters.map((c) => c.name));
  const ctx: ConfigValidationContext = {
    clusterExists: (name) => clusterNames.has(name),
    httpFilterFactory: (name, typeUrl) => registry.http.find(name, typeUrl),
  };
  const problems = new ConfigProblems();
  const listeners = bootstrap.listeners.map((l, i): LoadedListenerConfig => {
    const lpath = joinPath('static_resources.listeners', i);
    const listenerFilters: ResolvedListenerFilter[] = [];
    l.listenerFilters.forEach((raw, k) => {
      const path = joinPath(joinPath(lpath, 'listener_filters'), k);
      problems.capture(() => {
        const factory = registry.listener.resolve(raw.name, raw.typeUrl, path);
        const config = runParse(() => factory.parseConfig(raw.typedConfig, joinPath(path, 'typed_config'), ctx), joinPath(path, 'typed_config'));
        listenerFilters.push({ name: raw.name, factory, config, path });
      });
    });
    const filterChains = l.filterChains.map((c, j) =>
      resolveChain(c, joinPath(joinPath(lpath, 'filter_chains'), j), registry, ctx, problems),
    );
    const defaultFilterChain =
      l.defaultFilterChain === undefined
        ? undefined
        : resolveChain(l.defaultFilterChain, joinPath(lpath, 'default_filter_chain'), registry, ctx, problems);
    return { ...l, listenerFilters, filterChains, defaultFilterChain };
  });
  problems.throwIfAny();
  return { ...bootstrap, listeners };
}

/** Parses and loads config text (YAML or JSON). */
export function loadConfigText(text: string, registry: FilterRegistry, source = '<config>'): LoadedBootstrap {
  return loadBootstrap(parseConfigText(text, source), registry);
}

/** Reads, parses and loads a config file. A file that cannot be read is a ConfigError too. */
export function loadConfigFile(file: string, registry: FilterRegistry): LoadedBootstrap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, `cannot read the config file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return loadConfigText(text, registry, file);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Merges `overlay` into `base` the way Envoy merges `--config-yaml` into `--config-path`
 * (protobuf MergeFrom): mappings merge key by key, lists are appended, anything else is replaced.
 */
export function mergeDocuments(base: unknown, overlay: unknown): unknown {
  if (isPlainObject(base) && isPlainObject(overlay)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(overlay)) out[k] = k in out ? mergeDocuments(out[k], v) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(overlay)) return [...base, ...overlay];
  return overlay;
}
