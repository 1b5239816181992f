/**
 * Drives an Http2Session in memory: frames in (built with test/support/h2-frames.ts), the
 * session's output decoded into one-line summaries, and its callbacks recorded as strings.
 */
import { Http2Session } from '../../../../codecs/http2/session.js';
import type { Perspective, SessionOptions } from '../../../../codecs/http2/session.js';
import { createHttp2Stats } from '../../../../codecs/http2/protections.js';
import type { ProtectionLimits } from '../../../../codecs/http2/protections.js';
import { StatsStore } from '../../../../src/stats/store.js';
import { H2FrameDecoder, summarize, toBytes } from '../../../support/h2-frames.js';
import type { DecodedItem, FrameLike } from '../../../support/h2-frames.js';

export const TEST_LIMITS: ProtectionLimits = {
  maxOutboundFrames: 10_000,
  maxOutboundControlFrames: 1000,
  maxConsecutiveInboundFramesWithEmptyPayload: 1,
  maxInboundPriorityFramesPerStream: 100,
  maxInboundWindowUpdateFramesPerDataFrameSent: 10,
  resetBurst: 1000,
  resetRatePerSecond: 33,
  maxContinuationFrames: 16,
  maxHeaderBlockSize: 150_000,
};

export interface HarnessOptions extends Partial<Omit<SessionOptions, 'limits' | 'perspective' | 'stats' | 'now'>> {
  readonly limits?: Partial<ProtectionLimits>;
}

export class SessionHarness {
  readonly store = new StatsStore();
  readonly session: Http2Session;
  /** Callback events, e.g. `headers 1 request ES :method=GET ...`, `data 1 5`, `close 1 0 end_stream`. */
  readonly events: string[] = [];
  readonly sends: number[] = [];
  now = 0;
  private readonly decoder: H2FrameDecoder;
  private pending: Buffer[] = [];
  private headerLines = new Map<number, string[]>();

  constructor(readonly perspective: Perspective, options: HarnessOptions = {}) {
    this.decoder = new H2FrameDecoder({ expectClientPreface: perspective === 'client' });
    this.session = new Http2Session(
      {
        perspective,
        settings: options.settings ?? { maxConcurrentStreams: 100 },
        connectionWindowSize: options.connectionWindowSize ?? 65_535,
        maxHeaderListBytes: options.maxHeaderListBytes ?? 60 * 1024,
        maxHeaderCount: options.maxHeaderCount ?? 100,
        limits: { ...TEST_LIMITS, ...options.limits },
        stats: createHttp2Stats(this.store),
        now: () => this.now,
      },
      {
        send: (chunks, length) => {
          this.sends.push(length);
          for (const c of chunks) this.pending.push(c);
        },
        onBeginHeaders: (id) => this.headerLines.set(id, []),
        onHeader: (id, name, value, never) => this.headerLines.get(id)!.push(`${name}=${value}${never ? '(never)' : ''}`),
        onHeadersComplete: (id, category, endStream) => {
          this.events.push(`headers ${id} ${category}${endStream ? ' ES' : ''} ${this.headerLines.get(id)!.join(' ')}`);
        },
        onDataChunkRecv: (id, data, endStream) => this.events.push(`data ${id} ${data.length}${endStream ? ' ES' : ''}`),
        onStreamClose: (id, code, reason) => this.events.push(`close ${id} ${code} ${reason}`),
        onError: (f) => this.events.push(`error ${f.goAwayCode ?? 'none'} ${f.flood ?? ''}`.trim()),
      },
    );
    this.session.start();
  }

  /** Feeds frames (one receive call). */
  recv(...parts: FrameLike[]): this {
    this.session.receive(toBytes(...parts));
    return this;
  }

  /** Decoded frames sent since the last call. */
  outFrames(): DecodedItem[] {
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    return this.decoder.push(bytes);
  }

  /** One-line summaries of the frames sent since the last call. */
  out(): string[] {
    return this.outFrames().map(summarize);
  }

  /** Events since the last call. */
  take(): string[] {
    return this.events.splice(0);
  }

  counter(name: string): number {
    return this.store.findCounter(`http2.${name}`)?.value() ?? 0;
  }

  gauge(name: string): number {
    return this.store.findGauge(`http2.${name}`)?.value() ?? 0;
  }
}
