import { afterEach, describe, expect, it } from 'vitest';
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type {
  ConnectionEvent,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
  WriteFilter,
  WriteFilterCallbacks,
} from '../../../../src/api/network.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import { ConnectionImpl } from '../../../../src/network/connection.js';
import { type Peer, sleep, socketPair, waitFor } from '../../../support/net-helpers.js';

/** A read filter whose answers are scripted; it records every call as text. */
class ScriptedReadFilter implements ReadFilter {
  cb!: ReadFilterCallbacks;
  readonly calls: string[] = [];
  onNew: () => FilterStatus = () => 'Continue';
  /** Default: consume everything and continue. */
  onDataImpl: (data: BufferInstance, end: boolean) => FilterStatus = (data) => {
    data.drain(data.length);
    return 'Continue';
  };

  constructor(readonly name: string) {}

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.cb = cb;
    this.calls.push('init');
  }
  onNewConnection(): FilterStatus {
    this.calls.push('new');
    return this.onNew();
  }
  onData(data: BufferInstance, endStream: boolean): FilterStatus {
    this.calls.push(`data:${data.toBuffer().toString('latin1')}${endStream ? ':end' : ''}`);
    return this.onDataImpl(data, endStream);
  }
}

class RecordingWriteFilter implements WriteFilter {
  cb!: WriteFilterCallbacks;
  onWriteImpl: (data: BufferInstance, end: boolean) => FilterStatus = () => 'Continue';
  constructor(
    readonly name: string,
    readonly log: string[],
  ) {}
  initializeWriteFilterCallbacks(cb: WriteFilterCallbacks): void {
    this.cb = cb;
  }
  onWrite(data: BufferInstance, endStream: boolean): FilterStatus {
    this.log.push(`${this.name}:${data.toBuffer().toString('latin1')}${endStream ? ':end' : ''}`);
    return this.onWriteImpl(data, endStream);
  }
}

interface Harness {
  conn: ConnectionImpl;
  peer: Peer;
  events: ConnectionEvent[];
}

const open: Harness[] = [];

async function harness(): Promise<Harness> {
  const { accepted, peer } = await socketPair();
  const conn = new ConnectionImpl(new NodeDispatcher(), accepted);
  const events: ConnectionEvent[] = [];
  conn.addConnectionCallbacks({
    onEvent: (e) => events.push(e),
    onAboveWriteBufferHighWatermark: () => {},
    onBelowWriteBufferLowWatermark: () => {},
  });
  const h = { conn, peer, events };
  open.push(h);
  return h;
}

afterEach(() => {
  for (const h of open.splice(0)) {
    h.conn.close('NoFlush');
    h.peer.destroy();
  }
});

describe('read filter iteration', () => {
  it('initializes each filter once, in order, and runs onData in order', async () => {
    const { conn, peer } = await harness();
    const a = new ScriptedReadFilter('a');
    const b = new ScriptedReadFilter('b');
    // a passes the data on untouched so that b sees it too.
    a.onDataImpl = () => 'Continue';
    conn.addReadFilter(a);
    conn.addReadFilter(b);
    expect(conn.initializeReadFilters()).toBe(true);
    expect(a.calls).toEqual(['init', 'new']);
    expect(b.calls).toEqual(['init', 'new']);
    await peer.write('hello');
    await waitFor(() => b.calls.length === 3, 2000, 'b onData');
    expect(a.calls).toEqual(['init', 'new', 'data:hello']);
    expect(b.calls).toEqual(['init', 'new', 'data:hello']);
    expect(conn.readBuffer().length).toBe(0);
  });

  it('initializeReadFilters is false without read filters', async () => {
    const { conn } = await harness();
    expect(conn.initializeReadFilters()).toBe(false);
  });

  it('a filter stopping in onNewConnection defers the next filter until continueReading()', async () => {
    const { conn, peer } = await harness();
    const a = new ScriptedReadFilter('a');
    const b = new ScriptedReadFilter('b');
    a.onNew = () => 'StopIteration';
    a.onDataImpl = () => 'StopIteration';
    conn.addReadFilter(a);
    conn.addReadFilter(b);
    conn.initializeReadFilters();
    expect(b.calls).toEqual(['init']);
    await peer.write('xy');
    await waitFor(() => a.calls.includes('data:xy'), 2000, 'a onData');
    expect(b.calls).toEqual(['init']);
    a.cb.continueReading();
    expect(b.calls).toEqual(['init', 'new', 'data:xy']);
    expect(conn.readBuffer().length).toBe(0);
  });

  it('StopIteration holds the data in the read buffer; continueReading() gives the next filter all of it', async () => {
    const { conn, peer } = await harness();
    const a = new ScriptedReadFilter('a');
    const b = new ScriptedReadFilter('b');
    a.onDataImpl = () => 'StopIteration';
    conn.addReadFilter(a);
    conn.addReadFilter(b);
    conn.initializeReadFilters();
    await peer.write('abc');
    await waitFor(() => a.calls.includes('data:abc'), 2000, 'first chunk');
    await peer.write('def');
    // Every new chunk restarts at the first filter, with everything buffered so far.
    await waitFor(() => a.calls.includes('data:abcdef'), 2000, 'second chunk');
    expect(conn.readBuffer().length).toBe(6);
    expect(b.calls).toEqual(['init', 'new']);
    a.onDataImpl = () => 'Continue';
    a.cb.continueReading();
    expect(b.calls).toEqual(['init', 'new', 'data:abcdef']);
    expect(conn.readBuffer().length).toBe(0);
    // The next chunk goes through both again.
    await peer.write('g');
    await waitFor(() => b.calls.includes('data:g'), 2000, 'third chunk');
    expect(a.calls.slice(2)).toEqual(['data:abc', 'data:abcdef', 'data:g']);
  });

  it('a filter that closes the connection in onData stops iteration', async () => {
    const { conn, peer, events } = await harness();
    const a = new ScriptedReadFilter('a');
    const b = new ScriptedReadFilter('b');
    a.onDataImpl = () => {
      conn.close('NoFlush', 'filter says no');
      return 'Continue';
    };
    conn.addReadFilter(a);
    conn.addReadFilter(b);
    conn.initializeReadFilters();
    await peer.write('bad');
    await waitFor(() => events.length === 1, 2000, 'close');
    expect(events).toEqual(['LocalClose']);
    expect(conn.localCloseReason()).toBe('filter says no');
    expect(b.calls).toEqual(['init', 'new']);
    await peer.waitForEnd();
  });

  it('a filter that closes the connection in onNewConnection stops initialization', async () => {
    const { conn, events } = await harness();
    const a = new ScriptedReadFilter('a');
    const b = new ScriptedReadFilter('b');
    a.onNew = () => {
      conn.close('NoFlush');
      return 'Continue';
    };
    conn.addReadFilter(a);
    conn.addReadFilter(b);
    expect(conn.initializeReadFilters()).toBe(true);
    expect(b.calls).toEqual(['init']);
    expect(events).toEqual(['LocalClose']);
    // continueReading on a closed connection is a no-op.
    a.cb.continueReading();
    expect(b.calls).toEqual(['init']);
  });

  it('injectReadDataToFilterChain runs the filters after the caller with the injected data', async () => {
    const { conn, peer } = await harness();
    const upper = new ScriptedReadFilter('upper');
    const sink = new ScriptedReadFilter('sink');
    upper.onDataImpl = (data, end) => {
      const out = new BufferChain(data.toBuffer().toString('latin1').toUpperCase());
      data.drain(data.length);
      upper.cb.injectReadDataToFilterChain(out, end);
      expect(out.length).toBe(0);
      return 'StopIteration';
    };
    conn.enableHalfClose(true);
    conn.addReadFilter(upper);
    conn.addReadFilter(sink);
    conn.initializeReadFilters();
    await peer.write('quiet');
    await waitFor(() => sink.calls.includes('data:QUIET'), 2000, 'injected data');
    peer.end();
    await waitFor(() => sink.calls.includes('data::end'), 2000, 'injected end of stream');
    expect(sink.calls).toEqual(['init', 'new', 'data:QUIET', 'data::end']);
  });

  it('addFilter installs one object as both read and write filter', async () => {
    const { conn, peer } = await harness();
    const log: string[] = [];
    const both = new ScriptedReadFilter('both') as ScriptedReadFilter & WriteFilter;
    both.onWrite = (data) => {
      log.push(`write:${data.toBuffer().toString()}`);
      return 'Continue';
    };
    conn.addFilter(both);
    conn.initializeReadFilters();
    conn.write(new BufferChain('out'), false);
    expect(log).toEqual(['write:out']);
    await peer.waitForText('out');
  });
});

describe('write filter iteration', () => {
  it('runs on every write, last added first', async () => {
    const { conn, peer } = await harness();
    const log: string[] = [];
    conn.addWriteFilter(new RecordingWriteFilter('first', log));
    conn.addWriteFilter(new RecordingWriteFilter('second', log));
    for (const s of ['one', 'two', 'three']) conn.write(new BufferChain(s), false);
    expect(log).toEqual(['second:one', 'first:one', 'second:two', 'first:two', 'second:three', 'first:three']);
    await peer.waitForText('onetwothree');
  });

  it('StopIteration keeps a write back until the filter injects it; filters after it then run', async () => {
    const { conn, peer } = await harness();
    const log: string[] = [];
    const inner = new RecordingWriteFilter('inner', log);
    const holder = new RecordingWriteFilter('holder', log);
    let held: BufferChain | undefined;
    holder.onWriteImpl = (data) => {
      held = new BufferChain();
      held.move(data);
      return 'StopIteration';
    };
    conn.addWriteFilter(inner);
    conn.addWriteFilter(holder);
    conn.write(new BufferChain('late'), false);
    expect(log).toEqual(['holder:late']);
    await sleep(20);
    expect(peer.bytesReceived).toBe(0);
    holder.cb.injectWriteDataToFilterChain(held!, false);
    expect(log).toEqual(['holder:late', 'inner:late']);
    await peer.waitForText('late');
    expect(peer.text()).toBe('late');
  });

  it('a write filter can rewrite the data', async () => {
    const { conn, peer } = await harness();
    const f = new RecordingWriteFilter('rewrite', []);
    f.onWriteImpl = (data) => {
      data.drain(data.length);
      data.add('[redacted]');
      return 'Continue';
    };
    conn.addWriteFilter(f);
    conn.write(new BufferChain('secret'), false);
    await peer.waitForText('[redacted]');
    expect(peer.text()).toBe('[redacted]');
  });
});
