/**
 * The validated settings of one `envoy.filters.network.http_connection_manager`, and what every
 * connection of a listener shares at run time (HcmRuntime). Parsing lives in config.ts.
 */
import type { AccessLog } from '../../../src/access-log/access-log.js';
import type { DrainDecision } from '../../../src/api/filter-config.js';
import type { HttpFilterFactoryCb } from '../../../src/api/http-filter.js';
import type { Logger } from '../../../src/api/logger.js';
import type { RouteConfig } from '../../../src/api/router.js';
import type { Scope } from '../../../src/api/stats.js';
import type { Http1CodecOptions, Http2CodecOptions } from '../../../codecs/index.js';
import type { HcmListenerStats, HcmStats } from './hcm-stats.js';

export type CodecType = 'AUTO' | 'HTTP1' | 'HTTP2';
export type ServerHeaderTransformation = 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
export type HeadersWithUnderscoresAction = 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
/** strip_matching_host_port / strip_any_host_port. */
export type StripPortMode = 'none' | 'matching' | 'any';

export interface HcmSettings {
  readonly statPrefix: string;
  readonly codecType: CodecType;
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  /** '' when unset. */
  readonly via: string;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  readonly serverName: string;
  readonly serverHeaderTransformation: ServerHeaderTransformation;
  /** Every timeout is in ms; 0 disables it. */
  readonly idleTimeoutMs: number;
  readonly maxConnectionDurationMs: number;
  readonly maxStreamDurationMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly streamIdleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly requestHeadersTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly delayedCloseTimeoutMs: number;
  readonly headersWithUnderscoresAction: HeadersWithUnderscoresAction;
  readonly maxRequestHeadersKb: number;
  readonly maxHeadersCount: number;
  /** upgrade_configs: lowercase upgrade type ('websocket', 'connect') -> enabled. */
  readonly upgrades: ReadonlyMap<string, boolean>;
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  readonly stripPortMode: StripPortMode;
  readonly http1: Http1CodecOptions;
  readonly http2: Http2CodecOptions;
}

/** Shared by all connections of one HCM config on one listener. */
export interface HcmRuntime {
  readonly settings: HcmSettings;
  readonly routeConfig: RouteConfig;
  /** The http_filters, in order (the router last). */
  readonly filterFactories: readonly HttpFilterFactoryCb[];
  readonly accessLogs: readonly AccessLog[];
  readonly stats: HcmStats;
  readonly listenerStats: HcmListenerStats;
  /** Where codecs create their `http1.*` / `http2.*` stats. */
  readonly codecScope: Scope;
  readonly drainDecision: DrainDecision;
  readonly logger: Logger;
}
