import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferInstance } from '../../../../src/api/buffer.js';
import type {
  Connection,
  FilterStatus,
  ListenerFilter,
  ListenerFilterCallbacks,
  ListenerFilterStatus,
  ReadFilter,
} from '../../../../src/api/network.js';
import type { Counter, Gauge, Histogram, Scope } from '../../../../src/api/stats.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { NodeDispatcher } from '../../../../src/common/dispatcher.js';
import {
  type AcceptedSocketInfo,
  type FilterChain,
  type ListenerConfig,
  TcpListener,
} from '../../../../src/network/listener.js';
import { LOOPBACK, type Peer, connectPeer, sleep, waitFor, withTimeout } from '../../../support/net-helpers.js';

/** A tiny in-memory Scope: values by name, histograms as arrays. */
class FakeScope implements Scope {
  readonly prefix = 'listener.test.';
  readonly counters = new Map<string, number>();
  readonly gauges = new Map<string, number>();
  readonly histograms = new Map<string, number[]>();
  counter(name: string): Counter {
    const m = this.counters;
    m.set(name, m.get(name) ?? 0);
    return { name, inc: (n = 1) => void m.set(name, m.get(name)! + n), value: () => m.get(name)! };
  }
  gauge(name: string): Gauge {
    const m = this.gauges;
    m.set(name, m.get(name) ?? 0);
    return {
      name,
      inc: (n = 1) => void m.set(name, m.get(name)! + n),
      dec: (n = 1) => void m.set(name, m.get(name)! - n),
      set: (v) => void m.set(name, v),
      value: () => m.get(name)!,
    };
  }
  histogram(name: string): Histogram {
    const values = this.histograms.get(name) ?? [];
    this.histograms.set(name, values);
    return { name, recordValue: (v) => void values.push(v) };
  }
  createScope(): Scope {
    return this;
  }
  c(name: string): number {
    return this.counters.get(name) ?? -1;
  }
  g(name: string): number {
    return this.gauges.get(name) ?? -1;
  }
}

/** Echoes everything back (a terminal read filter), recording what it saw. */
class EchoFilter implements ReadFilter {
  private conn!: Connection;
  readonly seen: Buffer[] = [];
  initializeReadFilterCallbacks(cb: { connection(): Connection }): void {
    this.conn = cb.connection();
  }
  onNewConnection(): FilterStatus {
    return 'Continue';
  }
  onData(data: BufferInstance): FilterStatus {
    this.seen.push(Buffer.from(data.toBuffer()));
    const out = new BufferChain();
    out.move(data);
    this.conn.write(out, false);
    return 'StopIteration';
  }
  text(): string {
    return Buffer.concat(this.seen).toString('latin1');
  }
}

/** Waits for `n` bytes, sets SNI from them, then lets the chain go on. */
class PeekFilter implements ListenerFilter {
  readonly peeks: string[] = [];
  constructor(private readonly n: number) {}
  onAccept(): ListenerFilterStatus {
    return 'StopIteration';
  }
  onData(cb: ListenerFilterCallbacks): ListenerFilterStatus {
    const data = cb.peekedData();
    this.peeks.push(data.toString('latin1'));
    if (data.length < this.n) return 'StopIteration';
    cb.setRequestedServerName(data.toString('latin1'));
    cb.setDetectedTransportProtocol('peeked');
    cb.setRequestedApplicationProtocols(['x-test']);
    return 'Continue';
  }
  maxReadBytes(): number {
    return this.n;
  }
}

interface Setup {
  listener: TcpListener;
  scope: FakeScope;
  port: number;
  infos: AcceptedSocketInfo[];
  filters: EchoFilter[];
}

const listeners: TcpListener[] = [];
const peers: Peer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.destroy();
  for (const l of listeners.splice(0)) {
    l.closeConnections();
    await l.stop();
  }
});

async function setup(overrides: Partial<ListenerConfig> = {}, chain?: (info: AcceptedSocketInfo) => FilterChain | undefined): Promise<Setup> {
  const scope = new FakeScope();
  const infos: AcceptedSocketInfo[] = [];
  const filters: EchoFilter[] = [];
  const echoChain: FilterChain = {
    name: 'echo',
    createNetworkFilters: (conn) => {
      const f = new EchoFilter();
      filters.push(f);
      conn.addReadFilter(f);
    },
  };
  const listener = new TcpListener({
    name: 'test',
    address: { address: LOOPBACK, port: 0 },
    dispatcher: new NodeDispatcher(),
    scope,
    filterChainFactory: (info) => {
      infos.push(info);
      return chain ? chain(info) : echoChain;
    },
    ...overrides,
  });
  listeners.push(listener);
  const addr = await listener.listen();
  return { listener, scope, port: addr.port, infos, filters };
}

async function peer(port: number): Promise<Peer> {
  const p = await connectPeer(port);
  peers.push(p);
  return p;
}

describe('TcpListener accept', () => {
  it('accepts, installs the chain, and keeps Envoy listener stats', async () => {
    const { listener, scope, port, infos } = await setup();
    expect(listener.address().port).toBe(port);
    expect(listener.isAccepting()).toBe(true);
    const p = await peer(port);
    await p.write('ping');
    await p.waitForText('ping');
    expect(scope.c('downstream_cx_total')).toBe(1);
    expect(scope.g('downstream_cx_active')).toBe(1);
    expect(listener.numConnections()).toBe(1);
    expect(infos).toHaveLength(1);
    expect(infos[0]!.detectedTransportProtocol).toBe('raw_buffer');
    expect(infos[0]!.requestedServerName).toBe('');
    expect(infos[0]!.remoteAddress).toEqual({ address: LOOPBACK, port: p.socket.localPort, family: 'IPv4' });
    expect(infos[0]!.localAddress).toEqual({ address: LOOPBACK, port, family: 'IPv4' });
    const conn = [...listener.connections()][0]!;
    expect(conn.bufferLimit()).toBe(1024 * 1024);
    p.end();
    await waitFor(() => scope.g('downstream_cx_active') === 0, 2000, 'connection close');
    expect(scope.c('downstream_cx_destroy')).toBe(1);
    expect(scope.histograms.get('downstream_cx_length_ms')).toHaveLength(1);
    expect(listener.numConnections()).toBe(0);
  });

  it('applies per_connection_buffer_limit_bytes to every connection', async () => {
    const { listener, port } = await setup({ perConnectionBufferLimitBytes: 32768 });
    const p = await peer(port);
    await p.write('x');
    await p.waitForText('x');
    expect([...listener.connections()][0]!.bufferLimit()).toBe(32768);
  });

  it('no matching filter chain: closed and counted as no_filter_chain_match', async () => {
    const { scope, port } = await setup({}, () => undefined);
    const p = await peer(port);
    await p.waitForEnd();
    expect(scope.c('no_filter_chain_match')).toBe(1);
    expect(scope.c('downstream_cx_total')).toBe(0);
  });

  it('a chain without read filters gets its connection closed', async () => {
    const { scope, port } = await setup({}, () => ({ name: 'empty', createNetworkFilters: () => {} }));
    const p = await peer(port);
    await p.waitForEnd();
    await waitFor(() => scope.c('downstream_cx_destroy') === 1, 2000, 'destroy');
    expect(scope.c('downstream_cx_total')).toBe(1);
    expect(scope.g('downstream_cx_active')).toBe(0);
  });

  it('maxConnections: excess sockets are closed as downstream_cx_overflow', async () => {
    const { scope, port, listener } = await setup({ maxConnections: 1 });
    const a = await peer(port);
    await a.write('a');
    await a.waitForText('a');
    const b = await peer(port);
    await b.waitForEnd();
    expect(scope.c('downstream_cx_overflow')).toBe(1);
    expect(listener.numConnections()).toBe(1);
  });
});

describe('TcpListener pause, resume and stop', () => {
  it('listen() rejects when the address is in use, and stop() still works', async () => {
    const { port } = await setup();
    const second = new TcpListener({
      name: 'dup',
      address: { address: LOOPBACK, port },
      dispatcher: new NodeDispatcher(),
      scope: new FakeScope(),
      filterChainFactory: () => undefined,
    });
    await expect(second.listen()).rejects.toThrow(/EADDRINUSE/);
    await second.stop();
  });

  it('pauseAccepting holds new sockets unread until resumeAccepting', async () => {
    const { listener, scope, port, filters } = await setup();
    listener.pauseAccepting();
    expect(listener.isAccepting()).toBe(false);
    const p = await peer(port);
    await p.write('held');
    await sleep(50);
    expect(scope.c('downstream_cx_total')).toBe(0);
    expect(p.bytesReceived).toBe(0);
    listener.resumeAccepting();
    await p.waitForText('held');
    expect(scope.c('downstream_cx_total')).toBe(1);
    expect(filters[0]!.text()).toBe('held');
  });

  it('stop() releases the port; established connections keep working', async () => {
    const { listener, port } = await setup();
    const p = await peer(port);
    await p.write('before');
    await p.waitForText('before');
    await listener.stop();
    expect(listener.isAccepting()).toBe(false);
    const refused = await withTimeout(
      new Promise<string>((resolve) => {
        const s = net.connect({ host: LOOPBACK, port });
        s.on('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      }),
      2000,
      'connect after stop',
    );
    expect(refused).toBe('ECONNREFUSED');
    await p.write(' after');
    await p.waitForText('before after');
    expect(listener.numConnections()).toBe(1);
    listener.closeConnections('NoFlush');
    await p.waitForEnd();
    expect(listener.numConnections()).toBe(0);
  });
});

describe('TcpListener listener filters', () => {
  it('a filter peeks bytes; the filter chain then sees every byte from the start', async () => {
    const peek = new PeekFilter(5);
    const { port, infos, filters, scope } = await setup({ listenerFilters: [() => peek] });
    const p = await peer(port);
    await p.write('hel');
    await waitFor(() => peek.peeks.length === 1, 2000, 'first peek');
    expect(scope.g('downstream_pre_cx_active')).toBe(1);
    expect(scope.c('downstream_cx_total')).toBe(0);
    await p.write('lo world');
    await p.waitForText('hello world');
    // The filter never saw more than it asked for.
    expect(peek.peeks).toEqual(['hel', 'hello']);
    expect(filters[0]!.text()).toBe('hello world');
    expect(infos[0]!.requestedServerName).toBe('hello');
    expect(infos[0]!.detectedTransportProtocol).toBe('peeked');
    expect(infos[0]!.applicationProtocols).toEqual(['x-test']);
    expect(scope.g('downstream_pre_cx_active')).toBe(0);
    expect(scope.c('downstream_cx_total')).toBe(1);
    expect([...infos].length).toBe(1);
  });

  it('filters run in order; a later filter sees bytes already peeked without new data', async () => {
    const first = new PeekFilter(3);
    const second = new PeekFilter(2);
    const { port, filters } = await setup({ listenerFilters: [() => first, () => second] });
    const p = await peer(port);
    await p.write('abcdef');
    await p.waitForText('abcdef');
    expect(first.peeks[first.peeks.length - 1]).toBe('abc');
    expect(second.peeks).toEqual(['ab']);
    expect(filters[0]!.text()).toBe('abcdef');
  });

  it('a filter waiting on something asynchronous continues the chain later', async () => {
    let callbacks: ListenerFilterCallbacks | undefined;
    const asyncFilter: ListenerFilter = {
      onAccept: (cb) => {
        callbacks = cb;
        return 'StopIteration';
      },
      onData: () => 'Continue',
      maxReadBytes: () => 0,
    };
    const { port, scope } = await setup({ listenerFilters: [() => asyncFilter] });
    const p = await peer(port);
    await waitFor(() => callbacks !== undefined, 2000, 'onAccept');
    await p.write('wait');
    await sleep(30);
    expect(scope.c('downstream_cx_total')).toBe(0);
    callbacks!.continueFilterChain(true);
    await p.waitForText('wait');
    expect(scope.c('downstream_cx_total')).toBe(1);
  });

  it('an asynchronous filter holds at most one read; all bytes reach the chain afterwards, in order', async () => {
    let callbacks: ListenerFilterCallbacks | undefined;
    const asyncFilter: ListenerFilter = {
      onAccept: (cb) => {
        callbacks = cb;
        return 'StopIteration';
      },
      onData: () => 'Continue',
      maxReadBytes: () => 0,
    };
    const { port, filters } = await setup({ listenerFilters: [() => asyncFilter] });
    const p = await peer(port);
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
    void p.write(data);
    await waitFor(() => callbacks !== undefined, 2000, 'onAccept');
    await sleep(30);
    callbacks!.continueFilterChain(true);
    await p.waitForBytes(data.length, 5000);
    expect(p.received().equals(data)).toBe(true);
    expect(Buffer.concat(filters[0]!.seen).equals(data)).toBe(true);
  });

  it('continueFilterChain(false) closes the socket', async () => {
    const reject: ListenerFilter = {
      onAccept: (cb) => {
        setTimeout(() => cb.continueFilterChain(false), 5);
        return 'StopIteration';
      },
      onData: () => 'Continue',
      maxReadBytes: () => 0,
    };
    const { port, scope } = await setup({ listenerFilters: [() => reject] });
    const p = await peer(port);
    await p.waitForEnd();
    expect(scope.c('downstream_cx_total')).toBe(0);
    await waitFor(() => scope.g('downstream_pre_cx_active') === 0, 2000, 'pre cx gone');
  });

  it('the peer closing during listener filters: downstream_listener_filter_remote_close', async () => {
    const { port, scope } = await setup({ listenerFilters: [() => new PeekFilter(10)] });
    const p = await peer(port);
    p.end('abc');
    await waitFor(() => scope.c('downstream_listener_filter_remote_close') === 1, 2000, 'remote close stat');
    expect(scope.g('downstream_pre_cx_active')).toBe(0);
    expect(scope.c('downstream_cx_total')).toBe(0);
  });

  it('listener filter timeout closes the socket (downstream_pre_cx_timeout)', async () => {
    const { port, scope } = await setup({ listenerFilters: [() => new PeekFilter(10)], listenerFiltersTimeoutMs: 50 });
    const p = await peer(port);
    await p.write('abc');
    await p.waitForEnd();
    expect(scope.c('downstream_pre_cx_timeout')).toBe(1);
    expect(scope.c('downstream_cx_total')).toBe(0);
  });

  it('with continue_on_listener_filters_timeout the connection is created with the bytes peeked so far', async () => {
    const { port, scope, infos } = await setup({
      listenerFilters: [() => new PeekFilter(10)],
      listenerFiltersTimeoutMs: 50,
      continueOnListenerFiltersTimeout: true,
    });
    const p = await peer(port);
    await p.write('abc');
    await p.waitForText('abc');
    expect(scope.c('downstream_pre_cx_timeout')).toBe(1);
    expect(scope.c('downstream_cx_total')).toBe(1);
    expect(infos[0]!.requestedServerName).toBe('');
    await p.write('def');
    await p.waitForText('abcdef');
  });

  it('a filter that throws fails the socket and is counted as a listener filter error', async () => {
    const errors: unknown[] = [];
    const bad: ListenerFilter = {
      onAccept: () => {
        throw new Error('bad filter');
      },
      onData: () => 'Continue',
      maxReadBytes: () => 0,
    };
    const { port, scope } = await setup({
      listenerFilters: [() => bad],
      logger: { error: (o: unknown) => errors.push(o) } as never,
    });
    const p = await peer(port);
    await p.waitForEnd();
    expect(scope.c('downstream_listener_filter_error')).toBe(1);
    expect(errors).toHaveLength(1);
  });
});
