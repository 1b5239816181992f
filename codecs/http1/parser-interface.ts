/**
 * The HTTP/1 parser's contract (after Envoy's `source/common/http/http1/parser.h`): the callbacks
 * a connection implements, what they return, and what `Parser.execute` reports. The llhttp-backed
 * implementation is in parser.ts.
 */
export type ParserType = 'request' | 'response';

/** Values a callback returns (llhttp's callback return codes). */
export const CallbackResult = {
  /** Keep parsing. */
  Success: 0,
  /** onHeadersComplete only: this message has no body (the response to HEAD). */
  NoBody: 1,
  /**
   * onHeadersComplete only: no body, and the bytes after the head belong to another protocol
   * (a 2xx response to CONNECT). execute() then returns 'upgrade'.
   */
  NoBodyUpgrade: 2,
  /** Stop right after this callback: execute() returns 'paused' with the offset to resume from. */
  Pause: 21,
  /** Abort: execute() returns 'error' with code 'USER'. The caller keeps its own reason. */
  Error: -1,
} as const;

export type SpanResult =
  | typeof CallbackResult.Success
  | typeof CallbackResult.Pause
  | typeof CallbackResult.Error;

export type HeadersCompleteResult =
  | SpanResult
  | typeof CallbackResult.NoBody
  | typeof CallbackResult.NoBodyUpgrade;

/**
 * What the parser reports while it parses. Span callbacks (url, status, header field and value,
 * trailer field and value) receive the bytes `data[start, end)` of the caller's input chunk and may
 * be called several times per item when the item spans chunks: concatenate the pieces. Header
 * values arrive without leading whitespace but with any trailing whitespace (trim it once the value
 * is whole).
 */
export interface ParserCallbacks {
  onMessageBegin(): SpanResult;
  /** Request target (requests only). */
  onUrl(data: Buffer, start: number, end: number): SpanResult;
  /** Reason phrase (responses only); not called when the status line has none. */
  onStatus(data: Buffer, start: number, end: number): SpanResult;
  onHeaderField(data: Buffer, start: number, end: number): SpanResult;
  onHeaderValue(data: Buffer, start: number, end: number): SpanResult;
  /** The head is complete; the accessors (method, statusCode, flags...) are valid from here on. */
  onHeadersComplete(): HeadersCompleteResult;
  /** Decoded body bytes (chunk framing removed): a zero-copy view of the input chunk. */
  onBody(data: Buffer): SpanResult;
  /** Trailer fields after the last chunk of a chunked body. */
  onTrailerField(data: Buffer, start: number, end: number): SpanResult;
  onTrailerValue(data: Buffer, start: number, end: number): SpanResult;
  onMessageComplete(): SpanResult;
}

/** llhttp's error names, plus sluice's own checks (the last five). */
export type ParserErrorCode =
  | 'INTERNAL'
  | 'STRICT'
  | 'CR_EXPECTED'
  | 'LF_EXPECTED'
  | 'UNEXPECTED_CONTENT_LENGTH'
  | 'UNEXPECTED_SPACE'
  | 'CLOSED_CONNECTION'
  | 'INVALID_METHOD'
  | 'INVALID_URL'
  | 'INVALID_CONSTANT'
  | 'INVALID_VERSION'
  | 'INVALID_HEADER_TOKEN'
  | 'INVALID_CONTENT_LENGTH'
  | 'INVALID_CHUNK_SIZE'
  | 'INVALID_STATUS'
  | 'INVALID_EOF_STATE'
  | 'INVALID_TRANSFER_ENCODING'
  | 'PAUSED_H2_UPGRADE'
  /** A callback returned CallbackResult.Error. */
  | 'USER'
  /** sluice: HTTP version other than 1.0 / 1.1 (llhttp accepts 0.9 and 2.0). */
  | 'UNSUPPORTED_VERSION'
  /** sluice: `RTSP/` or `ICE/` instead of `HTTP/` (llhttp accepts both). */
  | 'INVALID_PROTOCOL'
  /** sluice: Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1). */
  | 'TRANSFER_ENCODING_HTTP10'
  /** sluice: response status outside 100..599 (RFC 9110 §15). */
  | 'STATUS_OUT_OF_RANGE'
  /** sluice: a control character in the reason phrase (RFC 9112 §4; llhttp takes any byte). */
  | 'INVALID_REASON_PHRASE';

export type ParseResult =
  | { readonly status: 'ok'; readonly consumed: number }
  /** A callback paused: keep `input.subarray(consumed)`, call resume(), execute it again. */
  | { readonly status: 'paused'; readonly consumed: number }
  /** An upgrade or CONNECT message completed: `input.subarray(consumed)` is tunnel data. */
  | { readonly status: 'upgrade'; readonly consumed: number }
  /** The parser is dead; `consumed` is where the error was detected. */
  | {
      readonly status: 'error';
      readonly consumed: number;
      readonly errorCode: ParserErrorCode;
      readonly errorReason: string;
    };
