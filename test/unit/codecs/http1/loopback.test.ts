/**
 * Codec loopback: the HTTP/1 client codec wired to the server codec over an in-memory connection
 * pair. Whatever one encodes, the other must decode to the same message (plus the framing fields
 * the encoder adds), over one keep-alive connection, for a matrix of request and response shapes.
 */
import { describe, expect, it } from 'vitest';
import type { ClientConnection, RequestEncoder, ResponseEncoder } from '../../../../src/api/http-codec.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { StatsStore } from '../../../../src/stats/store.js';
import {
  DEFAULT_HTTP1_OPTIONS,
  DEFAULT_HTTP2_OPTIONS,
  HeaderMapImpl,
  createClientCodec,
  createServerCodec,
} from '../../../../codecs/index.js';
import { FakeConnection, FakeDispatcher, driveCodec } from '../../../support/fake-connection.js';
import { RecordingDecoder, RecordingServerCallbacks, merged } from '../../../support/recording-decoder.js';

const OPTIONS = { http1: DEFAULT_HTTP1_OPTIONS, http2: DEFAULT_HTTP2_OPTIONS };

function loopback() {
  const disp = new FakeDispatcher();
  const [clientConn, serverConn] = FakeConnection.pair(disp);
  const server = new RecordingServerCallbacks();
  const serverCodec = createServerCodec('http1', serverConn, server, OPTIONS, new StatsStore());
  const serverStatuses = driveCodec(serverConn, serverCodec);
  const goAways: number[] = [];
  const client = createClientCodec('http1', clientConn, { onGoAway: (c) => goAways.push(c) }, OPTIONS, new StatsStore()) as ClientConnection & {
    isReusable(): boolean;
  };
  const clientStatuses = driveCodec(clientConn, client);
  const clientLog: string[] = [];
  let n = 0;
  const open = (): { encoder: RequestEncoder; decoder: RecordingDecoder } => {
    const decoder = new RecordingDecoder(clientLog, `#${++n}`);
    const encoder = client.newStream(decoder);
    encoder.stream().addCallbacks(decoder);
    return { encoder, decoder };
  };
  return { disp, clientConn, serverConn, server, serverCodec, serverStatuses, client, clientStatuses, clientLog, goAways, open };
}

interface Message {
  readonly name: string;
  readonly headers: Record<string, string>;
  /** Body pieces; undefined: the message ends with its headers. */
  readonly body?: readonly string[];
  readonly trailers?: Record<string, string>;
}

const REQUESTS: readonly Message[] = [
  { name: 'GET', headers: { ':method': 'GET', ':path': '/x?y=1', ':authority': 'h', ':scheme': 'http', 'x-a': '1', 'x-a-too': 'caf\xe9' } },
  { name: 'DELETE', headers: { ':method': 'DELETE', ':path': '/item/7', ':authority': 'h:8080', ':scheme': 'http' } },
  { name: 'POST without body', headers: { ':method': 'POST', ':path': '/', ':authority': 'h', ':scheme': 'http' } },
  { name: 'POST with a length', headers: { ':method': 'POST', ':path': '/u', ':authority': 'h', ':scheme': 'http', 'content-length': '5' }, body: ['he', 'llo'] },
  { name: 'POST chunked with trailers', headers: { ':method': 'POST', ':path': '/c', ':authority': 'h', ':scheme': 'http' }, body: ['a', '', 'bc\r\n'], trailers: { 'x-t': 'v' } },
  { name: 'PUT chunked', headers: { ':method': 'PUT', ':path': '/p', ':authority': 'h', ':scheme': 'http', 'content-type': 'application/octet-stream' }, body: ['\x00\xff', '\r\n0\r\n\r\n'] },
  { name: 'HEAD', headers: { ':method': 'HEAD', ':path': '/h', ':authority': 'h', ':scheme': 'http' } },
];

const RESPONSES: readonly Message[] = [
  { name: '200 with a length', headers: { ':status': '200', 'content-length': '3', 'x-r': 'r' }, body: ['abc'] },
  { name: '200 chunked with trailers', headers: { ':status': '200', 'content-type': 'application/grpc' }, body: ['12', '345'], trailers: { 'grpc-status': '0', 'grpc-message': '' } },
  { name: '200 chunked', headers: { ':status': '200' }, body: ['z'] },
  { name: '200 headers only', headers: { ':status': '200', 'set-cookie': 'a=1', 'Set-Cookie': 'b=2' } },
  { name: '204', headers: { ':status': '204' } },
  { name: '304', headers: { ':status': '304', etag: '"v1"' } },
  { name: '404 with a body', headers: { ':status': '404', 'content-length': '9' }, body: ['not found'] },
];

/** The framing field the encoder adds to a message, if any. */
function framingField(m: Message, request: boolean, headRequest: boolean): [string, string] | undefined {
  if ('content-length' in m.headers) return undefined;
  if (m.body === undefined) {
    if (request) return ['GET', 'HEAD', 'DELETE', 'TRACE', 'CONNECT'].includes(m.headers[':method']!) ? undefined : ['content-length', '0'];
    const status = Number(m.headers[':status']);
    return status === 204 || status === 304 || headRequest ? undefined : ['content-length', '0'];
  }
  return ['transfer-encoding', 'chunked'];
}

/** What the peer's decoder should log for `m`. */
function expectedTrace(prefix: string, m: Message, request: boolean, headRequest = false): string[] {
  const h = HeaderMapImpl.fromObject(m.headers);
  const fields: string[] = [];
  if (request) {
    fields.push(`:method=${h.get(':method')!}`, `:path=${h.get(':path')!}`, `:authority=${h.get(':authority')!}`, ':scheme=http');
  } else {
    fields.push(`:status=${h.get(':status')!}`);
  }
  h.forEach((name, value) => {
    if (name.charCodeAt(0) !== 58) fields.push(`${name}=${value}`);
  });
  const extra = framingField(m, request, headRequest);
  if (extra !== undefined) fields.push(`${extra[0]}=${extra[1]}`);
  const status = Number(h.get(':status') ?? 0);
  const noBody = m.body === undefined || headRequest || status === 204 || status === 304;
  if (noBody) return [`${prefix} headers end ${fields.join(' ')}`];
  const out = [`${prefix} headers ${fields.join(' ')}`];
  const body = m.body!.join('');
  if (body !== '') out.push(`${prefix} data ${JSON.stringify(body)}`);
  if (m.trailers !== undefined) {
    const t = HeaderMapImpl.fromObject(m.trailers);
    const parts: string[] = [];
    t.forEach((name, value) => parts.push(`${name}=${value}`));
    out.push(`${prefix} trailers ${parts.join(' ')}`);
  } else {
    out.push(`${prefix} data end ""`);
  }
  return out;
}

function send(encoder: RequestEncoder | ResponseEncoder, m: Message): void {
  const headers = HeaderMapImpl.fromObject(m.headers);
  const body = m.body;
  const status = body === undefined ? encoder.encodeHeaders(headers, true) : encoder.encodeHeaders(headers, false);
  if (status !== undefined) expect(status).toEqual({ ok: true });
  if (body === undefined) return;
  body.forEach((piece, i) => {
    const last = i === body.length - 1 && m.trailers === undefined;
    encoder.encodeData(new BufferChain(Buffer.from(piece, 'latin1')), last);
  });
  if (m.trailers !== undefined) encoder.encodeTrailers(HeaderMapImpl.fromObject(m.trailers));
}

describe('http1 codec loopback', () => {
  it('carries every request shape with every response shape over one keep-alive connection', () => {
    const t = loopback();
    let k = 0;
    for (const req of REQUESTS) {
      for (const res of RESPONSES) {
        k++;
        const what = `${req.name} -> ${res.name}`;
        const s = t.open();
        send(s.encoder, req);
        t.disp.runPosted();
        expect(merged(t.server.log.filter((l) => l.startsWith(`#${k} `))), what).toEqual(expectedTrace(`#${k}`, req, true));
        send(t.server.stream(k).encoder, res);
        t.disp.runPosted();
        const head = req.headers[':method'] === 'HEAD';
        expect(merged(t.clientLog.filter((l) => l.startsWith(`#${k} `))), what).toEqual(expectedTrace(`#${k}`, res, false, head));
        expect(t.client.activeStreamCount(), what).toBe(0);
        expect(t.serverCodec.activeStreamCount(), what).toBe(0);
        expect(t.client.isReusable(), what).toBe(true);
      }
    }
    expect(k).toBe(REQUESTS.length * RESPONSES.length);
    expect(t.server.streams).toHaveLength(k);
    expect(t.clientConn.state()).toBe('Open');
    expect(t.serverConn.state()).toBe('Open');
    expect(t.serverConn.readDisableCount).toBe(0);
    expect(t.goAways).toEqual([]);
    expect(t.serverStatuses.every((s) => s.ok)).toBe(true);
    expect(t.clientStatuses.every((s) => s.ok)).toBe(true);
  });

  it('pipelines requests: the server takes them one at a time, responses come back in order', () => {
    const t = loopback();
    const streams = [t.open(), t.open(), t.open()];
    streams.forEach((s, i) => send(s.encoder, { name: '', headers: { ':method': 'GET', ':path': `/${i + 1}`, ':authority': 'h' } }));
    t.disp.runPosted();
    expect(t.server.streams).toHaveLength(1);
    expect(t.serverConn.readDisableCount).toBe(1);
    for (let i = 1; i <= 3; i++) {
      expect(t.server.stream(i).decoder.headers!.get(':path')).toBe(`/${i}`);
      send(t.server.stream(i).encoder, { name: '', headers: { ':status': '200', 'content-length': '1' }, body: [String(i)] });
      t.disp.runPosted();
    }
    expect(streams.map((s) => s.decoder.body)).toEqual(['1', '2', '3']);
    expect(t.client.activeStreamCount()).toBe(0);
    expect(t.serverConn.readDisableCount).toBe(0);
  });

  it('100-continue: the client sees the interim response, then sends the body', () => {
    const t = loopback();
    const s = t.open();
    s.encoder.encodeHeaders(HeaderMapImpl.fromObject({ ':method': 'PUT', ':path': '/', ':authority': 'h', expect: '100-continue', 'content-length': '4' }), false);
    t.disp.runPosted();
    const server = t.server.stream(1);
    expect(server.encoder.expectsContinue).toBe(true);
    server.encoder.encode1xxHeaders(HeaderMapImpl.fromObject({ ':status': '100' }));
    t.disp.runPosted();
    expect(t.clientLog).toEqual(['#1 1xx :status=100']);
    s.encoder.encodeData(new BufferChain('data'), true);
    t.disp.runPosted();
    expect(server.decoder.body).toBe('data');
    send(server.encoder, { name: '', headers: { ':status': '201' } });
    t.disp.runPosted();
    expect(t.clientLog.slice(1)).toEqual(['#1 headers end :status=201 content-length=0']);
  });

  it('an Upgrade becomes a two-way byte tunnel', () => {
    const t = loopback();
    const s = t.open();
    s.encoder.encodeHeaders(
      HeaderMapImpl.fromObject({ ':method': 'GET', ':path': '/ws', ':authority': 'h', connection: 'Upgrade', upgrade: 'websocket' }),
      false,
    );
    t.disp.runPosted();
    const server = t.server.stream(1);
    server.encoder.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '101', connection: 'Upgrade', upgrade: 'websocket' }), false);
    s.encoder.encodeData(new BufferChain('ping'), false);
    t.disp.runPosted();
    server.encoder.encodeData(new BufferChain('pong'), false);
    t.disp.runPosted();
    expect(server.decoder.body).toBe('ping');
    expect(s.decoder.body).toBe('pong');
    expect(t.clientLog[0]).toBe('#1 headers :status=101 connection=Upgrade upgrade=websocket');
    server.encoder.encodeData(new BufferChain(''), true);
    t.disp.runPosted();
    expect(t.serverConn.state()).toBe('Closed');
    // The upstream's end of the tunnel is its close: the end of the response, then the request
    // side (still open) is reset by the close.
    expect(t.clientLog.slice(-2)).toEqual(['#1 data end ""', '#1 reset ConnectionTermination']);
  });

  it('a server going away closes after the response; the client sees connection: close', () => {
    const t = loopback();
    const s = t.open();
    send(s.encoder, REQUESTS[0]!);
    t.disp.runPosted();
    t.serverCodec.goAway();
    send(t.server.stream(1).encoder, RESPONSES[0]!);
    t.disp.runPosted();
    expect(s.decoder.body).toBe('abc');
    expect(s.decoder.headers!.get('connection')).toBe('close');
    expect(t.goAways).toEqual([0]);
    expect(t.client.isReusable()).toBe(false);
    expect(t.serverConn.state()).toBe('Closed');
    expect(t.clientConn.state()).toBe('Closed');
  });
});
