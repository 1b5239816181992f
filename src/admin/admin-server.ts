import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../api/logger.js';
import type { Address } from '../api/network.js';
import { PrometheusFormatter } from '../stats/prometheus.js';
import type { StatsStore } from '../stats/store.js';
import { statsAsJson, statsAsText, type StatsFilter } from '../stats/text.js';
import type { ClusterManagerImpl } from '../upstream/cluster-manager.js';
import { clustersAsJson, clustersAsText } from './clusters-handler.js';

/** Envoy's admin.v3.ServerInfo.State. */
export type ServerState = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';

export interface AdminRequest {
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
}

export interface AdminResponse {
  readonly status: number;
  readonly body: string;
  /** Default `text/plain; charset=UTF-8`. */
  readonly contentType?: string;
  /** Runs once the response has been handed to the socket (/quitquitquit). */
  readonly afterResponse?: () => void;
}

export type AdminHandlerFn = (req: AdminRequest) => AdminResponse | Promise<AdminResponse>;

export interface AdminParam {
  readonly id: string;
  readonly help: string;
  readonly choices?: readonly string[];
}

interface UrlHandler {
  readonly prefix: string;
  readonly help: string;
  readonly mutatesState: boolean;
  readonly params: readonly AdminParam[];
  readonly handler: AdminHandlerFn;
}

export interface AdminServerOptions {
  /** Listen address; default 127.0.0.1. */
  readonly address?: string;
  /** 0 picks a free port (see address()). */
  readonly port: number;
  readonly store: StatsStore;
  readonly clusterManager?: ClusterManagerImpl;
  /** The lifecycle state; /ready and /server_info report DRAINING while health checks fail. */
  readonly state: () => ServerState;
  readonly version?: string;
  /** Shown as `command_line_options` in /server_info. */
  readonly commandLineOptions?: Readonly<Record<string, unknown>>;
  /** Wall-clock ms the server started (uptime); default: when this object was made. */
  readonly startTimeMs?: number;
  /** POST /quitquitquit: runs after the response was sent. */
  readonly onQuit?: () => void;
  /** POST /healthcheck/fail and /healthcheck/ok report the new value here. */
  readonly onHealthCheckChange?: (failed: boolean) => void;
  readonly logger?: Logger;
}

const TEXT = 'text/plain; charset=UTF-8';
const JSON_TYPE = 'application/json';

const text = (body: string, status = 200): AdminResponse => ({ status, body, contentType: TEXT });
const json = (body: string, status = 200): AdminResponse => ({ status, body, contentType: JSON_TYPE });

const STATS_TYPES = ['All', 'Counters', 'Gauges', 'Histograms'] as const;
type StatsType = (typeof STATS_TYPES)[number];

/**
 * The admin listener (Envoy's AdminImpl) on node:http: the admin port is not the data path, so
 * Node's HTTP server is good enough here. Handlers match the exact path (the query is apart);
 * state-changing ones require POST (405 otherwise); an unknown path gets 404 with the command
 * list. Other parts of the server add their own pages with addHandler (e.g. /listeners).
 */
export class AdminServer {
  private readonly handlers: UrlHandler[] = [];
  private server: Server | undefined;
  private bound: Address | undefined;
  private hcFailed = false;
  private readonly startTimeMs: number;
  /** Kept across scrapes: it caches the tag extraction of every stat name. */
  private readonly prometheus = new PrometheusFormatter();

  constructor(private readonly opts: AdminServerOptions) {
    this.startTimeMs = opts.startTimeMs ?? Date.now();
    this.addHandler('/', 'Admin home page', false, () => text(this.helpText()));
    this.addHandler('/help', 'print out list of admin commands', false, () => text(this.helpText()));
    this.addHandler('/clusters', 'upstream cluster status', false, (r) => this.clusters(r), [
      { id: 'format', help: 'File format to use', choices: ['text', 'json'] },
    ]);
    this.addHandler('/healthcheck/fail', 'cause the server to fail health checks', true, () => this.setHc(true));
    this.addHandler('/healthcheck/ok', 'cause the server to pass health checks', true, () => this.setHc(false));
    this.addHandler('/memory', 'print current allocation/heap usage', false, () => this.memory());
    this.addHandler('/quitquitquit', 'exit the server', true, () => ({
      ...text('OK\n'),
      ...(opts.onQuit !== undefined ? { afterResponse: opts.onQuit } : {}),
    }));
    this.addHandler('/ready', 'print server state, return 200 if LIVE, otherwise return 503', false, () => {
      const state = this.serverState();
      return text(`${state}\n`, state === 'LIVE' ? 200 : 503);
    });
    this.addHandler('/reset_counters', 'reset all counters to zero', true, () => {
      opts.store.resetCounters();
      return text('OK\n');
    });
    this.addHandler('/server_info', 'print server version/status information', false, () => this.serverInfo());
    this.addHandler('/stats', 'print server stats', false, (r) => this.stats(r, false), [
      { id: 'usedonly', help: 'Only include stats that have been written by system since restart' },
      { id: 'filter', help: 'Regular expression (ECMAScript) for filtering stats' },
      { id: 'format', help: 'Format to use', choices: ['text', 'json', 'prometheus'] },
      { id: 'type', help: 'Stat types to include.', choices: STATS_TYPES },
    ]);
    this.addHandler('/stats/prometheus', 'print server stats in prometheus format', false, (r) => this.stats(r, true), [
      { id: 'usedonly', help: 'Only include stats that have been written by system since restart' },
      { id: 'filter', help: 'Regular expression (ECMAScript) for filtering stats' },
    ]);
  }

  /** Registers a page; false when the prefix is taken or malformed (Envoy's addHandler). */
  addHandler(
    prefix: string,
    help: string,
    mutatesState: boolean,
    handler: AdminHandlerFn,
    params: readonly AdminParam[] = [],
  ): boolean {
    if (!prefix.startsWith('/') || /[&"'<>?:]/.test(prefix)) return false;
    if (this.handlers.some((h) => h.prefix === prefix)) return false;
    this.handlers.push({ prefix, help, mutatesState, params, handler });
    return true;
  }

  /** The state /ready reports: DRAINING while health checks are failed by the admin. */
  serverState(): ServerState {
    const state = this.opts.state();
    return state === 'LIVE' && this.hcFailed ? 'DRAINING' : state;
  }

  healthCheckFailed(): boolean {
    return this.hcFailed;
  }

  async start(): Promise<void> {
    if (this.server !== undefined) throw new Error('admin server already started');
    const server = createServer((req, res) => this.onRequest(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.address ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as AddressInfo;
    this.bound = { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    this.opts.logger?.info({ address: `${a.address}:${a.port}` }, 'admin address');
  }

  /** The bound address (the real port when started with port 0). */
  address(): Address {
    if (this.bound === undefined) throw new Error('admin server not started');
    return this.bound;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Runs one admin request in-process (Envoy's AdminImpl::request), for tests and the CLI. */
  async request(method: string, pathAndQuery: string): Promise<AdminResponse> {
    let url: URL;
    try {
      // Concatenated, not resolved: `//x` is a path here, not a host.
      url = new URL(`http://admin${pathAndQuery.startsWith('/') ? '' : '/'}${pathAndQuery}`);
    } catch {
      return text('invalid request target\n', 400);
    }
    const handler = this.handlers.find((h) => h.prefix === url.pathname);
    if (handler === undefined) return text(`invalid path. ${this.helpText()}`, 404);
    if (handler.mutatesState && method !== 'POST') return text(`Method ${method} not allowed, POST required.`, 405);
    return handler.handler({ method, path: url.pathname, query: url.searchParams });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    // The request body is not used; read it so keep-alive works.
    req.resume();
    this.request(req.method ?? 'GET', req.url ?? '/').then(
      (r) => this.send(res, r),
      (e: unknown) => {
        this.opts.logger?.error({ err: e }, 'admin handler failed');
        this.send(res, text('internal error\n', 500));
      },
    );
  }

  private send(res: ServerResponse, r: AdminResponse): void {
    res.statusCode = r.status;
    res.setHeader('content-type', r.contentType ?? TEXT);
    res.setHeader('cache-control', 'no-cache, max-age=0');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('content-length', Buffer.byteLength(r.body));
    if (r.afterResponse !== undefined) {
      const after = r.afterResponse;
      res.once('finish', () => setImmediate(after));
    }
    res.end(r.body);
  }

  /** Envoy's getHelp: `admin commands are:` then one line per page in path order. */
  private helpText(): string {
    const lines = ['admin commands are:\n'];
    const sorted = [...this.handlers].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
    for (const h of sorted) {
      lines.push(`  ${h.prefix}${h.mutatesState ? ' (POST)' : ''}: ${h.help}\n`);
      for (const p of h.params) {
        const choices = p.choices !== undefined ? `; One of (${p.choices.join(', ')})` : '';
        lines.push(`      ${p.id}: ${p.help}${choices}\n`);
      }
    }
    return lines.join('');
  }

  private setHc(failed: boolean): AdminResponse {
    this.hcFailed = failed;
    this.opts.onHealthCheckChange?.(failed);
    return text('OK\n');
  }

  private stats(r: AdminRequest, prometheus: boolean): AdminResponse {
    const filter: { usedOnly?: boolean; filter?: RegExp; type?: StatsType } = {};
    if (r.query.has('usedonly')) filter.usedOnly = true;
    const pattern = r.query.get('filter');
    if (pattern !== null && pattern !== '') {
      try {
        filter.filter = new RegExp(pattern);
      } catch (e) {
        return text(`Invalid regex: ${e instanceof Error ? e.message : String(e)}\n`, 400);
      }
    }
    const type = r.query.get('type');
    if (type !== null) {
      if (!(STATS_TYPES as readonly string[]).includes(type)) {
        return text(`invalid type=${type}; must be one of ${STATS_TYPES.join(', ')}\n`, 400);
      }
      filter.type = type as StatsType;
    }
    const f: StatsFilter = filter;
    const format = prometheus ? 'prometheus' : (r.query.get('format') ?? 'text');
    switch (format) {
      case 'text':
        return text(statsAsText(this.opts.store, f));
      case 'json':
        return json(statsAsJson(this.opts.store, f));
      case 'prometheus':
        return text(this.prometheus.format(this.opts.store, f));
      default:
        return text(`usage: /stats?format=(json|prometheus|text)\n`, 400);
    }
  }

  private clusters(r: AdminRequest): AdminResponse {
    const cm = this.opts.clusterManager;
    const asJson = r.query.get('format') === 'json';
    if (cm === undefined) return asJson ? json('{}') : text('');
    return asJson ? json(clustersAsJson(cm)) : text(clustersAsText(cm));
  }

  private serverInfo(): AdminResponse {
    const uptime = Math.max(0, Math.floor((Date.now() - this.startTimeMs) / 1000));
    const info = {
      version: this.opts.version ?? 'sluice',
      state: this.serverState(),
      uptime_current_epoch: `${uptime}s`,
      uptime_all_epochs: `${uptime}s`,
      hot_restart_version: 'disabled',
      command_line_options: this.opts.commandLineOptions ?? {},
    };
    return json(JSON.stringify(info, null, 1));
  }

  private memory(): AdminResponse {
    const m = process.memoryUsage();
    const body = {
      allocated: String(m.heapUsed),
      heap_size: String(m.heapTotal),
      total_physical_bytes: String(m.rss),
      external: String(m.external),
      array_buffers: String(m.arrayBuffers),
    };
    return json(JSON.stringify(body, null, 1));
  }
}
