/**
 * The routes of a compiled route table (Envoy's RouteEntryImplBase and its subclasses): path,
 * header and query matching; forwarding entries (one cluster or weighted clusters) with their
 * header mutations and rewrites; redirects and direct responses.
 */
import type { HeaderMap, RequestHeaderMap } from '../api/http-codec.js';
import type { DirectResponse, RetryPolicy, Route, RouteEntry } from '../api/router.js';
import type { StreamInfo } from '../api/stream-info.js';
import type { HeaderParser } from './header-parser.js';
import type {
  DirectResponseSpec,
  HeaderMutationLevel,
  PathMatch,
  RedirectSpec,
  RegexRewrite,
  RouteActionSpec,
  RouteSpec,
  WeightedClusterSpec,
} from './route-config-parse.js';
import { parseQueryParameters, pathWithoutQuery } from './route-matchers.js';
import { newUri } from './redirect.js';

/** What a route needs from the levels above it. */
export interface VirtualHostLevel {
  readonly name: string;
  readonly headers: HeaderMutationLevel;
  readonly retryPolicy: RetryPolicy | undefined;
  readonly table: TableLevel;
}

export interface TableLevel {
  readonly headers: HeaderMutationLevel;
  readonly mostSpecificHeaderMutationsWins: boolean;
  /** Response header maps already finalized (finalization is idempotent per map). */
  readonly finalized: WeakSet<HeaderMap>;
}

/** The per-request inputs of matching, derived lazily from the headers. */
export class MatchContext {
  private pathOnlyValue: string | undefined;
  private lowerValue: string | undefined;
  private queryValue: Map<string, string> | undefined;

  constructor(
    readonly headers: RequestHeaderMap,
    /** The `:path`, query string included. */
    readonly path: string,
  ) {}

  pathOnly(): string {
    return (this.pathOnlyValue ??= pathWithoutQuery(this.path));
  }

  pathOnlyLower(): string {
    return (this.lowerValue ??= this.pathOnly().toLowerCase());
  }

  query(): ReadonlyMap<string, string> {
    return (this.queryValue ??= parseQueryParameters(this.path));
  }
}

/** Non-empty parsers in evaluation order; the later ones win on overwrite. */
function ordered(route: HeaderParser, vhost: HeaderParser, global: HeaderParser, mostSpecificWins: boolean): HeaderParser[] {
  const list = mostSpecificWins ? [global, vhost, route] : [route, vhost, global];
  return list.filter((p) => !p.isEmpty());
}

function applyAll(parsers: readonly HeaderParser[], headers: HeaderMap, si: StreamInfo | undefined, request: HeaderMap | undefined): void {
  for (const p of parsers) p.apply(headers, si, request);
}

export abstract class RouteBase implements Route {
  readonly name: string;
  abstract readonly routeEntry: RouteEntry | undefined;
  abstract readonly directResponse: DirectResponse | undefined;
  protected readonly requestParsers: readonly HeaderParser[];
  protected readonly responseParsers: readonly HeaderParser[];
  private readonly pathMatch: PathMatch;
  private readonly caseSensitive: boolean;
  /** The configured path or prefix, lowercased when matching is case-insensitive. */
  private readonly matchValue: string;
  private readonly separatedPrefix: string;
  private readonly spec: RouteSpec;

  constructor(
    spec: RouteSpec,
    readonly vhost: VirtualHostLevel,
  ) {
    this.spec = spec;
    this.name = spec.name;
    this.pathMatch = spec.match.path;
    this.caseSensitive = spec.match.caseSensitive;
    const p = spec.match.path;
    const value = p.kind === 'safe_regex' ? '' : p.value;
    this.matchValue = this.caseSensitive ? value : value.toLowerCase();
    this.separatedPrefix = `${this.matchValue}/`;
    const t = vhost.table;
    this.requestParsers = ordered(spec.headers.request, vhost.headers.request, t.headers.request, t.mostSpecificHeaderMutationsWins);
    this.responseParsers = ordered(spec.headers.response, vhost.headers.response, t.headers.response, t.mostSpecificHeaderMutationsWins);
  }

  matches(ctx: MatchContext): boolean {
    if (!this.pathMatches(ctx)) return false;
    const m = this.spec.match;
    for (const h of m.headers) if (!h.matches(ctx.headers)) return false;
    if (m.queryParameters.length > 0) {
      const q = ctx.query();
      for (const qp of m.queryParameters) if (!qp.matches(q)) return false;
    }
    return true;
  }

  /** The route chosen for this request (weighted clusters pick one of their entries). */
  select(_randomValue: number): Route {
    return this;
  }

  finalizeResponseHeaders(headers: HeaderMap, streamInfo?: StreamInfo): void {
    // Nothing to apply (the common case): no WeakSet traffic for every response.
    if (this.responseParsers.length === 0) return;
    const done = this.vhost.table.finalized;
    if (done.has(headers)) return;
    done.add(headers);
    this.applyResponseMutations(headers, streamInfo);
  }

  applyResponseMutations(headers: HeaderMap, streamInfo: StreamInfo | undefined): void {
    applyAll(this.responseParsers, headers, streamInfo, streamInfo?.requestHeaders);
  }

  /**
   * The path after a prefix or regex rewrite, or undefined when there is nothing to rewrite.
   * The prefix replaced is the one that matched (the whole path for a regex route).
   */
  protected rewrittenPath(path: string, prefixRewrite: string | undefined, regexRewrite: RegexRewrite | undefined): string | undefined {
    if (prefixRewrite !== undefined) {
      const p = this.pathMatch;
      const matched = p.kind === 'safe_regex' ? pathWithoutQuery(path) : p.value;
      const head = path.slice(0, matched.length);
      const ok = this.caseSensitive ? head === matched : head.toLowerCase() === matched.toLowerCase();
      // A filter may have changed :path without clearing the route cache: leave it alone then.
      if (!ok) return undefined;
      return prefixRewrite + path.slice(matched.length);
    }
    if (regexRewrite !== undefined) {
      const just = pathWithoutQuery(path);
      return just.replace(regexRewrite.pattern, regexRewrite.substitution) + path.slice(just.length);
    }
    return undefined;
  }

  private pathMatches(ctx: MatchContext): boolean {
    const p = this.pathMatch;
    if (p.kind === 'safe_regex') return p.regex.test(ctx.pathOnly());
    const path = this.caseSensitive ? ctx.pathOnly() : ctx.pathOnlyLower();
    switch (p.kind) {
      case 'prefix':
        return path.startsWith(this.matchValue);
      case 'path':
        return path === this.matchValue;
      case 'path_separated_prefix':
        return path === this.matchValue || path.startsWith(this.separatedPrefix);
    }
  }
}

/** A route with a `route` action. */
export class ForwardingRoute extends RouteBase implements RouteEntry {
  readonly routeEntry: RouteEntry = this;
  readonly directResponse = undefined;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number | undefined;
  readonly retryPolicy: RetryPolicy | undefined;
  readonly autoHostRewrite: boolean;
  readonly weighted: readonly WeightedClusterEntry[] | undefined;
  private readonly cluster: string;
  private readonly totalWeight: number;
  private readonly action: RouteActionSpec;

  constructor(spec: RouteSpec, vhost: VirtualHostLevel) {
    super(spec, vhost);
    const a = spec.action as RouteActionSpec;
    this.action = a;
    this.cluster = a.cluster ?? '';
    this.timeoutMs = a.timeoutMs;
    this.idleTimeoutMs = a.idleTimeoutMs;
    this.retryPolicy = a.retryPolicy ?? vhost.retryPolicy;
    this.autoHostRewrite = a.autoHostRewrite;
    this.weighted = a.weightedClusters?.map((w) => new WeightedClusterEntry(this, w));
    this.totalWeight = a.weightedClusters?.reduce((s, w) => s + w.weight, 0) ?? 0;
  }

  override select(randomValue: number): Route {
    const w = this.weighted;
    if (w === undefined) return this;
    // Envoy: random_value % total_weight, then the cluster whose [begin, end) range holds it.
    const r = Number.isInteger(randomValue) ? Math.abs(randomValue) : Math.floor(Math.abs(randomValue) * 0x1_0000_0000);
    const selected = r % this.totalWeight;
    let end = 0;
    for (const e of w) {
      end += e.weight;
      if (selected < end) return e;
    }
    return w[w.length - 1]!;
  }

  clusterName(): string {
    return this.cluster;
  }

  finalizeRequestHeaders(headers: RequestHeaderMap, streamInfo?: StreamInfo, insertEnvoyOriginalPath = true): void {
    applyAll(this.requestParsers, headers, streamInfo, headers);
    const a = this.action;
    if (a.hostRewriteLiteral !== undefined) headers.set(':authority', a.hostRewriteLiteral);
    if (a.prefixRewrite === undefined && a.regexRewrite === undefined) return;
    const path = headers.get(':path');
    if (path === undefined) return;
    const rewritten = this.rewrittenPath(path, a.prefixRewrite, a.regexRewrite);
    if (rewritten === undefined) return;
    if (insertEnvoyOriginalPath) headers.set('x-envoy-original-path', path);
    headers.set(':path', rewritten);
  }
}

/** One cluster of `weighted_clusters`: a route entry of its own that defers to its parent route. */
export class WeightedClusterEntry implements Route, RouteEntry {
  readonly routeEntry: RouteEntry = this;
  readonly directResponse = undefined;
  readonly name: string;
  readonly weight: number;

  constructor(
    private readonly parent: ForwardingRoute,
    private readonly spec: WeightedClusterSpec,
  ) {
    this.name = parent.name;
    this.weight = spec.weight;
  }

  get timeoutMs(): number {
    return this.parent.timeoutMs;
  }

  get idleTimeoutMs(): number | undefined {
    return this.parent.idleTimeoutMs;
  }

  get retryPolicy(): RetryPolicy | undefined {
    return this.parent.retryPolicy;
  }

  get autoHostRewrite(): boolean {
    return this.parent.autoHostRewrite;
  }

  clusterName(): string {
    return this.spec.name;
  }

  /** Envoy: the cluster's own mutations and host rewrite first, then the route's finalization. */
  finalizeRequestHeaders(headers: RequestHeaderMap, streamInfo?: StreamInfo, insertEnvoyOriginalPath = true): void {
    const own = this.spec.headers.request;
    if (!own.isEmpty()) own.apply(headers, streamInfo, headers);
    if (this.spec.hostRewriteLiteral !== undefined) headers.set(':authority', this.spec.hostRewriteLiteral);
    this.parent.finalizeRequestHeaders(headers, streamInfo, insertEnvoyOriginalPath);
  }

  /** Envoy: the route's (route, virtual host, route config) first, then the cluster's own. */
  finalizeResponseHeaders(headers: HeaderMap, streamInfo?: StreamInfo): void {
    const done = this.parent.vhost.table.finalized;
    if (done.has(headers)) return;
    done.add(headers);
    this.parent.applyResponseMutations(headers, streamInfo);
    const own = this.spec.headers.response;
    if (!own.isEmpty()) own.apply(headers, streamInfo, streamInfo?.requestHeaders);
  }
}

/** A route with a `direct_response` action. */
export class DirectResponseRoute extends RouteBase implements DirectResponse {
  readonly routeEntry = undefined;
  readonly directResponse: DirectResponse = this;
  readonly status: number;
  readonly body: string;
  readonly location: ((headers: RequestHeaderMap) => string) | undefined;

  constructor(spec: RouteSpec, vhost: VirtualHostLevel) {
    super(spec, vhost);
    const a = spec.action as DirectResponseSpec;
    this.status = a.status;
    this.body = a.body;
    // RFC 9110 §10.2.2: Location goes with 201 and 3xx; Envoy points it at the request URL.
    this.location =
      a.status === 201 || (a.status >= 300 && a.status < 400) ? (headers) => newUri(headers, headers.get(':path') ?? '/', undefined) : undefined;
  }
}

/** A route with a `redirect` action. */
export class RedirectRoute extends RouteBase implements DirectResponse {
  readonly routeEntry = undefined;
  readonly directResponse: DirectResponse = this;
  readonly status: number;
  readonly body = '';
  private readonly redirect: RedirectSpec;

  constructor(spec: RouteSpec, vhost: VirtualHostLevel) {
    super(spec, vhost);
    this.redirect = spec.action as RedirectSpec;
    this.status = this.redirect.responseCode;
  }

  location(headers: RequestHeaderMap): string {
    const path = headers.get(':path') ?? '/';
    const r = this.redirect;
    const rewritten = r.prefixRewrite === undefined ? undefined : this.rewrittenPath(path, r.prefixRewrite, undefined);
    return newUri(headers, rewritten ?? path, r);
  }
}

/** Builds the runtime route for a parsed one. */
export function createRoute(spec: RouteSpec, vhost: VirtualHostLevel): RouteBase {
  switch (spec.action.kind) {
    case 'route':
      return new ForwardingRoute(spec, vhost);
    case 'redirect':
      return new RedirectRoute(spec, vhost);
    case 'direct_response':
      return new DirectResponseRoute(spec, vhost);
  }
}
