/**
 * A byte buffer made of a list of slices (Envoy's Buffer::Instance). Moving data between two
 * instances moves slice references, never bytes. Filters and codecs drain what they consume.
 */
export interface BufferInstance {
  /** Total bytes held. */
  readonly length: number;
  /** Appends a slice by reference (the caller must not mutate it afterwards). */
  add(data: Buffer | string): void;
  /** Inserts a slice by reference before the current contents. */
  prepend(data: Buffer): void;
  /** Moves every slice of `other` (or its first `length` bytes) to the end of this one. */
  move(other: BufferInstance, length?: number): void;
  /** Drops the first `n` bytes. */
  drain(n: number): void;
  /** The slices, in order, without copying. Valid until the next mutation. */
  slices(): readonly Buffer[];
  /** One contiguous Buffer of the contents (no copy when it holds one slice). */
  toBuffer(): Buffer;
  /** Removes and returns all slices. */
  takeSlices(): Buffer[];
}

/** Edge-triggered high/low watermark notifications (low = high / 2). */
export interface WatermarkCallbacks {
  onAboveHighWatermark(): void;
  onBelowLowWatermark(): void;
}
