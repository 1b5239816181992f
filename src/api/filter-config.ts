import type { Dispatcher } from './dispatcher.js';
import type { HttpFilterFactoryCb } from './http-filter.js';
import type { Logger } from './logger.js';
import type { ListenerFilter, NetworkFilterFactoryCb } from './network.js';
import type { Scope } from './stats.js';
import type { ClusterManager } from './upstream.js';

/** The server's drain state, as filters see it (Envoy's DrainDecision). */
export interface DrainDecision {
  /** True once the server drains: connections should close after their current request. */
  drainClose(): boolean;
  /** Called once when draining starts; returns an unsubscribe function. */
  addOnDrainCloseCb(cb: () => void): () => void;
}

/** A server lifecycle stage (Envoy's ServerLifecycleNotifier::Stage). */
export type ServerLifecycleStage = 'ShutdownExit';

/**
 * Envoy's ServerLifecycleNotifier: work a filter asks the server to run at a stage of its life.
 * At ShutdownExit (the connections are closed, the process is about to exit) the server runs every
 * callback and waits for the promises they return, within a grace period (e.g. flushing access logs).
 */
export interface ServerLifecycleNotifier {
  /** Registers `cb` for `stage`; returns a function that unregisters it. */
  registerCallback(stage: ServerLifecycleStage, cb: () => Promise<void> | void): () => void;
}

/** What a filter factory may use when it builds a filter from config. */
export interface FactoryContext {
  readonly clusterManager: ClusterManager;
  /** The root stats scope; filters create `<kind>.<stat_prefix>.` scopes under it. */
  readonly scope: Scope;
  /** The scope of the listener the filter chain belongs to (`listener.<address>.`). */
  readonly listenerScope: Scope;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  readonly drainDecision: DrainDecision;
  readonly lifecycleNotifier: ServerLifecycleNotifier;
  readonly listenerName: string;
  /** The HTTP filter factories, by Envoy name, for the HTTP connection manager. */
  httpFilterFactory(name: string): NamedHttpFilterConfigFactory | undefined;
}

/**
 * What a config parser may check against the rest of the bootstrap while parsing (so that
 * `--validate` catches it): clusters by name, and HTTP filter factories for the HCM's http_filters.
 */
export interface ConfigValidationContext {
  /** True when `static_resources.clusters` defines a cluster of this name. */
  clusterExists(name: string): boolean;
  /** The HTTP filter factory for an entry: by its typed_config `@type` first, else by its name. */
  httpFilterFactory(name: string, typeUrl: string | undefined): NamedHttpFilterConfigFactory | undefined;
}

/**
 * A network filter known by its Envoy name (`envoy.filters.network.tcp_proxy`). parseConfig
 * validates `typed_config` (without its `@type`, which the registry has checked) and throws a
 * ConfigError naming `path` and the bad field; `ctx` is given when a whole bootstrap is loaded.
 */
export interface NamedNetworkFilterConfigFactory<C = unknown> {
  readonly name: string;
  /** Accepted `@type` URLs of typed_config. */
  readonly typeUrls: readonly string[];
  /** Terminal filters (tcp_proxy, HCM) must be last in a chain. */
  readonly isTerminalFilter: boolean;
  parseConfig(typedConfig: unknown, path: string, ctx?: ConfigValidationContext): C;
  createFilterFactory(config: C, ctx: FactoryContext): NetworkFilterFactoryCb;
}

export interface NamedHttpFilterConfigFactory<C = unknown> {
  readonly name: string;
  readonly typeUrls: readonly string[];
  readonly isTerminalFilter: boolean;
  parseConfig(typedConfig: unknown, path: string, ctx?: ConfigValidationContext): C;
  createFilterFactory(config: C, ctx: FactoryContext): HttpFilterFactoryCb;
}

export interface NamedListenerFilterConfigFactory<C = unknown> {
  readonly name: string;
  readonly typeUrls: readonly string[];
  parseConfig(typedConfig: unknown, path: string, ctx?: ConfigValidationContext): C;
  /** Called once per listener; the returned factory makes one filter per accepted socket. */
  createFilter(config: C, ctx: FactoryContext): () => ListenerFilter;
}
