import type { WatermarkCallbacks } from '../api/buffer.js';
import { BufferChain } from './buffer-chain.js';

/**
 * Envoy's Buffer::WatermarkBuffer: a BufferChain that calls `onAboveHighWatermark` once when its
 * length goes above the high mark and `onBelowLowWatermark` once when it then falls to the low mark
 * or under (low = floor(high / 2)). Edge-triggered: each callback fires once per crossing, never
 * twice in a row. A high mark of 0 disables the marks (and ends an above-high state).
 */
export class WatermarkBuffer extends BufferChain {
  private high = 0;
  private low = 0;
  private aboveHigh = false;

  constructor(
    private readonly callbacks: WatermarkCallbacks,
    highWatermark = 0,
  ) {
    super();
    this.setWatermarks(highWatermark);
  }

  /** Sets high = `highWatermark`, low = high / 2; 0 disables. Re-checks both marks at once. */
  setWatermarks(highWatermark: number): void {
    if (highWatermark < 0 || !Number.isInteger(highWatermark)) {
      throw new RangeError(`WatermarkBuffer: bad high watermark ${highWatermark}`);
    }
    this.high = highWatermark;
    this.low = Math.floor(highWatermark / 2);
    this.checkHighWatermark();
    this.checkLowWatermark();
  }

  highWatermark(): number {
    return this.high;
  }

  lowWatermark(): number {
    return this.low;
  }

  /** True between an above-high callback and the next below-low one. */
  highWatermarkTriggered(): boolean {
    return this.aboveHigh;
  }

  protected override onLengthIncreased(): void {
    this.checkHighWatermark();
  }

  protected override onLengthDecreased(): void {
    this.checkLowWatermark();
  }

  private checkHighWatermark(): void {
    if (!this.aboveHigh && this.high !== 0 && this.length > this.high) this.fireAbove();
  }

  private checkLowWatermark(): void {
    if (this.aboveHigh && (this.high === 0 || this.length <= this.low)) this.fireBelow();
  }

  // The flag flips before the callback so that a callback which changes the buffer sees the new
  // state and cannot trigger the same edge again.
  private fireAbove(): void {
    this.aboveHigh = true;
    this.callbacks.onAboveHighWatermark();
  }

  private fireBelow(): void {
    this.aboveHigh = false;
    this.callbacks.onBelowLowWatermark();
  }
}
