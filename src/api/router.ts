import type { HeaderMap, RequestHeaderMap } from './http-codec.js';
import type { StreamInfo } from './stream-info.js';

/** Envoy's RetryPolicy, resolved from config. */
export interface RetryPolicy {
  readonly retryOn: ReadonlySet<string>;
  readonly numRetries: number;
  readonly perTryTimeoutMs: number;
  readonly retriableStatusCodes: ReadonlySet<number>;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
}

export interface HeaderMutations {
  /**
   * Adds the configured headers (append or overwrite) to `headers`. `streamInfo` feeds `%VAR%`
   * formatters in header values (without it they produce "" and the header is not added).
   */
  apply(headers: HeaderMap, streamInfo?: StreamInfo): void;
}

/** A route that forwards to a cluster. */
export interface RouteEntry {
  /** Picks the cluster (weighted clusters pick per request). */
  clusterName(headers: RequestHeaderMap): string;
  /**
   * Rewrites `:path`, `:authority` and adds/removes headers before forwarding. `streamInfo` feeds
   * `%VAR%` header formatters; `insertEnvoyOriginalPath` (default true; false with the router's
   * suppress_envoy_headers) records the pre-rewrite path in `x-envoy-original-path`.
   */
  finalizeRequestHeaders(headers: RequestHeaderMap, streamInfo?: StreamInfo, insertEnvoyOriginalPath?: boolean): void;
  /** Applies the response header mutations (route, virtual host, route config); once per map. */
  finalizeResponseHeaders(headers: HeaderMap, streamInfo?: StreamInfo): void;
  /** The route timeout in ms; 0 disables it. */
  readonly timeoutMs: number;
  /** The route's idle_timeout in ms: undefined when unset (the HCM's stream_idle_timeout applies), 0 disables. */
  readonly idleTimeoutMs: number | undefined;
  readonly retryPolicy: RetryPolicy | undefined;
  readonly autoHostRewrite: boolean;
}

export interface DirectResponse {
  readonly status: number;
  readonly body: string;
  /** For redirects: the Location to send, computed from the request. */
  location?(headers: RequestHeaderMap): string;
}

/** What the route table matched for a request (Envoy's Router::Route). */
export interface Route {
  readonly name: string;
  readonly routeEntry: RouteEntry | undefined;
  readonly directResponse: DirectResponse | undefined;
}

/** A compiled route_config. */
export interface RouteConfig {
  /**
   * Matches a request. `randomValue` picks among weighted clusters: an unsigned integer (Envoy's
   * random_value, used modulo the total weight) or a fraction in [0, 1).
   */
  route(headers: RequestHeaderMap, randomValue: number): Route | undefined;
  /**
   * Applies the response header mutations of `route` (route, virtual host, route config) to a
   * response that did not come through the router's upstream path, e.g. a local reply or a direct
   * response. Idempotent per header map: mutations already applied to `headers` are not repeated.
   */
  finalizeResponseHeaders(route: Route | undefined, headers: HeaderMap, streamInfo?: StreamInfo): void;
}
