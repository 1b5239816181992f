/**
 * The HTTP/1 server codec on a real ConnectionImpl over a TCP socket on 127.0.0.1: pipelining
 * relies on the connection pausing the socket while a response is in progress and re-dispatching
 * what it buffered when reads are enabled again; closes must reach the peer as FIN.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CodecStatus, ServerConnection } from '../../../../src/api/http-codec.js';
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type { FilterStatus } from '../../../../src/api/network.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ConnectionImpl } from '../../../../src/network/connection.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { DEFAULT_HTTP1_OPTIONS, DEFAULT_HTTP2_OPTIONS, HeaderMapImpl, createServerCodec } from '../../../../codecs/index.js';
import { socketPair, waitFor, type Peer } from '../../../support/net-helpers.js';
import { RecordingServerCallbacks } from '../../../support/recording-decoder.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

async function serve(): Promise<{ conn: ConnectionImpl; peer: Peer; cb: RecordingServerCallbacks; statuses: CodecStatus[] }> {
  const { accepted, peer } = await socketPair();
  const conn = new ConnectionImpl(new NodeDispatcher(), accepted);
  cleanups.push(() => {
    conn.close('NoFlush');
    peer.destroy();
  });
  const cb = new RecordingServerCallbacks();
  const statuses: CodecStatus[] = [];
  let codec: ServerConnection | undefined;
  conn.addReadFilter({
    initializeReadFilterCallbacks: () => {},
    onNewConnection: (): FilterStatus => 'Continue',
    // The HTTP connection manager's loop.
    onData: (data: BufferInstance): FilterStatus => {
      codec ??= createServerCodec('http1', conn, cb, { http1: DEFAULT_HTTP1_OPTIONS, http2: DEFAULT_HTTP2_OPTIONS }, new StatsStore());
      for (;;) {
        const before = data.length;
        const status = codec.dispatch(data);
        statuses.push(status);
        if (!status.ok || conn.state() !== 'Open' || data.length === 0 || data.length === before || codec.activeStreamCount() > 0) break;
      }
      return 'StopIteration';
    },
  });
  conn.initializeReadFilters();
  return { conn, peer, cb, statuses };
}

function respond(cb: RecordingServerCallbacks, n: number, body: string): void {
  const e = cb.stream(n).encoder;
  e.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200', 'content-length': String(body.length) }), false);
  e.encodeData(new BufferChain(body), true);
}

const response = (body: string): string => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;

describe('http1 server codec on a TCP connection', () => {
  it('serves pipelined requests one at a time, pausing reads in between', async () => {
    const t = await serve();
    await t.peer.write('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nPOST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc');
    await waitFor(() => t.cb.streams.length === 1, 2000, 'the first request');
    expect(t.conn.readEnabled()).toBe(false);
    respond(t.cb, 1, 'one');
    await waitFor(() => t.cb.streams.length === 2, 2000, 'the second request');
    respond(t.cb, 2, 'two');
    await waitFor(() => t.cb.streams[2]?.decoder.ended === true, 2000, 'the third request');
    expect(t.cb.stream(3).decoder.body).toBe('abc');
    respond(t.cb, 3, 'three');
    await t.peer.waitForText('three');
    expect(t.peer.text()).toBe(response('one') + response('two') + response('three'));
    expect(t.conn.readEnabled()).toBe(true);
    expect(t.cb.streams.map((s) => s.decoder.headers!.get(':path'))).toEqual(['/1', '/2', '/3']);
    await t.peer.write('GET /4 HTTP/1.1\r\nHost: h\r\n\r\n');
    await waitFor(() => t.cb.streams.length === 4, 2000, 'a request after the pipeline');
    expect(t.statuses.every((s) => s.ok)).toBe(true);
  });

  it('closes after a read-until-close HTTP/1.0 response: the peer sees the body, then FIN', async () => {
    const t = await serve();
    await t.peer.write('GET / HTTP/1.0\r\n\r\n');
    await waitFor(() => t.cb.streams.length === 1, 2000, 'the request');
    const e = t.cb.stream(1).encoder;
    e.encodeHeaders(HeaderMapImpl.fromObject({ ':status': '200' }), false);
    e.encodeData(new BufferChain('until the close'), true);
    await t.peer.waitForEnd();
    expect(t.peer.text()).toBe('HTTP/1.0 200 OK\r\nconnection: close\r\n\r\nuntil the close');
  });

  it('answers a malformed request with 400, then FIN', async () => {
    const t = await serve();
    await t.peer.write('GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n');
    await t.peer.waitForEnd();
    expect(t.peer.text()).toBe('HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nBad Request');
    expect(t.statuses).toEqual([{ ok: false, code: 'CodecProtocolError', message: 'http/1.1 protocol error: HPE_INVALID_HEADER_TOKEN' }]);
  });
});
