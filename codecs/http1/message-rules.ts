/**
 * HTTP/1 message rules that sluice applies on top of strict llhttp, where llhttp accepts what
 * RFC 9112 (or sluice) does not, plus the persistence rule evaluated after the connection's
 * onHeadersComplete decision. Pure: numbers and bytes in, a violation or a boolean out. parser.ts
 * calls these at the right moments of a parse.
 */
import type { ParserErrorCode } from './parser-interface.js';

/** What is known about a message head when llhttp reports it complete. */
export interface HeadFacts {
  readonly request: boolean;
  readonly major: number;
  readonly minor: number;
  /** 0 for requests. */
  readonly status: number;
  readonly transferEncoding: boolean;
  /** Transfer-Encoding ends in chunked. */
  readonly chunked: boolean;
}

export interface Violation {
  readonly code: ParserErrorCode;
  readonly reason: string;
}

/** Checks a complete head before it is handed to the connection. */
export function checkHead(h: HeadFacts): Violation | null {
  // llhttp accepts HTTP/0.9 (even a bare "GET /") and HTTP/2.0 request and status lines.
  if (h.major !== 1 || h.minor > 1) {
    return { code: 'UNSUPPORTED_VERSION', reason: `HTTP/${h.major}.${h.minor} is not supported` };
  }
  // RFC 9110 §15: values outside 100..599 are invalid; llhttp takes any three digits.
  if (!h.request && (h.status < 100 || h.status > 599)) {
    return { code: 'STATUS_OUT_OF_RANGE', reason: `Status code ${h.status} is outside 100..599` };
  }
  if (h.transferEncoding) {
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding MUST be treated as faulty.
    if (h.minor === 0) return { code: 'TRANSFER_ENCODING_HTTP10', reason: 'Transfer-Encoding in an HTTP/1.0 message' };
    // RFC 9112 §6.3: a request whose final coding is not chunked MUST get 400. llhttp reports
    // this only after on_headers_complete; here it is caught before the head is handed out.
    if (h.request && !h.chunked) {
      return { code: 'INVALID_TRANSFER_ENCODING', reason: 'Request has invalid `Transfer-Encoding`' };
    }
  }
  return null;
}

/**
 * The offset of the first byte in `data[start, end)` that a reason phrase may not hold, or -1.
 * RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ); llhttp takes any byte.
 */
export function badReasonPhraseByte(data: Buffer, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const c = data[i]!;
    if (c < 0x20 ? c !== 0x09 : c === 0x7f) return i;
  }
  return -1;
}

/** RFC 9112 §2.3: a status line starts with "HTTP/"; llhttp also takes "RTSP/" and "ICE/". */
export function isStatusLineStart(byte: number | undefined): boolean {
  return byte === 0x48; /* 'H' */
}

const SP = 0x20;
const CH_I = 0x49;
const CH_R = 0x52;
const IDLE = 0;
/** A request-target piece ended exactly at the end of a chunk: the target may continue. */
const AFTER_TARGET = 1;
/** Inside the spaces between request-target and protocol. */
const IN_SPACES = 2;

/**
 * Watches the first byte of the protocol token after the request-target, which llhttp allows to
 * be `RTSP/` or `ICE/` as well as `HTTP/` (RFC 9112 §3). The token may start in a later chunk than
 * the target ends in, so the guard keeps its state between chunks.
 */
export class ProtocolGuard {
  private state = IDLE;

  get pending(): boolean {
    return this.state !== IDLE;
  }

  /** A piece of request-target ended at `input[end]`. Returns the offending offset, or -1. */
  afterTarget(input: Buffer, end: number): number {
    this.state = AFTER_TARGET;
    return this.scan(input, end);
  }

  /** A new chunk arrived while the check is pending. Returns the offending offset, or -1. */
  nextChunk(input: Buffer): number {
    return this.scan(input, 0);
  }

  private scan(input: Buffer, from: number): number {
    const len = input.length;
    let i = from;
    if (this.state === AFTER_TARGET) {
      if (i >= len) return -1;
      if (input[i] !== SP) {
        // The request-target continues; its next piece re-arms the guard.
        this.state = IDLE;
        return -1;
      }
      this.state = IN_SPACES;
    }
    while (i < len && input[i] === SP) i++;
    if (i >= len) return -1;
    this.state = IDLE;
    const c = input[i];
    return c === CH_R || c === CH_I ? i : -1;
  }
}

/** Message framing and connection flags of a head, as llhttp's flags describe them. */
export interface PersistenceFacts {
  readonly request: boolean;
  readonly minor: number;
  readonly status: number;
  readonly connectionClose: boolean;
  readonly connectionKeepAlive: boolean;
  readonly chunked: boolean;
  readonly transferEncoding: boolean;
  readonly contentLength: boolean;
  /** The connection said the message has no body (a HEAD response, a tunnel). */
  readonly skipBody: boolean;
}

/**
 * RFC 9112 §9.3 persistence, as llhttp_should_keep_alive computes it, but after the connection's
 * NoBody decision (llhttp evaluates it before, so a HEAD response without Content-Length would
 * look like read-until-close).
 */
export function keepAlive(f: PersistenceFacts): boolean {
  if (f.minor > 0 ? f.connectionClose : !f.connectionKeepAlive) return false;
  if (f.request) return true;
  if ((f.status >= 100 && f.status < 200) || f.status === 204 || f.status === 304 || f.skipBody) return true;
  // RFC 9112 §6.3: without chunked or Content-Length a response body runs until close.
  if (f.transferEncoding && !f.chunked) return false;
  return f.chunked || f.contentLength;
}
