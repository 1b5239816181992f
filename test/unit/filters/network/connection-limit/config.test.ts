import { describe, expect, it } from 'vitest';
import {
  CONNECTION_LIMIT_FILTER_NAME,
  CONNECTION_LIMIT_TYPE_URL,
  connectionLimitFactory,
  parseConnectionLimitConfig,
  type ConnectionLimitConfig,
} from '../../../../../filters/network/connection-limit/config.js';
import { problemLines } from '../../../../support/config-errors.js';

const P = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

const problems = (raw: unknown): string[] => problemLines(() => parseConnectionLimitConfig(raw, P));

describe('connection_limit config: accepted', () => {
  const table: Array<[string, unknown, ConnectionLimitConfig]> = [
    ['minimal', { '@type': CONNECTION_LIMIT_TYPE_URL, stat_prefix: 'cl', max_connections: 2 }, { statPrefix: 'cl', maxConnections: 2, delayMs: 0, enabled: true }],
    ['uint64 as a string, with delay', { stat_prefix: 'cl', max_connections: '10', delay: '0.5s' }, { statPrefix: 'cl', maxConnections: 10, delayMs: 500, enabled: true }],
    ['runtime_enabled default false', { stat_prefix: 'cl', max_connections: 1, runtime_enabled: { default_value: false, runtime_key: 'k' } }, { statPrefix: 'cl', maxConnections: 1, delayMs: 0, enabled: false }],
    ['delay 0s closes at once', { stat_prefix: 'cl', max_connections: 1, delay: '0s' }, { statPrefix: 'cl', maxConnections: 1, delayMs: 0, enabled: true }],
  ];
  it.each(table)('%s', (_name, raw, expected) => {
    expect(parseConnectionLimitConfig(raw, P)).toEqual(expected);
  });
});

describe('connection_limit config: rejected, with the path of the field', () => {
  const table: Array<[string, unknown, string[]]> = [
    ['not an object', [], [`${P}: expected an object, got a list`]],
    ['stat_prefix missing', { max_connections: 1 }, [`${P}.stat_prefix: required field is missing`]],
    ['stat_prefix empty', { stat_prefix: '', max_connections: 1 }, [`${P}.stat_prefix: must not be empty`]],
    ['max_connections missing', { stat_prefix: 'cl' }, [`${P}.max_connections: required field is missing`]],
    ['max_connections 0', { stat_prefix: 'cl', max_connections: 0 }, [`${P}.max_connections: expected an integer in [1, 9007199254740991], got 0`]],
    ['max_connections negative string', { stat_prefix: 'cl', max_connections: '-1' }, [`${P}.max_connections: expected an integer in [1, 9007199254740991], got "-1"`]],
    ['delay malformed', { stat_prefix: 'cl', max_connections: 1, delay: '1m' }, [`${P}.delay: expected a duration like "0.25s"`]],
    ['runtime_enabled without default_value', { stat_prefix: 'cl', max_connections: 1, runtime_enabled: { runtime_key: 'k' } }, [`${P}.runtime_enabled.default_value: required field is missing`]],
    ['runtime_enabled default_value not a bool', { stat_prefix: 'cl', max_connections: 1, runtime_enabled: { default_value: 'yes' } }, [`${P}.runtime_enabled.default_value: expected true or false, got "yes"`]],
    ['unknown field', { stat_prefix: 'cl', max_connections: 1, max_connection: 2 }, [`${P}: unknown field "max_connection"`]],
    [
      'several problems at once',
      { stat_prefix: 3, max_connections: 0, delay: 'x' },
      [
        `${P}.stat_prefix: expected a string, got 3`,
        `${P}.max_connections: expected an integer in [1, 9007199254740991], got 0`,
        `${P}.delay: expected a duration like "0.25s"`,
      ],
    ],
  ];
  it.each(table)('%s', (_name, raw, expected) => {
    expect(problems(raw)).toEqual(expected);
  });
});

describe('connectionLimitFactory', () => {
  it('is the non-terminal envoy.filters.network.connection_limit with the v3 type URL', () => {
    expect(connectionLimitFactory.name).toBe(CONNECTION_LIMIT_FILTER_NAME);
    expect(CONNECTION_LIMIT_FILTER_NAME).toBe('envoy.filters.network.connection_limit');
    expect(connectionLimitFactory.typeUrls).toEqual(['type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit']);
    expect(connectionLimitFactory.isTerminalFilter).toBe(false);
  });
});
