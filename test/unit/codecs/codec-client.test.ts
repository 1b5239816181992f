/**
 * CodecClient against a scripted codec over a real connection to 127.0.0.1: what reaches the codec,
 * when requests complete, and the order in which the owner and the user hear of closes and resets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CodecClient, type CodecClientCallbacks } from '../../../codecs/codec-client.js';
import type { CodecKind } from '../../../codecs/codec-detect.js';
import { HeaderMapImpl } from '../../../codecs/headers.js';
import type { BufferInstance } from '../../../src/api/buffer.js';
import type {
  ClientConnection as ClientCodec,
  CodecConnectionCallbacks,
  CodecStatus,
  HeaderMap,
  Protocol,
  RequestEncoder,
  ResponseDecoder,
  Stream,
  StreamCallbacks,
  StreamResetReason,
} from '../../../src/api/http-codec.js';
import type { Connection, ConnectionEvent } from '../../../src/api/network.js';
import { BufferChain } from '../../../src/common/buffer-chain.js';
import { ClientConnectionImpl } from '../../../src/network/connection.js';
import { closedPort, PeerServer, waitFor, type Peer } from '../../support/net-helpers.js';
import { hostSetup, type HostSetup } from './pools/helpers.js';

const OK: CodecStatus = { ok: true };

class FakeStream implements Stream, RequestEncoder {
  readonly callbacks: StreamCallbacks[] = [];
  readonly resets: StreamResetReason[] = [];
  readonly readDisables: boolean[] = [];
  readonly encoded: string[] = [];

  constructor(
    readonly decoder: ResponseDecoder,
    readonly streamId: number,
    private readonly codec: FakeCodec,
  ) {}

  stream(): Stream {
    return this;
  }

  addCallbacks(cb: StreamCallbacks): void {
    this.callbacks.push(cb);
  }

  removeCallbacks(cb: StreamCallbacks): void {
    const i = this.callbacks.indexOf(cb);
    if (i >= 0) this.callbacks.splice(i, 1);
  }

  resetStream(reason: StreamResetReason): void {
    this.resets.push(reason);
    if (this.codec.resetCallsBack) this.runReset(reason, 'codec');
  }

  readDisable(disable: boolean): void {
    this.readDisables.push(disable);
  }

  bufferLimit(): number {
    return 4321;
  }

  encodeHeaders(_headers: HeaderMap, endStream: boolean): CodecStatus {
    this.encoded.push(`headers${endStream ? ' end' : ''}`);
    return OK;
  }

  encodeData(data: BufferInstance, endStream: boolean): void {
    this.encoded.push(`data ${data.length}${endStream ? ' end' : ''}`);
    data.drain(data.length);
  }

  encodeTrailers(): void {
    this.encoded.push('trailers');
  }

  runReset(reason: StreamResetReason, details: string): void {
    for (const cb of [...this.callbacks]) cb.onResetStream(reason, details);
  }

  runAbove(): void {
    for (const cb of [...this.callbacks]) cb.onAboveWriteBufferHighWatermark();
  }

  runBelow(): void {
    for (const cb of [...this.callbacks]) cb.onBelowWriteBufferLowWatermark();
  }
}

class FakeCodec implements ClientCodec {
  readonly streams: FakeStream[] = [];
  /** What dispatch received, '<eof>' for an empty dispatch. */
  readonly received: string[] = [];
  readonly watermarks: string[] = [];
  nextStatus: CodecStatus = OK;
  resetCallsBack = true;
  goAways = 0;

  constructor(
    readonly kind: CodecKind,
    readonly connection: Connection,
    readonly callbacks: CodecConnectionCallbacks,
    private readonly log: string[],
  ) {}

  dispatch(data: BufferInstance): CodecStatus {
    const text = data.length === 0 ? '<eof>' : data.toBuffer().toString('latin1');
    this.received.push(text);
    this.log.push(`codec:dispatch ${text}`);
    data.drain(data.length);
    return this.nextStatus;
  }

  newStream(decoder: ResponseDecoder): RequestEncoder {
    const s = new FakeStream(decoder, this.streams.length + 1, this);
    this.streams.push(s);
    return s;
  }

  goAway(): void {
    this.goAways++;
  }

  shutdownNotice(): void {}

  protocol(): Protocol {
    return this.kind === 'http2' ? 'HTTP/2' : 'HTTP/1.1';
  }

  activeStreamCount(): number {
    return this.streams.length;
  }

  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void {
    this.watermarks.push('above');
  }

  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    this.watermarks.push('below');
  }
}

/** The user of one request: decoder and stream callbacks, logging into the shared log. */
class User implements ResponseDecoder, StreamCallbacks {
  constructor(
    private readonly log: string[],
    private readonly name = 'user',
  ) {}

  decode1xxHeaders(): void {
    this.log.push(`${this.name}:1xx`);
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.log.push(`${this.name}:headers ${headers.get(':status')}${endStream ? ' end' : ''}`);
  }

  decodeData(data: BufferInstance, endStream: boolean): void {
    this.log.push(`${this.name}:data ${data.length}${endStream ? ' end' : ''}`);
    data.drain(data.length);
  }

  decodeTrailers(): void {
    this.log.push(`${this.name}:trailers`);
  }

  onResetStream(reason: StreamResetReason, details: string): void {
    this.log.push(`${this.name}:reset ${reason}${details !== '' ? ` (${details})` : ''}`);
  }

  onAboveWriteBufferHighWatermark(): void {
    this.log.push(`${this.name}:above`);
  }

  onBelowWriteBufferLowWatermark(): void {
    this.log.push(`${this.name}:below`);
  }
}

interface Harness {
  client: CodecClient;
  codec: FakeCodec;
  connection: ClientConnectionImpl;
  setup: HostSetup;
  log: string[];
}

const peerServers: PeerServer[] = [];
const clients: CodecClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(peerServers.splice(0).map((s) => s.close()));
});

function harness(port: number, kind: CodecKind): Harness {
  const setup = hostSetup(port);
  const log: string[] = [];
  const connection = new ClientConnectionImpl(setup.dispatcher, { address: '127.0.0.1', port }, { bufferLimit: 1024 });
  let codec: FakeCodec | undefined;
  const client = new CodecClient({
    type: kind,
    connection,
    host: setup.host,
    codecFactory: (k, conn, cbs) => (codec = new FakeCodec(k, conn, cbs, log)),
  });
  const owner: CodecClientCallbacks = {
    onEvent: (e: ConnectionEvent) => log.push(`owner:${e}`),
    onStreamReset: (r) => log.push(`owner:reset ${r}`),
    onStreamDestroy: () => log.push(`owner:destroy ${client.numActiveRequests()}`),
    onGoAway: (code) => log.push(`owner:goaway ${code}`),
    onSettings: (s) => log.push(`owner:settings ${s.maxConcurrentStreams}`),
  };
  client.setCodecClientCallbacks(owner);
  clients.push(client);
  return { client, codec: codec!, connection, setup, log };
}

async function connected(kind: CodecKind): Promise<Harness & { peer: Peer }> {
  const server = await PeerServer.start();
  peerServers.push(server);
  const h = harness(server.port, kind);
  h.client.connect();
  const peer = await server.accepted();
  await waitFor(() => h.client.connected, 2000, 'Connected');
  return { ...h, peer };
}

const status200 = (): HeaderMap => HeaderMapImpl.fromObject({ ':status': '200' });
const request = (): HeaderMap => HeaderMapImpl.fromObject({ ':method': 'GET', ':path': '/', ':authority': 'x' });

describe('CodecClient: connection and data', () => {
  it('relays Connected and feeds every received chunk to the codec, as the only read filter', async () => {
    const h = await connected('http1');
    expect(h.log).toEqual(['owner:Connected']);
    await h.peer.write('abc');
    await waitFor(() => h.codec.received.length === 1, 2000, 'dispatch');
    expect(h.codec.received).toEqual(['abc']);
    expect(h.client.protocol()).toBe('HTTP/1.1');
    expect(h.client.id).toBe(h.connection.id);
  });

  it('what the codec wrote before Connected reaches the peer before what is written on Connected', async () => {
    // The HTTP/2 codec queues its preface at creation; the pool sends requests from the Connected
    // callback. The upstream must see the preface first.
    const server = await PeerServer.start();
    peerServers.push(server);
    const h = harness(server.port, 'http2');
    h.connection.write(new BufferChain('PREFACE|'), false);
    h.client.setCodecClientCallbacks({
      onEvent: (e) => {
        if (e === 'Connected') h.connection.write(new BufferChain('REQUEST'), false);
      },
    });
    h.client.connect();
    const peer = await server.accepted();
    await peer.waitForBytes(15);
    expect(peer.text()).toBe('PREFACE|REQUEST');
  });

  it('relays GOAWAY and SETTINGS from the codec to the owner, and goAway() to the codec', async () => {
    const h = await connected('http2');
    h.codec.callbacks.onGoAway(7);
    h.codec.callbacks.onSettings?.({ maxConcurrentStreams: 5 });
    h.client.goAway();
    expect(h.log.slice(1)).toEqual(['owner:goaway 7', 'owner:settings 5']);
    expect(h.codec.goAways).toBe(1);
  });

  it('relays the connection write watermarks to the codec', async () => {
    const server = await PeerServer.start();
    peerServers.push(server);
    const h = harness(server.port, 'http1');
    // Held while connecting: above the 1 KiB limit at once, below once connected and flushed.
    h.connection.write(new BufferChain(Buffer.alloc(4096)), false);
    expect(h.codec.watermarks).toEqual(['above']);
    h.client.connect();
    const peer = await server.accepted();
    await peer.waitForBytes(4096);
    await waitFor(() => h.codec.watermarks.length === 2, 2000, 'low watermark');
    expect(h.codec.watermarks).toEqual(['above', 'below']);
  });
});

describe('CodecClient: request completion', () => {
  it('HTTP/1: the response alone completes a request, before the user gets its last callback', async () => {
    const h = await connected('http1');
    const user = new User(h.log);
    const enc = h.client.newStream(user);
    enc.stream().addCallbacks(user);
    expect(h.client.numActiveRequests()).toBe(1);
    expect(enc.encodeHeaders(request(), false).ok).toBe(true);
    h.codec.streams[0]!.decoder.decodeHeaders(status200(), true);
    expect(h.log.slice(1)).toEqual(['owner:destroy 0', 'user:headers 200 end']);
    expect(h.client.isIdle()).toBe(true);
    // A reset of a finished request is nobody's business any more.
    h.codec.streams[0]!.runReset('RemoteReset', '');
    expect(h.log.length).toBe(3);
  });

  it('HTTP/2: a request completes once its response is complete and it was fully sent', async () => {
    const h = await connected('http2');
    const user = new User(h.log);
    const enc = h.client.newStream(user);
    enc.encodeHeaders(request(), false);
    const s = h.codec.streams[0]!;
    s.decoder.decodeHeaders(status200(), false);
    s.decoder.decodeData(new BufferChain('hi'), true);
    expect(h.client.numActiveRequests()).toBe(1);
    enc.encodeData(new BufferChain('body'), true);
    expect(h.log.slice(1)).toEqual(['user:headers 200', 'user:data 2 end', 'owner:destroy 0']);
    expect(s.encoded).toEqual(['headers', 'data 4 end']);
  });

  it('HTTP/2: trailers complete both directions', async () => {
    const h = await connected('http2');
    const enc = h.client.newStream(new User(h.log));
    enc.encodeHeaders(request(), false);
    enc.encodeTrailers(HeaderMapImpl.fromObject({ 'x-t': '1' }));
    h.codec.streams[0]!.decoder.decodeHeaders(status200(), false);
    h.codec.streams[0]!.decoder.decodeTrailers(HeaderMapImpl.fromObject({ 'grpc-status': '0' }));
    expect(h.log.slice(1)).toEqual(['user:headers 200', 'owner:destroy 0', 'user:trailers']);
  });

  it('the stream it hands out forwards readDisable, bufferLimit and the stream id', async () => {
    const h = await connected('http2');
    const enc = h.client.newStream(new User(h.log));
    enc.stream().readDisable(true);
    enc.stream().readDisable(false);
    expect(h.codec.streams[0]!.readDisables).toEqual([true, false]);
    expect(enc.stream().bufferLimit()).toBe(4321);
    expect(enc.stream().streamId).toBe(1);
  });
});

describe('CodecClient: closes and resets', () => {
  it('remote close: owner first, then the HTTP/1 end of input, then ConnectionTermination resets', async () => {
    const h = await connected('http1');
    const user = new User(h.log);
    h.client.newStream(user).stream().addCallbacks(user);
    h.peer.destroy();
    await waitFor(() => h.log.includes('user:reset ConnectionTermination'), 2000, 'reset');
    expect(h.log.slice(1)).toEqual([
      'owner:RemoteClose',
      'codec:dispatch <eof>',
      'owner:reset ConnectionTermination',
      'owner:destroy 0',
      'user:reset ConnectionTermination',
    ]);
    expect(h.client.remoteClosed).toBe(true);
    expect(h.client.numActiveRequests()).toBe(0);
  });

  it('HTTP/2: a remote close is not an end of input', async () => {
    const h = await connected('http2');
    h.client.newStream(new User(h.log));
    h.peer.destroy();
    await waitFor(() => h.log.includes('owner:destroy 0'), 2000, 'reset');
    expect(h.codec.received).toEqual([]);
  });

  it('a connection that never connected resets its requests with ConnectionFailure', async () => {
    const port = await closedPort();
    const h = harness(port, 'http2');
    const user = new User(h.log);
    h.client.newStream(user).stream().addCallbacks(user);
    h.client.connect();
    await waitFor(() => h.log.includes('owner:RemoteClose'), 2000, 'close');
    expect(h.log).toEqual(['owner:RemoteClose', 'owner:reset ConnectionFailure', 'owner:destroy 0', expect.stringMatching(/^user:reset ConnectionFailure \(.*ECONNREFUSED/)]);
    expect(h.client.connected).toBe(false);
    expect(h.client.connectionFailureReason()).toMatch(/ECONNREFUSED/);
  });

  it('a codec error closes the connection, counts upstream_cx_protocol_error and resets with ProtocolError', async () => {
    const h = await connected('http1');
    const user = new User(h.log);
    h.client.newStream(user).stream().addCallbacks(user);
    h.codec.nextStatus = { ok: false, code: 'CodecProtocolError', message: 'bad status line' };
    await h.peer.write('junk');
    await h.peer.waitForEnd();
    expect(h.log.slice(1)).toEqual([
      'codec:dispatch junk',
      'owner:LocalClose',
      'owner:reset ProtocolError',
      'owner:destroy 0',
      'user:reset ProtocolError',
    ]);
    expect(h.setup.counter('upstream_cx_protocol_error')).toBe(1);
  });

  it('a 408 on a connection with no request in flight is not a protocol error', async () => {
    const h = await connected('http1');
    h.codec.nextStatus = { ok: false, code: 'PrematureResponseError', message: 'premature response 408' };
    await h.peer.write('HTTP/1.1 408 Request Timeout\r\n\r\n');
    await h.peer.waitForEnd();
    expect(h.setup.counter('upstream_cx_protocol_error')).toBe(0);
  });

  it('a premature response with a request in flight is a protocol error', async () => {
    const h = await connected('http1');
    h.client.newStream(new User(h.log));
    h.codec.nextStatus = { ok: false, code: 'PrematureResponseError', message: 'premature response 408' };
    await h.peer.write('x');
    await h.peer.waitForEnd();
    expect(h.setup.counter('upstream_cx_protocol_error')).toBe(1);
  });

  it('a local reset: the codec resets once, the owner and then the user hear of it, later resets are ignored', async () => {
    const h = await connected('http2');
    const user = new User(h.log);
    const enc = h.client.newStream(user);
    enc.stream().addCallbacks(user);
    enc.stream().resetStream('LocalReset');
    enc.stream().resetStream('LocalReset');
    h.codec.streams[0]!.runReset('RemoteReset', '');
    expect(h.codec.streams[0]!.resets).toEqual(['LocalReset']);
    expect(h.log.slice(1)).toEqual(['owner:reset LocalReset', 'owner:destroy 0', 'user:reset LocalReset (codec)']);
  });

  it('a request opened after the close fails on the next turn, after its user subscribed', async () => {
    const h = await connected('http2');
    h.client.close();
    const user = new User(h.log);
    h.client.newStream(user).stream().addCallbacks(user);
    expect(h.log.slice(1)).toEqual(['owner:LocalClose']);
    await waitFor(() => h.log.length === 5, 2000, 'reset');
    expect(h.log.slice(2)).toEqual(['owner:reset ConnectionTermination', 'owner:destroy 0', 'user:reset ConnectionTermination']);
  });

  it('a codec that resets without calling back still ends the request', async () => {
    const h = await connected('http2');
    h.codec.resetCallsBack = false;
    const user = new User(h.log);
    const enc = h.client.newStream(user);
    enc.stream().addCallbacks(user);
    enc.stream().resetStream('LocalReset');
    expect(h.log.slice(1)).toEqual(['owner:reset LocalReset', 'owner:destroy 0', 'user:reset LocalReset']);
    expect(h.client.numActiveRequests()).toBe(0);
  });

  it('a callback removed during a reset is not called', async () => {
    const h = await connected('http2');
    const b = new User(h.log, 'b');
    const a: StreamCallbacks = {
      onResetStream: () => {
        h.log.push('a:reset');
        enc.stream().removeCallbacks(b);
      },
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    };
    const enc = h.client.newStream(b);
    enc.stream().addCallbacks(a);
    enc.stream().addCallbacks(b);
    h.codec.streams[0]!.runReset('RemoteReset', 'rst');
    expect(h.log.slice(1)).toEqual(['owner:reset RemoteReset', 'owner:destroy 0', 'a:reset']);
  });

  it('tells a late stream subscriber that the stream is above its high watermark', async () => {
    const h = await connected('http2');
    const enc = h.client.newStream(new User(h.log));
    h.codec.streams[0]!.runAbove();
    const late = new User(h.log, 'late');
    enc.stream().addCallbacks(late);
    h.codec.streams[0]!.runBelow();
    expect(h.log.slice(1)).toEqual(['late:above', 'late:below']);
  });
});
