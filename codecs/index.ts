/**
 * The codec layer's public face: everything outside codecs/ imports from here only.
 * Implementations are registered in this file as they land (HTTP/1 on llhttp, HTTP/2 on our session).
 */
export { HeaderMapImpl } from './headers.js';
export { detectCodec, HTTP2_PREFACE, type CodecKind } from './codec-detect.js';
export {
  DEFAULT_HTTP1_OPTIONS,
  DEFAULT_HTTP2_OPTIONS,
  type Http1CodecOptions,
  type Http2CodecOptions,
} from './codec-options.js';
