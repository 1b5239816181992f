/**
 * HPACK (RFC 7541) for one HTTP/2 connection: one {@link HpackEncoder} for what we send and one
 * {@link HpackDecoder} for what we receive. The only file that imports hpack.js.
 *
 * Decoding: hpack.js supplies the bit-level reading (prefix integers, string literals, Huffman)
 * and the static + dynamic table with eviction. Its Compressor / Decompressor streams are not used: they
 * report errors asynchronously or through 'error' events, go through readable-stream per header,
 * and miss several RFC 7541 checks. Instead this file walks the field representations of RFC 7541
 * §6 itself (the same few lines as Decompressor#_execute / Compressor#_encodeHeader) so that
 * every violation becomes a COMPRESSION_ERROR value and limits apply while decoding.
 *
 * Detected by hpack.js: index 0 and out of range (table.lookup), size update above the limit
 * (table.updateSize), EOS in a Huffman string, Huffman padding longer than 7 bits or not all
 * ones, integers longer than 4 continuation octets, string literals longer than the block.
 * Added here: size update after the first field (§4.2), a missing or too large size update after
 * our SETTINGS_HEADER_TABLE_SIZE went down (§4.2), and explicit index checks with clear messages.
 * An integer cut off by the block's end makes hpack.js read past its buffer and throw a
 * TypeError; like its assertions, that is caught and mapped to COMPRESSION_ERROR.
 *
 * Encoding uses only hpack.js's static table and Huffman code table; the writer and the encoder's
 * dynamic table are ours (see "Encoder" below).
 */
import hpack from 'hpack.js';
import { ErrorCode, connectionError } from './frame.js';
import type { ConnectionError } from './frame.js';

/** One header field: lowercase name (HTTP/2 requires it; not checked here) and value. */
export type HeaderField = readonly [name: string, value: string];
export type HeaderList = readonly HeaderField[];

/** RFC 7541 §4.1 / RFC 9113 §6.5.2: each field counts name + value + 32 octets. */
export const HEADER_FIELD_OVERHEAD = 32;
/** RFC 9113 §6.5.2 default SETTINGS_HEADER_TABLE_SIZE. */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;
/** Envoy's `max_request_headers_kb` default (60 KiB). */
export const DEFAULT_MAX_HEADER_LIST_SIZE = 60 * 1024;
/** Envoy's `max_headers_count` default. */
export const DEFAULT_MAX_HEADER_COUNT = 100;

const STATIC_TABLE = hpack['static-table'].table;
const HUFFMAN_CODES = hpack.huffman.encode;
/** Static table name -> first index, and name -> value -> index (own Maps: hpack.js's lookup
 * objects inherit Object.prototype, so a header named `constructor` would break them). */
const STATIC_NAMES = new Map<string, number>();
const STATIC_FIELDS = new Map<string, Map<string, number>>();
for (let i = 0; i < STATIC_TABLE.length; i++) {
  const { name, value } = STATIC_TABLE[i]!;
  if (!STATIC_NAMES.has(name)) STATIC_NAMES.set(name, i + 1);
  let values = STATIC_FIELDS.get(name);
  if (values === undefined) STATIC_FIELDS.set(name, (values = new Map()));
  if (!values.has(value)) values.set(value, i + 1);
}

function compressionError(message: string): ConnectionError {
  return connectionError(ErrorCode.COMPRESSION_ERROR, `HPACK: ${message}`);
}

function octetsToString(s: Buffer | number[]): string {
  if (Buffer.isBuffer(s)) return s.toString('latin1');
  return s.length <= 4096 ? String.fromCharCode(...s) : Buffer.from(s).toString('latin1');
}

// ---------------------------------------------------------------------------------------------
// Decoder

export interface HpackDecoderOptions {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask for. Default 4096. */
  readonly maxTableSize?: number;
  /** Our SETTINGS_MAX_HEADER_LIST_SIZE (sum of name + value + 32). Default 60 KiB. */
  readonly maxHeaderListSize?: number;
  /** Most fields in one block. Default 100. */
  readonly maxHeaderCount?: number;
}

/** A decoded header block. */
export interface DecodedHeaders {
  readonly kind: 'headers';
  readonly headers: HeaderField[];
  /**
   * Names sent as "never indexed" (RFC 7541 §6.2.3), usually undefined. An intermediary MUST
   * forward them with the same representation (§7.1.3): pass this set to HpackEncoder.encode.
   */
  readonly neverIndexed: ReadonlySet<string> | undefined;
  /** Header list size (RFC 9113 §6.5.2). */
  readonly size: number;
}

/**
 * The block decoded correctly (the dynamic table is in sync) but exceeded a limit; the fields are
 * dropped. The session maps this to a 431 / RST_STREAM or a connection error by its policy.
 */
export interface HeaderListTooLarge {
  readonly kind: 'header-list-too-large';
  readonly limit: 'size' | 'count';
  /** Totals over the whole block. */
  readonly size: number;
  readonly count: number;
}

export type HpackDecodeResult = DecodedHeaders | HeaderListTooLarge | ConnectionError;

/**
 * Decodes whole header blocks, in the order received, for every stream: also for streams that
 * are refused or reset, because the dynamic table is shared (RFC 9113 §4.3). A COMPRESSION_ERROR
 * is final: every later call returns it again.
 */
export class HpackDecoder {
  private readonly table: hpack.Table;
  private readonly input: hpack.Decoder;
  private maxListSize: number;
  private maxCount: number;
  /** When our table size limit went below the table's size: the largest first update allowed. */
  private requiredUpdate: number | undefined;
  private failure: ConnectionError | undefined;

  constructor(options: HpackDecoderOptions = {}) {
    this.table = hpack.table.create({ maxSize: options.maxTableSize ?? DEFAULT_HEADER_TABLE_SIZE });
    this.input = hpack.decoder.create();
    this.maxListSize = options.maxHeaderListSize ?? DEFAULT_MAX_HEADER_LIST_SIZE;
    this.maxCount = options.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT;
  }

  /**
   * Sets our SETTINGS_HEADER_TABLE_SIZE as the bound for size updates. Raise it when sending the
   * SETTINGS (the peer may use the larger size at once) and lower it when the peer ACKs; after a
   * decrease below the current table size the next block MUST start with a size update no larger
   * than the smallest value set (RFC 7541 §4.2).
   */
  setMaxTableSize(size: number): void {
    this.table.protocolMaxSize = size;
    if (size < this.table.maxSize) {
      this.requiredUpdate = Math.min(this.requiredUpdate ?? size, size);
    }
  }

  /** Changes the header list limits for the next blocks. */
  setHeaderListLimits(maxHeaderListSize: number, maxHeaderCount: number): void {
    this.maxListSize = maxHeaderListSize;
    this.maxCount = maxHeaderCount;
  }

  /** Current dynamic table size in octets (RFC 7541 §4.1). */
  get dynamicTableSize(): number {
    return this.table.size;
  }

  /** Current maximum dynamic table size (as last set by a size update). */
  get dynamicTableMaxSize(): number {
    return this.table.maxSize;
  }

  /** Decodes one complete header block (HEADERS/PUSH_PROMISE + CONTINUATION fragments). */
  decode(block: Buffer | readonly Buffer[]): HpackDecodeResult {
    if (this.failure !== undefined) return this.failure;
    if (Buffer.isBuffer(block)) {
      this.input.push(block);
    } else {
      for (const fragment of block) this.input.push(fragment);
    }
    let result: HpackDecodeResult;
    try {
      result = this.decodeFields();
    } catch (err) {
      // hpack.js reports malformed input by throwing (its assert() or a read past its buffer).
      result = compressionError(err instanceof Error ? err.message : String(err));
    }
    if (result.kind === 'connection') this.failure = result;
    return result;
  }

  private entry(index: number): hpack.TableEntry | undefined {
    return index === 0 || index > this.table.length ? undefined : this.table.lookup(index);
  }

  /** RFC 7541 §6: one representation per iteration; throws only from inside hpack.js. */
  private decodeFields(): HpackDecodeResult {
    const input = this.input;
    const table = this.table;
    const headers: HeaderField[] = [];
    let neverIndexed: Set<string> | undefined;
    let size = 0;
    let count = 0;
    let over: 'size' | 'count' | undefined;
    let fieldSeen = false;
    let required = this.requiredUpdate;
    this.requiredUpdate = undefined;
    while (!input.isEmpty()) {
      let name: string;
      let value: string;
      let never = false;
      if (input.decodeBit() === 1) {
        // §6.1 Indexed Header Field.
        const index = input.decodeInt();
        const entry = this.entry(index);
        if (entry === undefined) return compressionError(`index ${index} out of range`);
        if (required !== undefined) return compressionError('expected a dynamic table size update');
        name = entry.name;
        value = entry.value;
      } else {
        const incremental = input.decodeBit() === 1;
        if (!incremental) {
          if (input.decodeBit() === 1) {
            // §6.3 Dynamic Table Size Update: only at the start of a block (§4.2), within our
            // SETTINGS_HEADER_TABLE_SIZE, and no larger than a pending decrease.
            const newSize = input.decodeInt();
            if (fieldSeen) return compressionError('dynamic table size update after a field');
            if (newSize > table.protocolMaxSize) {
              return compressionError(`table size ${newSize} above ${table.protocolMaxSize}`);
            }
            if (required !== undefined) {
              if (newSize > required) return compressionError(`table size ${newSize} above ${required}`);
              required = undefined;
            }
            table.updateSize(newSize);
            continue;
          }
          // §6.2.2 without indexing (0000) / §6.2.3 never indexed (0001).
          never = input.decodeBit() === 1;
        }
        if (required !== undefined) return compressionError('expected a dynamic table size update');
        const nameIndex = input.decodeInt();
        if (nameIndex === 0) {
          name = octetsToString(input.decodeStr());
        } else {
          const entry = this.entry(nameIndex);
          if (entry === undefined) return compressionError(`name index ${nameIndex} out of range`);
          name = entry.name;
        }
        value = octetsToString(input.decodeStr());
        // §6.2.1 with incremental indexing; latin1 strings: length === octets.
        if (incremental) table.add(name, value, name.length, value.length);
      }
      fieldSeen = true;
      size += name.length + value.length + HEADER_FIELD_OVERHEAD;
      count++;
      if (over === undefined) {
        // Past a limit, keep decoding (the table must stay in sync) but stop collecting.
        if (size > this.maxListSize) over = 'size';
        else if (count > this.maxCount) over = 'count';
        else {
          headers.push([name, value]);
          if (never) (neverIndexed ??= new Set()).add(name);
        }
      }
    }
    if (required !== undefined) return compressionError('expected a dynamic table size update');
    if (over !== undefined) return { kind: 'header-list-too-large', limit: over, size, count };
    return { kind: 'headers', headers, neverIndexed, size };
  }
}
// ---------------------------------------------------------------------------------------------
// Encoder
//
// Our own byte writer rather than hpack.js's (its wbuf goes through the deprecated Buffer()
// constructor on every octet run and renders chunk lists): fields are written straight into one
// scratch buffer per connection, the dynamic table is indexed by Maps so that a repeated field is
// one lookup, and Huffman coding (RFC 7541 Appendix B) is used only where it is shorter.

export interface HpackEncoderOptions {
  /** The largest dynamic table we use, whatever the peer allows. Default 4096. */
  readonly maxTableSize?: number;
  /** false: add nothing to the dynamic table (blocks are self-contained). Default true. */
  readonly useDynamicTable?: boolean;
  /** Huffman-code strings when that is shorter ('auto', default), always, or never. */
  readonly huffman?: 'auto' | 'always' | 'never';
}

/** Never indexed (RFC 7541 §7.1.3): credentials, and short cookies (nghttp2's convention). */
function isSensitive(name: string, value: string): boolean {
  return (
    name === 'authorization' ||
    name === 'proxy-authorization' ||
    (name === 'cookie' && value.length < 20)
  );
}

/** Not worth a table entry (nghttp2's list): values that rarely repeat. */
const NOT_INDEXED = new Set([
  ':path', 'age', 'content-length', 'etag', 'if-modified-since', 'if-none-match', 'location',
  'set-cookie',
]);

/** Huffman code length (bits) and code per octet, and powers of two for bit packing. */
const HUFFMAN_LENGTH = new Uint8Array(256);
const HUFFMAN_CODE = new Float64Array(256);
for (let i = 0; i < 256; i++) {
  HUFFMAN_LENGTH[i] = HUFFMAN_CODES[i]![0];
  HUFFMAN_CODE[i] = HUFFMAN_CODES[i]![1];
}
const POW2 = new Float64Array(40);
for (let i = 0; i < POW2.length; i++) POW2[i] = 2 ** i;

const STATIC_COUNT = STATIC_TABLE.length;

/** One entry of our encoder's dynamic table; `seq` numbers insertions (the newest is highest). */
interface EncoderEntry {
  readonly name: string;
  readonly value: string;
  readonly size: number;
  readonly seq: number;
}

/** Encodes header lists into blocks for one connection (we are the peer's decoder's encoder). */
export class HpackEncoder {
  private readonly cap: number;
  private readonly indexing: boolean;
  private readonly huffman: 'auto' | 'always' | 'never';
  /** Dynamic table, oldest first from `head` (evictions advance `head`, no shifting). */
  private entries: EncoderEntry[] = [];
  private head = 0;
  private inserted = 0;
  private tableSize = 0;
  private tableMaxSize: number;
  /** name -> value -> seq, and name -> newest seq, of the entries in the table. */
  private readonly byField = new Map<string, Map<string, number>>();
  private readonly byName = new Map<string, number>();
  /** Size updates owed at the start of the next block (RFC 7541 §4.2): smallest, then final. */
  private pendingMin: number | undefined;
  private pendingFinal = 0;
  private buf = Buffer.allocUnsafe(1024);
  private pos = 0;

  constructor(options: HpackEncoderOptions = {}) {
    this.cap = options.maxTableSize ?? DEFAULT_HEADER_TABLE_SIZE;
    this.indexing = options.useDynamicTable ?? true;
    this.huffman = options.huffman ?? 'auto';
    // The peer's decoder starts at the default SETTINGS_HEADER_TABLE_SIZE.
    this.tableMaxSize = Math.min(this.cap, DEFAULT_HEADER_TABLE_SIZE);
    if (this.cap < DEFAULT_HEADER_TABLE_SIZE) {
      this.pendingMin = this.cap;
      this.pendingFinal = this.cap;
    }
  }

  /** Current dynamic table size in octets. */
  get dynamicTableSize(): number {
    return this.tableSize;
  }

  /** Current maximum dynamic table size. */
  get dynamicTableMaxSize(): number {
    return this.tableMaxSize;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block starts with the size update(s)
   * (we use at most our own cap).
   */
  setPeerMaxTableSize(size: number): void {
    const effective = Math.min(size, this.cap);
    if (this.pendingMin === undefined) {
      if (effective === this.tableMaxSize) return;
      this.pendingMin = effective;
    } else {
      this.pendingMin = Math.min(this.pendingMin, effective);
    }
    this.pendingFinal = effective;
  }

  /**
   * Encodes one header block. Names in `neverIndex` (e.g. DecodedHeaders.neverIndexed when
   * forwarding) are sent as never indexed, as are credentials.
   */
  encode(headers: HeaderList, neverIndex?: ReadonlySet<string>): Buffer {
    return this.encodeReserving(headers, neverIndex, 0);
  }

  /**
   * encode() into a buffer whose first `reserve` octets are left for the caller (a frame
   * header), so that the block is copied once, straight into the frame.
   */
  encodeReserving(headers: HeaderList, neverIndex: ReadonlySet<string> | undefined, reserve: number): Buffer {
    this.ensure(reserve);
    this.pos = reserve;
    if (this.pendingMin !== undefined) {
      if (this.pendingMin < this.pendingFinal) this.sizeUpdate(this.pendingMin);
      this.sizeUpdate(this.pendingFinal);
      this.pendingMin = undefined;
    }
    for (let i = 0; i < headers.length; i++) {
      const [name, value] = headers[i]!;
      const never = isSensitive(name, value) || (neverIndex !== undefined && neverIndex.has(name));
      this.encodeField(name, value, never);
    }
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, reserve, reserve, this.pos);
    return out;
  }

  private sizeUpdate(size: number): void {
    this.ensure(6);
    this.writeInt(0x20, 5, size);
    this.tableMaxSize = size;
    this.evictTo(size);
  }

  private encodeField(name: string, value: string, never: boolean): void {
    this.ensure(12);
    if (!never) {
      const index = this.fieldIndex(name, value);
      if (index !== 0) {
        // §6.1 Indexed Header Field.
        this.writeInt(0x80, 7, index);
        return;
      }
    }
    const nameIndex = this.nameIndex(name);
    const entrySize = name.length + value.length + HEADER_FIELD_OVERHEAD;
    const add = !never && this.indexing && !NOT_INDEXED.has(name) && entrySize <= (this.tableMaxSize * 3) / 4;
    // §6.2.1 incremental indexing (01), §6.2.3 never indexed (0001), §6.2.2 without indexing (0000).
    if (add) this.writeInt(0x40, 6, nameIndex);
    else this.writeInt(never ? 0x10 : 0x00, 4, nameIndex);
    if (nameIndex === 0) this.writeString(name);
    this.writeString(value);
    if (add) this.addEntry(name, value, entrySize);
  }

  /** §5.1: `value` with an N-bit prefix, the high bits of the first octet being `pattern`. */
  private writeInt(pattern: number, prefixBits: number, value: number): void {
    const buf = this.buf;
    const max = (1 << prefixBits) - 1;
    if (value < max) {
      buf[this.pos++] = pattern | value;
      return;
    }
    buf[this.pos++] = pattern | max;
    let rest = value - max;
    while (rest >= 128) {
      buf[this.pos++] = (rest % 128) | 0x80;
      rest = Math.floor(rest / 128);
    }
    buf[this.pos++] = rest;
  }

  /** §5.2: a string literal, Huffman-coded when that is shorter (or as configured). */
  private writeString(s: string): void {
    const n = s.length;
    let huffman = false;
    let bits = 0;
    if (this.huffman !== 'never') {
      for (let i = 0; i < n; i++) bits += HUFFMAN_LENGTH[s.charCodeAt(i) & 0xff]!;
      huffman = this.huffman === 'always' || (bits + 7) >>> 3 < n;
    }
    if (!huffman) {
      this.ensure(n + 6);
      this.writeInt(0x00, 7, n);
      if (n <= 64) {
        // Short strings: a loop beats Buffer#write's encoding dispatch.
        const buf = this.buf;
        const pos = this.pos;
        for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i);
        this.pos = pos + n;
      } else {
        this.pos += this.buf.write(s, this.pos, n, 'latin1');
      }
      return;
    }
    const octets = (bits + 7) >>> 3;
    this.ensure(octets + 6);
    this.writeInt(0x80, 7, octets);
    const buf = this.buf;
    let pos = this.pos;
    // Pending bits in `acc` (fewer than 8 between codes; codes are at most 30 bits, so the
    // float stays exact).
    let acc = 0;
    let pending = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i) & 0xff;
      const len = HUFFMAN_LENGTH[c]!;
      acc = acc * POW2[len]! + HUFFMAN_CODE[c]!;
      pending += len;
      while (pending >= 8) {
        pending -= 8;
        const octet = Math.floor(acc / POW2[pending]!);
        buf[pos++] = octet;
        acc -= octet * POW2[pending]!;
      }
    }
    // §5.2: padded with the most significant bits of EOS (all ones).
    if (pending > 0) buf[pos++] = acc * POW2[8 - pending]! + (POW2[8 - pending]! - 1);
    this.pos = pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  // ---- dynamic table (RFC 7541 §2.3.2, §4) ----

  private addEntry(name: string, value: string, size: number): void {
    // §4.4: evict until the new entry fits (it always does: `add` checked its size).
    this.evictTo(this.tableMaxSize - size);
    const seq = this.inserted++;
    this.entries.push({ name, value, size, seq });
    this.tableSize += size;
    let values = this.byField.get(name);
    if (values === undefined) this.byField.set(name, (values = new Map()));
    values.set(value, seq);
    this.byName.set(name, seq);
  }

  /** Evicts the oldest entries until the table holds at most `size` octets. */
  private evictTo(size: number): void {
    const entries = this.entries;
    while (this.tableSize > size && this.head < entries.length) {
      const e = entries[this.head++]!;
      this.tableSize -= e.size;
      const values = this.byField.get(e.name);
      if (values !== undefined && values.get(e.value) === e.seq) {
        values.delete(e.value);
        if (values.size === 0) this.byField.delete(e.name);
      }
      if (this.byName.get(e.name) === e.seq) this.byName.delete(e.name);
    }
    if (this.head === entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > entries.length) {
      this.entries = entries.slice(this.head);
      this.head = 0;
    }
  }

  /** The index of dynamic entry `seq` (the newest is STATIC_COUNT + 1). */
  private dynamicIndex(seq: number): number {
    return STATIC_COUNT + this.inserted - seq;
  }

  /** Index of an entry equal to (name, value), or 0. */
  private fieldIndex(name: string, value: string): number {
    const staticIndex = STATIC_FIELDS.get(name)?.get(value);
    if (staticIndex !== undefined) return staticIndex;
    const seq = this.byField.get(name)?.get(value);
    return seq === undefined ? 0 : this.dynamicIndex(seq);
  }

  /** Index of an entry named `name`, or 0. */
  private nameIndex(name: string): number {
    const staticIndex = STATIC_NAMES.get(name);
    if (staticIndex !== undefined) return staticIndex;
    const seq = this.byName.get(name);
    return seq === undefined ? 0 : this.dynamicIndex(seq);
  }
}
