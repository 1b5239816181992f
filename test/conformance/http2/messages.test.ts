/**
 * RFC 9113 §7 (error codes) and §8 (HTTP semantics: message framing, fields, pseudo-header
 * fields, CONNECT), against a real sluice with an HTTP/1 origin behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../codecs/http2/frame.js';
import type { HeaderList } from '../../../codecs/http2/hpack.js';
import { frames } from '../../support/h2-frames.js';
import { REQUEST, get, post, startSluice, stillWorks } from './setup.js';
import type { Sluice } from './setup.js';

let sluice: Sluice;

beforeAll(async () => {
  sluice = await startSluice();
});

afterAll(async () => {
  await sluice.close();
});

/** Sends `headers` as a whole request on stream 1 and expects RST_STREAM PROTOCOL_ERROR. */
async function malformed(headers: HeaderList): Promise<void> {
  const peer = await sluice.peer();
  const before = sluice.counter('http2.rx_messaging_error');
  peer.send(frames.headers(1).headers(headers).eos());
  expect(await peer.rst(1)).toBe(ErrorCode.PROTOCOL_ERROR);
  expect(sluice.counter('http2.rx_messaging_error')).toBe(before + 1);
  await stillWorks(peer, 3);
}

describe('RFC 9113 §7 error codes', () => {
  it('unknown error codes in RST_STREAM and GOAWAY are not errors', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.rst(1, 0xdead), frames.goaway(0, 0xbeef));
    await stillWorks(peer, 3);
  });
});

describe('RFC 9113 §8.1 HTTP message framing', () => {
  it('a request with a body and trailers reaches the origin', async () => {
    const peer = await sluice.peer();
    peer.send(post(1, '/', [['te', 'trailers']]), frames.data(1, 'hello'), frames.headers(1).headers([['x-trailer', 'v']]).eos());
    const res = await peer.response(1);
    expect(res.status).toBe('200');
    expect(JSON.parse(res.body.toString())).toMatchObject({ method: 'POST', bodyLength: 5 });
  });

  it('trailers without END_STREAM are malformed: stream error PROTOCOL_ERROR', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.data(1, 'x'), frames.headers(1).headers([['x-trailer', 'v']]));
    expect(await peer.rst(1)).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('pseudo-header fields in trailers are malformed', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.headers(1).headers([[':method', 'GET']]).eos());
    expect(await peer.rst(1)).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('DATA after the trailers is a stream error STREAM_CLOSED', async () => {
    const peer = await sluice.peer();
    peer.send(post(1), frames.headers(1).headers([['x-trailer', 'v']]).eos(), frames.data(1, 'late'));
    expect(await peer.rst(1)).toBe(ErrorCode.STREAM_CLOSED);
  });

  it('§8.1.1: DATA not matching content-length is malformed', async () => {
    const peer = await sluice.peer();
    peer.send(post(1, '/', [['content-length', '4']]), frames.data(1, 'toolong').eos());
    expect(await peer.rst(1)).toBe(ErrorCode.PROTOCOL_ERROR);
    peer.send(post(3, '/', [['content-length', '4']]), frames.data(3, 'ab').eos());
    expect(await peer.rst(3)).toBe(ErrorCode.PROTOCOL_ERROR);
    peer.send(frames.headers(5).request('POST', '/', { authority: 'e', headers: [['content-length', '4']] }).eos());
    expect(await peer.rst(5)).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('§8.1.1: a matching content-length goes through', async () => {
    const peer = await sluice.peer();
    peer.send(post(1, '/', [['content-length', '4']]), frames.data(1, 'ab'), frames.data(1, 'cd').eos());
    const res = await peer.response(1);
    expect(JSON.parse(res.body.toString())).toMatchObject({ bodyLength: 4 });
  });
});

describe('RFC 9113 §8.2 HTTP fields', () => {
  it('uppercase field names are malformed', () => malformed([...REQUEST, ['X-Upper', 'v']]));
  it('a NUL, CR or LF in a value is malformed', async () => {
    await malformed([...REQUEST, ['x', 'a\u0000b']]);
    await malformed([...REQUEST, ['x', 'a\r\nb: c']]);
  });
  it('leading or trailing whitespace in a value is malformed', () => malformed([...REQUEST, ['x', 'v ']]));
  it('§8.2.2: connection-specific fields are malformed', async () => {
    for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) {
      await malformed([...REQUEST, [name, 'x']]);
    }
  });
  it('§8.2.2: te other than "trailers" is malformed', () => malformed([...REQUEST, ['te', 'trailers, deflate']]));

  it('§8.2.3: crumbled cookies reach an HTTP/1 origin as one header', async () => {
    const peer = await sluice.peer();
    peer.send(get(1, '/', [['cookie', 'a=1'], ['cookie', 'b=2'], ['cookie', 'c=3']]));
    const res = await peer.response(1);
    expect(JSON.parse(res.body.toString()).headers.cookie).toBe('a=1; b=2; c=3');
  });
});

describe('RFC 9113 §8.3 pseudo-header fields', () => {
  it('a pseudo-header after a regular field is malformed', () => malformed([REQUEST[0]!, ['x', '1'], ...REQUEST.slice(1)]));
  it('an undefined pseudo-header is malformed', () => malformed([...REQUEST, [':foo', 'bar']]));
  it('a response pseudo-header in a request is malformed', () => malformed([...REQUEST, [':status', '200']]));
  it('a duplicated pseudo-header is malformed', () => malformed([...REQUEST, [':path', '/other']]));
  it('§8.3.1: a missing :method, :scheme or :path is malformed', async () => {
    await malformed(REQUEST.filter(([n]) => n !== ':method'));
    await malformed(REQUEST.filter(([n]) => n !== ':scheme'));
    await malformed(REQUEST.filter(([n]) => n !== ':path'));
  });
  it('§8.3.1: an empty :path is malformed', () => malformed(REQUEST.map(([n, v]) => (n === ':path' ? [n, ''] : [n, v]))));

  it('§8.3.1: :authority becomes the Host of an HTTP/1 request; a host field alone works too', async () => {
    const peer = await sluice.peer();
    peer.send(get(1, '/'));
    expect(JSON.parse((await peer.response(1)).body.toString()).headers.host).toBe('example.com');
    peer.send(frames.headers(3).request('GET', '/', { authority: '', headers: [['host', 'from-host.example']] }).eos());
    expect(JSON.parse((await peer.response(3)).body.toString()).headers.host).toBe('from-host.example');
  });

  it('§8.3.2: responses carry :status first', async () => {
    const peer = await sluice.peer();
    peer.send(get(1, '/'));
    const res = await peer.response(1);
    expect(res.headers[0]![0]).toBe(':status');
    expect(res.headers.filter(([n]) => n.startsWith(':'))).toEqual([[':status', '200']]);
  });
});

describe('RFC 9113 §8.5 CONNECT', () => {
  it('CONNECT with :scheme or :path is malformed', async () => {
    await malformed([[':method', 'CONNECT'], [':authority', 'example.com:443'], [':path', '/']]);
    await malformed([[':method', 'CONNECT'], [':scheme', 'https'], [':authority', 'example.com:443']]);
  });

  it('CONNECT without :authority is malformed', () => malformed([[':method', 'CONNECT']]));

  it('a well-formed CONNECT is not a protocol error (the proxy answers it)', async () => {
    const peer = await sluice.peer();
    peer.send(frames.headers(1).headers([[':method', 'CONNECT'], [':authority', 'example.com:443']]));
    const res = await peer.response(1);
    expect(res.frames[0]).toMatch(/^HEADERS 1/);
    expect(res.status).not.toBe('');
  });

  it(':protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL is malformed (RFC 8441 §4)', () =>
    malformed([[':method', 'CONNECT'], [':protocol', 'websocket'], ...REQUEST.slice(1)]));
});
