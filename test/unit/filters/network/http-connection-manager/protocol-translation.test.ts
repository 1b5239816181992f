/**
 * The connection manager's part of protocol translation: RFC 8441 extended CONNECT <-> HTTP/1
 * upgrade (Envoy's Utility::transformUpgrade*), upgrade detection on either form, and the
 * hop-by-hop response fields (Envoy's mutateResponseHeaders: connection and upgrade go unless the
 * exchange is an upgrade).
 */
import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import {
  isH2UpgradeRequest,
  mutateResponseHeaders,
  transformUpgradeRequestFromH2toH1,
  transformUpgradeResponseFromH1toH2,
} from '../../../../../filters/network/http-connection-manager/conn-manager-utility.js';
import { upgradeType } from '../../../../../filters/network/http-connection-manager/request-validation.js';

const pairs = (h: HeaderMapImpl): Array<readonly [string, string]> => [...h];

describe('extended CONNECT -> HTTP/1 upgrade', () => {
  it('turns :method CONNECT + :protocol into GET with upgrade and connection, keeping the rest', () => {
    const h = HeaderMapImpl.fromObject({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': '/chat',
      ':authority': 'example.com',
      'sec-websocket-version': '13',
      'sec-websocket-protocol': 'chat',
    });
    expect(isH2UpgradeRequest(h)).toBe(true);
    transformUpgradeRequestFromH2toH1(h);
    expect(isH2UpgradeRequest(h)).toBe(false);
    expect(h.get(':method')).toBe('GET');
    expect(h.has(':protocol')).toBe(false);
    expect(h.get('upgrade')).toBe('websocket');
    expect(h.get('connection')).toBe('upgrade');
    expect(h.get(':path')).toBe('/chat');
    expect(h.get(':scheme')).toBe('https');
    expect(h.get(':authority')).toBe('example.com');
    expect(h.get('sec-websocket-version')).toBe('13');
    expect(h.get('sec-websocket-protocol')).toBe('chat');
    expect(h.has('sec-websocket-key')).toBe(false);
    expect(upgradeType(h)).toBe('websocket');
  });

  it.each([
    [{ ':method': 'CONNECT', ':authority': 'example.com:443' }, false],
    [{ ':method': 'GET', ':protocol': 'websocket', ':path': '/' }, false],
    [{ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/' }, true],
  ])('isH2UpgradeRequest(%o) = %s', (obj, expected) => {
    expect(isH2UpgradeRequest(HeaderMapImpl.fromObject(obj))).toBe(expected);
  });

  it.each([
    [{ ':method': 'CONNECT', ':authority': 'a:1' }, 'connect'],
    [{ ':method': 'CONNECT', ':protocol': 'WebSocket', ':path': '/' }, 'websocket'],
    [{ ':method': 'GET', ':path': '/', upgrade: 'WebSocket', connection: 'keep-alive, Upgrade' }, 'websocket'],
    [{ ':method': 'GET', ':path': '/', upgrade: 'websocket' }, undefined],
    [{ ':method': 'GET', ':path': '/' }, undefined],
  ])('upgradeType(%o) = %s', (obj, expected) => {
    expect(upgradeType(HeaderMapImpl.fromObject(obj))).toBe(expected);
  });
});

describe('HTTP/1 upgrade response -> HTTP/2', () => {
  it('a 101 becomes a 200 without upgrade, connection or an empty length', () => {
    const h = HeaderMapImpl.fromObject({
      ':status': '101',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'content-length': '0',
      'sec-websocket-accept': 'abc=',
    });
    transformUpgradeResponseFromH1toH2(h);
    expect(pairs(h)).toEqual([
      [':status', '200'],
      ['sec-websocket-accept', 'abc='],
    ]);
  });

  it('a refusal keeps its status and its length', () => {
    const h = HeaderMapImpl.fromObject({ ':status': '403', 'content-length': '6', connection: 'close' });
    transformUpgradeResponseFromH1toH2(h);
    expect(pairs(h)).toEqual([
      [':status', '403'],
      ['content-length', '6'],
    ]);
  });
});

describe('mutateResponseHeaders', () => {
  it('removes connection, upgrade and the other hop-by-hop fields of a plain response', () => {
    const req = HeaderMapImpl.fromObject({ ':method': 'GET', ':path': '/' });
    const res = HeaderMapImpl.fromObject({
      ':status': '200',
      connection: 'keep-alive, Upgrade',
      upgrade: 'h2c',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'transfer-encoding': 'chunked',
      'x-kept': '1',
    });
    mutateResponseHeaders(res, req, '');
    expect(pairs(res)).toEqual([
      [':status', '200'],
      ['x-kept', '1'],
    ]);
  });

  it('keeps connection and upgrade on the answer to an upgrade', () => {
    const req = HeaderMapImpl.fromObject({ ':method': 'GET', ':path': '/', upgrade: 'websocket', connection: 'upgrade' });
    const res = HeaderMapImpl.fromObject({ ':status': '101', upgrade: 'websocket', connection: 'Upgrade', 'keep-alive': 'timeout=5' });
    mutateResponseHeaders(res, req, '');
    expect(pairs(res)).toEqual([
      [':status', '101'],
      ['upgrade', 'websocket'],
      ['connection', 'Upgrade'],
    ]);
  });
});
