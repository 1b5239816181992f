import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../../codecs/index.js';
import {
  hasToken,
  isInternalAddress,
  lastAddressFromXff,
  shouldCloseConnection,
  stripHostPort,
} from '../../../../../filters/network/http-connection-manager/conn-manager-utility.js';
import { buildLocalReply, grpcPercentEncode, httpToGrpcStatus, isGrpcContentType } from '../../../../../filters/network/http-connection-manager/local-reply.js';
import { mergeSlashes, normalizePath } from '../../../../../filters/network/http-connection-manager/path-utility.js';
import { headersObject } from './fakes.js';

describe('path normalization', () => {
  it.each([
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/../../a', '/a'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/%2e%2E/b', '/b'],
    ['/%7euser/%41', '/~user/A'],
    ['/a%2fb', '/a%2Fb'],
    ['/p?q=/../x', '/p?q=/../x'],
    ['*', '*'],
  ])('normalizePath(%s) = %s', (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  it('rejects a malformed escape', () => {
    expect(normalizePath('/a%2')).toBeUndefined();
    expect(normalizePath('/a%g1')).toBeUndefined();
  });

  it.each([
    ['//a///b/', '/a/b/'],
    ['/a/b', '/a/b'],
    ['/a//b?x=//y', '/a/b?x=//y'],
  ])('mergeSlashes(%s) = %s', (input, expected) => {
    expect(mergeSlashes(input)).toBe(expected);
  });
});

describe('connection manager utilities', () => {
  it('finds comma-separated tokens case-insensitively', () => {
    expect(hasToken('keep-alive, Upgrade', 'upgrade')).toBe(true);
    expect(hasToken('keep-alive,upgrade-ish', 'upgrade')).toBe(false);
    expect(hasToken(undefined, 'close')).toBe(false);
  });

  it.each([
    ['HTTP/1.0', {}, true],
    ['HTTP/1.0', { connection: 'Keep-Alive' }, false],
    ['HTTP/1.1', {}, false],
    ['HTTP/1.1', { connection: 'TE, close' }, true],
    ['HTTP/1.1', { 'proxy-connection': 'close' }, true],
    ['HTTP/2', { 'proxy-connection': 'close' }, false],
  ] as const)('shouldCloseConnection(%s, %j) = %s', (proto, headers, expected) => {
    expect(shouldCloseConnection(proto, HeaderMapImpl.fromObject(headers))).toBe(expected);
  });

  it.each([
    ['10.0.0.1', true],
    ['172.16.5.4', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['127.0.0.1', true],
    ['8.8.8.8', false],
    ['::1', true],
    ['fd00::1', true],
    ['2001:db8::1', false],
    ['::ffff:10.1.1.1', true],
    ['not-an-ip', false],
  ])('isInternalAddress(%s) = %s', (ip, expected) => {
    expect(isInternalAddress(ip)).toBe(expected);
  });

  it('reads x-forwarded-for from the right, skipping trusted hops', () => {
    const h = HeaderMapImpl.fromObject({ 'x-forwarded-for': '1.1.1.1, 2.2.2.2,3.3.3.3' });
    expect(lastAddressFromXff(h, 0)).toEqual({ address: '3.3.3.3', single: false });
    expect(lastAddressFromXff(h, 2)).toEqual({ address: '1.1.1.1', single: false });
    expect(lastAddressFromXff(h, 3)).toEqual({ address: undefined, single: false });
    expect(lastAddressFromXff(HeaderMapImpl.fromObject({ 'x-forwarded-for': ' 4.4.4.4 ' }), 0)).toEqual({ address: '4.4.4.4', single: true });
    expect(lastAddressFromXff(HeaderMapImpl.fromObject({ 'x-forwarded-for': 'garbage' }), 0)).toEqual({ address: undefined, single: false });
    expect(lastAddressFromXff(HeaderMapImpl.fromObject({ 'x-forwarded-for': ['1.1.1.1', '5.5.5.5'] }), 0)).toEqual({ address: '5.5.5.5', single: false });
  });

  it('strips host ports', () => {
    const strip = (host: string, port: number | undefined) => {
      const h = HeaderMapImpl.fromObject({ ':authority': host });
      stripHostPort(h, port);
      return h.get(':authority');
    };
    expect(strip('a.com:80', 80)).toBe('a.com');
    expect(strip('a.com:81', 80)).toBe('a.com:81');
    expect(strip('a.com:81', undefined)).toBe('a.com');
    expect(strip('[::1]:80', 80)).toBe('[::1]');
    expect(strip('[::1]', undefined)).toBe('[::1]');
  });
});

describe('local replies', () => {
  it.each([
    [400, 13],
    [401, 16],
    [403, 7],
    [404, 12],
    [429, 14],
    [502, 14],
    [503, 14],
    [504, 14],
    [500, 2],
    [413, 2],
  ])('maps HTTP %i to gRPC status %i', (code, grpc) => {
    expect(httpToGrpcStatus(code)).toBe(grpc);
  });

  it('percent-encodes grpc-message as gRPC specifies', () => {
    expect(grpcPercentEncode('plain text')).toBe('plain text');
    expect(grpcPercentEncode('50% off\n')).toBe('50%25 off%0A');
    expect(grpcPercentEncode('é')).toBe('%C3%A9');
  });

  it('recognizes gRPC content types', () => {
    expect(isGrpcContentType('application/grpc')).toBe(true);
    expect(isGrpcContentType('application/grpc+proto')).toBe(true);
    expect(isGrpcContentType('application/grpc;charset=utf-8')).toBe(true);
    expect(isGrpcContentType('application/grpc-web')).toBe(false);
    expect(isGrpcContentType(undefined)).toBe(false);
  });

  it('builds plain, empty, HEAD and gRPC replies', () => {
    const plain = buildLocalReply(503, 'no healthy upstream', { details: 'x' }, { isGrpc: false, isHead: false });
    expect(headersObject(plain.headers)).toEqual({ ':status': '503', 'content-length': '19', 'content-type': 'text/plain' });
    expect(plain.body).toBe('no healthy upstream');
    const empty = buildLocalReply(404, '', { details: 'x' }, { isGrpc: false, isHead: false });
    expect(headersObject(empty.headers)).toEqual({ ':status': '404', 'content-length': '0' });
    expect(empty.body).toBeUndefined();
    const head = buildLocalReply(404, 'gone', { details: 'x' }, { isGrpc: false, isHead: true });
    expect(headersObject(head.headers)).toEqual({ ':status': '404', 'content-length': '4', 'content-type': 'text/plain' });
    expect(head.body).toBeUndefined();
    const grpc = buildLocalReply(504, 'timeout', { details: 'x', grpcStatus: 4 }, { isGrpc: true, isHead: false });
    expect(headersObject(grpc.headers)).toEqual({ ':status': '200', 'content-type': 'application/grpc', 'grpc-status': '4', 'grpc-message': 'timeout' });
  });
});
