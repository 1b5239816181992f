/**
 * Shared setup for the network connection tests: a read filter and connection callbacks that record
 * what they see, and a server-side ConnectionImpl over a real 127.0.0.1 socket pair whose teardown
 * each test file runs with `afterEach(runCleanups)`.
 */
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type {
  ConnectionCallbacks,
  ConnectionEvent,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
} from '../../../../src/api/network.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ConnectionImpl, type ConnectionOptions } from '../../../../src/network/connection.js';
import { type Peer, socketPair } from '../../../support/net-helpers.js';

/** Records data it is given; drains it unless told to hold. */
export class SinkFilter implements ReadFilter {
  cb!: ReadFilterCallbacks;
  readonly calls: string[] = [];
  consumed: Buffer[] = [];
  hold = false;
  endSeen = false;
  maxSeen = 0;
  onDataHook: ((data: BufferInstance, end: boolean) => void) | undefined;

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.cb = cb;
  }
  onNewConnection(): FilterStatus {
    return 'Continue';
  }
  onData(data: BufferInstance, endStream: boolean): FilterStatus {
    this.calls.push(`${data.length}${endStream ? ':end' : ''}`);
    this.maxSeen = Math.max(this.maxSeen, data.length);
    if (endStream) this.endSeen = true;
    this.onDataHook?.(data, endStream);
    if (this.hold) return 'StopIteration';
    for (const s of data.slices()) this.consumed.push(s);
    data.drain(data.length);
    return 'Continue';
  }
  consumedBytes(): Buffer {
    return Buffer.concat(this.consumed);
  }
  consumedLength(): number {
    return this.consumed.reduce((n, b) => n + b.length, 0);
  }
}

export class Recorder implements ConnectionCallbacks {
  readonly events: ConnectionEvent[] = [];
  above = 0;
  below = 0;
  onEvent(e: ConnectionEvent): void {
    this.events.push(e);
  }
  onAboveWriteBufferHighWatermark(): void {
    this.above++;
  }
  onBelowWriteBufferLowWatermark(): void {
    this.below++;
  }
  closeEvents(): ConnectionEvent[] {
    return this.events.filter((e) => e !== 'Connected');
  }
}

export interface ServerSide {
  conn: ConnectionImpl;
  peer: Peer;
  rec: Recorder;
  sink: SinkFilter;
}

export const cleanups: Array<() => void> = [];

/** Runs and forgets the registered teardowns; each test file passes it to afterEach. */
export function runCleanups(): void {
  for (const c of cleanups.splice(0)) c();
}

export async function serverSide(options: ConnectionOptions = {}): Promise<ServerSide> {
  const { accepted, peer } = await socketPair();
  const conn = new ConnectionImpl(new NodeDispatcher(), accepted, options);
  const rec = new Recorder();
  conn.addConnectionCallbacks(rec);
  const sink = new SinkFilter();
  conn.addReadFilter(sink);
  conn.initializeReadFilters();
  cleanups.push(() => {
    conn.close('NoFlush');
    peer.destroy();
  });
  return { conn, peer, rec, sink };
}
