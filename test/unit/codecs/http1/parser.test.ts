import { describe, expect, it } from 'vitest';
import {
  CallbackResult,
  Parser,
  type ParserCallbacks,
  type SpanResult,
} from '../../../../codecs/http1/parser.js';
import { bytes, expectSplitInvariant, trace } from './trace-harness.js';

const ok = (): SpanResult => CallbackResult.Success;

function callbacks(over: Partial<ParserCallbacks> = {}): ParserCallbacks {
  return {
    onMessageBegin: ok,
    onUrl: ok,
    onStatus: ok,
    onHeaderField: ok,
    onHeaderValue: ok,
    onHeadersComplete: ok,
    onBody: ok,
    onTrailerField: ok,
    onTrailerValue: ok,
    onMessageComplete: ok,
    ...over,
  };
}

describe('http1 parser: requests (fed whole, split at every offset, byte by byte)', () => {
  it('simple GET', () => {
    expectSplitInvariant('request', 'GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n', {
      events: [
        'begin',
        'url:/index.html?x=1',
        'field:Host',
        'value:example.com',
        'field:Accept',
        'value:*/*',
        'headers GET 1.1 cl=- chunked=0 te=0 upgrade=0',
        'complete keepAlive=1 upgrade=0',
      ],
      end: 'ok',
    });
  });

  it('pipelined requests, paused after each one like the server connection does', () => {
    const a = 'GET /a HTTP/1.1\r\nHost: h\r\n\r\n';
    const b = 'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello';
    const c = 'GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n';
    expectSplitInvariant(
      'request',
      a + b + c,
      {
        events: [
          'begin', 'url:/a', 'field:Host', 'value:h',
          'headers GET 1.1 cl=- chunked=0 te=0 upgrade=0',
          'complete keepAlive=1 upgrade=0',
          `paused@${a.length}`,
          'begin', 'url:/b', 'field:Host', 'value:h', 'field:Content-Length', 'value:5',
          'headers POST 1.1 cl=5 chunked=0 te=0 upgrade=0',
          'body:hello',
          'complete keepAlive=1 upgrade=0',
          `paused@${a.length + b.length}`,
          'begin', 'url:/c', 'field:Host', 'value:h', 'field:Connection', 'value:close',
          'headers GET 1.1 cl=- chunked=0 te=0 upgrade=0',
          'complete keepAlive=0 upgrade=0',
          `paused@${a.length + b.length + c.length}`,
        ],
        end: 'ok',
      },
      { pauseOnComplete: true },
    );
  });

  it('chunked body with extensions and trailers', () => {
    expectSplitInvariant(
      'request',
      'POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;name=value\r\nhello\r\n6;a;b="q s"\r\n world\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n',
      {
        events: [
          'begin', 'url:/upload', 'field:Host', 'value:h', 'field:Transfer-Encoding', 'value:chunked',
          'headers POST 1.1 cl=- chunked=1 te=1 upgrade=0',
          'body:hello world',
          'trailer-field:Expires', 'trailer-value:never', 'trailer-field:X-Sum', 'trailer-value:1',
          'complete keepAlive=1 upgrade=0',
        ],
        end: 'ok',
      },
    );
  });

  it('content-length body', () => {
    expectSplitInvariant('request', 'PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world', {
      events: [
        'begin', 'url:/r', 'field:Host', 'value:h', 'field:Content-Length', 'value:11',
        'headers PUT 1.1 cl=11 chunked=0 te=0 upgrade=0',
        'body:hello world',
        'complete keepAlive=1 upgrade=0',
      ],
      end: 'ok',
    });
  });

  it('header values keep trailing whitespace (the consumer trims) and lose leading whitespace', () => {
    expectSplitInvariant('request', 'GET / HTTP/1.1\r\nA:\t x \t\r\nB:\r\nC:  \r\n\r\n', {
      events: [
        'begin', 'url:/', 'field:A', 'value:x \t', 'field:B', 'value:', 'field:C', 'value:',
        'headers GET 1.1 cl=- chunked=0 te=0 upgrade=0',
        'complete keepAlive=1 upgrade=0',
      ],
      end: 'ok',
    });
  });

  it('HTTP/1.0 request: keep-alive only when asked for', () => {
    expectSplitInvariant('request', 'GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', {
      events: [
        'begin', 'url:/', 'headers GET 1.0 cl=- chunked=0 te=0 upgrade=0', 'complete keepAlive=0 upgrade=0',
      ],
      end: 'error CLOSED_CONNECTION "Data after `Connection: close`" @19',
    });
    expectSplitInvariant('request', 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', {
      events: [
        'begin', 'url:/', 'field:Connection', 'value:keep-alive',
        'headers GET 1.0 cl=- chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
      ],
      end: 'ok',
    });
  });

  it('100-continue: the head completes before any body byte arrives', () => {
    const head = 'POST /c HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n';
    const events = [
      'begin', 'url:/c', 'field:Host', 'value:h', 'field:Expect', 'value:100-continue',
      'field:Content-Length', 'value:3', 'headers POST 1.1 cl=3 chunked=0 te=0 upgrade=0',
    ];
    expectSplitInvariant('request', head, { events, end: 'ok' });
    expect(trace('request', [bytes(head), bytes('abc')])).toEqual({
      events: [...events, 'body:abc', 'complete keepAlive=1 upgrade=0'],
      end: 'ok',
      tail: '',
    });
  });

  it('Upgrade: websocket stops at the end of the head with the tunnel offset', () => {
    const head =
      'GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n';
    expectSplitInvariant('request', `${head}\x81\x05hello`, {
      events: [
        'begin', 'url:/chat', 'field:Host', 'value:h', 'field:Connection', 'value:Upgrade',
        'field:Upgrade', 'value:websocket', 'field:Sec-WebSocket-Key', 'value:k',
        'field:Sec-WebSocket-Version', 'value:13',
        'headers GET 1.1 cl=- chunked=0 te=0 upgrade=1',
        'complete keepAlive=1 upgrade=1',
      ],
      end: `upgrade@${head.length}`,
      tail: '\x81\x05hello',
    });
  });

  it('Upgrade without Connection: upgrade is a normal request', () => {
    expectSplitInvariant('request', 'GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n', {
      events: [
        'begin', 'url:/', 'field:Upgrade', 'value:websocket',
        'headers GET 1.1 cl=- chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
      ],
      end: 'ok',
    });
  });

  it('a declined upgrade resumes HTTP parsing with resumeAfterUpgrade()', () => {
    const first = 'GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n';
    const input = bytes(`${first}GET /next HTTP/1.1\r\n\r\n`);
    const urls: string[] = [];
    const p = new Parser('request', callbacks({ onUrl: (d, s, e) => (urls.push(d.toString('latin1', s, e)), 0) }));
    const r = p.execute(input);
    expect(r).toEqual({ status: 'upgrade', consumed: first.length });
    expect(p.execute(input.subarray(first.length))).toEqual({ status: 'upgrade', consumed: 0 });
    p.resumeAfterUpgrade();
    expect(p.execute(input.subarray(first.length))).toEqual({ status: 'ok', consumed: input.length - first.length });
    expect(urls).toEqual(['/ws', '/next']);
    p.destroy();
  });

  it('CONNECT stops at the end of the head', () => {
    const head = 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n';
    expectSplitInvariant('request', `${head}\x16\x03\x01`, {
      events: [
        'begin', 'url:example.com:443', 'field:Host', 'value:example.com:443',
        'headers CONNECT 1.1 cl=- chunked=0 te=0 upgrade=1', 'complete keepAlive=1 upgrade=1',
      ],
      end: `upgrade@${head.length}`,
      tail: '\x16\x03\x01',
    });
  });

  it('absolute-form target and leading empty lines (RFC 9112 §2.2)', () => {
    expectSplitInvariant('request', '\r\n\r\nGET http://a.example/p?q HTTP/1.1\r\nHost: a.example\r\n\r\n', {
      events: [
        'begin', 'url:http://a.example/p?q', 'field:Host', 'value:a.example',
        'headers GET 1.1 cl=- chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
      ],
      end: 'ok',
    });
  });
});

describe('http1 parser: responses (client side)', () => {
  it('content-length and chunked responses with trailers', () => {
    expectSplitInvariant(
      'response',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi' +
        'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nGrpc-Status: 0\r\n\r\n',
      {
        events: [
          'begin', 'reason:OK', 'field:Content-Length', 'value:2',
          'headers 200 1.1 cl=2 chunked=0 te=0 upgrade=0', 'body:hi', 'complete keepAlive=1 upgrade=0',
          'begin', 'reason:Not Found', 'field:Transfer-Encoding', 'value:chunked',
          'headers 404 1.1 cl=- chunked=1 te=1 upgrade=0', 'body:abc',
          'trailer-field:Grpc-Status', 'trailer-value:0', 'complete keepAlive=1 upgrade=0',
        ],
        end: 'ok',
      },
    );
  });

  it('HTTP/1.0 response with a body until close', () => {
    expectSplitInvariant(
      'response',
      'HTTP/1.0 200 OK\r\nServer: s\r\n\r\nbody bytes until close',
      {
        events: [
          'begin', 'reason:OK', 'field:Server', 'value:s',
          'headers 200 1.0 cl=- chunked=0 te=0 upgrade=0', 'body:body bytes until close',
          'complete keepAlive=0 upgrade=0',
        ],
        end: 'finish ok',
      },
      { finish: true },
    );
  });

  it('HTTP/1.1 response without framing reads until close; a non-chunked coding too', () => {
    expectSplitInvariant(
      'response',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b',
      {
        events: [
          'begin', 'reason:OK', 'field:Transfer-Encoding', 'value:gzip',
          'headers 200 1.1 cl=- chunked=0 te=1 upgrade=0', 'body:\x1f\x8b', 'complete keepAlive=0 upgrade=0',
        ],
        end: 'finish ok',
      },
      { finish: true },
    );
  });

  it('a truncated content-length body is an error at EOF', () => {
    expectSplitInvariant(
      'response',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab',
      {
        events: [
          'begin', 'reason:OK', 'field:Content-Length', 'value:5',
          'headers 200 1.1 cl=5 chunked=0 te=0 upgrade=0', 'body:ab',
        ],
        end: 'finish error INVALID_EOF_STATE "Invalid EOF state"',
      },
      { finish: true },
    );
  });

  it('HEAD response: NoBody skips the declared body and keeps the connection', () => {
    expectSplitInvariant(
      'response',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi',
      {
        events: [
          'begin', 'reason:OK', 'field:Content-Length', 'value:5',
          'headers 200 1.1 cl=5 chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
          'begin', 'reason:OK', 'headers 200 1.1 cl=- chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
          'begin', 'reason:OK', 'field:Content-Length', 'value:2',
          'headers 200 1.1 cl=2 chunked=0 te=0 upgrade=0', 'body:hi', 'complete keepAlive=1 upgrade=0',
        ],
        end: 'ok',
      },
      { headersComplete: [CallbackResult.NoBody, CallbackResult.NoBody, CallbackResult.Success] },
    );
  });

  it('1xx, 204 and 304 never have a body (RFC 9112 §6.3)', () => {
    expectSplitInvariant(
      'response',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n' +
        'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n',
      {
        events: [
          'begin', 'reason:Continue', 'headers 100 1.1 cl=- chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
          'begin', 'reason:Early Hints', 'field:Link', 'value:</s>',
          'headers 103 1.1 cl=- chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
          'begin', 'reason:No Content', 'field:Content-Length', 'value:5',
          'headers 204 1.1 cl=5 chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
          'begin', 'reason:Not Modified', 'field:Content-Length', 'value:9',
          'headers 304 1.1 cl=9 chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
          'begin', 'field:Content-Length', 'value:0',
          'headers 200 1.1 cl=0 chunked=0 te=0 upgrade=0', 'complete keepAlive=1 upgrade=0',
        ],
        end: 'ok',
      },
    );
  });

  it('101 Switching Protocols stops with the tunnel offset', () => {
    const head = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    expectSplitInvariant('response', `${head}\x81\x00`, {
      events: [
        'begin', 'reason:Switching Protocols', 'field:Connection', 'value:Upgrade', 'field:Upgrade', 'value:websocket',
        'headers 101 1.1 cl=- chunked=0 te=0 upgrade=1', 'complete keepAlive=1 upgrade=1',
      ],
      end: `upgrade@${head.length}`,
      tail: '\x81\x00',
    });
  });

  it('2xx to CONNECT: NoBodyUpgrade turns the rest into tunnel bytes', () => {
    const head = 'HTTP/1.1 200 Connection Established\r\n\r\n';
    expectSplitInvariant(
      'response',
      `${head}\x16\x03\x03`,
      {
        events: [
          'begin', 'reason:Connection Established', 'headers 200 1.1 cl=- chunked=0 te=0 upgrade=0',
          'complete keepAlive=1 upgrade=1',
        ],
        end: `upgrade@${head.length}`,
        tail: '\x16\x03\x03',
      },
      { headersComplete: [CallbackResult.NoBodyUpgrade] },
    );
  });

  it('pipelined responses paused after each one', () => {
    const a = 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na';
    const b = '\r\nHTTP/1.1 204 No Content\r\n\r\n';
    expectSplitInvariant(
      'response',
      a + b,
      {
        events: [
          'begin', 'reason:OK', 'field:Content-Length', 'value:1', 'headers 200 1.1 cl=1 chunked=0 te=0 upgrade=0',
          'body:a', 'complete keepAlive=1 upgrade=0', `paused@${a.length}`,
          'begin', 'reason:No Content', 'headers 204 1.1 cl=- chunked=0 te=0 upgrade=0',
          'complete keepAlive=1 upgrade=0', `paused@${a.length + b.length}`,
        ],
        end: 'ok',
      },
      { pauseOnComplete: true },
    );
  });
});

describe('http1 parser: driving', () => {
  it('body callbacks are zero-copy views of the input chunk', () => {
    const input = bytes('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
    const views: Buffer[] = [];
    const p = new Parser('request', callbacks({ onBody: (d) => (views.push(d), 0) }));
    expect(p.execute(input).status).toBe('ok');
    expect(views.map((v) => v.toString())).toEqual(['abc', 'de']);
    for (const v of views) expect(v.buffer).toBe(input.buffer);
    expect(views[0]!.byteOffset - input.byteOffset).toBe(input.indexOf('abc'));
    p.destroy();
  });

  it('pausing in onBody leaves the unparsed tail to the caller', () => {
    const input = bytes('POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nabcdef');
    const bodies: string[] = [];
    const p = new Parser('request', callbacks({ onBody: (d) => (bodies.push(d.toString()), CallbackResult.Pause) }));
    const head = input.length - 6;
    expect(p.execute(input.subarray(0, head + 2))).toEqual({ status: 'paused', consumed: head + 2 });
    expect(p.execute(input.subarray(head + 2))).toEqual({ status: 'paused', consumed: 0 });
    p.resume();
    expect(p.execute(input.subarray(head + 2))).toEqual({ status: 'paused', consumed: 4 });
    expect(bodies).toEqual(['ab', 'cdef']);
    p.resume();
    expect(p.execute(Buffer.alloc(0))).toEqual({ status: 'ok', consumed: 0 });
    p.destroy();
  });

  it('pausing in onHeadersComplete stops right after the head', () => {
    const head = 'POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n';
    const p = new Parser('request', callbacks({ onHeadersComplete: () => CallbackResult.Pause }));
    const r = p.execute(bytes(`${head}abc`));
    expect(r).toEqual({ status: 'paused', consumed: head.length });
    p.destroy();
  });

  it('a body larger than the wasm scratch slice arrives intact as views of one input', () => {
    const body = Buffer.alloc(600 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const input = Buffer.concat([bytes(`PUT / HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    const pieces: Buffer[] = [];
    const p = new Parser('request', callbacks({ onBody: (d) => (pieces.push(d), 0) }));
    expect(p.execute(input)).toEqual({ status: 'ok', consumed: input.length });
    expect(pieces.length).toBeGreaterThan(1);
    expect(Buffer.concat(pieces).equals(body)).toBe(true);
    for (const v of pieces) expect(v.buffer).toBe(input.buffer);
    p.destroy();
  });

  it('a callback may execute another parser (codec loopback) without disturbing this one', () => {
    const inner = new Parser('response', callbacks());
    const innerResults: string[] = [];
    const seen: string[] = [];
    const outer = new Parser(
      'request',
      callbacks({
        onHeaderValue: (d, s, e) => {
          seen.push(d.toString('latin1', s, e));
          return 0;
        },
        onMessageComplete: () => {
          innerResults.push(inner.execute(bytes('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')).status);
          return 0;
        },
      }),
    );
    const r = outer.execute(bytes('GET /1 HTTP/1.1\r\nA: one\r\n\r\nGET /2 HTTP/1.1\r\nB: two\r\n\r\n'));
    expect(r.status).toBe('ok');
    expect(seen).toEqual(['one', 'two']);
    expect(innerResults).toEqual(['ok', 'ok']);
    outer.destroy();
    inner.destroy();
  });

  it('executing a parser from its own callback throws (misuse, not a protocol error)', () => {
    let p: Parser | undefined;
    p = new Parser('request', callbacks({ onMessageBegin: () => (p!.execute(bytes('x')), 0) }));
    expect(() => p!.execute(bytes('GET / HTTP/1.1\r\n\r\n'))).toThrow(/re-entrantly/);
    expect(p.execute(bytes('GET / HTTP/1.1\r\n\r\n'))).toMatchObject({ status: 'error', errorCode: 'INTERNAL' });
    p.destroy();
  });

  it('destroy() inside a callback is deferred until execute returns', () => {
    let p: Parser | undefined;
    p = new Parser('request', callbacks({ onMessageComplete: () => (p!.destroy(), CallbackResult.Pause) }));
    expect(p.execute(bytes('GET / HTTP/1.1\r\n\r\n'))).toEqual({ status: 'paused', consumed: 18 });
    expect(p.destroyed).toBe(true);
    expect(() => p!.execute(bytes('x'))).toThrow(/after destroy/);
  });

  it('an error is sticky', () => {
    const p = new Parser('request', callbacks());
    const first = p.execute(bytes('BAD / HTTP/1.1\r\n\r\n'));
    expect(first).toMatchObject({ status: 'error', errorCode: 'INVALID_METHOD' });
    expect(p.execute(bytes('GET / HTTP/1.1\r\n\r\n'))).toBe(first);
    expect(p.finish()).toBe(first);
    p.destroy();
  });

  it('headerBytes counts start-line pieces, names and values of the current head, then of the trailers', () => {
    const counts: number[] = [];
    let p: Parser | undefined;
    p = new Parser(
      'request',
      callbacks({
        onHeadersComplete: () => (counts.push(p!.headerBytes), 0),
        onMessageComplete: () => (counts.push(p!.headerBytes), 0),
      }),
    );
    p.execute(bytes('POST /abc HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 12\r\n\r\n'));
    expect(counts).toEqual([4 + 4 + 1 + 17 + 7, 1 + 2]);
    p.destroy();
  });

  it('a callback can enforce a header size limit by returning Error', () => {
    let p: Parser | undefined;
    p = new Parser('request', callbacks({ onHeaderValue: () => (p!.headerBytes > 20 ? CallbackResult.Error : 0) }));
    expect(p.execute(bytes('GET / HTTP/1.1\r\nA: 1234567890\r\nB: 1234567890\r\n\r\n'))).toEqual({
      status: 'error',
      consumed: 45,
      errorCode: 'USER',
      errorReason: 'onHeaderValue returned Error',
    });
    p.destroy();
  });

  it('content lengths above 2^32 are exact', () => {
    let cl: number | undefined;
    let p: Parser | undefined;
    p = new Parser('request', callbacks({ onHeadersComplete: () => ((cl = p!.contentLength), 0) }));
    p.execute(bytes('PUT / HTTP/1.1\r\nContent-Length: 9007199254740991\r\n\r\n'));
    expect(cl).toBe(Number.MAX_SAFE_INTEGER);
    p.destroy();
  });

  it('thousands of parsers share one wasm instance', () => {
    const parsers = Array.from({ length: 5000 }, () => new Parser('request', callbacks()));
    for (const p of parsers) expect(p.execute(bytes('GET / HTTP/1.1\r\n\r\n')).status).toBe('ok');
    for (const p of parsers) p.destroy();
  });
});
