/**
 * A scripted HTTP/2 client over a raw TCP socket, for conformance tests against a real sluice:
 * it sends whatever frames a test builds (test/support/h2-frames.ts, malformed ones included) and
 * decodes what comes back, with a timeout on every wait.
 */
import * as net from 'node:net';
import { ErrorCode } from '../../../codecs/http2/frame.js';
import { H2FrameDecoder, frames, summarize, toBytes } from '../../support/h2-frames.js';
import type { DecodedItem, FrameLike, H2Frames } from '../../support/h2-frames.js';
import { LOOPBACK, withTimeout } from '../../support/net-helpers.js';

export { ErrorCode };

type Waiter = { pred: (f: DecodedItem) => boolean; resolve: (f: DecodedItem) => void };

export class H2Peer {
  /** Every item received, in order. */
  readonly received: DecodedItem[] = [];
  private readIndex = 0;
  /** Per stream: where response() looks for that stream's next frame. */
  private readonly streamCursor = new Map<number, number>();
  private readonly decoder = new H2FrameDecoder();
  private waiters: Waiter[] = [];
  private closeWaiters: (() => void)[] = [];
  isClosed = false;
  /** The builders this peer encodes with (stateless HPACK unless given). */
  readonly f: H2Frames;

  private constructor(
    readonly socket: net.Socket,
    f: H2Frames,
  ) {
    this.f = f;
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.decoder.push(chunk)) this.onItem(item);
    });
    const onClose = (): void => {
      if (this.isClosed) return;
      this.isClosed = true;
      for (const w of this.closeWaiters.splice(0)) w();
    };
    socket.on('end', onClose);
    socket.on('close', onClose);
    socket.on('error', () => onClose());
  }

  static connect(port: number, f: H2Frames = frames): Promise<H2Peer> {
    return withTimeout(
      new Promise<H2Peer>((resolve, reject) => {
        const socket = net.connect({ host: LOOPBACK, port }, () => resolve(new H2Peer(socket, f)));
        socket.once('error', reject);
      }),
      2000,
      'connect',
    );
  }

  /** Connects, sends the preface and SETTINGS, ACKs the server's, waits for the ACK of ours. */
  static async handshake(port: number, settings: FrameLike = frames.settings(), f: H2Frames = frames): Promise<H2Peer> {
    const peer = await H2Peer.connect(port, f);
    peer.send(f.preface(), settings);
    await peer.waitFor((i) => 'type' in i && i.type === 'SETTINGS' && !i.ack, 'server SETTINGS');
    peer.send(f.settingsAck());
    await peer.waitFor((i) => 'type' in i && i.type === 'SETTINGS' && i.ack, 'SETTINGS ACK');
    return peer;
  }

  private onItem(item: DecodedItem): void {
    this.received.push(item);
    const w = this.waiters.find((x) => x.pred(item));
    if (w !== undefined) {
      this.waiters = this.waiters.filter((x) => x !== w);
      this.readIndex = this.received.length;
      w.resolve(item);
    }
  }

  send(...parts: FrameLike[]): void {
    if (!this.socket.destroyed) this.socket.write(toBytes(...parts));
  }

  /** The first item from the read position on that matches (earlier ones are skipped). */
  waitFor(pred: (f: DecodedItem) => boolean, what: string, timeoutMs = 5000): Promise<DecodedItem> {
    for (let i = this.readIndex; i < this.received.length; i++) {
      if (pred(this.received[i]!)) {
        this.readIndex = i + 1;
        return Promise.resolve(this.received[i]!);
      }
    }
    return new Promise<DecodedItem>((resolve, reject) => {
      const waiter: Waiter = {
        pred,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== waiter);
        const seen = this.received.map(summarize).join(' | ');
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${seen}${this.isClosed ? ' | (closed)' : ''}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Waits for a frame of `type` on `streamId`. */
  frame(type: string, streamId?: number, timeoutMs?: number): Promise<DecodedItem> {
    return this.waitFor(
      (i) => 'type' in i && i.type === type && (streamId === undefined || i.streamId === streamId),
      `${type}${streamId === undefined ? '' : ` on stream ${streamId}`}`,
      timeoutMs,
    );
  }

  /** Waits for GOAWAY, returns `GOAWAY 0 last=N code=C`. */
  async goAway(timeoutMs?: number): Promise<string> {
    return summarize(await this.frame('GOAWAY', 0, timeoutMs));
  }

  /** Waits for RST_STREAM on `streamId`, returns its error code. */
  async rst(streamId: number, timeoutMs?: number): Promise<number> {
    const f = await this.frame('RST_STREAM', streamId, timeoutMs);
    return (f as { errorCode: number }).errorCode;
  }

  /** Resolves when the server closed the connection. */
  closed(timeoutMs = 5000): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.closeWaiters.push(resolve)), timeoutMs, 'connection close');
  }

  /**
   * The whole response on `streamId`: summaries of its HEADERS / DATA frames until END_STREAM
   * (or a RST_STREAM), with the DATA payload concatenated.
   */
  async response(streamId: number, timeoutMs = 5000): Promise<{ status: string; headers: [string, string][]; body: Buffer; frames: string[] }> {
    const out: string[] = [];
    const body: Buffer[] = [];
    let headers: [string, string][] = [];
    for (;;) {
      const f = await this.nextOnStream(
        streamId,
        (i) => 'type' in i && (i.type === 'HEADERS' || i.type === 'DATA' || i.type === 'RST_STREAM') && i.streamId === streamId,
        `response on stream ${streamId}`,
        timeoutMs,
      );
      out.push(summarize(f));
      if (!('type' in f)) continue;
      if (f.type === 'RST_STREAM') break;
      if (f.type === 'HEADERS' && headers.length === 0) headers = f.headers.map(([n, v]) => [n, v] as [string, string]);
      if (f.type === 'DATA') body.push(f.data);
      if ((f.type === 'HEADERS' || f.type === 'DATA') && f.endStream) break;
    }
    const status = headers.find(([n]) => n === ':status')?.[1] ?? '';
    return { status, headers, body: Buffer.concat(body), frames: out };
  }

  /**
   * The next item of stream `streamId` matching `pred`, from where the last one of that stream
   * was taken: frames of several streams interleave, so reading one stream's response must not
   * skip frames of another that arrived earlier. Moves the read position past it, never back.
   */
  private async nextOnStream(streamId: number, pred: (f: DecodedItem) => boolean, what: string, timeoutMs: number): Promise<DecodedItem> {
    const from = this.streamCursor.get(streamId) ?? 0;
    let index = -1;
    for (let i = from; i < this.received.length; i++) {
      if (pred(this.received[i]!)) {
        index = i;
        break;
      }
    }
    if (index < 0) {
      const item = await this.waitFor(pred, what, timeoutMs);
      index = this.received.lastIndexOf(item);
    }
    this.streamCursor.set(streamId, index + 1);
    this.readIndex = Math.max(this.readIndex, index + 1);
    return this.received[index]!;
  }

  /** Items received since the read position, as summaries (does not move it). */
  pending(): string[] {
    return this.received.slice(this.readIndex).map(summarize);
  }

  close(): void {
    this.socket.destroy();
  }
}
