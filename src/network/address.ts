import { isIP } from 'node:net';
import type { Address } from '../api/network.js';

/** The unknown address (a socket that closed before its peer was known). */
export const UNKNOWN_ADDRESS: Address = Object.freeze({ address: '', port: 0 });

/** Builds an Address, deriving the family from the literal ('IPv4' / 'IPv6'; none for names). */
export function makeAddress(address: string, port: number): Address {
  const kind = isIP(address);
  if (kind === 4) return { address, port, family: 'IPv4' };
  if (kind === 6) return { address, port, family: 'IPv6' };
  return { address, port };
}

/** `host:port`, with brackets around IPv6 literals: `[::1]:80`. The form of %UPSTREAM_HOST%. */
export function formatAddress(a: Address): string {
  return isIP(a.address) === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/**
 * Parses `host:port` or `[v6]:port` (port 0..65535, required). Returns undefined when malformed;
 * a host that is not an IP literal is returned as is (for DNS-named hosts).
 */
export function parseAddress(text: string): Address | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    host = text.slice(1, close);
    if (isIP(host) !== 6) return undefined;
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    // An unbracketed IPv6 literal is ambiguous; Envoy requires brackets.
    if (host.includes(':')) return undefined;
    portText = text.slice(colon + 1);
  }
  const port = parsePort(portText);
  if (port === undefined) return undefined;
  return makeAddress(host, port);
}

/** A port number from decimal text, or undefined. */
export function parsePort(text: string): number | undefined {
  if (text.length === 0 || text.length > 5 || !/^[0-9]+$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

/** The peer address of a socket, or UNKNOWN_ADDRESS once it is gone. */
export function remoteAddressOf(sock: {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
}): Address {
  if (sock.remoteAddress === undefined || sock.remotePort === undefined) return UNKNOWN_ADDRESS;
  return makeAddress(sock.remoteAddress, sock.remotePort);
}

/** The local address of a socket, or UNKNOWN_ADDRESS when it has none (yet). */
export function localAddressOf(sock: {
  localAddress?: string | undefined;
  localPort?: number | undefined;
}): Address {
  if (sock.localAddress === undefined || sock.localPort === undefined) return UNKNOWN_ADDRESS;
  return makeAddress(sock.localAddress, sock.localPort);
}

/**
 * The stat-name form of an address, as in Envoy's `listener.<address>.` scopes:
 * `127.0.0.1:10000` -> `127.0.0.1_10000`, `[::1]:80` -> `[__1]_80`.
 */
export function addressStatName(a: Address): string {
  return formatAddress(a).replaceAll(':', '_');
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.address === b.address && a.port === b.port;
}
