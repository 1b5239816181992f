export type CodecKind = 'http1' | 'http2';

/** RFC 9113 §3.4: the client connection preface. */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Chooses the server codec: ALPN first (TLS), else the cleartext preface (h2c prior knowledge),
 * else HTTP/1. Returns 'need-more' while the bytes seen so far are a strict prefix of the preface.
 */
export function detectCodec(firstBytes: Buffer, alpn: string): CodecKind | 'need-more' {
  if (alpn === 'h2') return 'http2';
  if (alpn !== '') return 'http1';
  const n = Math.min(firstBytes.length, HTTP2_PREFACE.length);
  for (let i = 0; i < n; i++) if (firstBytes[i] !== HTTP2_PREFACE[i]) return 'http1';
  return n === HTTP2_PREFACE.length ? 'http2' : 'need-more';
}
