/**
 * The start-up check of parser.ts: its reads of `llhttp_t` fields (content length, flags, method,
 * version; offsets in llhttp-abi.ts) are compared, on one parsed message, with what they must
 * give. A changed struct layout then fails loudly at the first Parser instead of misframing bodies.
 */
import type { Parser } from './parser.js';
import { CallbackResult, type ParserCallbacks, type SpanResult } from './parser-interface.js';

/** Parses one message with a parser from `make` and checks the framing it reports. */
export function checkParserLayout(make: (callbacks: ParserCallbacks) => Parser): void {
  const ok = (): SpanResult => CallbackResult.Success;
  let seen = false;
  const probe: Parser = make({
    onMessageBegin: ok,
    onUrl: ok,
    onStatus: ok,
    onHeaderField: ok,
    onHeaderValue: ok,
    onBody: ok,
    onTrailerField: ok,
    onTrailerValue: ok,
    onMessageComplete: ok,
    onHeadersComplete: () => {
      seen =
        probe.contentLength === 0x1_0000_0007 &&
        probe.hasContentLength &&
        !probe.isChunked &&
        probe.method === 'PUT' &&
        probe.httpMajor === 1 &&
        probe.httpMinor === 0;
      return CallbackResult.Pause;
    },
  });
  probe.execute(Buffer.from('PUT / HTTP/1.0\r\nContent-Length: 4294967303\r\n\r\n', 'latin1'));
  probe.destroy();
  if (!seen) throw new Error('llhttp_t layout differs from the offsets in codecs/http1/llhttp-abi.ts');
}
