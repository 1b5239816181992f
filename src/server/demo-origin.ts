/**
 * A tiny HTTP origin for the embedded default configuration, so that `npm start` followed by
 * `curl http://127.0.0.1:8080/` shows a request going through the proxy. It answers every request
 * with a greeting and what it received. Not used with a user's config.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const DEMO_GREETING = 'hello from the sluice demo origin\n';

/** The most request body the origin reads before answering 413. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface DemoOrigin {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

function describeRequest(req: IncomingMessage, bodyBytes: number): string {
  const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
  return (
    DEMO_GREETING +
    `method: ${req.method ?? ''}\n` +
    `path: ${req.url ?? ''}\n` +
    `protocol: HTTP/${req.httpVersion}\n` +
    `host: ${req.headers.host ?? ''}\n` +
    `peer: ${remote}\n` +
    `body bytes: ${bodyBytes}\n`
  );
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  let bodyBytes = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    bodyBytes += chunk.length;
    if (bodyBytes > MAX_BODY_BYTES && !tooLarge) {
      tooLarge = true;
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('request body too large\n');
      req.destroy();
    }
  });
  req.on('end', () => {
    if (tooLarge) return;
    const body = describeRequest(req, bodyBytes);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** Starts the origin on `address:port` (port 0 picks one). */
export function startDemoOrigin(address: string, port: number): Promise<DemoOrigin> {
  const server: Server = createServer(handle);
  // The proxy keeps upstream connections open for reuse; do not time them out before it does.
  server.keepAliveTimeout = 0;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve({
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
