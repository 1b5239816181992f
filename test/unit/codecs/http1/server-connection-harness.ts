/**
 * Shared setup for the HTTP/1 server codec tests: a server codec over a FakeConnection whose
 * callbacks record a trace, plus small header/body builders and the exact error responses.
 */
import type { CodecStatus, ResponseEncoder } from '../../../../src/api/http-codec.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { StatsStore } from '../../../../src/stats/store.js';
import {
  DEFAULT_HTTP1_OPTIONS,
  DEFAULT_HTTP2_OPTIONS,
  HeaderMapImpl,
  createServerCodec,
  type Http1CodecOptions,
} from '../../../../codecs/index.js';
import { FakeConnection, FakeDispatcher, driveCodec, type FakeConnectionOptions } from '../../../support/fake-connection.js';
import { RecordingServerCallbacks } from '../../../support/recording-decoder.js';

export function setup(options: Partial<Http1CodecOptions> = {}, connOptions: FakeConnectionOptions = {}) {
  const disp = new FakeDispatcher();
  const conn = new FakeConnection(disp, connOptions);
  const cb = new RecordingServerCallbacks();
  const codec = createServerCodec(
    'http1',
    conn,
    cb,
    { http1: { ...DEFAULT_HTTP1_OPTIONS, ...options }, http2: DEFAULT_HTTP2_OPTIONS },
    new StatsStore(),
  );
  const statuses = driveCodec(conn, codec);
  return { disp, conn, cb, codec, statuses, log: cb.log };
}

export function headers(pairs: Record<string, string>): HeaderMapImpl {
  return HeaderMapImpl.fromObject(pairs);
}

export function data(s: string): BufferChain {
  return new BufferChain(Buffer.from(s, 'latin1'));
}

/** Responds 200 with a Content-Length body in two encode calls. */
export function respond(encoder: ResponseEncoder, body = 'ok'): void {
  encoder.encodeHeaders(headers({ ':status': '200', 'content-length': String(body.length) }), false);
  encoder.encodeData(data(body), true);
}

export const OK_RESPONSE = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

export function errorResponse(status: number, reason: string): string {
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-length: ${reason.length}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${reason}`;
}
export const BAD_REQUEST = errorResponse(400, 'Bad Request');
export const TOO_LARGE = errorResponse(431, 'Request Header Fields Too Large');

export const PROTOCOL_ERROR = (message: string): CodecStatus => ({ ok: false, code: 'CodecProtocolError', message });
