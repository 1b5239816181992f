import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../codecs/http2/frame.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { frames } from '../../../support/h2-frames.js';
import { SessionHarness } from './session-harness.js';

const REQ: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':authority', 'a'], [':path', '/']];

function ready(): SessionHarness {
  const h = new SessionHarness('client');
  h.recv(frames.settings(), frames.settingsAck());
  h.out();
  return h;
}

describe('Http2Session (client)', () => {
  it('starts with the preface and SETTINGS disabling push', () => {
    const h = new SessionHarness('client');
    expect(h.out()).toEqual(['SETTINGS 0 2=0 3=100']);
    h.recv(frames.settings({ maxConcurrentStreams: 10 }));
    expect(h.out()).toEqual(['SETTINGS 0 ACK']);
    expect(h.session.remoteSettings.maxConcurrentStreams).toBe(10);
  });

  it('requires the server to start with SETTINGS', () => {
    const h = new SessionHarness('client');
    h.out();
    h.recv(frames.ping());
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
  });

  it('opens streams with increasing odd ids and decodes responses, 1xx and trailers', () => {
    const h = ready();
    expect(h.session.submitRequest(REQ, true)).toBe(1);
    expect(h.session.submitRequest([[':method', 'POST'], ...REQ.slice(1)], false)).toBe(3);
    h.session.submitData(3, new BufferChain('abc'), true);
    expect(h.out()).toEqual([
      'HEADERS 1 +ES :method=GET :scheme=http :authority=a :path=/',
      'HEADERS 3 :method=POST :scheme=http :authority=a :path=/',
      'DATA 3 +ES 3',
    ]);
    h.recv(
      frames.headers(1).response(103, [['link', '</a>']]),
      frames.headers(1).response(200, [['content-length', '2']]),
      frames.data(1, 'ok'),
      frames.headers(1).headers([['x-t', '1']]).eos(),
      frames.headers(3).response(204).eos(),
    );
    expect(h.take()).toEqual([
      'headers 1 informational :status=103 link=</a>',
      'headers 1 response :status=200 content-length=2',
      'data 1 2',
      'headers 1 trailers ES x-t=1',
      'close 1 0 end_stream',
      'headers 3 response ES :status=204',
      'close 3 0 end_stream',
    ]);
  });

  it('accepts a HEAD response with a content-length and no body', () => {
    const h = ready();
    h.session.submitRequest([[':method', 'HEAD'], ...REQ.slice(1)], true);
    h.recv(frames.headers(1).response(200, [['content-length', '100']]).eos());
    expect(h.take()).toEqual(['headers 1 response ES :status=200 content-length=100', 'close 1 0 end_stream']);
  });

  it('rejects malformed responses with a stream error', () => {
    for (const bad of [
      frames.headers(1).response(101).eos(),
      frames.headers(1).headers([[':path', '/']]).eos(),
      frames.headers(1).response(100).eos(),
      frames.headers(1).response(200, [['content-length', '5']]).eos(),
    ]) {
      const h = ready();
      h.session.submitRequest(REQ, true);
      h.out();
      h.recv(bad);
      expect(h.out()).toEqual(['RST_STREAM 1 code=1']);
      expect(h.take()).toEqual(['close 1 1 protocol_error']);
    }
    const h = ready();
    h.session.submitRequest(REQ, true);
    h.out();
    h.recv(frames.data(1, 'x'));
    expect(h.out()).toEqual(['RST_STREAM 1 code=1']);
  });

  it('never accepts push: PUSH_PROMISE and ENABLE_PUSH=1 are connection PROTOCOL_ERRORs', () => {
    const h = ready();
    h.session.submitRequest(REQ, false);
    h.out();
    h.recv(frames.pushPromise(1, 2, REQ));
    expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
    const h2 = ready();
    h2.recv(frames.settings({ enablePush: true }));
    expect(h2.out()).toEqual(['GOAWAY 0 last=0 code=1']);
  });

  it('HEADERS on a stream the server cannot open is a connection PROTOCOL_ERROR', () => {
    for (const id of [2, 5]) {
      const h = ready();
      h.session.submitRequest(REQ, true);
      h.out();
      h.recv(frames.headers(id).response(200).eos());
      expect(h.out()).toEqual(['GOAWAY 0 last=0 code=1']);
    }
  });

  it('GOAWAY: streams above the last id are refused; no new streams', () => {
    const h = ready();
    h.session.submitRequest(REQ, false);
    h.session.submitRequest(REQ, false);
    h.session.submitRequest(REQ, false);
    h.out();
    h.recv(frames.goaway(1, ErrorCode.NO_ERROR));
    expect(h.take()).toEqual(['close 3 7 remote_reset', 'close 5 7 remote_reset']);
    expect(h.session.submitRequest(REQ, true)).toEqual({ error: 'goaway' });
    expect(h.session.streamState(1)?.kind).toBe('open');
    // A second GOAWAY may lower the last id, never raise it.
    h.recv(frames.goaway(0, ErrorCode.NO_ERROR));
    expect(h.take()).toEqual(['close 1 7 remote_reset']);
  });

  it('the peer refusing a stream closes it with REFUSED_STREAM', () => {
    const h = ready();
    h.session.submitRequest(REQ, true);
    h.recv(frames.rst(1, ErrorCode.REFUSED_STREAM));
    expect(h.take()).toEqual(['close 1 7 remote_reset']);
    expect(h.counter('rx_reset')).toBe(1);
    // Server resets are not rapid-reset abuse on the client side.
    expect(h.session.terminated).toBeUndefined();
  });

  it('sends trailers after the body', () => {
    const h = ready();
    h.session.submitRequest([[':method', 'POST'], ...REQ.slice(1)], false);
    h.session.submitData(1, new BufferChain('body'), false);
    h.session.submitTrailers(1, [['x-sum', '1']]);
    expect(h.out()).toEqual(['HEADERS 1 :method=POST :scheme=http :authority=a :path=/', 'DATA 1 4', 'HEADERS 1 +ES x-sum=1']);
  });
});
