import { describe, expect, it } from 'vitest';
import {
  badReasonPhraseByte,
  checkHead,
  keepAlive,
  ProtocolGuard,
  type PersistenceFacts,
} from '../../../../codecs/http1/message-rules.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('checkHead', () => {
  const head = { request: true, major: 1, minor: 1, status: 0, transferEncoding: false, chunked: false };
  it('accepts HTTP/1.0 and HTTP/1.1', () => {
    expect(checkHead(head)).toBeNull();
    expect(checkHead({ ...head, minor: 0 })).toBeNull();
  });
  it('rejects other versions, out-of-range statuses and bad transfer codings', () => {
    expect(checkHead({ ...head, major: 0, minor: 9 })?.code).toBe('UNSUPPORTED_VERSION');
    expect(checkHead({ ...head, major: 2, minor: 0 })?.code).toBe('UNSUPPORTED_VERSION');
    expect(checkHead({ ...head, request: false, status: 99 })?.code).toBe('STATUS_OUT_OF_RANGE');
    expect(checkHead({ ...head, request: false, status: 600 })?.code).toBe('STATUS_OUT_OF_RANGE');
    expect(checkHead({ ...head, minor: 0, transferEncoding: true, chunked: true })?.code).toBe('TRANSFER_ENCODING_HTTP10');
    expect(checkHead({ ...head, transferEncoding: true })?.code).toBe('INVALID_TRANSFER_ENCODING');
    expect(checkHead({ ...head, request: false, status: 200, transferEncoding: true })).toBeNull();
  });
});

describe('badReasonPhraseByte', () => {
  it('allows HTAB, SP, VCHAR and obs-text only', () => {
    expect(badReasonPhraseByte(b('x\tOK \xff'), 1, 6)).toBe(-1);
    expect(badReasonPhraseByte(b('O\x00K'), 0, 3)).toBe(1);
    expect(badReasonPhraseByte(b('OK\x7f'), 0, 3)).toBe(2);
  });
});

describe('ProtocolGuard', () => {
  it('finds RTSP/ICE after the target within one chunk', () => {
    expect(new ProtocolGuard().afterTarget(b('GET / RTSP/1.0'), 5)).toBe(6);
    expect(new ProtocolGuard().afterTarget(b('GET /   ICE/1.0'), 5)).toBe(8);
    expect(new ProtocolGuard().afterTarget(b('GET / HTTP/1.1'), 5)).toBe(-1);
  });
  it('carries the check across chunks, and forgets it when the target continues', () => {
    const g = new ProtocolGuard();
    expect(g.afterTarget(b('GET /a'), 6)).toBe(-1);
    expect(g.pending).toBe(true);
    expect(g.nextChunk(b('bc HTTP/1.1'))).toBe(-1);
    expect(g.pending).toBe(false);
    expect(g.afterTarget(b('GET /a '), 6)).toBe(-1);
    expect(g.nextChunk(b('  '))).toBe(-1);
    expect(g.nextChunk(b('RTSP/1.0'))).toBe(0);
  });
});

describe('keepAlive (RFC 9112 §9.3)', () => {
  const base: PersistenceFacts = {
    request: false, minor: 1, status: 200, connectionClose: false, connectionKeepAlive: false,
    chunked: false, transferEncoding: false, contentLength: true, skipBody: false,
  };
  const cases: ReadonlyArray<readonly [string, Partial<PersistenceFacts>, boolean]> = [
    ['1.1 response with Content-Length', {}, true],
    ['1.1 with Connection: close', { connectionClose: true }, false],
    ['1.0 without keep-alive', { minor: 0 }, false],
    ['1.0 with keep-alive', { minor: 0, connectionKeepAlive: true }, true],
    ['response without framing runs until close', { contentLength: false }, false],
    ['HEAD response without framing (NoBody)', { contentLength: false, skipBody: true }, true],
    ['204 without framing', { contentLength: false, status: 204 }, true],
    ['non-chunked coding runs until close', { contentLength: false, transferEncoding: true }, false],
    ['chunked', { contentLength: false, transferEncoding: true, chunked: true }, true],
    ['request without framing has no body', { request: true, contentLength: false }, true],
  ];
  for (const [name, facts, expected] of cases) {
    it(name, () => expect(keepAlive({ ...base, ...facts })).toBe(expected));
  }
});
