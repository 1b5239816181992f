import { describe, expect, it } from 'vitest';
import { parseConnectionLimitConfig } from '../../../../../filters/network/connection-limit/config.js';
import { ConnectionLimitFilter, ConnectionLimitState } from '../../../../../filters/network/connection-limit/connection-limit.js';
import type { FilterStatus, ReadFilter, ReadFilterCallbacks } from '../../../../../src/api/network.js';
import { StatsStore } from '../../../../../src/stats/store.js';
import { FakeConnection, ManualDispatcher, statValue } from '../../../../support/l4-fakes.js';

/** A filter after connection_limit that records what reaches it. */
class Recorder implements ReadFilter {
  newConnections = 0;
  data: string[] = [];
  initializeReadFilterCallbacks(_cb: ReadFilterCallbacks): void {}
  onNewConnection(): FilterStatus {
    this.newConnections++;
    return 'Continue';
  }
  onData(data: { toBuffer(): Buffer; length: number; drain(n: number): void }): FilterStatus {
    this.data.push(data.toBuffer().toString());
    data.drain(data.length);
    return 'Continue';
  }
}

function setup(raw: Record<string, unknown>) {
  const store = new StatsStore();
  const dispatcher = new ManualDispatcher();
  const state = new ConnectionLimitState(parseConnectionLimitConfig({ stat_prefix: 'cl', ...raw }, 'tc'), store);
  const open = () => {
    const conn = new FakeConnection(dispatcher);
    const next = new Recorder();
    conn.addReadFilter(new ConnectionLimitFilter(state));
    conn.addReadFilter(next);
    conn.initializeReadFilters();
    return { conn, next };
  };
  return {
    store,
    dispatcher,
    state,
    open,
    limited: () => statValue(store, 'connection_limit.cl.limited_connections'),
    active: () => statValue(store, 'connection_limit.cl.active_connections'),
  };
}

describe('ConnectionLimitFilter', () => {
  it('lets max_connections through and closes the next one NoFlush at once', () => {
    const s = setup({ max_connections: 2 });
    const a = s.open();
    const b = s.open();
    expect(a.next.newConnections).toBe(1);
    expect(b.next.newConnections).toBe(1);
    expect(s.active()).toBe(2);
    const c = s.open();
    expect(c.next.newConnections).toBe(0);
    expect(c.conn.closes).toEqual([{ type: 'NoFlush', details: 'over_connection_limit' }]);
    expect(c.conn.readDisableCalls).toEqual([true]);
    expect(s.limited()).toBe(1);
    // The rejected connection is closed, so only the two accepted ones stay active.
    expect(s.active()).toBe(2);
    expect(s.state.count()).toBe(2);
  });

  it('frees a slot when a connection closes', () => {
    const s = setup({ max_connections: 2 });
    const a = s.open();
    s.open();
    a.conn.remoteClose();
    expect(s.active()).toBe(1);
    const c = s.open();
    expect(c.next.newConnections).toBe(1);
    expect(c.conn.state()).toBe('Open');
    expect(s.limited()).toBe(0);
    expect(s.active()).toBe(2);
  });

  it('passes data through accepted connections', () => {
    const s = setup({ max_connections: 1 });
    const a = s.open();
    a.conn.receive('abc');
    expect(a.next.data).toEqual(['abc']);
  });

  it('with delay: reads disabled, data stopped, closed only when the delay expires', () => {
    const s = setup({ max_connections: 1, delay: '0.5s' });
    s.open();
    const c = s.open();
    expect(s.limited()).toBe(1);
    expect(c.conn.readEnabled()).toBe(false);
    expect(c.conn.closes).toEqual([]);
    // The limited connection holds its count while it waits.
    expect(s.active()).toBe(2);
    const buf = c.conn.receive('sneaky');
    expect(c.next.data).toEqual([]);
    expect(buf.length).toBe(6);
    s.dispatcher.advance(499);
    expect(c.conn.state()).toBe('Open');
    s.dispatcher.advance(1);
    expect(c.conn.closes).toEqual([{ type: 'NoFlush', details: 'over_connection_limit' }]);
    expect(s.active()).toBe(1);
    expect(s.state.count()).toBe(1);
  });

  it('a delayed connection closed by the peer first cancels the timer and releases once', () => {
    const s = setup({ max_connections: 1, delay: '1s' });
    s.open();
    const c = s.open();
    c.conn.remoteClose();
    expect(s.dispatcher.armedTimers()).toBe(0);
    expect(s.active()).toBe(1);
    expect(s.state.count()).toBe(1);
    s.dispatcher.advance(2000);
    expect(c.conn.closes).toEqual([]);
  });

  it('counts per filter config: two configs do not share a limit', () => {
    const s1 = setup({ max_connections: 1 });
    const s2 = setup({ max_connections: 1 });
    s1.open();
    const other = s2.open();
    expect(other.conn.state()).toBe('Open');
  });

  it('runtime_enabled default_value false: never limits, never counts', () => {
    const s = setup({ max_connections: 1, runtime_enabled: { default_value: false } });
    s.open();
    const b = s.open();
    expect(b.conn.state()).toBe('Open');
    expect(b.next.newConnections).toBe(1);
    expect(s.active()).toBe(0);
    expect(s.limited()).toBe(0);
  });

  it('many closes do not drive the count below zero or free slots twice', () => {
    const s = setup({ max_connections: 1 });
    const a = s.open();
    a.conn.remoteClose();
    a.conn.raise('RemoteClose');
    expect(s.state.count()).toBe(0);
    expect(s.active()).toBe(0);
    s.open();
    const c = s.open();
    expect(c.conn.state()).toBe('Closed');
  });
});
