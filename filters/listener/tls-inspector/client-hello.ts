/**
 * A TLS ClientHello reader for the tls_inspector listener filter: bytes peeked from a new socket
 * in, a verdict out. Pure (no sockets, no clock), and it never copies a ClientHello that arrived
 * in one record.
 *
 * Envoy feeds the peeked bytes to BoringSSL and stops the handshake in the SNI callback; this
 * reader accepts and rejects what that does:
 *
 * - Records (RFC 8446 §5.1): type 22 (handshake), major version 3, length 1..2^14. The ClientHello
 *   may span several records; a record of another type before it is complete means "not TLS".
 * - Handshake header: msg_type 1 (client_hello), a 24-bit length.
 * - ClientHello (RFC 8446 §4.1.2): legacy_version 3.x, random, legacy_session_id <0..32>,
 *   cipher_suites <2..2^16-2> (even), legacy_compression_methods <1..2^8-1>, then extensions
 *   <8..2^16-1> that must fill the rest of the message exactly (or be absent: TLS <= 1.2).
 *   "There MUST NOT be more than one extension of the same type" (RFC 8446 §4.2).
 * - server_name (RFC 6066 §3): BoringSSL takes exactly one entry, of name_type host_name, 1..255
 *   bytes without NUL; anything else fails the handshake, so it is "not TLS" here too.
 * - application_layer_protocol_negotiation (RFC 7301 §3.1): a list of non-empty names. A malformed
 *   list is ignored (Envoy's onALPN leaves it to the real TLS stack), the ClientHello still counts.
 */

export const RECORD_TYPE_HANDSHAKE = 22;
export const HANDSHAKE_TYPE_CLIENT_HELLO = 1;
export const EXTENSION_SERVER_NAME = 0;
export const EXTENSION_ALPN = 16;
const RECORD_HEADER_BYTES = 5;
const HANDSHAKE_HEADER_BYTES = 4;
/** RFC 8446 §5.1: a TLSPlaintext fragment MUST NOT exceed 2^14 bytes. */
const MAX_RECORD_PAYLOAD = 16_384;
/** RFC 6066 §3 / BoringSSL's TLSEXT_MAXLEN_host_name. */
const MAX_HOST_NAME_BYTES = 255;

export type ClientHelloResult =
  /** The bytes so far are a valid prefix; at least `needed` bytes (from the start) are required. */
  | { readonly kind: 'NeedMoreData'; readonly needed: number }
  /** Not a TLS ClientHello (plaintext, another protocol, or a ClientHello TLS would reject). */
  | { readonly kind: 'NotTls'; readonly reason: string }
  | {
      readonly kind: 'ClientHello';
      /** SNI host_name as sent; '' when the extension is absent. */
      readonly serverName: string;
      /** ALPN names in the client's order; undefined when absent or malformed. */
      readonly applicationProtocols: readonly string[] | undefined;
      /** Bytes of the records that carried the ClientHello. */
      readonly bytesProcessed: number;
    };

function notTls(reason: string): ClientHelloResult {
  return { kind: 'NotTls', reason };
}

/**
 * Reads a ClientHello from the start of `data`. NeedMoreData gives a lower bound of the bytes the
 * whole ClientHello takes, known as soon as its handshake header has arrived, so a caller can
 * reject an oversized one before reading it, and skip re-parsing until that many bytes are there.
 */
export function parseClientHello(data: Uint8Array): ClientHelloResult {
  if (data.length === 0) return { kind: 'NeedMoreData', needed: 1 };
  if (data[0] !== RECORD_TYPE_HANDSHAKE) return notTls('not a TLS handshake record');
  // The handshake message, gathered from the records' fragments (a subarray when in one record).
  let parts: Uint8Array[] | undefined;
  let first: Uint8Array | undefined;
  let gathered = 0;
  let messageLength = -1;
  let offset = 0;
  for (;;) {
    if (data.length < offset + 1) return { kind: 'NeedMoreData', needed: lowerBound(offset, gathered, messageLength, offset + 1) };
    if (data[offset] !== RECORD_TYPE_HANDSHAKE) return notTls('a non-handshake record inside the ClientHello');
    if (data.length >= offset + 2 && data[offset + 1] !== 3) return notTls('unknown record-layer version');
    if (data.length < offset + RECORD_HEADER_BYTES) {
      return { kind: 'NeedMoreData', needed: lowerBound(offset, gathered, messageLength, offset + RECORD_HEADER_BYTES) };
    }
    const recordLength = (data[offset + 3]! << 8) | data[offset + 4]!;
    if (recordLength === 0) return notTls('empty handshake record');
    if (recordLength > MAX_RECORD_PAYLOAD) return notTls('record longer than 2^14 bytes');
    const payloadStart = offset + RECORD_HEADER_BYTES;
    const recordEnd = payloadStart + recordLength;
    const available = Math.min(recordEnd, data.length) - payloadStart;
    // Learn the message length as early as possible, even from a partial record.
    if (messageLength < 0 && gathered + available >= HANDSHAKE_HEADER_BYTES) {
      const header = handshakeHeader(first, parts, data.subarray(payloadStart, payloadStart + available), gathered);
      if (header[0] !== HANDSHAKE_TYPE_CLIENT_HELLO) return notTls('first handshake message is not a ClientHello');
      messageLength = (header[1]! << 16) | (header[2]! << 8) | header[3]!;
    } else if (messageLength < 0 && gathered + available >= 1) {
      const type = gathered > 0 ? (first ?? parts![0]!)[0] : data[payloadStart];
      if (type !== HANDSHAKE_TYPE_CLIENT_HELLO) return notTls('first handshake message is not a ClientHello');
    }
    if (recordEnd > data.length) {
      return { kind: 'NeedMoreData', needed: lowerBound(offset, gathered, messageLength, recordEnd) };
    }
    const fragment = data.subarray(payloadStart, recordEnd);
    if (first === undefined && parts === undefined) first = fragment;
    else {
      parts ??= [first!];
      parts.push(fragment);
    }
    gathered += recordLength;
    offset = recordEnd;
    if (messageLength >= 0 && gathered >= HANDSHAKE_HEADER_BYTES + messageLength) break;
  }
  const message = parts === undefined ? first! : Buffer.concat(parts, gathered);
  const body = message.subarray(HANDSHAKE_HEADER_BYTES, HANDSHAKE_HEADER_BYTES + messageLength);
  return parseBody(body, offset);
}

/**
 * The fewest bytes the ClientHello can take: everything before the current record, this record's
 * header and, once the message length is known, the rest of the message (assuming it all fits in
 * this record). Never less than `atLeast`.
 */
function lowerBound(recordStart: number, gathered: number, messageLength: number, atLeast: number): number {
  if (messageLength < 0) return atLeast;
  const rest = HANDSHAKE_HEADER_BYTES + messageLength - gathered;
  return Math.max(atLeast, recordStart + RECORD_HEADER_BYTES + rest);
}

/** The 4-byte handshake header from the gathered fragments plus the current one. */
function handshakeHeader(first: Uint8Array | undefined, parts: Uint8Array[] | undefined, current: Uint8Array, gathered: number): Uint8Array {
  if (gathered === 0) return current;
  const out = new Uint8Array(HANDSHAKE_HEADER_BYTES);
  let n = 0;
  for (const p of [...(parts ?? [first!]), current]) {
    for (let i = 0; i < p.length && n < HANDSHAKE_HEADER_BYTES; i++) out[n++] = p[i]!;
    if (n === HANDSHAKE_HEADER_BYTES) break;
  }
  return out;
}

/** A bounds-checked cursor over the ClientHello body. */
class Reader {
  pos = 0;
  constructor(
    private readonly b: Uint8Array,
    readonly end: number = b.length,
  ) {}

  remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos + 1 > this.end) return -1;
    return this.b[this.pos++]!;
  }

  u16(): number {
    if (this.pos + 2 > this.end) return -1;
    const v = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  /** Skips `n` bytes; false when fewer remain. */
  skip(n: number): boolean {
    if (n < 0 || this.pos + n > this.end) return false;
    this.pos += n;
    return true;
  }
}

function parseBody(body: Uint8Array, bytesProcessed: number): ClientHelloResult {
  const r = new Reader(body);
  const version = r.u16();
  if (version < 0 || version >> 8 !== 3) return notTls('ClientHello legacy_version is not 3.x');
  if (!r.skip(32)) return notTls('truncated ClientHello random');
  const sessionIdLength = r.u8();
  if (sessionIdLength < 0 || sessionIdLength > 32 || !r.skip(sessionIdLength)) return notTls('bad legacy_session_id');
  const cipherSuitesLength = r.u16();
  if (cipherSuitesLength < 2 || cipherSuitesLength % 2 !== 0 || !r.skip(cipherSuitesLength)) return notTls('bad cipher_suites');
  const compressionLength = r.u8();
  if (compressionLength < 1 || !r.skip(compressionLength)) return notTls('bad legacy_compression_methods');
  let serverName = '';
  let applicationProtocols: readonly string[] | undefined;
  if (r.remaining() > 0) {
    const extensionsLength = r.u16();
    if (extensionsLength < 0 || extensionsLength !== r.remaining()) return notTls('extensions do not fill the ClientHello');
    const seen = new Set<number>();
    while (r.remaining() > 0) {
      const type = r.u16();
      const length = r.u16();
      if (length < 0 || length > r.remaining()) return notTls('truncated extension');
      if (seen.has(type)) return notTls(`duplicate extension ${type}`);
      seen.add(type);
      const start = r.pos;
      r.pos += length;
      if (type === EXTENSION_SERVER_NAME) {
        const name = parseServerName(body, start, start + length);
        if (name === undefined) return notTls('malformed server_name extension');
        serverName = name;
      } else if (type === EXTENSION_ALPN) {
        applicationProtocols = parseAlpn(body, start, start + length);
      }
    }
  }
  return { kind: 'ClientHello', serverName, applicationProtocols, bytesProcessed };
}

/** RFC 6066 §3 ServerNameList, the way BoringSSL reads it: exactly one host_name. */
function parseServerName(b: Uint8Array, start: number, end: number): string | undefined {
  const r = new Reader(b, end);
  r.pos = start;
  const listLength = r.u16();
  if (listLength < 0 || listLength !== r.remaining()) return undefined;
  const nameType = r.u8();
  const nameLength = r.u16();
  if (nameType !== 0 || nameLength < 1 || nameLength > MAX_HOST_NAME_BYTES || nameLength !== r.remaining()) return undefined;
  const name = b.subarray(r.pos, r.pos + nameLength);
  if (name.includes(0)) return undefined;
  return Buffer.from(name.buffer, name.byteOffset, name.length).toString('latin1');
}

/** RFC 7301 §3.1 ProtocolNameList; undefined when malformed. */
function parseAlpn(b: Uint8Array, start: number, end: number): string[] | undefined {
  const r = new Reader(b, end);
  r.pos = start;
  const listLength = r.u16();
  if (listLength < 2 || listLength !== r.remaining()) return undefined;
  const names: string[] = [];
  while (r.remaining() > 0) {
    const n = r.u8();
    if (n < 1 || n > r.remaining()) return undefined;
    names.push(Buffer.from(b.buffer, b.byteOffset + r.pos, n).toString('latin1'));
    r.pos += n;
  }
  return names;
}
