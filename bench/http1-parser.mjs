// HTTP/1 parser benchmark: sluice's llhttp-wasm Parser (codecs/http1/parser.ts) against Node's
// native llhttp binding (the HTTPParser that node:http uses, via node:_http_common), on the same
// bytes fed in 64 KiB chunks like socket reads. Also times head-encoding strategies for
// codecs/http1/encoder.ts.
//
//   npx tsc -p tsconfig.build.json && node bench/http1-parser.mjs
//
// Workloads: 10k pipelined GETs with 8 headers; 2k chunked POSTs (4 KiB body in 8 chunks);
// 10k responses with 6 headers and a 100-byte body. "raw" consumers only look at offsets; the
// "strings" consumer builds the url and header strings, which Node's binding always does.
import { createRequire } from 'node:module';
import { STATUS_CODES } from 'node:http';
import { CallbackResult, Parser } from '../dist/codecs/http1/parser.js';
import { encodeResponseHead } from '../dist/codecs/http1/encoder.js';

const require = createRequire(import.meta.url);
const { HTTPParser } = require('_http_common');

const CHUNK = 64 * 1024;
const ROUNDS = 25;

function getRequests(n) {
  const one =
    'GET /api/v1/items/12345?fields=a,b,c HTTP/1.1\r\n' +
    'Host: api.example.com\r\n' +
    'User-Agent: bench/1.0\r\n' +
    'Accept: application/json\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    'Cache-Control: no-cache\r\n' +
    'Connection: keep-alive\r\n' +
    'X-Request-Id: 3f2a1b4c-5d6e-7f80-91a2-b3c4d5e6f708\r\n\r\n';
  return Buffer.from(one.repeat(n), 'latin1');
}

function chunkedPosts(n) {
  const piece = 'x'.repeat(512);
  let body = '';
  for (let i = 0; i < 8; i++) body += `200;i=${i}\r\n${piece}\r\n`;
  const one =
    'POST /upload HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/octet-stream\r\n' +
    `Transfer-Encoding: chunked\r\n\r\n${body}0\r\n\r\n`;
  return Buffer.from(one.repeat(n), 'latin1');
}

function responses(n) {
  const one =
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n' +
    'Date: Tue, 25 Nov 2025 14:00:00 GMT\r\nServer: upstream\r\nCache-Control: no-cache\r\n' +
    `Vary: accept-encoding\r\n\r\n${'y'.repeat(100)}`;
  return Buffer.from(one.repeat(n), 'latin1');
}

function chunks(buf) {
  const out = [];
  for (let i = 0; i < buf.length; i += CHUNK) out.push(buf.subarray(i, i + CHUNK));
  return out;
}

const ok = () => CallbackResult.Success;

/** Offsets only: what a consumer that defers string creation pays. */
function wasmRaw(type, pause) {
  let messages = 0;
  let bodyBytes = 0;
  const parser = new Parser(type, {
    onMessageBegin: ok,
    onUrl: ok,
    onStatus: ok,
    onHeaderField: ok,
    onHeaderValue: ok,
    onHeadersComplete: ok,
    onBody: (d) => ((bodyBytes += d.length), CallbackResult.Success),
    onTrailerField: ok,
    onTrailerValue: ok,
    onMessageComplete: () => (messages++, pause ? CallbackResult.Pause : CallbackResult.Success),
  });
  return {
    feed(chunk) {
      let rest = chunk;
      for (;;) {
        const r = parser.execute(rest);
        if (r.status === 'ok') return;
        if (r.status !== 'paused') throw new Error(`${r.status} ${r.errorCode} ${r.errorReason}`);
        parser.resume();
        rest = rest.subarray(r.consumed);
      }
    },
    done() {
      parser.destroy();
      return { messages, bodyBytes };
    },
  };
}

/**
 * Builds the same strings Node's binding hands out: url, status text, [name, value, ...], with
 * `buf.toString('latin1', s, e)` or with Buffer's undocumented `latin1Slice(s, e)` (no argument
 * normalisation), which node:http and undici use internally.
 */
function wasmStrings(type, fast = false) {
  const str = fast ? (d, s, e) => d.latin1Slice(s, e) : (d, s, e) => d.toString('latin1', s, e);
  let messages = 0;
  let bodyBytes = 0;
  let url = '';
  let field = '';
  let value = '';
  let headers = [];
  let inValue = false;
  let last = null;
  const parser = new Parser(type, {
    onMessageBegin: () => ((url = ''), (headers = []), (field = ''), (value = ''), (inValue = false), CallbackResult.Success),
    onUrl: (d, s, e) => ((url += str(d, s, e)), CallbackResult.Success),
    onStatus: (d, s, e) => ((url += str(d, s, e)), CallbackResult.Success),
    onHeaderField: (d, s, e) => {
      if (inValue) {
        headers.push(field, value);
        field = '';
        value = '';
        inValue = false;
      }
      field += str(d, s, e);
      return CallbackResult.Success;
    },
    onHeaderValue: (d, s, e) => ((value += str(d, s, e)), (inValue = true), CallbackResult.Success),
    onHeadersComplete: () => {
      if (inValue) headers.push(field, value.trimEnd());
      last = [parser.method, url, headers.length];
      return CallbackResult.Success;
    },
    onBody: (d) => ((bodyBytes += d.length), CallbackResult.Success),
    onTrailerField: ok,
    onTrailerValue: ok,
    onMessageComplete: () => (messages++, CallbackResult.Success),
  });
  return {
    feed(chunk) {
      const r = parser.execute(chunk);
      if (r.status !== 'ok') throw new Error(`${r.status} ${r.errorCode} ${r.errorReason}`);
    },
    done() {
      parser.destroy();
      if (last === null) throw new Error('no message');
      return { messages, bodyBytes };
    },
  };
}

/**
 * Same strings, decoded once per head: pieces are recorded as offsets, and at headers complete
 * one latin1 string of the whole head is cut with String#slice (falls back to per-piece decoding
 * when the head spans input chunks).
 */
function wasmHeadSlice(type) {
  let messages = 0;
  let bodyBytes = 0;
  let buf = null;
  let mixed = false;
  const offs = new Int32Array(3 * 256);
  const bufs = [];
  let n = 0;
  let last = null;
  const piece = (k) => (d, s, e) => {
    if (buf === null) buf = d;
    else if (d !== buf) mixed = true;
    const j = n * 3;
    if (n > 0 && offs[j - 1] === k && offs[j - 2] === s && bufs[n - 1] === d) {
      offs[j - 2] = e;
    } else {
      offs[j] = s;
      offs[j + 1] = e;
      offs[j + 2] = k;
      bufs[n] = d;
      n++;
    }
    return CallbackResult.Success;
  };
  const parser = new Parser(type, {
    onMessageBegin: () => ((buf = null), (mixed = false), (n = 0), CallbackResult.Success),
    onUrl: piece(1),
    onStatus: piece(1),
    onHeaderField: piece(2),
    onHeaderValue: piece(3),
    onHeadersComplete: () => {
      let url = '';
      const headers = [];
      const start = offs[0];
      const head = mixed ? '' : buf.latin1Slice(start, offs[(n - 1) * 3 + 1]);
      let prevKind = 0;
      for (let i = 0; i < n; i++) {
        const k = offs[i * 3 + 2];
        const str = mixed
          ? bufs[i].latin1Slice(offs[i * 3], offs[i * 3 + 1])
          : head.slice(offs[i * 3] - start, offs[i * 3 + 1] - start);
        if (k === 1) url += str;
        else if (k === prevKind) headers[headers.length - 1] += str;
        else headers.push(str);
        prevKind = k;
      }
      for (let i = 1; i < headers.length; i += 2) headers[i] = headers[i].trimEnd();
      last = [parser.method, url, headers.length];
      return CallbackResult.Success;
    },
    onBody: (d) => ((bodyBytes += d.length), CallbackResult.Success),
    onTrailerField: ok,
    onTrailerValue: ok,
    onMessageComplete: () => (messages++, CallbackResult.Success),
  });
  return {
    feed(chunk) {
      const r = parser.execute(chunk);
      if (r.status !== 'ok') throw new Error(`${r.status} ${r.errorCode} ${r.errorReason}`);
    },
    done() {
      parser.destroy();
      if (last === null || last[2] === 0) throw new Error('no message');
      return { messages, bodyBytes };
    },
  };
}

function native(type) {
  let messages = 0;
  let bodyBytes = 0;
  let headers = 0;
  const parser = new HTTPParser();
  parser.initialize(type === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 0, 0);
  parser[HTTPParser.kOnHeaders] = (h) => {
    headers += h.length;
  };
  parser[HTTPParser.kOnHeadersComplete] = (_maj, _min, h) => {
    if (h !== undefined) headers += h.length;
    return 0;
  };
  parser[HTTPParser.kOnBody] = (b) => {
    bodyBytes += b.length;
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    messages++;
  };
  return {
    feed(chunk) {
      const r = parser.execute(chunk);
      if (typeof r !== 'number') throw r;
    },
    done() {
      parser.close();
      if (headers === 0) throw new Error('no headers');
      return { messages, bodyBytes };
    },
  };
}

/** Runs the contenders interleaved, round after round, and reports each one's median ns/message. */
function timeAll(contenders, pieces, expected) {
  const samples = contenders.map(() => []);
  for (let round = 0; round < ROUNDS + 3; round++) {
    contenders.forEach(([, make], i) => {
      const t0 = process.hrtime.bigint();
      const c = make();
      for (const piece of pieces) c.feed(piece);
      const r = c.done();
      const ns = Number(process.hrtime.bigint() - t0);
      if (r.messages !== expected) throw new Error(`parsed ${r.messages} of ${expected}`);
      if (round >= 3) samples[i].push(ns / expected);
    });
  }
  return samples.map((s) => s.sort((a, b) => a - b)[s.length >> 1]);
}

function runWorkload(name, type, buf, count) {
  const pieces = chunks(buf);
  const contenders = [
    ['node native llhttp (HTTPParser)', () => native(type)],
    ['sluice wasm, strings (toString)', () => wasmStrings(type)],
    ['sluice wasm, strings (latin1Slice)', () => wasmStrings(type, true)],
    ['sluice wasm, strings (one slice per head)', () => wasmHeadSlice(type)],
    ['sluice wasm, raw offsets', () => wasmRaw(type, false)],
    ['sluice wasm, raw + pause per message', () => wasmRaw(type, true)],
  ];
  console.log(`\n${name}: ${count} messages, ${(buf.length / 1024).toFixed(0)} KiB in ${pieces.length} chunks`);
  const ns = timeAll(contenders, pieces, count);
  contenders.forEach(([label], i) => {
    const mbps = (buf.length / count / ns[i]) * 1e3;
    console.log(
      `  ${label.padEnd(42)} ${ns[i].toFixed(0).padStart(6)} ns/msg  ${mbps.toFixed(0).padStart(5)} MB/s  x${(ns[i] / ns[0]).toFixed(2)} of native`,
    );
  });
}

function encoderBench() {
  const headers = [
    ['content-type', 'application/json; charset=utf-8'], ['content-length', '1234'],
    ['date', 'Tue, 25 Nov 2025 14:00:00 GMT'], ['server', 'sluice'], ['cache-control', 'no-cache'],
    ['x-request-id', '3f2a1b4c-5d6e-7f80-91a2-b3c4d5e6f708'], ['vary', 'accept-encoding'], ['etag', '"abc123"'],
  ];
  const flat = headers.flat();
  const concat = () => {
    let s = `HTTP/1.1 200 ${STATUS_CODES[200]}\r\n`;
    for (let i = 0; i < flat.length; i += 2) s += `${flat[i]}: ${flat[i + 1]}\r\n`;
    return Buffer.from(`${s}\r\n`, 'latin1');
  };
  const allocWrite = () => {
    const reason = STATUS_CODES[200];
    let n = 15 + reason.length + 2;
    for (let i = 0; i < flat.length; i += 2) n += flat[i].length + flat[i + 1].length + 4;
    const b = Buffer.allocUnsafe(n);
    let o = b.write('HTTP/1.1 200 ', 0, 'latin1');
    o += b.write(reason, o, 'latin1');
    b[o++] = 13;
    b[o++] = 10;
    for (let i = 0; i < flat.length; i += 2) {
      o += b.write(flat[i], o, 'latin1');
      b[o++] = 58;
      b[o++] = 32;
      o += b.write(flat[i + 1], o, 'latin1');
      b[o++] = 13;
      b[o++] = 10;
    }
    b[o++] = 13;
    b[o++] = 10;
    return b;
  };
  const ref = concat();
  const variants = [
    ['string concat + Buffer.from (unvalidated)', concat],
    ['allocUnsafe + write per piece (unvalidated)', allocWrite],
    ['encodeResponseHead, flat list (validated)', () => encodeResponseHead(200, flat)],
    ['encodeResponseHead, pairs (validated)', () => encodeResponseHead(200, headers)],
  ];
  console.log('\nencoder: 200 response head with 8 headers');
  for (const [label, f] of variants) {
    if (!f().equals(ref)) throw new Error(`${label} differs`);
    const n = 300_000;
    const samples = [];
    for (let round = 0; round < 7; round++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) f();
      samples.push(Number(process.hrtime.bigint() - t0) / n);
    }
    samples.sort((a, b) => a - b);
    console.log(`  ${label.padEnd(46)} ${samples[3].toFixed(0).padStart(5)} ns/head`);
  }
}

console.log(`node ${process.version}, llhttp ${process.versions.llhttp} (native), ${ROUNDS} rounds, median`);
runWorkload('pipelined GET, 8 headers', 'request', getRequests(10_000), 10_000);
runWorkload('chunked POST, 4 KiB in 8 chunks', 'request', chunkedPosts(2_000), 2_000);
runWorkload('responses, 6 headers + 100 B body', 'response', responses(10_000), 10_000);
encoderBench();
