import { describe, expect, it } from 'vitest';
import { validateRequest, validateResponse, validateTrailers } from '../../../../codecs/http2/header-validation.js';
import type { HeaderList } from '../../../../codecs/http2/hpack.js';
import { frames } from '../../../support/h2-frames.js';
import { SessionHarness } from './session-harness.js';

const BASE: HeaderList = [[':method', 'GET'], [':scheme', 'https'], [':authority', 'example.com'], [':path', '/']];

function with_(extra: HeaderList): HeaderList {
  return [...BASE, ...extra];
}

/** Malformed requests (RFC 9113 §8.1.1): each must be reset with PROTOCOL_ERROR, never delivered. */
const MALFORMED: [string, HeaderList][] = [
  ['uppercase header name (§8.2)', with_([['X-Upper', 'v']])],
  ['empty header name', with_([['', 'v']])],
  ['space in header name', with_([['x y', 'v']])],
  ['NUL in value (§8.2.1)', with_([['x', 'a\u0000b']])],
  ['CR in value', with_([['x', 'a\rb']])],
  ['LF in value', with_([['x', 'a\nb']])],
  ['leading space in value', with_([['x', ' v']])],
  ['trailing tab in value', with_([['x', 'v\t']])],
  ['connection header (§8.2.2)', with_([['connection', 'keep-alive']])],
  ['keep-alive header', with_([['keep-alive', 'timeout=5']])],
  ['proxy-connection header', with_([['proxy-connection', 'x']])],
  ['transfer-encoding header', with_([['transfer-encoding', 'chunked']])],
  ['upgrade header', with_([['upgrade', 'h2c']])],
  ['te other than trailers', with_([['te', 'gzip']])],
  ['pseudo-header after a regular field (§8.3)', [[':method', 'GET'], [':scheme', 'https'], ['x', '1'], [':path', '/']]],
  ['unknown pseudo-header', [[':foo', 'bar'], ...BASE]],
  [':status in a request', [[':status', '200'], ...BASE]],
  ['duplicate :method', [[':method', 'GET'], ...BASE]],
  ['duplicate :path', [...BASE.slice(0, 3), [':path', '/'], [':path', '/x']]],
  ['missing :method (§8.3.1)', BASE.slice(1)],
  ['missing :scheme', [BASE[0]!, BASE[2]!, BASE[3]!]],
  ['missing :path', BASE.slice(0, 3)],
  ['empty :path', [...BASE.slice(0, 3), [':path', '']]],
  ['invalid :scheme', [BASE[0]!, [':scheme', '1http'], BASE[2]!, BASE[3]!]],
  ['space in :path', [...BASE.slice(0, 3), [':path', '/a b']]],
  ['CONNECT with :path (§8.5)', [[':method', 'CONNECT'], [':authority', 'a:443'], [':path', '/']]],
  ['CONNECT with :scheme', [[':method', 'CONNECT'], [':scheme', 'https'], [':authority', 'a:443']]],
  ['CONNECT without :authority', [[':method', 'CONNECT']]],
  [':protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441)', [[':method', 'CONNECT'], [':protocol', 'websocket'], ...BASE.slice(1)]],
  [':protocol on GET', [...BASE, [':protocol', 'websocket']]],
  ['invalid content-length', with_([['content-length', '1x']])],
  ['conflicting content-length', with_([['content-length', '1'], ['content-length', '2']])],
];

describe('HTTP/2 request validation (RFC 9113 §8)', () => {
  it.each(MALFORMED)('%s is malformed', (_name, headers) => {
    expect(validateRequest(headers, false)).toMatchObject({ kind: 'malformed' });
  });

  it('accepts valid requests', () => {
    expect(validateRequest(BASE, false)).toEqual({ method: 'GET', contentLength: -1, connect: false });
    expect(validateRequest(with_([['te', 'trailers'], ['content-length', '5'], ['content-length', '5'], ['x-e', '']]), false)).toEqual({
      method: 'GET', contentLength: 5, connect: false,
    });
    expect(validateRequest([[':method', 'CONNECT'], [':authority', 'a:443']], false)).toEqual({ method: 'CONNECT', contentLength: -1, connect: true });
    expect(validateRequest([[':method', 'CONNECT'], [':protocol', 'websocket'], ...BASE.slice(1)], true)).toMatchObject({ connect: true });
    // :authority is optional outside CONNECT (§8.3.1): Host may carry it.
    expect(validateRequest([BASE[0]!, BASE[1]!, BASE[3]!, ['host', 'h']], false)).toMatchObject({ method: 'GET' });
    expect(validateRequest([[':method', 'OPTIONS'], [':scheme', 'http'], [':authority', 'a'], [':path', '*']], false)).toMatchObject({ method: 'OPTIONS' });
  });

  it('checks responses (§8.3.2) and trailers (§8.1)', () => {
    expect(validateResponse([[':status', '200'], ['content-length', '3']])).toEqual({ status: 200, contentLength: 3 });
    for (const bad of [[], [[':status', '20']], [[':status', '2000']], [[':status', 'abc']], [[':status', '101']],
      [[':status', '200'], [':status', '200']], [[':status', '200'], [':path', '/']], [['x', '1'], [':status', '200']],
      [[':status', '200'], ['connection', 'close']]] as HeaderList[]) {
      expect(validateResponse(bad)).toMatchObject({ kind: 'malformed' });
    }
    expect(validateTrailers([['grpc-status', '0']])).toBeUndefined();
    expect(validateTrailers([[':status', '200']])).toMatchObject({ kind: 'malformed' });
    expect(validateTrailers([['Bad', '0']])).toMatchObject({ kind: 'malformed' });
  });
});

describe('Http2Session: malformed messages become stream errors', () => {
  function ready(): SessionHarness {
    const h = new SessionHarness('server');
    h.recv(frames.preface(), frames.settings(), frames.settingsAck());
    h.out();
    return h;
  }

  it.each(MALFORMED.slice(0, 6))('%s: RST_STREAM PROTOCOL_ERROR, not delivered', (_name, headers) => {
    const h = ready();
    h.recv(frames.headers(1).headers(headers).eos());
    expect(h.out()).toEqual(['RST_STREAM 1 code=1']);
    expect(h.take()).toEqual(['close 1 1 protocol_error']);
    expect(h.counter('rx_messaging_error')).toBe(1);
    // The connection goes on.
    h.recv(frames.headers(3).request('GET', '/').eos());
    expect(h.take()).toEqual([expect.stringMatching(/^headers 3 request ES/)]);
  });

  it('trailers must end the stream and carry no pseudo-headers', () => {
    const h = ready();
    h.recv(frames.headers(1).request('POST', '/'), frames.headers(1).headers([['x', '1']]));
    expect(h.out()).toEqual(['RST_STREAM 1 code=1']);
    const h2 = ready();
    h2.recv(frames.headers(1).request('POST', '/'), frames.headers(1).headers([[':status', '200']]).eos());
    expect(h2.out()).toEqual(['RST_STREAM 1 code=1']);
  });

  it('answers a request header list over the limit with 431 (RFC 9113 §10.5.1)', () => {
    const h = new SessionHarness('server', { maxHeaderListBytes: 100 });
    h.recv(frames.preface(), frames.settings(), frames.settingsAck());
    h.out();
    h.recv(frames.headers(1).request('POST', '/', { headers: [['x-big', 'v'.repeat(200)]] }));
    expect(h.out()).toEqual(['HEADERS 1 +ES :status=431', 'RST_STREAM 1 code=0']);
    expect(h.counter('header_overflow')).toBe(1);
    expect(h.take()).toEqual(['close 1 0 local_reset']);
    const h2 = new SessionHarness('server', { maxHeaderCount: 5 });
    h2.recv(frames.preface(), frames.settings(), frames.settingsAck());
    h2.out();
    h2.recv(frames.headers(1).request('GET', '/', { headers: [['a', '1'], ['b', '2']] }).eos());
    expect(h2.out()).toEqual(['HEADERS 1 +ES :status=431']);
  });
});
