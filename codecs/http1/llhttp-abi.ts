/**
 * The ABI of llhttp's WebAssembly build as undici 7 ships it (llhttp 9.x on wasm32): the exports
 * parser.ts calls, the enums it reads (message type, errno, flags, methods) and the offsets of the
 * `llhttp_t` fields it reads straight from memory. Facts about the binary, no behaviour.
 */
import type { ParserErrorCode } from './parser-interface.js';

export interface LlhttpExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  _initialize?(): void;
  malloc(size: number): number;
  free(ptr: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(parser: number): void;
  llhttp_execute(parser: number, data: number, len: number): number;
  llhttp_finish(parser: number): number;
  llhttp_resume(parser: number): void;
  llhttp_resume_after_upgrade(parser: number): void;
  llhttp_get_error_pos(parser: number): number;
  llhttp_get_error_reason(parser: number): number;
}

export type WasmCallback = (...args: number[]) => number;

/** The slice of the WebAssembly global that is used (@types/node declares its types only). */
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: { env: Record<string, WasmCallback> }) => { readonly exports: unknown };
}

export const TYPE_REQUEST = 1;
export const TYPE_RESPONSE = 2;

export const HPE_OK = 0;
export const HPE_PAUSED = 21;
export const HPE_PAUSED_UPGRADE = 22;
export const HPE_USER = 24;

export const F_CONNECTION_KEEP_ALIVE = 1 << 0;
export const F_CONNECTION_CLOSE = 1 << 1;
export const F_CHUNKED = 1 << 3;
export const F_CONTENT_LENGTH = 1 << 5;
export const F_TRANSFER_ENCODING = 1 << 9;

/**
 * Field offsets in `llhttp_t` (llhttp 9.x on wasm32): `uint64_t content_length` and
 * `uint16_t flags` have no exported getter; method and version do, but a call into wasm per field
 * costs more than reading the byte. Checked once at start-up (see parser-layout-check.ts), so a
 * changed layout fails loudly instead of misframing bodies.
 */
export const OFF_CONTENT_LENGTH = 32;
export const OFF_METHOD = 41;
export const OFF_HTTP_MAJOR = 42;
export const OFF_HTTP_MINOR = 43;
export const OFF_FLAGS = 50;

export const ERROR_NAMES: Readonly<Record<number, ParserErrorCode>> = {
  1: 'INTERNAL', 2: 'STRICT', 3: 'LF_EXPECTED', 4: 'UNEXPECTED_CONTENT_LENGTH', 5: 'CLOSED_CONNECTION',
  6: 'INVALID_METHOD', 7: 'INVALID_URL', 8: 'INVALID_CONSTANT', 9: 'INVALID_VERSION',
  10: 'INVALID_HEADER_TOKEN', 11: 'INVALID_CONTENT_LENGTH', 12: 'INVALID_CHUNK_SIZE',
  13: 'INVALID_STATUS', 14: 'INVALID_EOF_STATE', 15: 'INVALID_TRANSFER_ENCODING',
  23: 'PAUSED_H2_UPGRADE', 25: 'CR_EXPECTED', 30: 'UNEXPECTED_SPACE',
};

/** llhttp's method enum, by value (`llhttp_method_t`). */
export const METHOD_NAMES: readonly string[] = [
  'DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'OPTIONS', 'TRACE', 'COPY', 'LOCK', 'MKCOL',
  'MOVE', 'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'REPORT',
  'MKACTIVITY', 'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PATCH',
  'PURGE', 'MKCALENDAR', 'LINK', 'UNLINK', 'SOURCE', 'PRI', 'DESCRIBE', 'ANNOUNCE', 'SETUP', 'PLAY',
  'PAUSE', 'TEARDOWN', 'GET_PARAMETER', 'SET_PARAMETER', 'REDIRECT', 'RECORD', 'FLUSH', 'QUERY',
];
