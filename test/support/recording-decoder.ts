/**
 * Decoders that record what a codec delivers as readable lines, for exact assertions:
 *   `#1 headers :method=GET :path=/ host-less...`   (decodeHeaders, ` end` when endStream)
 *   `#1 data "hello"` / `#1 data end ""`            (decodeData)
 *   `#1 trailers x-t=1`, `#1 1xx :status=100`, `#1 reset ConnectionTermination`, `#1 above-high`
 * One log is shared by every stream of a connection, so the order across streams shows too.
 * merged() joins adjacent body pieces of a stream, so a trace does not depend on how the input
 * was split into reads.
 */
import type { BufferInstance } from '../../src/api/buffer.js';
import type {
  HeaderMap,
  RequestDecoder,
  ResponseDecoder,
  ResponseEncoder,
  ServerConnectionCallbacks,
  StreamCallbacks,
  StreamResetReason,
} from '../../src/api/http-codec.js';

export function formatHeaders(headers: HeaderMap): string {
  const parts: string[] = [];
  headers.forEach((name, value) => {
    parts.push(`${name}=${value}`);
  });
  return parts.join(' ');
}

function bodyText(data: BufferInstance): string {
  return Buffer.concat(data.slices() as Buffer[], data.length).toString('latin1');
}

/** A RequestDecoder and ResponseDecoder (and StreamCallbacks) that logs what it receives. */
export class RecordingDecoder implements RequestDecoder, ResponseDecoder, StreamCallbacks {
  headers: HeaderMap | undefined;
  trailers: HeaderMap | undefined;
  body = '';
  /** The message ended (endStream seen), or the stream was reset. */
  ended = false;
  reset: StreamResetReason | undefined;
  /** Every BufferInstance slice seen by decodeData (to check zero-copy delivery). */
  readonly slices: Buffer[] = [];

  constructor(
    readonly log: string[],
    readonly prefix: string,
  ) {}

  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.headers = headers;
    if (endStream) this.ended = true;
    this.log.push(`${this.prefix} headers${endStream ? ' end' : ''} ${formatHeaders(headers)}`);
  }

  decode1xxHeaders(headers: HeaderMap): void {
    this.log.push(`${this.prefix} 1xx ${formatHeaders(headers)}`);
  }

  decodeData(data: BufferInstance, endStream: boolean): void {
    for (const s of data.slices()) this.slices.push(s);
    const text = bodyText(data);
    data.drain(data.length);
    this.body += text;
    if (endStream) this.ended = true;
    this.log.push(`${this.prefix} data${endStream ? ' end' : ''} ${JSON.stringify(text)}`);
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.trailers = trailers;
    this.ended = true;
    this.log.push(`${this.prefix} trailers ${formatHeaders(trailers)}`);
  }

  onResetStream(reason: StreamResetReason, details: string): void {
    this.reset = reason;
    this.ended = true;
    this.log.push(`${this.prefix} reset ${reason}${details === '' ? '' : ` ${details}`}`);
  }

  onAboveWriteBufferHighWatermark(): void {
    this.log.push(`${this.prefix} above-high`);
  }

  onBelowWriteBufferLowWatermark(): void {
    this.log.push(`${this.prefix} below-low`);
  }
}

/** Joins adjacent `data "..."` lines of the same stream (not `data end`). */
export function merged(log: readonly string[]): string[] {
  const out: string[] = [];
  const piece = /^(#\d+) data "(.*)"$/;
  for (const line of log) {
    const m = piece.exec(line);
    const prev = out.length > 0 ? piece.exec(out[out.length - 1]!) : null;
    if (m !== null && prev !== null && prev[1] === m[1]) {
      const text = (JSON.parse(`"${prev[2]!}"`) as string) + (JSON.parse(`"${m[2]!}"`) as string);
      out[out.length - 1] = `${m[1]!} data ${JSON.stringify(text)}`;
    } else {
      out.push(line);
    }
  }
  return out;
}

/** One request a server codec announced: its encoder and the decoder that records it. */
export interface RecordedStream {
  readonly encoder: ResponseEncoder;
  readonly decoder: RecordingDecoder;
}

/**
 * ServerConnectionCallbacks that give every stream a RecordingDecoder (also registered as the
 * stream's callbacks) writing to one shared log.
 */
export class RecordingServerCallbacks implements ServerConnectionCallbacks {
  readonly log: string[] = [];
  readonly streams: RecordedStream[] = [];
  goAways = 0;
  /** Makes the decoder of a new stream; default: a RecordingDecoder. */
  decoderFactory: (log: string[], prefix: string, encoder: ResponseEncoder) => RecordingDecoder = (log, prefix) =>
    new RecordingDecoder(log, prefix);

  newStream(encoder: ResponseEncoder): RequestDecoder {
    const decoder = this.decoderFactory(this.log, `#${this.streams.length + 1}`, encoder);
    encoder.stream().addCallbacks(decoder);
    this.streams.push({ encoder, decoder });
    return decoder;
  }

  onGoAway(_errorCode: number): void {
    this.goAways++;
  }

  stream(n: number): RecordedStream {
    const s = this.streams[n - 1];
    if (s === undefined) throw new Error(`no stream #${n} (have ${this.streams.length})`);
    return s;
  }
}
