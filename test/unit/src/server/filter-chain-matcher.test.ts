import { describe, expect, it } from 'vitest';
import type { FilterChainMatchConfig } from '../../../../src/config/listener-config.js';
import { FilterChainMatcher, type MatchInput } from '../../../../src/server/filter-chain-matcher.js';

function m(partial: Partial<FilterChainMatchConfig>): FilterChainMatchConfig {
  return { serverNames: [], applicationProtocols: [], destinationPort: undefined, transportProtocol: '', ...partial };
}

function input(partial: Partial<MatchInput>): MatchInput {
  return { destinationPort: 443, serverName: '', transportProtocol: 'raw_buffer', applicationProtocols: [], ...partial };
}

const matcher = new FilterChainMatcher(
  [
    { match: m({ serverNames: ['www.example.com'] }), value: 'exact' },
    { match: m({ serverNames: ['*.example.com'] }), value: 'wildcard' },
    { match: m({ serverNames: ['*.deep.example.com'] }), value: 'deep-wildcard' },
    { match: m({ serverNames: ['api.example.org'], applicationProtocols: ['h2'] }), value: 'api-h2' },
    { match: m({ serverNames: ['api.example.org'], applicationProtocols: ['http/1.1'] }), value: 'api-h1' },
    { match: m({ serverNames: ['tls.example.org'], transportProtocol: 'tls' }), value: 'tls-only' },
    { match: m({ destinationPort: 8443 }), value: 'port-8443' },
    { match: m({}), value: 'catch-all' },
  ],
  'default',
);

describe('FilterChainMatcher', () => {
  it.each<[string, Partial<MatchInput>, string]>([
    ['no SNI: the chain without server_names', {}, 'catch-all'],
    ['exact server name', { serverName: 'www.example.com' }, 'exact'],
    ['server names are case-insensitive', { serverName: 'WWW.Example.COM' }, 'exact'],
    ['wildcard', { serverName: 'img.example.com' }, 'wildcard'],
    ['longest wildcard wins', { serverName: 'a.deep.example.com' }, 'deep-wildcard'],
    ['wildcard does not match the bare domain', { serverName: 'example.com' }, 'catch-all'],
    ['unknown name falls to the chain without server_names', { serverName: 'other.net' }, 'catch-all'],
    ['ALPN picks among chains of one name', { serverName: 'api.example.org', applicationProtocols: ['h2', 'http/1.1'] }, 'api-h2'],
    ['client ALPN order decides', { serverName: 'api.example.org', applicationProtocols: ['http/1.1', 'h2'] }, 'api-h1'],
    ['no ALPN match and no ALPN-less chain: the default chain', { serverName: 'api.example.org', applicationProtocols: ['h3'] }, 'default'],
    ['transport protocol', { serverName: 'tls.example.org', transportProtocol: 'tls' }, 'tls-only'],
    ['transport protocol mismatch: the default chain (no backtracking)', { serverName: 'tls.example.org' }, 'default'],
    ['destination port first', { destinationPort: 8443, serverName: 'www.example.com' }, 'port-8443'],
  ])('%s', (_label, given, expected) => {
    expect(matcher.find(input(given))).toBe(expected);
  });

  it('returns undefined when nothing matches and there is no default chain', () => {
    const only = new FilterChainMatcher([{ match: m({ destinationPort: 1 }), value: 'a' }], undefined);
    expect(only.find(input({}))).toBeUndefined();
  });

  it('takes the first of equally specific chains', () => {
    const two = new FilterChainMatcher(
      [
        { match: m({ applicationProtocols: ['h2', 'x'] }), value: 'first' },
        { match: m({ applicationProtocols: ['h2'] }), value: 'second' },
      ],
      undefined,
    );
    expect(two.find(input({ applicationProtocols: ['h2'] }))).toBe('first');
  });
});
