import type { BufferInstance } from '../api/buffer.js';
import type {
  Connection,
  FilterManager,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
  WriteFilter,
  WriteFilterCallbacks,
} from '../api/network.js';

/**
 * What the filter manager needs from its connection beyond the public Connection (Envoy's
 * FilterManagerConnection with its ReadBufferSource role).
 */
export interface FilterManagerConnection extends Connection {
  /** The connection's read buffer: the `data` read filters see and drain. */
  readBuffer(): BufferInstance;
  /** True once the remote end of stream was read (half-close only). */
  readEndStream(): boolean;
  /** Writes to the transport without running the write filters. */
  rawWrite(data: BufferInstance, endStream: boolean): void;
}

class ActiveReadFilter implements ReadFilterCallbacks {
  /** onNewConnection has been called (Envoy's `initialized_`). */
  initialized = false;

  constructor(
    private readonly parent: FilterManagerImpl,
    readonly filter: ReadFilter,
    /** Position in the read list; filters are only ever appended, so it never changes. */
    readonly index: number,
  ) {}

  connection(): Connection {
    return this.parent.connection;
  }

  continueReading(): void {
    const conn = this.parent.connection;
    this.parent.onContinueReading(this.index + 1, conn.readBuffer(), conn.readEndStream());
  }

  injectReadDataToFilterChain(data: BufferInstance, endStream: boolean): void {
    this.parent.onContinueReading(this.index + 1, data, endStream);
  }
}

class ActiveWriteFilter implements WriteFilterCallbacks {
  constructor(
    private readonly parent: FilterManagerImpl,
    readonly filter: WriteFilter,
  ) {}

  connection(): Connection {
    return this.parent.connection;
  }

  injectWriteDataToFilterChain(data: BufferInstance, endStream: boolean): void {
    this.parent.onResumeWriting(this, data, endStream);
  }
}

/**
 * Envoy's Network::FilterManagerImpl: the L4 filter chain of one connection.
 *
 * Read filters run in the order they were added. Each is told onNewConnection() once, just before
 * it would first see data (so a filter behind one that stopped is initialized only when iteration
 * reaches it). onData runs only when there are bytes or an end of stream; StopIteration ends the
 * pass, and the bytes stay in the connection's read buffer until continueReading() resumes at the
 * next filter with everything buffered by then. A filter that closes the connection ends the pass.
 *
 * Write filters run in reverse order of addition (the last added sees a write first), on every
 * write; StopIteration means the filter keeps the data and may inject it later.
 */
export class FilterManagerImpl implements FilterManager {
  private readonly readFilters: ActiveReadFilter[] = [];
  /** Front first: addWriteFilter inserts at the front, like Envoy's moveIntoFront. */
  private readonly writeFilters: ActiveWriteFilter[] = [];

  constructor(readonly connection: FilterManagerConnection) {}

  addReadFilter(filter: ReadFilter): void {
    const active = new ActiveReadFilter(this, filter, this.readFilters.length);
    filter.initializeReadFilterCallbacks(active);
    this.readFilters.push(active);
  }

  addWriteFilter(filter: WriteFilter): void {
    const active = new ActiveWriteFilter(this, filter);
    filter.initializeWriteFilterCallbacks?.(active);
    this.writeFilters.unshift(active);
  }

  addFilter(filter: ReadFilter & WriteFilter): void {
    this.addReadFilter(filter);
    this.addWriteFilter(filter);
  }

  hasReadFilters(): boolean {
    return this.readFilters.length > 0;
  }

  /** Runs onNewConnection (and onData for anything already read); false when there are no filters. */
  initializeReadFilters(): boolean {
    if (this.readFilters.length === 0) return false;
    this.onContinueReading(0, this.connection.readBuffer(), this.connection.readEndStream());
    return true;
  }

  /** New bytes (or the end of stream) are in the connection's read buffer. */
  onRead(): void {
    this.onContinueReading(0, this.connection.readBuffer(), this.connection.readEndStream());
  }

  /** Runs every write filter over a write; Continue means the connection writes `data`. */
  onWrite(data: BufferInstance, endStream: boolean): FilterStatus {
    return this.iterateWrite(0, data, endStream);
  }

  /** @internal Iteration from read filter `start` over `buffer`. */
  onContinueReading(start: number, buffer: BufferInstance, endStream: boolean): void {
    const conn = this.connection;
    // A filter may stop, close the connection and only then call back: nothing more runs.
    if (conn.state() !== 'Open') return;
    const filters = this.readFilters;
    for (let i = start; i < filters.length; i++) {
      const entry = filters[i]!;
      if (!entry.initialized) {
        entry.initialized = true;
        const status = entry.filter.onNewConnection();
        if (status === 'StopIteration' || conn.state() !== 'Open') return;
      }
      if (buffer.length > 0 || endStream) {
        const status = entry.filter.onData(buffer, endStream);
        if (status === 'StopIteration' || conn.state() !== 'Open') return;
      }
    }
  }

  /** @internal A write filter injects data it held: the filters after it run, then the socket. */
  onResumeWriting(from: ActiveWriteFilter, data: BufferInstance, endStream: boolean): void {
    const index = this.writeFilters.indexOf(from);
    if (this.iterateWrite(index + 1, data, endStream) === 'Continue') {
      this.connection.rawWrite(data, endStream);
    }
  }

  private iterateWrite(start: number, data: BufferInstance, endStream: boolean): FilterStatus {
    const conn = this.connection;
    if (conn.state() !== 'Open') return 'StopIteration';
    const filters = this.writeFilters;
    for (let i = start; i < filters.length; i++) {
      const status = filters[i]!.filter.onWrite(data, endStream);
      if (status === 'StopIteration' || conn.state() !== 'Open') return 'StopIteration';
    }
    return 'Continue';
  }
}
