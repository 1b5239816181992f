/**
 * Test harness for the HTTP/1 parser: records callbacks as a readable trace (adjacent pieces of one
 * item merged, so a trace does not depend on where the input was split) and feeds inputs whole,
 * split at every offset, or one byte at a time.
 */
import { expect } from 'vitest';
import {
  CallbackResult,
  Parser,
  type HeadersCompleteResult,
  type ParserCallbacks,
  type ParserType,
  type SpanResult,
} from '../../../../codecs/http1/parser.js';

export interface TraceOptions {
  /** What onHeadersComplete returns (per message, cycling on the last entry). */
  readonly headersComplete?: readonly HeadersCompleteResult[];
  /** Pause after every message (what a pipelining server connection does). */
  readonly pauseOnComplete?: boolean;
  /** Call finish() after the last chunk (the peer closed). */
  readonly finish?: boolean;
}

export interface Trace {
  readonly events: string[];
  /** 'ok', 'upgrade@<abs offset>', 'error <CODE> "<reason>" @<abs offset>'. */
  readonly end: string;
  /** Bytes after an upgrade (the tunnel start), when the result was an upgrade. */
  readonly tail: string;
}

class Recorder implements ParserCallbacks {
  readonly events: string[] = [];
  parser!: Parser;
  private open = '';
  private messages = 0;

  constructor(private readonly opts: TraceOptions) {}

  onMessageBegin(): SpanResult {
    return this.event('begin');
  }
  onUrl(d: Buffer, s: number, e: number): SpanResult {
    return this.piece('url', d.toString('latin1', s, e));
  }
  onStatus(d: Buffer, s: number, e: number): SpanResult {
    return this.piece('reason', d.toString('latin1', s, e));
  }
  onHeaderField(d: Buffer, s: number, e: number): SpanResult {
    return this.piece('field', d.toString('latin1', s, e));
  }
  onHeaderValue(d: Buffer, s: number, e: number): SpanResult {
    return this.piece('value', d.toString('latin1', s, e));
  }
  onTrailerField(d: Buffer, s: number, e: number): SpanResult {
    return this.piece('trailer-field', d.toString('latin1', s, e));
  }
  onTrailerValue(d: Buffer, s: number, e: number): SpanResult {
    return this.piece('trailer-value', d.toString('latin1', s, e));
  }
  onBody(d: Buffer): SpanResult {
    return this.piece('body', d.toString('latin1'));
  }
  onHeadersComplete(): HeadersCompleteResult {
    const p = this.parser;
    const list = this.opts.headersComplete ?? [CallbackResult.Success];
    const r = list[Math.min(this.messages, list.length - 1)]!;
    this.messages++;
    const version = `${p.httpMajor}.${p.httpMinor}`;
    const first = p.type === 'request' ? p.method : String(p.statusCode);
    this.event(
      `headers ${first} ${version} cl=${p.contentLength ?? '-'} chunked=${+p.isChunked} te=${+p.hasTransferEncoding} upgrade=${+p.isUpgrade}`,
    );
    return r;
  }
  onMessageComplete(): SpanResult {
    this.event(`complete keepAlive=${+this.parser.shouldKeepAlive} upgrade=${+this.parser.isUpgrade}`);
    return this.opts.pauseOnComplete === true ? CallbackResult.Pause : CallbackResult.Success;
  }

  private event(name: string): SpanResult {
    this.events.push(name);
    this.open = '';
    return CallbackResult.Success;
  }

  private piece(kind: string, text: string): SpanResult {
    if (this.open === kind) this.events[this.events.length - 1] += text;
    else this.events.push(`${kind}:${text}`);
    this.open = kind;
    return CallbackResult.Success;
  }
}

/** Feeds `chunks` in order, resuming after pauses; returns the trace. */
export function trace(type: ParserType, chunks: readonly Buffer[], opts: TraceOptions = {}): Trace {
  const rec = new Recorder(opts);
  const parser = new Parser(type, rec);
  rec.parser = parser;
  const whole = Buffer.concat(chunks);
  let base = 0;
  let end = 'ok';
  let tail = '';
  outer: for (const chunk of chunks) {
    let rest = chunk;
    let at = base;
    for (;;) {
      const r = parser.execute(rest);
      if (r.status === 'paused') {
        rec.events.push(`paused@${at + r.consumed}`);
        parser.resume();
        rest = rest.subarray(r.consumed);
        at += r.consumed;
        continue;
      }
      if (r.status === 'upgrade') {
        end = `upgrade@${at + r.consumed}`;
        tail = whole.toString('latin1', at + r.consumed);
        break outer;
      }
      if (r.status === 'error') {
        end = `error ${r.errorCode} "${r.errorReason}" @${at + r.consumed}`;
        break outer;
      }
      expect(r.consumed).toBe(rest.length);
      break;
    }
    base += chunk.length;
  }
  if (opts.finish === true && end === 'ok') {
    const r = parser.finish();
    end = r.status === 'error' ? `finish error ${r.errorCode} "${r.errorReason}"` : `finish ${r.status}`;
  }
  parser.destroy();
  return { events: rec.events, end, tail };
}

export function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/**
 * Asserts that the input parses to `expected` fed whole, split in two at every offset, and one
 * byte at a time.
 */
export function expectSplitInvariant(
  type: ParserType,
  input: string,
  expected: Trace | Omit<Trace, 'tail'>,
  opts: TraceOptions = {},
): void {
  const buf = bytes(input);
  const whole = trace(type, [buf], opts);
  expect(whole).toMatchObject(expected);
  for (let i = 1; i < buf.length; i++) {
    const split = trace(type, [buf.subarray(0, i), buf.subarray(i)], opts);
    expect(split, `split at ${i}`).toEqual(whole);
  }
  const single: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) single.push(buf.subarray(i, i + 1));
  expect(trace(type, single, opts), 'one byte at a time').toEqual(whole);
}

/**
 * Asserts that the input is rejected with `end` fed whole, split at every offset, and one byte at a
 * time. Only the result is compared: pieces of the item being parsed when the error is found may
 * already have been delivered, and how many depends on the split.
 */
export function expectRejectedAtEverySplit(type: ParserType, input: string, end: string): void {
  const buf = bytes(input);
  expect(trace(type, [buf]).end).toBe(end);
  for (let i = 1; i < buf.length; i++) {
    expect(trace(type, [buf.subarray(0, i), buf.subarray(i)]).end, `split at ${i}`).toBe(end);
  }
  const single: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) single.push(buf.subarray(i, i + 1));
  expect(trace(type, single).end, 'one byte at a time').toBe(end);
}
