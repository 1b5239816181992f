import type { DeferredDeletable, Timer } from '../api/dispatcher.js';
import type { ConnectionStats } from '../api/network.js';
import type { IntrusiveList, ListNode } from '../common/intrusive-list.js';

/**
 * Connecting: the transport connect is under way. Ready: connected with spare stream capacity.
 * Busy: connected, no spare capacity now. Draining: takes no new streams and closes when its last
 * stream ends. Closed: gone (awaiting deferred deletion).
 */
export type ActiveClientState = 'Connecting' | 'Ready' | 'Busy' | 'Draining' | 'Closed';

/** 0 means unlimited, as in Envoy's config (translateZeroToUnlimited). */
export function zeroToUnlimited(n: number): number {
  return n > 0 ? n : Number.POSITIVE_INFINITY;
}

/**
 * One upstream connection of a pool (Envoy's ConnectionPool::ActiveClient). Subclasses (the TCP
 * client here, the HTTP/1 and HTTP/2 clients in codecs/pools) own the connection and report to
 * their pool: onConnectionEvent() for Connected/closes, onStreamClosed() when a stream ends.
 *
 * The fields below the constructor belong to the pool: it alone moves the client between states
 * and lists and arms its timers.
 */
export abstract class ActiveClient implements ListNode<ActiveClient>, DeferredDeletable {
  listPrev: ActiveClient | undefined;
  listNext: ActiveClient | undefined;
  listOwner: IntrusiveList<ActiveClient> | undefined;

  state: ActiveClientState = 'Connecting';
  /** Streams this connection may still carry over its lifetime (max_requests_per_connection). */
  remainingStreams: number;
  /** Streams it may carry at once: 1 for HTTP/1 and TCP, the peer's SETTINGS for HTTP/2. */
  concurrentStreamLimit: number;
  /** The configured concurrency cap; a peer's SETTINGS can only lower the limit below it. */
  readonly configuredStreamLimit: number;
  /** Set once the connect attempt ended (Connected, or a failure counted as connect failure). */
  hasHandshakeCompleted = false;
  /** The connect timer fired: a close that follows is reported as 'Timeout'. */
  timedOut = false;
  connectTimer: Timer | undefined;
  idleTimer: Timer | undefined;
  resourcesReleased = false;
  /** Monotonic ms at creation, for upstream_cx_connect_ms and upstream_cx_length_ms. */
  createdAt = 0;

  /**
   * @param lifetimeStreamLimit streams over the connection's life; 0 = unlimited.
   * @param concurrentStreamLimit streams at once; 0 = unlimited.
   */
  constructor(lifetimeStreamLimit: number, concurrentStreamLimit: number) {
    this.remainingStreams = zeroToUnlimited(lifetimeStreamLimit);
    this.configuredStreamLimit = zeroToUnlimited(concurrentStreamLimit);
    this.concurrentStreamLimit = this.configuredStreamLimit;
  }

  /** Streams it can take now: min(lifetime remaining, concurrency left), never negative. */
  currentUnusedCapacity(): number {
    const concurrent = this.concurrentStreamLimit - this.numActiveStreams();
    const n = this.remainingStreams < concurrent ? this.remainingStreams : concurrent;
    return n > 0 ? n : 0;
  }

  readyForStream(): boolean {
    return this.state === 'Ready';
  }

  /** Starts the transport connect; called once by the pool after the client is registered. */
  abstract connect(): void;
  /** Streams open on this connection now. */
  abstract numActiveStreams(): number;
  /**
   * Closes the connection. The client must then report a close through its pool's
   * onConnectionEvent (at once or later), which is how the pool forgets it.
   */
  abstract close(): void;
  /** True when closing now would cut a stream short (`upstream_cx_destroy_with_active_rq`). */
  abstract closingWithIncompleteStream(): boolean;

  /** The connection's byte counts, added to the cluster's rx/tx totals when it closes. */
  connectionStats(): ConnectionStats | undefined {
    return undefined;
  }

  /** Frees what the client holds; runs after the callback that closed it has returned. */
  onDeferredDelete(): void {}
}
