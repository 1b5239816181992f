/**
 * A node:http2 cleartext (h2c) origin on 127.0.0.1:0 for the HTTP/2 pool tests: counts sessions
 * (upstream connections) and the streams open on each at once.
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { withTimeout } from '../../../support/net-helpers.js';

export interface SessionInfo {
  readonly session: http2.ServerHttp2Session;
  open: number;
  maxOpen: number;
  streams: number;
}

export type H2Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, info: SessionInfo) => void;

export class H2Origin {
  readonly sessions: SessionInfo[] = [];
  private readonly bySession = new Map<http2.ServerHttp2Session, SessionInfo>();

  private constructor(
    readonly server: http2.Http2Server,
    readonly port: number,
  ) {}

  static async start(handler: H2Handler, settings: http2.Settings = {}): Promise<H2Origin> {
    const server = http2.createServer({ settings });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      }),
      2000,
      'h2 origin listen',
    );
    const origin = new H2Origin(server, (server.address() as AddressInfo).port);
    server.on('session', (session) => {
      const info: SessionInfo = { session, open: 0, maxOpen: 0, streams: 0 };
      origin.sessions.push(info);
      origin.bySession.set(session, info);
      session.on('error', () => {});
    });
    server.on('stream', (stream, headers) => {
      const info = origin.bySession.get(stream.session as http2.ServerHttp2Session)!;
      info.open++;
      info.streams++;
      info.maxOpen = Math.max(info.maxOpen, info.open);
      stream.on('error', () => {});
      stream.on('close', () => info.open--);
      handler(stream, headers, info);
    });
    return origin;
  }

  /** Streams received over every session. */
  get totalStreams(): number {
    return this.sessions.reduce((n, s) => n + s.streams, 0);
  }

  close(): Promise<void> {
    for (const s of this.sessions) s.session.destroy();
    return withTimeout(new Promise<void>((r) => this.server.close(() => r())), 2000, 'h2 origin close');
  }
}

/** Answers 200 with `hello <path>`. */
export const hello: H2Handler = (stream, headers) => {
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.end(`hello ${String(headers[':path'])}`);
};
