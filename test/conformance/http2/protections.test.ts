/**
 * Abuse protections (Envoy's http2_protocol_options protections, rapid reset, CONTINUATION
 * flood, header limits), each triggered by a scripted attacker against a real sluice: the
 * attacker's connection ends as expected, the stat is counted, and a well-behaved client on
 * another connection keeps getting answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../codecs/http2/frame.js';
import { frames, toBytes } from '../../support/h2-frames.js';
import { waitFor } from '../../support/net-helpers.js';
import { REQUEST, get, post, startSluice, stillWorks } from './setup.js';
import type { Sluice } from './setup.js';

let sluice: Sluice;

beforeAll(async () => {
  sluice = await startSluice();
});

afterAll(async () => {
  await sluice.close();
});

const CALM = `code=${ErrorCode.ENHANCE_YOUR_CALM}`;

/** A well-behaved client, opened before the attack, still served after it. */
async function bystander(): Promise<() => Promise<void>> {
  const good = await sluice.peer();
  await stillWorks(good, 1);
  return async () => {
    await stillWorks(good, 3);
    const fresh = await sluice.peer();
    await stillWorks(fresh, 1);
  };
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

  it('more than 100 header fields are answered 431', async () => {
    const peer = await sluice.peer();
    const many = Array.from({ length: 101 }, (_, i) => [`x-h-${i}`, 'v'] as [string, string]);
    peer.send(get(1, '/direct', many));
    expect((await peer.response(1)).status).toBe('431');
  });
});

describe('outbound floods (closed without GOAWAY)', () => {
  it('PING ACKs the attacker never reads (max_outbound_control_frames = 1000)', async () => {
    const check = await bystander();
    const attacker = await sluice.peer();
    attacker.socket.pause();
    const burst = toBytes(...Array.from({ length: 10_000 }, () => frames.ping('flooding')));
    for (let i = 0; i < 60 && !attacker.isClosed && sluice.counter('http2.outbound_control_flood') === 0; i++) {
      await new Promise<void>((resolve) => attacker.socket.write(burst, () => resolve()));
    }
    await waitFor(() => sluice.counter('http2.outbound_control_flood') === 1, 10_000, 'outbound_control_flood');
    attacker.socket.resume();
    await attacker.closed(10_000);
    await check();
  });
});
