/**
 * The filter factories, by Envoy name and by typed_config `@type` URL (Envoy's
 * Registry::FactoryRegistry). main.ts registers the filters; the core only ever finds them here,
 * which keeps `src/` free of imports from `filters/`.
 *
 * Lookup follows Envoy: the `@type` of typed_config picks the factory when it names one; otherwise
 * the filter's `name` does.
 */
import type {
  NamedHttpFilterConfigFactory,
  NamedListenerFilterConfigFactory,
  NamedNetworkFilterConfigFactory,
} from '../api/filter-config.js';
import { ConfigError, joinPath } from './config-error.js';

interface Factory {
  readonly name: string;
  readonly typeUrls: readonly string[];
}

/** Factories of one kind of filter. */
class FactoryTable<F extends Factory> {
  private readonly byName = new Map<string, F>();
  private readonly byTypeUrl = new Map<string, F>();

  constructor(private readonly kind: string) {}

  register(factory: F): void {
    if (this.byName.has(factory.name)) throw new Error(`${this.kind} filter "${factory.name}" is already registered`);
    for (const url of factory.typeUrls) {
      const other = this.byTypeUrl.get(url);
      if (other !== undefined) throw new Error(`type URL "${url}" of ${this.kind} filter "${factory.name}" is already used by "${other.name}"`);
    }
    this.byName.set(factory.name, factory);
    for (const url of factory.typeUrls) this.byTypeUrl.set(url, factory);
  }

  byEnvoyName(name: string): F | undefined {
    return this.byName.get(name);
  }

  /** By `@type` first, then by name (Envoy's getAndCheckFactory). */
  find(name: string, typeUrl: string | undefined): F | undefined {
    return (typeUrl === undefined ? undefined : this.byTypeUrl.get(typeUrl)) ?? this.byName.get(name);
  }

  /**
   * The factory for a filter entry at `path` (the entry, e.g. `...filters[1]`), or a ConfigError
   * naming `.name` (unknown filter) or `.typed_config.@type` (a type this filter does not take).
   */
  resolve(name: string, typeUrl: string | undefined, path: string): F {
    const factory = this.find(name, typeUrl);
    if (factory === undefined) {
      const known = [...this.byName.keys()].sort().join(', ');
      throw new ConfigError(joinPath(path, 'name'), `unknown ${this.kind} filter "${name}" (known: ${known === '' ? 'none' : known})`);
    }
    if (typeUrl !== undefined && !factory.typeUrls.includes(typeUrl)) {
      throw new ConfigError(
        joinPath(joinPath(path, 'typed_config'), '@type'),
        `type "${typeUrl}" is not a config of ${this.kind} filter "${factory.name}" (expected ${factory.typeUrls.join(' or ')})`,
      );
    }
    return factory;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }
}

export class FilterRegistry {
  readonly network = new FactoryTable<NamedNetworkFilterConfigFactory>('network');
  readonly http = new FactoryTable<NamedHttpFilterConfigFactory>('HTTP');
  readonly listener = new FactoryTable<NamedListenerFilterConfigFactory>('listener');

  /** Throws when the name or a type URL is already registered (a programming error). */
  registerNetworkFilter<C>(factory: NamedNetworkFilterConfigFactory<C>): this {
    this.network.register(factory as NamedNetworkFilterConfigFactory);
    return this;
  }

  registerHttpFilter<C>(factory: NamedHttpFilterConfigFactory<C>): this {
    this.http.register(factory as NamedHttpFilterConfigFactory);
    return this;
  }

  registerListenerFilter<C>(factory: NamedListenerFilterConfigFactory<C>): this {
    this.listener.register(factory as NamedListenerFilterConfigFactory);
    return this;
  }

  /** The HTTP filter factory by Envoy name (FactoryContext.httpFilterFactory). */
  httpFilterFactory(name: string): NamedHttpFilterConfigFactory | undefined {
    return this.http.byEnvoyName(name);
  }
}
