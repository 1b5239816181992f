/**
 * The HTTP/1 wire parser: the one file that touches llhttp (after Envoy's
 * `source/common/http/http1/parser.h`, driven the way undici's `lib/dispatcher/client-h1.js` drives
 * it).
 *
 * llhttp is the WebAssembly build that undici ships. The module is compiled once per process and
 * instantiated once; every Parser is one `llhttp_alloc` pointer (80 bytes of wasm heap) inside that
 * shared instance. An instance per connection would cost 128 KiB of committed linear memory plus
 * ~90 µs to instantiate, per connection. Callbacks are dispatched to the innermost executing Parser
 * (`current`), which is exact because llhttp only calls back synchronously from inside
 * `llhttp_execute`/`llhttp_finish`; a callback may itself execute another Parser (a codec loopback),
 * so the dispatch state and the scratch input buffer are saved and restored per nesting depth.
 *
 * Each socket chunk is copied into wasm memory once (its unconsumed tail is not copied again after
 * a pause); every callback gets offsets into the caller's own Buffer (the pointer math is
 * `at - inputPtr`), so header pieces and body slices are zero-copy views of the input chunk. The
 * caller must therefore never modify a Buffer after passing it to execute().
 *
 * Strictness: no lenient flag is ever turned on. Where strict llhttp still accepts something sluice
 * must reject, the rules in message-rules.ts close the gap with a distinct error code (see
 * ParserErrorCode): versions other than HTTP/1.0 and 1.1, `RTSP/` and `ICE/` protocol tokens,
 * Transfer-Encoding in HTTP/1.0, status codes outside 100..599, control characters in the reason
 * phrase; and a request whose Transfer-Encoding is not final-chunked is rejected before its head
 * is handed out (llhttp reports that one only after `on_headers_complete`). Checks that need the
 * field names (empty Transfer-Encoding, Host) are in header-validation.ts.
 */
import { createRequire } from 'node:module';
import {
  CallbackResult,
  type HeadersCompleteResult,
  type ParseResult,
  type ParserCallbacks,
  type ParserErrorCode,
  type ParserType,
  type SpanResult,
} from './parser-interface.js';
import { badReasonPhraseByte, checkHead, isStatusLineStart, keepAlive, ProtocolGuard } from './message-rules.js';
import { checkParserLayout } from './parser-layout-check.js';
import {
  TYPE_REQUEST,
  TYPE_RESPONSE,
  HPE_OK,
  HPE_PAUSED,
  HPE_PAUSED_UPGRADE,
  HPE_USER,
  F_CONNECTION_KEEP_ALIVE,
  F_CONNECTION_CLOSE,
  F_CHUNKED,
  F_CONTENT_LENGTH,
  F_TRANSFER_ENCODING,
  OFF_CONTENT_LENGTH,
  OFF_METHOD,
  OFF_HTTP_MAJOR,
  OFF_HTTP_MINOR,
  OFF_FLAGS,
  ERROR_NAMES,
  METHOD_NAMES,
  type LlhttpExports,
  type WasmCallback,
  type WasmApi,
} from './llhttp-abi.js';

export * from './parser-interface.js';

/** Largest piece copied into wasm memory per llhttp_execute, so a huge chunk cannot bloat it. */
const MAX_SLICE = 256 * 1024;

const EMPTY = Buffer.alloc(0);

// ---- process-wide llhttp state -------------------------------------------------------------

let llhttp: LlhttpExports | undefined;
let memBuffer: ArrayBuffer | undefined;
let memBytes = new Uint8Array(0);
let memView = new DataView(memBytes.buffer);

/** Dispatch state of the innermost execute: its parser, input, and `wasmPtr - inputOffset`. */
let current: Parser | null = null;
let curInput: Buffer = EMPTY;
let curBase = 0;

/**
 * One scratch input buffer per execute nesting depth, and which input bytes it holds: when a
 * paused parser is fed the unconsumed tail of the same chunk, the bytes are still there and are
 * not copied again (pipelined requests pause after every message).
 */
interface Scratch {
  ptr: number;
  size: number;
  held: ArrayBufferLike | null;
  heldOffset: number;
  heldLength: number;
}
const scratch: Scratch[] = [];
let depth = 0;

/** Frees the wasm struct of a Parser that was dropped without destroy(). */
const leakGuard = new FinalizationRegistry<number>((ptr) => llhttp?.llhttp_free(ptr));

function refreshMemory(e: LlhttpExports): void {
  if (e.memory.buffer !== memBuffer) {
    memBuffer = e.memory.buffer;
    memBytes = new Uint8Array(memBuffer);
    memView = new DataView(memBuffer);
  }
}

function scratchFor(e: LlhttpExports, level: number, size: number): Scratch {
  if (level >= scratch.length) scratch.push({ ptr: 0, size: 0, held: null, heldOffset: 0, heldLength: 0 });
  const s = scratch[level]!;
  if (s.size < size) {
    if (s.ptr !== 0) e.free(s.ptr);
    s.size = Math.ceil(size / 4096) * 4096;
    s.ptr = e.malloc(s.size);
    s.held = null;
  }
  return s;
}

/** Where `input[pos, pos + n)` sits in wasm memory, copying it into the scratch only if needed. */
function place(e: LlhttpExports, s: Scratch, input: Buffer, pos: number, n: number): number {
  const offset = input.byteOffset + pos;
  if (s.held === input.buffer && offset >= s.heldOffset && offset + n <= s.heldOffset + s.heldLength) {
    return s.ptr + (offset - s.heldOffset);
  }
  refreshMemory(e);
  input.copy(memBytes, s.ptr, pos, pos + n);
  s.held = input.buffer;
  s.heldOffset = offset;
  s.heldLength = n;
  return s.ptr;
}

/** Index of the first byte that is not CR or LF (llhttp skips empty lines between messages). */
function firstNonNewline(input: Buffer): number {
  let i = 0;
  while (i < input.length && (input[i] === 0x0d || input[i] === 0x0a)) i++;
  return i;
}

function readCString(e: LlhttpExports, ptr: number): string {
  if (ptr === 0) return '';
  refreshMemory(e);
  const end = memBytes.indexOf(0, ptr);
  return Buffer.from(memBytes.buffer, ptr, end - ptr).toString('latin1');
}

/** An HTTP/1 message parser for one connection, in request or response mode. */
export class Parser {
  readonly type: ParserType;
  private readonly cb: ParserCallbacks;
  private readonly typeCode: number;
  private ptr: number;
  private executing = false;
  private destroyPending = false;
  private paused = false;
  private upgraded = false;
  private failure: ParseResult | null = null;
  /** An error found by sluice's own checks or a callback, reported instead of llhttp's code. */
  private pendingCode: ParserErrorCode | null = null;
  private pendingReason = '';
  /** Input offset of the offending byte for sluice's own checks (-1: llhttp's error position). */
  private pendingAt = -1;
  private inTrailers = false;
  private readonly guard = new ProtocolGuard();
  /**
   * Response mode: the first byte of a status line must be checked (llhttp also takes RTSP/ and
   * ICE/). A message that starts an execute() input is checked before llhttp runs (`startChecked`);
   * one that begins inside it pauses llhttp at on_message_begin so the byte can be found.
   */
  private beginPaused = false;
  private userPausedBegin = false;
  private startChecked = false;
  private inMessage = false;
  // Snapshot of the current message, taken at headers complete.
  private flags = 0;
  private contentLen = 0;
  private methodCode = 0;
  private major = 0;
  private minor = 0;
  private status = 0;
  private upgrade = false;
  private keepAliveFlag = false;
  private headBytes = 0;

  constructor(type: ParserType, callbacks: ParserCallbacks) {
    const e = llhttp ?? Parser.init();
    this.type = type;
    this.typeCode = type === 'request' ? TYPE_REQUEST : TYPE_RESPONSE;
    this.cb = callbacks;
    this.ptr = e.llhttp_alloc(this.typeCode);
    leakGuard.register(this, this.ptr, this);
  }

  /**
   * Parses one chunk. Callbacks run synchronously inside this call with views of `input`, which
   * must not be modified afterwards. Never throws for protocol errors; throws only on misuse
   * (destroyed parser, re-entrant execute) or when a callback throws (the parser is then dead).
   */
  execute(input: Buffer): ParseResult {
    const e = this.usable();
    if (this.failure !== null) return this.failure;
    if (this.paused) return { status: 'paused', consumed: 0 };
    if (this.upgraded) return { status: 'upgrade', consumed: 0 };
    const len = input.length;
    if (len === 0) return { status: 'ok', consumed: 0 };
    if (this.guard.pending && this.badProtocol(this.guard.nextChunk(input))) return this.fail(0);
    const level = depth++;
    const prev = current;
    const prevInput = curInput;
    const prevBase = curBase;
    this.executing = true;
    try {
      if (this.typeCode === TYPE_RESPONSE && !this.inMessage) {
        const at = firstNonNewline(input);
        if (at < len) {
          if (!isStatusLineStart(input[at])) {
            this.setPending('INVALID_PROTOCOL', 'Expected HTTP/ at the start of the status line');
            return this.fail(at);
          }
          this.startChecked = true;
        }
      }
      const buffer = scratchFor(e, level, Math.min(len, MAX_SLICE));
      current = this;
      curInput = input;
      for (let pos = 0; pos < len; ) {
        const n = Math.min(len - pos, MAX_SLICE);
        const ptr = place(e, buffer, input, pos, n);
        curBase = ptr - pos;
        let ret = e.llhttp_execute(this.ptr, ptr, n);
        while (ret === HPE_PAUSED && this.beginPaused) {
          this.beginPaused = false;
          const at = e.llhttp_get_error_pos(this.ptr) - curBase;
          if (!isStatusLineStart(input[at])) {
            this.setPending('INVALID_PROTOCOL', 'Expected HTTP/ at the start of the status line');
            return this.fail(at);
          }
          if (this.userPausedBegin) {
            this.paused = true;
            return { status: 'paused', consumed: at };
          }
          e.llhttp_resume(this.ptr);
          ret = e.llhttp_execute(this.ptr, ptr + (at - pos), pos + n - at);
        }
        if (ret !== HPE_OK) return this.stopped(e, ret, e.llhttp_get_error_pos(this.ptr) - curBase);
        pos += n;
      }
      return { status: 'ok', consumed: len };
    } catch (err) {
      throw this.died(err);
    } finally {
      this.startChecked = false;
      current = prev;
      curInput = prevInput;
      curBase = prevBase;
      depth--;
      this.executing = false;
      if (this.destroyPending) this.destroy();
    }
  }

  /**
   * The peer closed the connection: completes a read-until-close body (HTTP/1.0 or a response
   * without framing) or reports a truncated message ('INVALID_EOF_STATE').
   */
  finish(): ParseResult {
    const e = this.usable();
    if (this.failure !== null) return this.failure;
    if (this.paused) return { status: 'paused', consumed: 0 };
    if (this.upgraded) return { status: 'ok', consumed: 0 };
    const prev = current;
    const prevInput = curInput;
    const prevBase = curBase;
    this.executing = true;
    try {
      current = this;
      curInput = EMPTY;
      curBase = 0;
      const ret = e.llhttp_finish(this.ptr);
      return ret === HPE_OK ? { status: 'ok', consumed: 0 } : this.stopped(e, ret, 0);
    } catch (err) {
      throw this.died(err);
    } finally {
      current = prev;
      curInput = prevInput;
      curBase = prevBase;
      this.executing = false;
      if (this.destroyPending) this.destroy();
    }
  }

  /** Continues after a 'paused' result; then execute the unconsumed tail again. */
  resume(): void {
    const e = this.usable();
    if (!this.paused) return;
    this.paused = false;
    e.llhttp_resume(this.ptr);
  }

  /**
   * After 'upgrade', parse the following bytes as HTTP again (the upgrade was declined, e.g. a
   * websocket request answered with a normal response).
   */
  resumeAfterUpgrade(): void {
    const e = this.usable();
    if (!this.upgraded) return;
    this.upgraded = false;
    e.llhttp_resume_after_upgrade(this.ptr);
  }

  /** Frees the llhttp struct. Safe inside a callback: the free is deferred to the end of execute. */
  destroy(): void {
    if (this.ptr === 0) return;
    if (this.executing) {
      this.destroyPending = true;
      return;
    }
    leakGuard.unregister(this);
    llhttp!.llhttp_free(this.ptr);
    this.ptr = 0;
  }

  get destroyed(): boolean {
    return this.ptr === 0;
  }

  /** Request method name ('' in response mode). Valid from onHeadersComplete. */
  get method(): string {
    return this.typeCode === TYPE_REQUEST ? METHOD_NAMES[this.methodCode] ?? '' : '';
  }

  /** Response status code (0 in request mode). Valid from onHeadersComplete. */
  get statusCode(): number {
    return this.status;
  }

  get httpMajor(): number {
    return this.major;
  }

  get httpMinor(): number {
    return this.minor;
  }

  /** Whether the connection may carry another message after this one (RFC 9112 §9.3). */
  get shouldKeepAlive(): boolean {
    return this.keepAliveFlag;
  }

  /** Upgrade (Connection: upgrade + Upgrade, or 101), CONNECT, or NoBodyUpgrade from the callback. */
  get isUpgrade(): boolean {
    return this.upgrade;
  }

  /** Transfer-Encoding ends in chunked. */
  get isChunked(): boolean {
    return (this.flags & F_CHUNKED) !== 0;
  }

  get hasTransferEncoding(): boolean {
    return (this.flags & F_TRANSFER_ENCODING) !== 0;
  }

  get hasContentLength(): boolean {
    return (this.flags & F_CONTENT_LENGTH) !== 0;
  }

  /** The declared Content-Length, or undefined when none was sent. */
  get contentLength(): number | undefined {
    return (this.flags & F_CONTENT_LENGTH) !== 0 ? this.contentLen : undefined;
  }

  /**
   * Bytes of start-line pieces, field names and values received so far in the current head (or,
   * after onHeadersComplete, in the trailers): what `max_request_headers_kb` limits. A callback may
   * compare it against the limit and return CallbackResult.Error.
   */
  get headerBytes(): number {
    return this.headBytes;
  }

  private usable(): LlhttpExports {
    if (this.ptr === 0) throw new Error('http1 parser used after destroy()');
    if (this.executing) throw new Error('http1 parser executed re-entrantly from its own callback');
    return llhttp!;
  }

  /** A callback threw: llhttp's state is unknown, so the parser is dead. Returns `err`. */
  private died(err: unknown): unknown {
    this.failure = { status: 'error', consumed: 0, errorCode: 'INTERNAL', errorReason: 'a parser callback threw' };
    return err;
  }

  private setPending(code: ParserErrorCode, reason: string, at = -1): void {
    if (this.pendingCode === null) {
      this.pendingCode = code;
      this.pendingReason = reason;
      this.pendingAt = at;
    }
  }

  private fail(at: number): ParseResult {
    const result: ParseResult = {
      status: 'error',
      consumed: this.pendingAt >= 0 ? this.pendingAt : at,
      errorCode: this.pendingCode ?? 'INTERNAL',
      errorReason: this.pendingReason,
    };
    this.failure = result;
    return result;
  }

  private stopped(e: LlhttpExports, ret: number, at: number): ParseResult {
    if (ret === HPE_PAUSED) {
      this.paused = true;
      return { status: 'paused', consumed: at };
    }
    if (ret === HPE_PAUSED_UPGRADE) {
      this.upgraded = true;
      return { status: 'upgrade', consumed: at };
    }
    if (this.pendingCode === null) {
      this.setPending(ERROR_NAMES[ret] ?? 'INTERNAL', readCString(e, e.llhttp_get_error_reason(this.ptr)));
    }
    return this.fail(Math.max(0, Math.min(at, curInput.length)));
  }

  /** Records an `RTSP/` or `ICE/` protocol token found by the guard at `at` (-1: none). */
  private badProtocol(at: number): boolean {
    if (at < 0) return false;
    this.setPending('INVALID_PROTOCOL', 'Expected HTTP/ after the request-target', at);
    return true;
  }

  /** Snapshot and sluice's own framing checks, before the head is handed to the callback. */
  private headersComplete(e: LlhttpExports, statusCode: number, upgrade: number): HeadersCompleteResult {
    refreshMemory(e);
    const p = this.ptr;
    const flags = memView.getUint16(p + OFF_FLAGS, true);
    this.flags = flags;
    this.contentLen =
      memView.getUint32(p + OFF_CONTENT_LENGTH, true) + memView.getUint32(p + OFF_CONTENT_LENGTH + 4, true) * 2 ** 32;
    this.methodCode = memBytes[p + OFF_METHOD]!;
    this.major = memBytes[p + OFF_HTTP_MAJOR]!;
    this.minor = memBytes[p + OFF_HTTP_MINOR]!;
    this.status = statusCode;
    this.upgrade = upgrade === 1;
    this.inTrailers = true;
    const request = this.typeCode === TYPE_REQUEST;
    const chunked = (flags & F_CHUNKED) !== 0;
    const transferEncoding = (flags & F_TRANSFER_ENCODING) !== 0;
    const major = this.major;
    const minor = this.minor;
    const violation = checkHead({ request, major, minor, status: statusCode, transferEncoding, chunked });
    if (violation !== null) {
      this.setPending(violation.code, violation.reason);
      return CallbackResult.Error;
    }
    const r = this.cb.onHeadersComplete();
    this.headBytes = 0;
    if (r === CallbackResult.NoBodyUpgrade) this.upgrade = true;
    if (r === CallbackResult.Error) this.setPending('USER', 'onHeadersComplete returned Error');
    this.keepAliveFlag = keepAlive({
      request,
      minor,
      status: statusCode,
      connectionClose: (flags & F_CONNECTION_CLOSE) !== 0,
      connectionKeepAlive: (flags & F_CONNECTION_KEEP_ALIVE) !== 0,
      chunked,
      transferEncoding,
      contentLength: (flags & F_CONTENT_LENGTH) !== 0,
      skipBody: r === CallbackResult.NoBody || r === CallbackResult.NoBodyUpgrade,
    });
    return r;
  }

  private userError(name: string): number {
    this.setPending('USER', `${name} returned Error`);
    return HPE_USER;
  }

  /** The wasm imports: each one routes to the innermost executing Parser. */
  private static imports(): Record<string, WasmCallback> {
    const span = (r: SpanResult, self: Parser, name: string): number =>
      r === CallbackResult.Success || r === CallbackResult.Pause ? r : self.userError(name);
    return {
      wasm_on_message_begin: (p) => {
        const self = current!;
        if (p !== self.ptr) return HPE_USER;
        self.inTrailers = false;
        self.headBytes = 0;
        self.upgrade = false;
        self.inMessage = true;
        const r = self.cb.onMessageBegin();
        if (r === CallbackResult.Error) return self.userError('onMessageBegin');
        if (self.startChecked) {
          self.startChecked = false;
          return r;
        }
        if (self.typeCode === TYPE_RESPONSE) {
          self.beginPaused = true;
          self.userPausedBegin = r === CallbackResult.Pause;
          return HPE_PAUSED;
        }
        return r;
      },
      wasm_on_url: (p, at, len) => {
        const self = current!;
        if (p !== self.ptr) return HPE_USER;
        const start = at - curBase;
        const end = start + len;
        self.headBytes += len;
        const r = self.cb.onUrl(curInput, start, end);
        if (r === CallbackResult.Error) return self.userError('onUrl');
        return self.badProtocol(self.guard.afterTarget(curInput, end)) ? HPE_USER : r;
      },
      wasm_on_status: (p, at, len) => {
        const self = current!;
        if (p !== self.ptr) return HPE_USER;
        const start = at - curBase;
        const end = start + len;
        const bad = badReasonPhraseByte(curInput, start, end);
        if (bad >= 0) {
          self.setPending('INVALID_REASON_PHRASE', 'Invalid character in reason phrase', bad);
          return HPE_USER;
        }
        self.headBytes += len;
        return span(self.cb.onStatus(curInput, start, end), self, 'onStatus');
      },
      wasm_on_header_field: (p, at, len) => {
        const self = current!;
        if (p !== self.ptr) return HPE_USER;
        const start = at - curBase;
        self.headBytes += len;
        return self.inTrailers
          ? span(self.cb.onTrailerField(curInput, start, start + len), self, 'onTrailerField')
          : span(self.cb.onHeaderField(curInput, start, start + len), self, 'onHeaderField');
      },
      wasm_on_header_value: (p, at, len) => {
        const self = current!;
        if (p !== self.ptr) return HPE_USER;
        const start = at - curBase;
        self.headBytes += len;
        return self.inTrailers
          ? span(self.cb.onTrailerValue(curInput, start, start + len), self, 'onTrailerValue')
          : span(self.cb.onHeaderValue(curInput, start, start + len), self, 'onHeaderValue');
      },
      wasm_on_headers_complete: (p, statusCode, upgrade) => {
        const self = current!;
        if (p !== self.ptr) return HPE_USER;
        return self.headersComplete(llhttp!, statusCode, upgrade);
      },
      wasm_on_body: (p, at, len) => {
        const self = current!;
        if (p !== self.ptr) return HPE_USER;
        const start = at - curBase;
        return span(self.cb.onBody(curInput.subarray(start, start + len)), self, 'onBody');
      },
      wasm_on_message_complete: (p) => {
        const self = current!;
        if (p !== self.ptr) return HPE_USER;
        self.inMessage = false;
        return span(self.cb.onMessageComplete(), self, 'onMessageComplete');
      },
    };
  }

  /**
   * Compiles and instantiates llhttp once per process (the SIMD build when the engine validates
   * it, as undici does), then checks the struct layout.
   */
  private static init(): LlhttpExports {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const load = createRequire(import.meta.url);
    const simd = load('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer;
    const bytes = wasm.validate(simd) ? simd : (load('undici/lib/llhttp/llhttp-wasm.js') as Buffer);
    const instance = new wasm.Instance(new wasm.Module(bytes), { env: Parser.imports() });
    const e = instance.exports as LlhttpExports;
    e._initialize?.();
    llhttp = e;
    checkParserLayout((callbacks) => new Parser('request', callbacks));
    return e;
  }
}
