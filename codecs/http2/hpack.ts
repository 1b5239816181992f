/**
 * HPACK (RFC 7541) for one HTTP/2 connection: one {@link HpackEncoder} for what we send and one
 * {@link HpackDecoder} for what we receive. The only file that imports hpack.js.
 *
 * hpack.js supplies the bit-level coding (prefix integers, string literals, Huffman) and the
 * static + dynamic table with eviction. Its Compressor / Decompressor streams are not used: they
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

/** Encodes header lists into blocks for one connection (we are the peer's decoder's encoder). */
export class HpackEncoder {
  private readonly table: hpack.Table;
  private readonly cap: number;
  private readonly indexing: boolean;
  private readonly huffman: 'auto' | 'always' | 'never';
  /** Size updates owed at the start of the next block (RFC 7541 §4.2): smallest, then final. */
  private pendingMin: number | undefined;
  private pendingFinal = 0;

  constructor(options: HpackEncoderOptions = {}) {
    this.cap = options.maxTableSize ?? DEFAULT_HEADER_TABLE_SIZE;
    this.indexing = options.useDynamicTable ?? true;
    this.huffman = options.huffman ?? 'auto';
    this.table = hpack.table.create({ maxSize: this.cap });
    // The peer's decoder starts at the default SETTINGS_HEADER_TABLE_SIZE.
    this.table.updateSize(Math.min(this.cap, DEFAULT_HEADER_TABLE_SIZE));
    if (this.cap < DEFAULT_HEADER_TABLE_SIZE) {
      this.pendingMin = this.cap;
      this.pendingFinal = this.cap;
    }
  }

  /** Current dynamic table size in octets. */
  get dynamicTableSize(): number {
    return this.table.size;
  }

  /** Current maximum dynamic table size. */
  get dynamicTableMaxSize(): number {
    return this.table.maxSize;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block starts with the size update(s)
   * (we use at most our own cap).
   */
  setPeerMaxTableSize(size: number): void {
    const effective = Math.min(size, this.cap);
    if (this.pendingMin === undefined) {
      if (effective === this.table.maxSize) return;
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
    const out = hpack.encoder.create();
    if (this.pendingMin !== undefined) {
      if (this.pendingMin < this.pendingFinal) this.sizeUpdate(out, this.pendingMin);
      this.sizeUpdate(out, this.pendingFinal);
      this.pendingMin = undefined;
    }
    for (const [name, value] of headers) {
      const never = isSensitive(name, value) || (neverIndex !== undefined && neverIndex.has(name));
      this.encodeField(out, name, value, never);
    }
    const chunks = out.render();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  private sizeUpdate(out: hpack.Encoder, size: number): void {
    out.encodeBits(0b001, 3);
    out.encodeInt(size);
    this.table.updateSize(size);
  }

  private encodeField(out: hpack.Encoder, name: string, value: string, never: boolean): void {
    if (!never) {
      const index = this.fieldIndex(name, value);
      if (index !== 0) {
        out.encodeBit(1);
        out.encodeInt(index);
        return;
      }
    }
    const nameIndex = this.nameIndex(name);
    const entrySize = name.length + value.length + HEADER_FIELD_OVERHEAD;
    const add =
      !never && this.indexing && !NOT_INDEXED.has(name) && entrySize <= (this.table.maxSize * 3) / 4;
    if (never) out.encodeBits(0b0001, 4);
    else if (add) out.encodeBits(0b01, 2);
    else out.encodeBits(0b0000, 4);
    out.encodeInt(nameIndex);
    if (nameIndex === 0) this.encodeString(out, name);
    this.encodeString(out, value);
    if (add) this.table.add(name, value, name.length, value.length);
  }

  private encodeString(out: hpack.Encoder, s: string): void {
    const octets = Buffer.from(s, 'latin1');
    let huffman = this.huffman === 'always';
    if (this.huffman === 'auto') {
      let bits = 0;
      for (let i = 0; i < octets.length; i++) bits += HUFFMAN_CODES[octets[i]!]![0];
      huffman = Math.ceil(bits / 8) < octets.length;
    }
    out.encodeStr(octets, huffman);
  }

  /** Index of an entry equal to (name, value), or 0. */
  private fieldIndex(name: string, value: string): number {
    const staticIndex = STATIC_FIELDS.get(name)?.get(value);
    if (staticIndex !== undefined) return staticIndex;
    const dynamic = this.table.dynamic;
    for (let i = dynamic.length - 1; i >= 0; i--) {
      const e = dynamic[i]!;
      if (e.name === name && e.value === value) return this.table.length - i;
    }
    return 0;
  }

  /** Index of an entry named `name`, or 0. */
  private nameIndex(name: string): number {
    const staticIndex = STATIC_NAMES.get(name);
    if (staticIndex !== undefined) return staticIndex;
    const dynamic = this.table.dynamic;
    for (let i = dynamic.length - 1; i >= 0; i--) {
      if (dynamic[i]!.name === name) return this.table.length - i;
    }
    return 0;
  }
}
