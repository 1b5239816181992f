/**
 * Request and response header handling of the HTTP connection manager (Envoy's
 * ConnectionManagerUtility): x-forwarded-for / -proto, internal vs edge requests, x-request-id,
 * via, hop-by-hop headers, and the host/path normalizations. Pure functions over header maps.
 */
import { isIP } from 'node:net';
import type { HeaderMap, Protocol } from '../../../src/api/http-codec.js';
import type { Address } from '../../../src/api/network.js';
import { uuid } from '../../../src/common/uuid.js';

/** True when the comma-separated `value` holds `token` (case-insensitive), as Envoy's caseFindToken. */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(',', start);
    if (end === -1) end = value.length;
    if (value.slice(start, end).trim().toLowerCase() === token) return true;
    start = end + 1;
  }
  return false;
}

/** An HTTP/1 upgrade request or response: `connection: upgrade` plus an `upgrade` header. */
export function isUpgrade(headers: HeaderMap): boolean {
  return headers.has('upgrade') && hasToken(headers.get('connection'), 'upgrade');
}

/** An HTTP/2 extended CONNECT (RFC 8441 §4): `:method CONNECT` with a `:protocol`. */
export function isH2UpgradeRequest(headers: HeaderMap): boolean {
  return headers.get(':method') === 'CONNECT' && headers.has(':protocol');
}

/**
 * Envoy's Utility::transformUpgradeRequestFromH2toH1: an extended CONNECT becomes the HTTP/1
 * upgrade it stands for (`GET`, `upgrade: <:protocol>`, `connection: upgrade`), so routing,
 * upgrade_configs and HTTP/1 upstreams see one form. `sec-websocket-*` fields stay as sent (an
 * RFC 8441 client sends no `sec-websocket-key`; Envoy does not make one up either).
 */
export function transformUpgradeRequestFromH2toH1(headers: HeaderMap): void {
  const protocol = headers.get(':protocol')!;
  headers.set(':method', 'GET');
  headers.set('upgrade', protocol);
  headers.set('connection', 'upgrade');
  headers.remove(':protocol');
}

/**
 * Envoy's Utility::transformUpgradeResponseFromH1toH2: the 101 that accepts the upgrade is a 200
 * on HTTP/2 (RFC 8441 §5), without the HTTP/1 upgrade fields or an empty body's length.
 */
export function transformUpgradeResponseFromH1toH2(headers: HeaderMap): void {
  if (headers.get(':status') === '101') headers.set(':status', '200');
  headers.remove('upgrade');
  headers.remove('connection');
  if (headers.get('content-length') === '0') headers.remove('content-length');
}

/** Envoy's HeaderUtility::shouldCloseConnection for a request. */
export function shouldCloseConnection(protocol: Protocol, headers: HeaderMap): boolean {
  if (protocol === 'HTTP/1.0' && !hasToken(headers.get('connection'), 'keep-alive')) return true;
  if (protocol === 'HTTP/1.1' && hasToken(headers.get('connection'), 'close')) return true;
  return protocol !== 'HTTP/2' && hasToken(headers.get('proxy-connection'), 'close');
}

const IPV4_PRIVATE: ReadonlyArray<readonly [number, number]> = [
  // [network, mask bits] as 32-bit numbers: 10/8, 172.16/12, 192.168/16, 127/8.
  [0x0a000000, 8],
  [0xac100000, 12],
  [0xc0a80000, 16],
  [0x7f000000, 8],
];

function ipv4ToInt(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

/** RFC 1918, loopback and IPv6 unique-local addresses (Envoy's Network::Utility::isInternalAddress). */
export function isInternalAddress(ip: string): boolean {
  const v = isIP(ip);
  if (v === 4) {
    const n = ipv4ToInt(ip);
    return IPV4_PRIVATE.some(([net, bits]) => (n & (~0 << (32 - bits))) >>> 0 === net);
  }
  if (v === 6) {
    const lower = ip.toLowerCase();
    if (lower === '::1') return true;
    if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return isInternalAddress(lower.slice(7));
    // fc00::/7: first byte 0xfc or 0xfd.
    return /^f[cd][0-9a-f]{0,2}:/.test(lower);
  }
  return false;
}

/** All x-forwarded-for values as one list (several headers are joined, as a proxy must). */
function xffValue(headers: HeaderMap): string | undefined {
  const all = headers.getAll('x-forwarded-for');
  if (all.length === 0) return undefined;
  return all.length === 1 ? all[0] : all.join(',');
}

/**
 * Envoy's getLastAddressFromXFF: the address `numToSkip` entries from the right of XFF, if it is
 * an IP. `single` is true when XFF holds just that one address.
 */
export function lastAddressFromXff(headers: HeaderMap, numToSkip: number): { address: string | undefined; single: boolean } {
  let xff = xffValue(headers);
  if (xff === undefined) return { address: undefined, single: false };
  for (let i = 0; i < numToSkip; i++) {
    const comma = xff.lastIndexOf(',');
    if (comma === -1) return { address: undefined, single: false };
    xff = xff.slice(0, comma);
  }
  const comma = xff.lastIndexOf(',');
  const candidate = (comma === -1 ? xff : xff.slice(comma + 1)).trim();
  if (isIP(candidate) === 0) return { address: undefined, single: false };
  return { address: candidate, single: comma === -1 && numToSkip === 0 };
}

function appendToHeader(headers: HeaderMap, name: string, value: string, delimiter: string): void {
  const all = headers.getAll(name);
  if (all.length === 0) headers.set(name, value);
  else headers.set(name, `${all.join(delimiter)}${delimiter}${value}`);
}

export function appendVia(headers: HeaderMap, via: string): void {
  appendToHeader(headers, 'via', via, ', ');
}

/** Keeps only the `trailers` token of TE (the one hop-by-hop value HTTP/2 allows, RFC 9113 §8.2.2). */
export function sanitizeTe(headers: HeaderMap): void {
  const te = headers.get('te');
  if (te === undefined) return;
  if (hasToken(te, 'trailers')) headers.set('te', 'trailers');
  else headers.remove('te');
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) the connection manager drops, as one-pass predicates:
 * requests also lose x-envoy-internal (only this proxy decides it); upgrades keep connection and
 * upgrade. TE is handled apart (sanitizeTe keeps its `trailers`).
 */
const HOP_BY_HOP = new Set(['keep-alive', 'proxy-connection', 'transfer-encoding']);
const UPGRADE_HEADERS = new Set(['connection', 'upgrade']);

function isUpgradeResponseHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

function isResponseHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name) || UPGRADE_HEADERS.has(name);
}

function isUpgradeRequestHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name) || name === 'x-envoy-internal';
}

function isRequestHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name) || UPGRADE_HEADERS.has(name) || name === 'x-envoy-internal';
}

/** Headers an edge proxy must not take from the outside (Envoy's list for external requests). */
const ENVOY_CONTROL_HEADERS = [
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-max-retries',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-hedge-on-per-try-timeout',
] as const;

const ENVOY_EDGE_HEADERS = ['x-envoy-decorator-operation', 'x-envoy-downstream-service-cluster', 'x-envoy-downstream-service-node'] as const;

/** One pass to see whether any x-envoy-* header is present (usually none is). */
function hasEnvoyHeader(headers: HeaderMap): boolean {
  let found = false;
  headers.forEach((name) => {
    if (!found && name.startsWith('x-envoy-')) found = true;
  });
  return found;
}

export interface RequestMutationConfig {
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  /** '' when not configured. */
  readonly via: string;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
}

export interface RequestMutationConnection {
  remoteAddress(): Address;
  ssl(): boolean;
}

export interface RequestMutationResult {
  /** The client's address as far as this proxy trusts it (for logs and stream info). */
  readonly finalRemoteAddress: Address;
  readonly internal: boolean;
}

/**
 * Envoy's ConnectionManagerUtility::mutateRequestHeaders. `keepUpgrade` is true for an HTTP/1.1
 * upgrade request that the connection manager allows (its connection/upgrade headers are kept).
 */
export function mutateRequestHeaders(
  headers: HeaderMap,
  conn: RequestMutationConnection,
  cfg: RequestMutationConfig,
  keepUpgrade: boolean,
): RequestMutationResult {
  if (keepUpgrade) {
    // An upgrade request keeps connection/upgrade for the upstream; with transfer-encoding about
    // to be removed, a request without a length must say it has no body.
    if (!headers.has('transfer-encoding') && !headers.has('content-length')) headers.set('content-length', '0');
    headers.removeIf(isUpgradeRequestHopByHop);
  } else {
    headers.removeIf(isRequestHopByHop);
  }
  sanitizeTe(headers);

  const peer = conn.remoteAddress();
  const scheme = conn.ssl() ? 'https' : 'http';
  let finalAddress: string | undefined;
  let single: boolean;
  if (cfg.useRemoteAddress) {
    single = !headers.has('x-forwarded-for');
    if (cfg.xffNumTrustedHops > 0) finalAddress = lastAddressFromXff(headers, cfg.xffNumTrustedHops - 1).address;
    finalAddress ??= peer.address;
    if (!cfg.skipXffAppend) appendToHeader(headers, 'x-forwarded-for', peer.address, ',');
    headers.set('x-forwarded-proto', scheme);
  } else {
    const r = lastAddressFromXff(headers, cfg.xffNumTrustedHops);
    finalAddress = r.address;
    single = r.single;
  }
  if (!headers.has('x-forwarded-proto')) headers.set('x-forwarded-proto', scheme);

  // Internal: after appending, XFF holds one address and it is an internal one.
  const internal = single && finalAddress !== undefined && isInternalAddress(finalAddress);
  const finalRemoteAddress: Address =
    finalAddress === undefined || finalAddress === peer.address ? peer : { address: finalAddress, port: 0, family: isIP(finalAddress) === 6 ? 'IPv6' : 'IPv4' };
  const edge = !internal && cfg.useRemoteAddress;

  if (internal) {
    headers.set('x-envoy-internal', 'true');
  } else if (hasEnvoyHeader(headers)) {
    if (edge) for (const h of ENVOY_EDGE_HEADERS) headers.remove(h);
    for (const h of ENVOY_CONTROL_HEADERS) headers.remove(h);
  }
  if (cfg.via !== '') appendVia(headers, cfg.via);
  if (edge) headers.set('x-envoy-external-address', finalRemoteAddress.address);
  else headers.remove('x-envoy-external-address');

  if (cfg.generateRequestId) {
    const present = headers.get('x-request-id');
    const forceSet = edge && !cfg.preserveExternalRequestId;
    if (forceSet || present === undefined || present === '') headers.set('x-request-id', uuid());
  }
  return { finalRemoteAddress, internal };
}

/** Envoy's mutateResponseHeaders: hop-by-hop headers out (upgrades keep theirs), via appended. */
export function mutateResponseHeaders(headers: HeaderMap, requestHeaders: HeaderMap | undefined, via: string): void {
  if (requestHeaders !== undefined && isUpgrade(requestHeaders) && isUpgrade(headers)) {
    if (!headers.has('transfer-encoding') && !headers.has('content-length') && headers.get(':status') !== '101') {
      headers.set('content-length', '0');
    }
    headers.removeIf(isUpgradeResponseHopByHop);
  } else {
    // Only a response to an upgrade keeps connection/upgrade (an origin may advertise an upgrade,
    // e.g. `upgrade: h2c`, on any response).
    headers.removeIf(isResponseHopByHop);
  }
  if (via !== '') appendVia(headers, via);
}

/**
 * Removes the port from `:authority` when it equals `port` (strip_matching_host_port), or any
 * port when `port` is undefined (strip_any_host_port). IPv6 literals keep their brackets.
 */
export function stripHostPort(headers: HeaderMap, port: number | undefined): void {
  const host = headers.get(':authority');
  if (host === undefined) return;
  const colon = host.lastIndexOf(':');
  if (colon === -1 || host.indexOf(']', colon) !== -1) return;
  const p = host.slice(colon + 1);
  if (!/^\d+$/.test(p)) return;
  if (port !== undefined && Number(p) !== port) return;
  headers.set(':authority', host.slice(0, colon));
}
