/**
 * Types for the parts of hpack.js 2.1.6 (CommonJS, untyped) that codecs/http2/hpack.ts uses: the
 * bit-level decoder and encoder (integers, strings, Huffman) and the header table. Only hpack.ts
 * imports this module.
 */
declare module 'hpack.js' {
  namespace hpack {
    /** A static or dynamic table entry. */
    interface TableEntry {
      readonly name: string;
      readonly value: string;
      readonly nameSize: number;
      readonly totalSize: number;
    }

    /** Static + dynamic table (RFC 7541 §2.3); indices are 1-based, dynamic after static. */
    interface Table {
      /** Current dynamic table size in octets (RFC 7541 §4.1). */
      size: number;
      /** Current maximum dynamic table size. */
      maxSize: number;
      /** Upper bound for `maxSize` (updateSize asserts against it). */
      protocolMaxSize: number;
      /** Static entries + dynamic entries: the largest valid index. */
      length: number;
      /** Dynamic entries, oldest first. */
      dynamic: TableEntry[];
      /** Throws on index 0 or out of range. */
      lookup(index: number): TableEntry;
      add(name: string, value: string, nameSize: number, valueSize: number): void;
      /** Throws when `size` exceeds `protocolMaxSize`; evicts to fit. */
      updateSize(size: number): void;
    }

    /** Bit reader over pushed chunks; every method throws on malformed or truncated input. */
    interface Decoder {
      push(chunk: Buffer): void;
      isEmpty(): boolean;
      decodeBit(): number;
      /** Integer with the prefix left in the current octet (RFC 7541 §5.1). */
      decodeInt(): number;
      /** String literal (RFC 7541 §5.2): raw octets as a Buffer, Huffman-decoded as octets. */
      decodeStr(): Buffer | number[];
    }

    /** Bit writer. */
    interface Encoder {
      encodeBit(bit: number): void;
      encodeBits(bits: number, length: number): void;
      /** Integer with the prefix left in the current octet (RFC 7541 §5.1). */
      encodeInt(value: number): void;
      encodeStr(octets: ArrayLike<number>, huffman: boolean): void;
      render(): Buffer[];
    }

    interface StaticTable {
      readonly table: readonly TableEntry[];
      /** name -> { index of the first entry with that name, value -> index }. */
      readonly map: Readonly<Record<string, {
        readonly index: number;
        readonly values: Readonly<Record<string, number>>;
      }>>;
    }
  }

  const hpack: {
    readonly table: { create(options: { maxSize: number; lookupDepth?: number }): hpack.Table };
    readonly decoder: { create(): hpack.Decoder };
    readonly encoder: { create(): hpack.Encoder };
    readonly huffman: {
      /** Per octet 0..256: [code length in bits, code]. */
      readonly encode: readonly (readonly [number, number])[];
    };
    readonly 'static-table': hpack.StaticTable;
  };
  export = hpack;
}
