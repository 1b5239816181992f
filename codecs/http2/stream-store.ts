/**
 * The streams of one HTTP/2 connection by id, with what RFC 9113 §5.1 / §5.1.1 / §5.1.2 need to
 * classify a frame for an id the store no longer (or never) held:
 *
 * - idle vs closed: every id of a parity up to the highest one used is closed, used or skipped
 *   (§5.1.1: opening a stream implicitly closes the lower idle ones), so two numbers suffice;
 * - how a closed stream ended, which decides between ignoring a late frame (we reset it, §5.1),
 *   a stream error and a connection error (STREAM_CLOSED): kept for the most recently closed
 *   streams only, in a fixed ring, so memory per connection stays bounded whatever the peer does;
 * - active streams per initiator (open or half-closed), the count SETTINGS_MAX_CONCURRENT_STREAMS
 *   limits (§5.1.2).
 */
import type { CloseCause } from './stream-state.js';

/** What the store needs of a stream record. */
export interface StoredStream {
  readonly id: number;
}

/** How an id that is not in the store stands. */
export type UntrackedId =
  /** Never used: above the highest id of its parity. */
  | { readonly kind: 'idle' }
  /** Closed, recently: how it ended. */
  | { readonly kind: 'closed'; readonly cause: CloseCause }
  /** Closed or skipped long ago (or skipped just now): nothing more is known. */
  | { readonly kind: 'forgotten' };

const IDLE: UntrackedId = Object.freeze({ kind: 'idle' });
const FORGOTTEN: UntrackedId = Object.freeze({ kind: 'forgotten' });
const CLOSED: Readonly<Record<CloseCause, UntrackedId>> = Object.freeze({
  end_stream: Object.freeze({ kind: 'closed', cause: 'end_stream' }),
  local_reset: Object.freeze({ kind: 'closed', cause: 'local_reset' }),
  remote_reset: Object.freeze({ kind: 'closed', cause: 'remote_reset' }),
});
const CAUSES: readonly CloseCause[] = ['end_stream', 'local_reset', 'remote_reset'];

/** How many closed streams keep their close cause (a ring: 5 bytes each). */
export const DEFAULT_CLOSED_MEMORY = 128;

export class StreamStore<T extends StoredStream> {
  private readonly streams = new Map<number, T>();
  /** Parity of the ids we open: 1 (odd) for a client, 0 (even) for a server. */
  private readonly localParity: number;
  private highestLocalId = 0;
  private highestPeerId = 0;
  private activeLocalCount = 0;
  private activePeerCount = 0;
  private readonly ringSize: number;
  private ringIds: Int32Array | undefined;
  private ringCauses: Uint8Array | undefined;
  private ringNext = 0;

  constructor(perspective: 'client' | 'server', closedMemory = DEFAULT_CLOSED_MEMORY) {
    this.localParity = perspective === 'client' ? 1 : 0;
    this.ringSize = closedMemory;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Open or half-closed streams that we initiated. */
  get activeLocal(): number {
    return this.activeLocalCount;
  }

  /** Open or half-closed streams that the peer initiated. */
  get activePeer(): number {
    return this.activePeerCount;
  }

  /** Highest stream id the peer used (opened or refused), 0 if none. */
  get highestPeer(): number {
    return this.highestPeerId;
  }

  /** Highest stream id we used, 0 if none. */
  get highestLocal(): number {
    return this.highestLocalId;
  }

  get(id: number): T | undefined {
    return this.streams.get(id);
  }

  /** True when the peer initiates streams with this id's parity. */
  isPeerInitiated(id: number): boolean {
    return (id & 1) !== this.localParity;
  }

  /** The next id we may open (RFC 9113 §5.1.1: increasing, our parity). */
  nextLocalId(): number {
    return this.highestLocalId === 0 ? (this.localParity === 1 ? 1 : 2) : this.highestLocalId + 2;
  }

  /**
   * RFC 9113 §5.1.1: a new stream id from the peer must be of its parity and above every id it
   * used before. Checked before {@link usePeerId}.
   */
  isValidNewPeerId(id: number): boolean {
    return this.isPeerInitiated(id) && id > this.highestPeerId;
  }

  /** Records that the peer used `id` (opened, refused or ignored): lower idle ids are now closed. */
  usePeerId(id: number): void {
    if (id > this.highestPeerId) this.highestPeerId = id;
  }

  /** Records that we used `id`. */
  useLocalId(id: number): void {
    if (id > this.highestLocalId) this.highestLocalId = id;
  }

  /** Adds a stream (its id must have been used). */
  add(stream: T): void {
    this.streams.set(stream.id, stream);
  }

  /** A stream became open / half-closed: it counts toward its initiator's concurrency. */
  activate(id: number): void {
    if (this.isPeerInitiated(id)) this.activePeerCount++;
    else this.activeLocalCount++;
  }

  /** An active stream closed. */
  deactivate(id: number): void {
    if (this.isPeerInitiated(id)) this.activePeerCount--;
    else this.activeLocalCount--;
  }

  /** Removes a closed stream and remembers how it closed. */
  remove(id: number, cause: CloseCause): void {
    this.streams.delete(id);
    this.rememberClosed(id, cause);
  }

  /** Remembers the close cause of an id that never got a record (refused, ignored). */
  rememberClosed(id: number, cause: CloseCause): void {
    if (this.ringSize === 0) return;
    if (this.ringIds === undefined) {
      this.ringIds = new Int32Array(this.ringSize);
      this.ringCauses = new Uint8Array(this.ringSize);
    }
    this.ringIds[this.ringNext] = id;
    this.ringCauses![this.ringNext] = CAUSES.indexOf(cause);
    this.ringNext = (this.ringNext + 1) % this.ringSize;
  }

  /** Classifies an id that {@link get} does not know. */
  classify(id: number): UntrackedId {
    const highest = this.isPeerInitiated(id) ? this.highestPeerId : this.highestLocalId;
    if (id > highest) return IDLE;
    const ids = this.ringIds;
    if (ids !== undefined) {
      // Newest first: an id is remembered at most once, but search the recent end first.
      for (let n = 0, i = this.ringNext; n < this.ringSize; n++) {
        i = i === 0 ? this.ringSize - 1 : i - 1;
        if (ids[i] === id) return CLOSED[CAUSES[this.ringCauses![i]!]!];
      }
    }
    return FORGOTTEN;
  }

  values(): IterableIterator<T> {
    return this.streams.values();
  }

  /** A snapshot of the streams (safe to close streams while iterating it). */
  list(): T[] {
    return [...this.streams.values()];
  }
}
