/**
 * The server composed from config, on real sockets: a test echo filter stands in for the real
 * network filters (which live in filters/ and are registered by main.ts).
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { DrainDecision, NamedNetworkFilterConfigFactory } from '../../../../src/api/filter-config.js';
import type { Connection, ReadFilter, ReadFilterCallbacks } from '../../../../src/api/network.js';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { createLogger } from '../../../../src/common/logger.js';
import { FilterRegistry } from '../../../../src/config/filter-registry.js';
import { loadConfigText } from '../../../../src/config/load.js';
import { Server } from '../../../../src/server/server.js';

/** Echoes bytes back with a prefix; on drain it closes its connection (like an idle HCM would). */
class EchoFilter implements ReadFilter {
  private cb!: ReadFilterCallbacks;
  constructor(
    private readonly prefix: string,
    private readonly drain: DrainDecision,
    private readonly closeOnDrain: boolean,
  ) {}
  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.cb = cb;
  }
  onNewConnection(): 'Continue' {
    if (this.closeOnDrain) {
      const conn: Connection = this.cb.connection();
      const off = this.drain.addOnDrainCloseCb(() => conn.close('FlushWrite'));
      conn.addConnectionCallbacks({ onEvent: (e) => e !== 'Connected' && off(), onAboveWriteBufferHighWatermark: () => {}, onBelowWriteBufferLowWatermark: () => {} });
    }
    return 'Continue';
  }
  onData(data: BufferChain, endStream: boolean): 'StopIteration' {
    const out = new BufferChain();
    out.add(this.prefix);
    out.move(data);
    this.cb.connection().write(out, endStream);
    return 'StopIteration';
  }
}

const ECHO_TYPE = 'type.googleapis.com/test.Echo';
const echoFactory: NamedNetworkFilterConfigFactory<{ prefix: string; closeOnDrain: boolean }> = {
  name: 'test.echo',
  typeUrls: [ECHO_TYPE],
  isTerminalFilter: true,
  parseConfig: (raw) => {
    const r = raw as { prefix?: string; close_on_drain?: boolean };
    return { prefix: r.prefix ?? '', closeOnDrain: r.close_on_drain ?? true };
  },
  createFilterFactory: (config, ctx) => (fm) => fm.addReadFilter(new EchoFilter(config.prefix, ctx.drainDecision, config.closeOnDrain)),
};

const registry = () => new FilterRegistry().registerNetworkFilter(echoFactory);
const logLines: string[] = [];
const logger = createLogger({
  level: 'info',
  destination: new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
});

function config(extra = ''): string {
  return `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
  - name: echo
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filter_chain_match: { destination_port: 1 }
      filters: [{ name: test.echo, typed_config: { "@type": ${ECHO_TYPE}, prefix: "never:" } }]
    default_filter_chain:
      filters: [{ name: test.echo, typed_config: { "@type": ${ECHO_TYPE}, prefix: "echo:" } }]
${extra}`;
}

const servers: Server[] = [];
function newServer(yaml: string, drainTimeMs = 1000): Server {
  const s = new Server({ bootstrap: loadConfigText(yaml, registry()), registry: registry(), logger, drainTimeMs, version: '9.9.9' });
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.shutdown()));
});

function listenerPort(s: Server): number {
  return s.listenerManager.status()[0]!.address.port;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** Connects, sends `text`, resolves with the first reply chunk; the socket stays open. */
async function echo(port: number, text: string): Promise<{ reply: string; socket: Socket }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const reply = await withTimeout(
    new Promise<string>((resolve, reject) => {
      socket.once('data', (d) => resolve(d.toString()));
      socket.once('error', reject);
      socket.write(text);
    }),
    5000,
    'echo reply',
  );
  return { reply, socket };
}

function closed(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return withTimeout(new Promise<void>((resolve) => socket.once('close', () => resolve())), 5000, 'socket close');
}

function adminGet(s: Server, path: string): Promise<{ status: number; body: string; type: string }> {
  const port = s.adminAddress()!.port;
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
      });
      req.on('error', reject);
      req.end();
    }),
    5000,
    `admin ${path}`,
  );
}

describe('Server', () => {
  it('starts LIVE, runs the filter chain on new connections, and names listener stats after the address', async () => {
    const s = newServer(config());
    expect(s.state()).toBe('PRE_INITIALIZING');
    await s.start();
    expect(s.state()).toBe('LIVE');
    expect(s.stats.gauge('server.live').value()).toBe(1);
    const { reply, socket } = await echo(listenerPort(s), 'hi');
    expect(reply).toBe('echo:hi');
    socket.end();
    await closed(socket);
    expect(s.stats.findCounter('listener.127.0.0.1_0.downstream_cx_total')?.value()).toBe(1);
  });

  it('uses stat_prefix for the listener scope', async () => {
    const s = newServer(config().replace('    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n    filter_chains', '    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n    stat_prefix: edge\n    filter_chains'));
    await s.start();
    const { socket } = await echo(listenerPort(s), 'x');
    socket.destroy();
    expect(s.stats.findCounter('listener.edge.downstream_cx_total')?.value()).toBe(1);
  });

  it('serves /listeners in text and JSON', async () => {
    const s = newServer(config());
    await s.start();
    const port = listenerPort(s);
    expect(await adminGet(s, '/listeners')).toEqual({ status: 200, body: `echo::127.0.0.1:${port}\n`, type: 'text/plain; charset=UTF-8' });
    const j = await adminGet(s, '/listeners?format=json');
    expect(j.type).toBe('application/json');
    expect(JSON.parse(j.body)).toEqual({
      listener_statuses: [{ name: 'echo', local_address: { socket_address: { address: '127.0.0.1', port_value: port } } }],
    });
  });

  it('reports DRAINING on /ready once draining', async () => {
    const s = newServer(config());
    await s.start();
    expect(await adminGet(s, '/ready')).toMatchObject({ status: 200, body: 'LIVE\n' });
    await s.drain();
    expect(await adminGet(s, '/ready')).toMatchObject({ status: 503, body: 'DRAINING\n' });
    expect(s.stats.gauge('server.state').value()).toBe(1);
  });

  it('drain stops accepting, and connections that close on drain let it finish at once', async () => {
    const s = newServer(config(), 10_000);
    await s.start();
    const port = listenerPort(s);
    const { socket } = await echo(port, 'a');
    const t0 = Date.now();
    await withTimeout(s.drain(), 5000, 'drain');
    expect(Date.now() - t0).toBeLessThan(2000);
    await closed(socket);
    const refused = await new Promise<string>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => resolve('connected'));
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('drain waits up to the drain time for connections that stay, and shutdown closes them', async () => {
    const s = newServer(config().replaceAll('prefix: "echo:"', 'prefix: "echo:", close_on_drain: false'), 300);
    await s.start();
    const { socket } = await echo(listenerPort(s), 'a');
    const t0 = Date.now();
    await withTimeout(s.drain(), 5000, 'drain');
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(280);
    expect(waited).toBeLessThan(2000);
    expect(socket.destroyed).toBe(false);
    await s.shutdown();
    await closed(socket);
    expect(s.listenerManager.numConnections()).toBe(0);
  });

  it('a MODIFY_ONLY listener is not asked to drain', async () => {
    const yaml = config().replace('    default_filter_chain:', '    drain_type: MODIFY_ONLY\n    default_filter_chain:');
    const s = newServer(yaml, 200);
    await s.start();
    const { socket } = await echo(listenerPort(s), 'a');
    await withTimeout(s.drain(), 5000, 'drain');
    // The echo filter would have closed on drain; it was never told.
    expect(socket.destroyed).toBe(false);
    expect(s.listenerManager.numConnections()).toBe(1);
  });

  it('a listener that cannot bind fails start() and releases the admin port', async () => {
    const first = newServer(config());
    await first.start();
    const port = listenerPort(first);
    const second = newServer(config().replace(/port_value: 0 \} \}\n    filter_chains/, `port_value: ${port} } }\n    filter_chains`));
    await expect(second.start()).rejects.toThrow(`cannot bind listener "echo" to 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    await expect(adminGet(second, '/ready')).rejects.toThrow('ECONNREFUSED');
  });

  it('POST /drain_listeners starts the drain', async () => {
    const s = newServer(config());
    await s.start();
    const port = s.adminAddress()!.port;
    const status = await withTimeout(
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/drain_listeners', method: 'POST', agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      }),
      5000,
      'drain_listeners',
    );
    expect(status).toBe(200);
    await withTimeout(s.drain(), 5000, 'drain');
    expect(s.listenerManager.isStopped()).toBe(true);
    expect(s.state()).toBe('DRAINING');
  });
});

describe('Server shutdown runs the ShutdownExit callbacks filters registered', () => {
  const events: string[] = [];
  /** Registers a ShutdownExit callback that takes 50 ms; records when its connections close. */
  const hookFactory: NamedNetworkFilterConfigFactory<Record<string, never>> = {
    name: 'test.shutdown_hook',
    typeUrls: ['type.googleapis.com/test.ShutdownHook'],
    isTerminalFilter: true,
    parseConfig: () => ({}),
    createFilterFactory: (_config, ctx) => {
      ctx.lifecycleNotifier.registerCallback('ShutdownExit', async () => {
        events.push('hook start');
        await new Promise((resolve) => setTimeout(resolve, 50));
        events.push('hook done');
      });
      return (fm, conn) => {
        conn.addConnectionCallbacks({
          onEvent: (e) => e !== 'Connected' && events.push('connection closed'),
          onAboveWriteBufferHighWatermark: () => {},
          onBelowWriteBufferLowWatermark: () => {},
        });
        fm.addReadFilter({ initializeReadFilterCallbacks: () => {}, onNewConnection: () => 'Continue', onData: () => 'StopIteration' });
      };
    },
  };

  it('after the connections are closed, and waits for them', async () => {
    const yaml = `
static_resources:
  listeners:
  - name: hook
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters: [{ name: test.shutdown_hook, typed_config: { "@type": type.googleapis.com/test.ShutdownHook } }]
`;
    const reg = new FilterRegistry().registerNetworkFilter(hookFactory);
    const s = new Server({ bootstrap: loadConfigText(yaml, reg), registry: reg, logger, drainTimeMs: 0 });
    servers.push(s);
    await s.start();
    const socket = connect(listenerPort(s), '127.0.0.1');
    socket.on('error', () => {});
    await withTimeout(new Promise<void>((resolve) => socket.once('connect', () => resolve())), 5000, 'connect');
    await withTimeout(
      (async () => {
        while (s.listenerManager.numConnections() === 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      5000,
      'the server side of the connection',
    );
    await withTimeout(s.shutdown(), 5000, 'shutdown');
    expect(events).toEqual(['connection closed', 'hook start', 'hook done']);
    await closed(socket);
  });
});
