/**
 * Flood and abuse accounting for one HTTP/2 connection (Envoy's ProtocolConstraints, plus the
 * rapid-reset and CONTINUATION defences of nghttp2), and the codec's stats (Envoy's CodecStats,
 * rooted at `http2.`). Pure arithmetic: the session reports what it sees and sends, and gets back
 * a {@link FloodViolation} naming the stat to count and how the connection must end.
 *
 * - Outbound: frames produced but not yet handed to the socket (the session's unflushed batch
 *   and what it holds while the connection is above its write high watermark). More than
 *   `maxOutboundFrames`, or more than `maxOutboundControlFrames` PING ACK / SETTINGS ACK /
 *   RST_STREAM frames, means the peer makes us answer faster than it reads: the connection is
 *   closed at once, without a GOAWAY it would not read (`http2.outbound_flood`,
 *   `http2.outbound_control_flood`).
 * - Inbound, answered with GOAWAY(ENHANCE_YOUR_CALM): more than
 *   `maxConsecutiveInboundFramesWithEmptyPayload` DATA/HEADERS/CONTINUATION frames in a row with
 *   no payload and no END_STREAM; more PRIORITY frames than `maxInboundPriorityFramesPerStream`
 *   per opened stream (+1); more WINDOW_UPDATE frames than 1 + 2 * (opened streams +
 *   `maxInboundWindowUpdateFramesPerDataFrameSent` * DATA frames sent) (Envoy's formulas);
 *   streams reset by the peer before we finished them faster than a token bucket allows
 *   (CVE-2023-44487, "rapid reset"; nghttp2's 1000 burst, 33/s); a header block with more
 *   CONTINUATION frames than allowed or larger than allowed (CVE-2024-27316).
 */
import type { Counter, Gauge, Scope } from '../../src/api/stats.js';
import { ErrorCode } from './frame.js';

/** Limits; the first five are Envoy's `http2_protocol_options` protections. */
export interface ProtectionLimits {
  readonly maxOutboundFrames: number;
  readonly maxOutboundControlFrames: number;
  readonly maxConsecutiveInboundFramesWithEmptyPayload: number;
  readonly maxInboundPriorityFramesPerStream: number;
  readonly maxInboundWindowUpdateFramesPerDataFrameSent: number;
  /** Peer resets of streams we had not finished: bucket size. */
  readonly resetBurst: number;
  /** ... and refill rate per second. */
  readonly resetRatePerSecond: number;
  /** Most CONTINUATION frames after one HEADERS. */
  readonly maxContinuationFrames: number;
  /** Largest header block (all fragments), in octets. */
  readonly maxHeaderBlockSize: number;
}

/** nghttp2's stream reset rate limit (1.57.0, the rapid reset fix). */
export const DEFAULT_RESET_BURST = 1000;
export const DEFAULT_RESET_RATE_PER_SECOND = 33;
/** nghttp2's limit (1.61.0, the CONTINUATION flood fix) is 8; some room for odd encoders. */
export const DEFAULT_MAX_CONTINUATION_FRAMES = 16;

/** How a violation ends the connection. */
export interface FloodViolation {
  readonly kind: 'flood';
  /** The stat counted, e.g. `http2.outbound_flood`. */
  readonly stat: Http2FloodStat;
  readonly message: string;
  /** The codec status dispatch returns. */
  readonly status: 'BufferFloodError' | 'CodecProtocolError';
  /** GOAWAY error code to send, or undefined: close without one (the peer does not read). */
  readonly goAwayCode: number | undefined;
}

export type Http2FloodStat =
  | 'outbound_flood'
  | 'outbound_control_flood'
  | 'inbound_empty_frames_flood'
  | 'inbound_priority_frames_flood'
  | 'inbound_window_update_frames_flood'
  | 'rapid_reset_flood'
  | 'too_many_header_frames'
  | 'header_overflow';

function violation(
  stat: Http2FloodStat,
  message: string,
  status: FloodViolation['status'],
  goAwayCode: number | undefined,
): FloodViolation {
  return { kind: 'flood', stat, message, status, goAwayCode };
}

/** Inbound frame types that carry a payload the empty-frame rule looks at. */
const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

export class FloodProtection {
  private outboundFrames = 0;
  private outboundControlFrames = 0;
  private consecutiveEmpty = 0;
  private inboundPriorityFrames = 0;
  private inboundWindowUpdateFrames = 0;
  private inboundStreams = 0;
  private outboundDataFrames = 0;
  private resetTokens: number;
  private resetRefilledAt: number | undefined;
  private failed: FloodViolation | undefined;

  constructor(readonly limits: ProtectionLimits) {
    this.resetTokens = limits.resetBurst;
  }

  /** The first violation seen; every later check returns it again. */
  get violation(): FloodViolation | undefined {
    return this.failed;
  }

  /** Frames counted as queued (gauge `http2.outbound_frames_active`). */
  get queuedFrames(): number {
    return this.outboundFrames;
  }

  get queuedControlFrames(): number {
    return this.outboundControlFrames;
  }

  // ---- outbound ----

  /** A frame was queued for the socket; control = PING ACK, SETTINGS ACK or RST_STREAM. */
  onFrameQueued(control: boolean, isData: boolean): FloodViolation | undefined {
    this.outboundFrames++;
    if (control) this.outboundControlFrames++;
    if (isData) this.outboundDataFrames++;
    if (this.failed !== undefined) return this.failed;
    if (this.outboundFrames > this.limits.maxOutboundFrames) {
      return (this.failed = violation(
        'outbound_flood', 'Too many frames in the outbound queue.', 'BufferFloodError', undefined,
      ));
    }
    if (this.outboundControlFrames > this.limits.maxOutboundControlFrames) {
      return (this.failed = violation(
        'outbound_control_flood', 'Too many control frames in the outbound queue.', 'BufferFloodError', undefined,
      ));
    }
    return undefined;
  }

  /** Everything queued went to the socket. */
  onQueueFlushed(): void {
    this.outboundFrames = 0;
    this.outboundControlFrames = 0;
  }

  // ---- inbound ----

  /**
   * Counts one received frame (before it is processed). `payload` is the DATA / header block
   * fragment length without padding; `endStream` its END_STREAM flag.
   */
  onInboundFrame(type: number, payload: number, endStream: boolean): FloodViolation | undefined {
    if (this.failed !== undefined) return this.failed;
    switch (type) {
      case DATA:
      case HEADERS:
      case CONTINUATION:
        if (payload === 0 && !endStream) this.consecutiveEmpty++;
        else this.consecutiveEmpty = 0;
        if (this.consecutiveEmpty > this.limits.maxConsecutiveInboundFramesWithEmptyPayload) {
          return (this.failed = violation(
            'inbound_empty_frames_flood', 'Too many consecutive frames with an empty payload',
            'CodecProtocolError', ErrorCode.ENHANCE_YOUR_CALM,
          ));
        }
        return undefined;
      case PRIORITY:
        this.inboundPriorityFrames++;
        if (this.inboundPriorityFrames > this.limits.maxInboundPriorityFramesPerStream * (1 + this.inboundStreams)) {
          return (this.failed = violation(
            'inbound_priority_frames_flood', 'Too many PRIORITY frames', 'BufferFloodError', ErrorCode.ENHANCE_YOUR_CALM,
          ));
        }
        return undefined;
      case WINDOW_UPDATE:
        this.inboundWindowUpdateFrames++;
        if (
          this.inboundWindowUpdateFrames >
          1 + 2 * (this.inboundStreams + this.limits.maxInboundWindowUpdateFramesPerDataFrameSent * this.outboundDataFrames)
        ) {
          return (this.failed = violation(
            'inbound_window_update_frames_flood', 'Too many WINDOW_UPDATE frames', 'BufferFloodError',
            ErrorCode.ENHANCE_YOUR_CALM,
          ));
        }
        return undefined;
      default:
        return undefined;
    }
  }

  /** A complete header block arrived (Envoy counts streams at END_HEADERS). */
  onInboundHeaderBlock(): void {
    this.inboundStreams++;
  }

  /** The peer reset a stream that we had not finished, at `nowMs`. */
  onPrematureReset(nowMs: number): FloodViolation | undefined {
    if (this.failed !== undefined) return this.failed;
    const { resetBurst, resetRatePerSecond } = this.limits;
    if (this.resetRefilledAt !== undefined) {
      const refill = ((nowMs - this.resetRefilledAt) * resetRatePerSecond) / 1000;
      this.resetTokens = Math.min(resetBurst, this.resetTokens + refill);
    }
    this.resetRefilledAt = nowMs;
    if (this.resetTokens >= 1) {
      this.resetTokens--;
      return undefined;
    }
    return (this.failed = violation(
      'rapid_reset_flood', 'Too many streams reset by the peer', 'CodecProtocolError', ErrorCode.ENHANCE_YOUR_CALM,
    ));
  }

  /** A header block hit {@link ProtectionLimits.maxContinuationFrames} or the block size limit. */
  onHeaderBlockLimit(reason: 'block-size' | 'continuation-count'): FloodViolation {
    if (this.failed !== undefined) return this.failed;
    return (this.failed =
      reason === 'continuation-count'
        ? violation('too_many_header_frames', 'Too many CONTINUATION frames', 'CodecProtocolError', ErrorCode.ENHANCE_YOUR_CALM)
        : violation('header_overflow', 'Header block too large', 'CodecProtocolError', ErrorCode.ENHANCE_YOUR_CALM));
  }
}

// ---------------------------------------------------------------------------------------------
// Stats

/**
 * The codec's stats: Envoy's `http2.*` names, plus `rapid_reset_flood`, `settings_timeout` and the
 * gauge `pending_recv_bytes` (body octets received and held unconsumed while their stream is
 * read-disabled: with `pending_send_bytes`, what the codec buffers).
 */
export interface Http2CodecStats {
  readonly goaway_sent: Counter;
  readonly goaway_graceful_sent: Counter;
  readonly header_overflow: Counter;
  readonly headers_cb_no_stream: Counter;
  readonly inbound_empty_frames_flood: Counter;
  readonly inbound_priority_frames_flood: Counter;
  readonly inbound_window_update_frames_flood: Counter;
  readonly keepalive_timeout: Counter;
  readonly outbound_control_flood: Counter;
  readonly outbound_flood: Counter;
  readonly rapid_reset_flood: Counter;
  readonly rx_messaging_error: Counter;
  readonly rx_reset: Counter;
  readonly settings_timeout: Counter;
  readonly stream_refused_errors: Counter;
  readonly too_many_header_frames: Counter;
  readonly trailers: Counter;
  readonly tx_reset: Counter;
  readonly streams_active: Gauge;
  /** Body octets queued to send, waiting for flow-control window or the transport. */
  readonly pending_send_bytes: Gauge;
  readonly pending_recv_bytes: Gauge;
}

const COUNTERS = [
  'goaway_sent', 'goaway_graceful_sent', 'header_overflow', 'headers_cb_no_stream',
  'inbound_empty_frames_flood', 'inbound_priority_frames_flood', 'inbound_window_update_frames_flood',
  'keepalive_timeout', 'outbound_control_flood', 'outbound_flood', 'rapid_reset_flood',
  'rx_messaging_error', 'rx_reset', 'settings_timeout', 'stream_refused_errors',
  'too_many_header_frames', 'trailers', 'tx_reset',
] as const;
const GAUGES = ['streams_active', 'pending_send_bytes', 'pending_recv_bytes'] as const;

/** The stats under `<scope>.http2.` (downstream: the root scope; upstream: the cluster's). */
export function createHttp2Stats(scope: Scope): Http2CodecStats {
  const s = scope.createScope('http2');
  const out: Record<string, Counter | Gauge> = {};
  for (const name of COUNTERS) out[name] = s.counter(name);
  for (const name of GAUGES) out[name] = s.gauge(name);
  return out as unknown as Http2CodecStats;
}
