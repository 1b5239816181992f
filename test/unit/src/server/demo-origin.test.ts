import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_GREETING, startDemoOrigin, type DemoOrigin } from '../../../../src/server/demo-origin.js';

let origin: DemoOrigin;
beforeAll(async () => {
  origin = await startDemoOrigin('127.0.0.1', 0);
});
afterAll(() => origin.close());

function send(method: string, path: string, body?: Buffer): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: origin.address.port, method, path, agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('demo origin', () => {
  it('answers with the greeting and what it received', async () => {
    const r = await send('POST', '/a/b?c=d', Buffer.alloc(1234, 'x'));
    expect(r.status).toBe(200);
    const lines = r.body.split('\n');
    expect(lines.slice(0, 5)).toEqual([DEMO_GREETING.trimEnd(), 'method: POST', 'path: /a/b?c=d', 'protocol: HTTP/1.1', `host: 127.0.0.1:${origin.address.port}`]);
    expect(lines[5]).toMatch(/^peer: 127\.0\.0\.1:\d+$/);
    expect(lines.slice(6)).toEqual(['body bytes: 1234', '']);
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
  });

  it('answers HEAD without a body', async () => {
    const r = await send('HEAD', '/');
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const r = await send('POST', '/', Buffer.alloc(1024 * 1024 + 1)).catch((e: Error) => ({ status: -1, body: e.message, headers: {} }));
    // The origin answers 413 and closes; the client may see the answer or the reset first.
    expect([413, -1]).toContain(r.status);
    if (r.status === 413) expect(r.body).toBe('request body too large\n');
  });
});
