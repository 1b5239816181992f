/**
 * Abuse protections (Envoy's http2_protocol_options protections, rapid reset, CONTINUATION
 * flood, header limits), each triggered by a scripted attacker against a real sluice: the
 * attacker's connection ends as expected (GOAWAY with the right code, or closed at once for the
 * outbound floods), the stat is counted, a well-behaved client on another connection keeps
 * getting answers before, during and after the attack, and nothing stays counted in the codec's
 * gauges once the attacker is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../codecs/http2/frame.js';
import { type FrameLike, frames, toBytes } from '../../support/h2-frames.js';
import { waitFor } from '../../support/net-helpers.js';
import { REQUEST, get, post, startSluice, stillWorks } from './setup.js';
import type { Sluice } from './setup.js';
import type { H2Peer } from './h2-peer.js';

let sluice: Sluice;

beforeAll(async () => {
  sluice = await startSluice();
});

afterAll(async () => {
  await sluice.close();
});

const CALM = `code=${ErrorCode.ENHANCE_YOUR_CALM}`;

/** The codec's gauges once only idle well-behaved connections are left. */
async function gaugesSettle(): Promise<void> {
  const g = (name: string): number => sluice.proxy.gauge(name);
  await waitFor(
    () => g('http2.streams_active') === 0 && g('http2.pending_send_bytes') === 0 && g('http2.pending_recv_bytes') === 0,
    5000,
    `http2 gauges back to 0 (streams_active=${g('http2.streams_active')} pending_send_bytes=${g('http2.pending_send_bytes')})`,
  );
}

/**
 * A well-behaved client, opened before the attack: it is served before, keeps being served
 * during the attack (one request after another until the check), and after it on its connection
 * and on a fresh one.
 */
async function bystander(): Promise<() => Promise<void>> {
  const good = await sluice.peer();
  // A real client returns the window it reads; this one grants all of it at once.
  good.send(frames.windowUpdate(0, 2 ** 31 - 1 - 65_535));
  await stillWorks(good, 1);
  let nextId = 3;
  let answered = 0;
  let stop = false;
  let failure: unknown;
  const loop = (async (): Promise<void> => {
    while (!stop) {
      await stillWorks(good, nextId);
      nextId += 2;
      answered++;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  })().catch((e: unknown) => {
    failure = e;
  });
  return async () => {
    stop = true;
    await loop;
    if (failure !== undefined) throw failure;
    expect(answered).toBeGreaterThan(0);
    await stillWorks(good, nextId);
    const fresh = await sluice.peer();
    await stillWorks(fresh, 1);
    await gaugesSettle();
  };
}

/** Writes `burst` until `done()` or the attacker is gone, waiting for each write to be taken. */
async function flood(attacker: H2Peer, burst: Buffer, done: () => boolean, rounds = 60): Promise<void> {
  for (let i = 0; i < rounds && !attacker.isClosed && !done(); i++) {
    await new Promise<void>((resolve) => attacker.socket.write(burst, () => resolve()));
  }
}

describe('inbound frame floods (GOAWAY ENHANCE_YOUR_CALM)', () => {
  it('consecutive frames with an empty payload (max_consecutive_inbound_frames_with_empty_payload = 1)', async () => {
    const check = await bystander();
    const attacker = await sluice.peer();
    attacker.send(post(1), frames.data(1, ''), frames.data(1, ''));
    expect(await attacker.goAway()).toBe(`GOAWAY 0 last=1 ${CALM}`);
    await attacker.closed();
    expect(sluice.counter('http2.inbound_empty_frames_flood')).toBe(1);
    await check();
  });

  it('PRIORITY frames (max_inbound_priority_frames_per_stream = 100)', async () => {
    const check = await bystander();
    const attacker = await sluice.peer();
    attacker.send(...Array.from({ length: 101 }, (_, i) => frames.priority(2 * i + 101, { dependency: 0 })));
    expect(await attacker.goAway()).toBe(`GOAWAY 0 last=0 ${CALM}`);
    await attacker.closed();
    expect(sluice.counter('http2.inbound_priority_frames_flood')).toBe(1);
    await check();
  });

  it('WINDOW_UPDATE frames (max_inbound_window_update_frames_per_data_frame_sent = 10)', async () => {
    const check = await bystander();
    const attacker = await sluice.peer();
    attacker.send(frames.windowUpdate(0, 1), frames.windowUpdate(0, 1));
    expect(await attacker.goAway()).toBe(`GOAWAY 0 last=0 ${CALM}`);
    await attacker.closed();
    expect(sluice.counter('http2.inbound_window_update_frames_flood')).toBe(1);
    await check();
  });
});

describe('rapid reset (CVE-2023-44487)', () => {
  it('streams reset before their response, faster than 1000 + 33/s, end the connection', async () => {
    const check = await bystander();
    const attacker = await sluice.peer();
    const parts: Buffer[] = [];
    // More than the burst: the bucket refills while the proxy works through the streams.
    for (let i = 0; i < 2500; i++) {
      const id = 1 + 2 * i;
      parts.push(post(id).toBuffer(), frames.rst(id, ErrorCode.CANCEL));
    }
    attacker.send(toBytes(...parts));
    expect(await attacker.goAway(15_000)).toMatch(new RegExp(`^GOAWAY 0 last=\\d+ ${CALM}$`));
    await attacker.closed(10_000);
    expect(sluice.counter('http2.rapid_reset_flood')).toBe(1);
    expect(sluice.counter('http2.rx_reset')).toBeGreaterThan(1000);
    await check();
  });
});

describe('CONTINUATION flood (CVE-2024-27316)', () => {
  it('too many CONTINUATION frames in one header block', async () => {
    const check = await bystander();
    const attacker = await sluice.peer();
    const block = frames.headerBlock([...REQUEST, ['x-a', 'a'.repeat(100)]]);
    const parts = [frames.headers(1).block(block.subarray(0, 1)).endHeaders(false).eos().toBuffer()];
    for (let i = 1; i <= 20; i++) parts.push(frames.continuation(1, block.subarray(i, i + 1)).endHeaders(false).toBuffer());
    attacker.send(...parts);
    expect(await attacker.goAway()).toBe(`GOAWAY 0 last=1 ${CALM}`);
    await attacker.closed();
    expect(sluice.counter('http2.too_many_header_frames')).toBe(1);
    await check();
  });

  it('a header block larger than the limit is cut off without buffering it', async () => {
    const check = await bystander();
    const attacker = await sluice.peer();
    const parts = [frames.headers(1).block(Buffer.alloc(16_384, 0x61)).endHeaders(false).toBuffer()];
    for (let i = 0; i < 12; i++) parts.push(frames.continuation(1, Buffer.alloc(16_384, 0x61)).endHeaders(false).toBuffer());
    attacker.send(...parts);
    expect(await attacker.goAway()).toBe(`GOAWAY 0 last=1 ${CALM}`);
    expect(sluice.counter('http2.header_overflow')).toBeGreaterThanOrEqual(1);
    await check();
  });
});

describe('header list limits (max_request_headers_kb, max_headers_count)', () => {
  it('a request header list over 60 KiB is answered 431 and the connection goes on', async () => {
    const check = await bystander();
    const peer = await sluice.peer();
    const before = sluice.counter('http2.header_overflow');
    const big = Array.from({ length: 7 }, (_, i) => [`x-big-${i}`, 'b'.repeat(9000)] as [string, string]);
    peer.send(frames.headers(1).headers([...REQUEST, ...big]).split(16_384).eos());
    const res = await peer.response(1);
    expect(res.frames).toEqual(['HEADERS 1 +ES :status=431']);
    expect(sluice.counter('http2.header_overflow')).toBe(before + 1);
    await stillWorks(peer, 3);
    await check();
  });

  it('more than 100 header fields are answered 431 and the connection goes on', async () => {
    const check = await bystander();
    const peer = await sluice.peer();
    const before = sluice.counter('http2.header_overflow');
    const many = Array.from({ length: 101 }, (_, i) => [`x-h-${i}`, 'v'] as [string, string]);
    peer.send(get(1, '/direct', many));
    expect((await peer.response(1)).frames).toEqual(['HEADERS 1 +ES :status=431']);
    expect(sluice.counter('http2.header_overflow')).toBe(before + 1);
    // Exactly 100 is fine.
    peer.send(get(3, '/direct', many.slice(0, 100 - REQUEST.length)));
    expect((await peer.response(3)).status).toBe('200');
    await check();
  });
});

describe('outbound floods (closed without GOAWAY)', () => {
  const controlFloods: Array<[string, () => FrameLike]> = [
    ['PING ACKs', () => frames.ping('flooding')],
    ['SETTINGS ACKs', () => frames.settings({ maxConcurrentStreams: 100 })],
  ];
  it.each(controlFloods)('%s the attacker never reads (max_outbound_control_frames = 1000)', async (_name, frame) => {
    const check = await bystander();
    const attacker = await sluice.peer();
    attacker.socket.pause();
    const before = sluice.counter('http2.outbound_control_flood');
    const burst = toBytes(...Array.from({ length: 10_000 }, () => frame()));
    await flood(attacker, burst, () => sluice.counter('http2.outbound_control_flood') > before);
    await waitFor(() => sluice.counter('http2.outbound_control_flood') === before + 1, 10_000, 'outbound_control_flood');
    attacker.socket.resume();
    await attacker.closed(10_000);
    expect(attacker.received.some((i) => 'type' in i && i.type === 'GOAWAY')).toBe(false);
    await check();
  });

  it('responses to requests the attacker never reads (max_outbound_frames = 10000)', async () => {
    const check = await bystander();
    // The attacker grants every window, then stops reading: large responses fill the socket
    // and the connection's buffer, after which each new response's HEADERS waits in sluice.
    const attacker = await sluice.peer(frames.settings({ initialWindowSize: 2 ** 31 - 1 }));
    attacker.send(frames.windowUpdate(0, 2 ** 31 - 1 - 65_535));
    attacker.socket.pause();
    for (let id = 1; id <= 15; id += 2) attacker.send(get(id, '/bytes/4194304'));
    // Above the connection's buffer limit (1 MiB): the session holds what it produces from here on.
    await waitFor(() => sluice.proxy.gauge('http.e2e.downstream_cx_tx_bytes_buffered') > 1 << 20, 10_000, 'the attacker connection above its write limit');
    const floodBefore = sluice.counter('http2.outbound_flood');
    const requests: Buffer[] = [];
    for (let i = 0; i < 10_500; i++) requests.push(get(17 + 2 * i).toBuffer());
    await flood(attacker, toBytes(...requests), () => sluice.counter('http2.outbound_flood') > floodBefore, 1);
    await waitFor(() => sluice.counter('http2.outbound_flood') === floodBefore + 1, 15_000, 'outbound_flood');
    attacker.socket.resume();
    await attacker.closed(10_000);
    expect(attacker.received.some((i) => 'type' in i && i.type === 'GOAWAY')).toBe(false);
    await check();
  });
});
