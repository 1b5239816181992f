/**
 * One filter's place in a stream's chain (Envoy's ActiveStreamDecoderFilter /
 * ActiveStreamEncoderFilter): its iteration state, and the callbacks it is given. The iteration
 * itself is the FilterManager's; these wrappers hold what each filter's position needs to resume.
 */
import type { BufferInstance } from '../../../src/api/buffer.js';
import type { Dispatcher } from '../../../src/api/dispatcher.js';
import type { ResponseHeaderMap, StreamResetReason, TrailerMap } from '../../../src/api/http-codec.js';
import type {
  DownstreamWatermarkCallbacks,
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  LocalReplyOptions,
  StreamDecoderFilter,
  StreamDecoderFilterCallbacks,
  StreamEncoderFilter,
  StreamEncoderFilterCallbacks,
} from '../../../src/api/http-filter.js';
import type { Connection } from '../../../src/api/network.js';
import type { Route } from '../../../src/api/router.js';
import type { StreamInfoImpl } from '../../../src/access-log/stream-info-impl.js';
import type { WatermarkBuffer } from '../../../src/common/watermark-buffer.js';
import type { FilterManager } from './filter-manager.js';

type IterationState = 'Continue' | 'StopSingleIteration' | 'StopAllBuffer' | 'StopAllWatermark';

/** Where a resumed iteration starts: always after the filter, or at it when it stopped all. */
export type StartState = 'AlwaysStartFromNext' | 'CanStartFromCurrent';

export abstract class ActiveFilterBase {
  iterationState: IterationState = 'Continue';
  headersContinued = false;
  /** This filter has seen the end of the stream in this direction. */
  endStream = false;
  iterateFromCurrentFilter = false;

  constructor(
    protected readonly parent: FilterManager,
    /** Position in its direction's list (encoders are renumbered as filters are added). */
    public index: number,
  ) {}

  protected abstract canContinue(): boolean;
  /** True once this direction's chain must not go on (stream gone, or aborted by a local reply). */
  protected abstract chainStopped(): boolean;
  protected abstract complete(): boolean;
  protected abstract hasTrailers(): boolean;
  abstract bufferedData(): WatermarkBuffer | undefined;
  protected abstract createBuffer(): WatermarkBuffer;
  protected abstract doHeaders(endStream: boolean): void;
  protected abstract doData(endStream: boolean): void;
  protected abstract doTrailers(): void;

  canIterate(): boolean {
    return this.iterationState === 'Continue';
  }

  stoppedAll(): boolean {
    return this.iterationState === 'StopAllBuffer' || this.iterationState === 'StopAllWatermark';
  }

  /** Resumes the chain after this filter: headers first, then buffered data, then trailers. */
  commonContinue(): void {
    if (!this.canContinue() || this.canIterate()) return;
    if (this.stoppedAll()) this.iterateFromCurrentFilter = true;
    this.iterationState = 'Continue';
    if (!this.headersContinued) {
      this.headersContinued = true;
      this.doHeaders(this.complete() && this.bufferedData() === undefined && !this.hasTrailers());
      if (this.chainStopped()) return;
    }
    const hadTrailersBeforeData = this.hasTrailers();
    if (this.bufferedData() !== undefined) {
      this.doData(this.complete() && !hadTrailersBeforeData);
      if (this.chainStopped()) return;
    }
    if (hadTrailersBeforeData) this.doTrailers();
    this.iterateFromCurrentFilter = false;
  }

  /** Returns true when iteration goes on to the next filter. */
  handleAfterHeaders(status: FilterHeadersStatus): boolean {
    switch (status) {
      case 'StopIteration':
        this.iterationState = 'StopSingleIteration';
        return false;
      case 'StopAllIterationAndBuffer':
        this.iterationState = 'StopAllBuffer';
        return false;
      case 'StopAllIterationAndWatermark':
        this.iterationState = 'StopAllWatermark';
        return false;
      case 'Continue':
        this.headersContinued = true;
        return true;
    }
  }

  handleAfterData(status: FilterDataStatus, data: BufferInstance): boolean {
    if (status === 'Continue') {
      if (this.iterationState === 'StopSingleIteration') {
        this.handleBufferData(data);
        this.commonContinue();
        return false;
      }
      return true;
    }
    this.iterationState = 'StopSingleIteration';
    if (status === 'StopIterationAndBuffer' || status === 'StopIterationAndWatermark') {
      this.parent.setStreaming(this, status === 'StopIterationAndWatermark');
      this.handleBufferData(data);
    } else if (this.complete() && !this.hasTrailers() && this.bufferedData() === undefined && !this.parent.state.destroyed) {
      // StopIterationNoBuffer on the last (possibly empty) frame: keep an empty buffer so that a
      // later continue still delivers end of stream to the next filters.
      this.createBuffer();
    }
    return false;
  }

  handleAfterTrailers(status: FilterTrailersStatus): boolean {
    if (status === 'Continue') {
      if (this.iterationState === 'StopSingleIteration') {
        this.commonContinue();
        return false;
      }
      return true;
    }
    if (this.canIterate()) this.iterationState = 'StopSingleIteration';
    return false;
  }

  /**
   * Moves `data` into the stream's buffer unless it is that buffer already (a later filter that
   * stops on buffered data works on it in place).
   */
  handleBufferData(data: BufferInstance): void {
    const buffered = this.bufferedData() ?? this.createBuffer();
    if (buffered !== data) buffered.move(data);
  }

  // StreamFilterCallbacks, common to both directions.
  connection(): Connection {
    return this.parent.callbacks.connection();
  }

  dispatcher(): Dispatcher {
    return this.parent.callbacks.dispatcher();
  }

  streamInfo(): StreamInfoImpl {
    return this.parent.callbacks.streamInfo();
  }

  route(): Route | undefined {
    return this.parent.callbacks.route();
  }

  clearRouteCache(): void {
    this.parent.callbacks.clearRouteCache();
  }

  resetStream(reason: StreamResetReason = 'LocalReset', details = ''): void {
    this.parent.callbacks.resetStream(reason, details);
  }

  get streamId(): number {
    return this.parent.callbacks.streamId;
  }
}

export class ActiveDecoderFilter extends ActiveFilterBase implements StreamDecoderFilterCallbacks {
  constructor(
    parent: FilterManager,
    index: number,
    readonly filter: StreamDecoderFilter,
  ) {
    super(parent, index);
  }

  protected canContinue(): boolean {
    // A response may already be complete (e.g. a 413 while this filter buffered): go no further.
    return !this.parent.state.localComplete && !this.parent.state.destroyed;
  }

  protected chainStopped(): boolean {
    return this.parent.state.destroyed || this.parent.decoderChainAborted;
  }

  protected complete(): boolean {
    return this.parent.state.remoteDecodeComplete;
  }

  protected hasTrailers(): boolean {
    return this.parent.requestTrailers !== undefined;
  }

  bufferedData(): WatermarkBuffer | undefined {
    return this.parent.bufferedRequestData;
  }

  protected createBuffer(): WatermarkBuffer {
    return this.parent.createRequestBuffer();
  }

  protected doHeaders(endStream: boolean): void {
    this.parent.decodeHeaders(this, this.parent.requestHeaders!, endStream);
  }

  protected doData(endStream: boolean): void {
    this.parent.decodeData(this, this.parent.bufferedRequestData!, endStream, 'CanStartFromCurrent');
  }

  protected doTrailers(): void {
    this.parent.decodeTrailers(this, this.parent.requestTrailers!);
  }

  continueDecoding(): void {
    this.commonContinue();
  }

  decodingBuffer(): BufferInstance | undefined {
    return this.parent.bufferedRequestData;
  }

  sendLocalReply(code: number, body: string, options: LocalReplyOptions): void {
    this.parent.sendLocalReply(code, body, options);
  }

  encode1xxHeaders(headers: ResponseHeaderMap): void {
    this.parent.encode1xxHeaders(headers);
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean, details: string): void {
    this.parent.callbacks.streamInfo().responseCodeDetails = details;
    this.parent.encodeHeaders(undefined, headers, endStream);
  }

  encodeData(data: BufferInstance, endStream: boolean): void {
    this.parent.encodeData(undefined, data, endStream, 'AlwaysStartFromNext');
  }

  encodeTrailers(trailers: TrailerMap): void {
    this.parent.encodeTrailers(undefined, trailers);
  }

  onDecoderFilterAboveWriteBufferHighWatermark(): void {
    this.parent.callbacks.onDecoderFilterAboveWriteBufferHighWatermark();
  }

  onDecoderFilterBelowWriteBufferLowWatermark(): void {
    this.parent.callbacks.onDecoderFilterBelowWriteBufferLowWatermark();
  }

  addDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void {
    this.parent.callbacks.addDownstreamWatermarkCallbacks(cb);
  }

  removeDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks): void {
    this.parent.callbacks.removeDownstreamWatermarkCallbacks(cb);
  }

  decoderBufferLimit(): number {
    return this.parent.bufferLimit;
  }

  requestComplete(): boolean {
    return this.parent.state.remoteDecodeComplete;
  }
}

export class ActiveEncoderFilter extends ActiveFilterBase implements StreamEncoderFilterCallbacks {
  constructor(
    parent: FilterManager,
    index: number,
    readonly filter: StreamEncoderFilter,
  ) {
    super(parent, index);
  }

  protected canContinue(): boolean {
    return !this.parent.state.remoteEncodeComplete && !this.parent.state.destroyed;
  }

  protected chainStopped(): boolean {
    return this.parent.state.destroyed || this.parent.encoderChainAborted;
  }

  protected complete(): boolean {
    return this.parent.state.localComplete;
  }

  protected hasTrailers(): boolean {
    return this.parent.responseTrailers !== undefined;
  }

  bufferedData(): WatermarkBuffer | undefined {
    return this.parent.bufferedResponseData;
  }

  protected createBuffer(): WatermarkBuffer {
    return this.parent.createResponseBuffer();
  }

  protected doHeaders(endStream: boolean): void {
    this.parent.encodeHeaders(this, this.parent.responseHeaders!, endStream);
  }

  protected doData(endStream: boolean): void {
    this.parent.encodeData(this, this.parent.bufferedResponseData!, endStream, 'CanStartFromCurrent');
  }

  protected doTrailers(): void {
    this.parent.encodeTrailers(this, this.parent.responseTrailers!);
  }

  continueEncoding(): void {
    this.commonContinue();
  }

  encodingBuffer(): BufferInstance | undefined {
    return this.parent.bufferedResponseData;
  }

  onEncoderFilterAboveWriteBufferHighWatermark(): void {
    this.parent.callbacks.callHighWatermarkCallbacks();
  }

  onEncoderFilterBelowWriteBufferLowWatermark(): void {
    this.parent.callbacks.callLowWatermarkCallbacks();
  }

  encoderBufferLimit(): number {
    return this.parent.bufferLimit;
  }
}
