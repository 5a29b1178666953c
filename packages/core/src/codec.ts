import { Decoder, Encoder, ExtensionCodec } from "@msgpack/msgpack";
import { AssuredError } from "./errors.js";
import {
  assertBoundedMessagePack,
  boundedValueEnd,
  lastCheckedHadBinary,
  MAX_PAYLOAD_DEPTH,
} from "./msgpack-bounds.js";
import { decodeLongStringsNatively } from "./msgpack-strings.js";
import { isNode } from "./runtime.js";

/**
 * The payload codec: any value Socket.IO can carry — JSON values plus binary (`Buffer`,
 * `Uint8Array` and every other typed array, `DataView`, `ArrayBuffer`), nested anywhere — to
 * bytes and back, exactly. Built on MessagePack (`@msgpack/msgpack`) with extension types so
 * each binary kind comes back as the same kind. `Date` round-trips as a `Date`. As with
 * Socket.IO's JSON, object properties whose value is `undefined` are omitted and `undefined`
 * inside arrays becomes `null`. `bigint`, functions and symbols cannot be encoded.
 */

const EXT_ARRAY_BUFFER = 0x10;
const EXT_NODE_BUFFER = 0x11;
const EXT_TYPED_ARRAY = 0x12;

type ViewConstructor = {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): ArrayBufferView;
  readonly BYTES_PER_ELEMENT?: number;
};

// Index in this list is the kind byte on the wire: append only, never reorder.
const VIEW_KINDS: readonly (ViewConstructor | undefined)[] = [
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  typeof BigInt64Array === "undefined" ? undefined : BigInt64Array,
  typeof BigUint64Array === "undefined" ? undefined : BigUint64Array,
  DataView as unknown as ViewConstructor,
];

type NodeBufferLike = { isBuffer(v: unknown): boolean; from(v: Uint8Array): Uint8Array };
const NodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function copyToArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
}

const extensions = new ExtensionCodec();

extensions.register({
  type: EXT_ARRAY_BUFFER,
  encode: (value) => (value instanceof ArrayBuffer ? new Uint8Array(value) : null),
  decode: (data) => copyToArrayBuffer(data),
});

extensions.register({
  type: EXT_NODE_BUFFER,
  encode: (value) => (NodeBuffer?.isBuffer(value) ? bytesOf(value as Uint8Array) : null),
  // Without Node's Buffer (in a browser) a Buffer comes back as a plain Uint8Array.
  decode: (data) => (NodeBuffer ? NodeBuffer.from(data.slice()) : data.slice()),
});

extensions.register({
  type: EXT_TYPED_ARRAY,
  encode: (value) => {
    if (
      !ArrayBuffer.isView(value) ||
      (value instanceof Uint8Array && value.constructor === Uint8Array)
    ) {
      return null;
    }
    const kind = VIEW_KINDS.findIndex((ctor) => ctor !== undefined && value.constructor === ctor);
    if (kind < 0) return null;
    const out = new Uint8Array(value.byteLength + 1);
    out[0] = kind;
    out.set(bytesOf(value), 1);
    return out;
  },
  decode: (data) => {
    const ctor = VIEW_KINDS[data[0] ?? -1];
    if (!ctor)
      throw new AssuredError("CODEC_ERROR", `unknown typed array kind ${data[0]} in payload`);
    const buffer = copyToArrayBuffer(data.subarray(1));
    const size = ctor.BYTES_PER_ELEMENT ?? 1;
    return ctor === (DataView as unknown)
      ? new DataView(buffer)
      : new ctor(buffer, 0, buffer.byteLength / size);
  },
});

const encoder = new Encoder({
  extensionCodec: extensions,
  ignoreUndefined: true,
  maxDepth: MAX_PAYLOAD_DEPTH,
});
const decoder = new Decoder({ extensionCodec: extensions });
decodeLongStringsNatively(decoder);

/**
 * Encodes a value to payload bytes.
 * @throws AssuredError `CODEC_ERROR` for values that cannot be carried (bigint, function, symbol, cycles).
 * @example const payload = encode({ text: "hi", image: buffer });
 */
export function encode(value: unknown): Uint8Array {
  let bytes: Uint8Array;
  try {
    // `encode` returns a copy of the encoder's reused buffer (`encodeSharedRef` would not): the
    // bytes are the caller's own, in a buffer of their exact size. A second copy here cost more
    // than the encoding itself for a small value (a typed array over 64 bytes lives off V8's heap).
    bytes = encoder.encode(value);
  } catch (error) {
    throw new AssuredError(
      "CODEC_ERROR",
      `cannot encode value: ${error instanceof Error ? error.message : String(error)}. ` +
        "Send JSON values and binary (Buffer, typed arrays, ArrayBuffer) only.",
      { cause: error },
    );
  }
  if (holdsProtoKey(bytes)) {
    throw new AssuredError(
      "CODEC_ERROR",
      'cannot encode value: it has an own "__proto__" key, which no decoder accepts (it would ' +
        "replace an object's prototype). Rename the key.",
    );
  }
  return bytes;
}

/**
 * Node's native byte search (`Buffer#indexOf`, which takes any `Uint8Array` as `this` and as
 * the needle), on Node only: a browser bundle's `Buffer` polyfill takes only its own `Buffer` as
 * the needle and would throw.
 */
const nodeIndexOf = isNode
  ? (
      globalThis as {
        Buffer?: { prototype: { indexOf(this: Uint8Array, value: Uint8Array): number } };
      }
    ).Buffer?.prototype.indexOf
  : undefined;

/** MessagePack's `"__proto__"` (a fixstr of 9 bytes): a payload without it has no such key. */
const PROTO_KEY = new Uint8Array([0xa9, 0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]);

/**
 * Whether encoded bytes hold a map key `"__proto__"` (an object from `JSON.parse` may have one
 * as its own property). The decoder refuses such a key, so a value with one must not encode:
 * every payload that encodes also decodes (a stored response the client could never read
 * would otherwise answer its message). The bytes are searched first (one native scan in
 * Node); only a payload holding them is decoded to tell a key from a string value.
 */
function holdsProtoKey(bytes: Uint8Array): boolean {
  if (searchBytes(bytes, PROTO_KEY) < 0) return false;
  try {
    decoder.decode(bytes);
    return false;
  } catch (error) {
    return error instanceof Error && error.message.includes("__proto__");
  }
}

/** The first index of `needle` in `bytes`, or -1: natively on Node, else `indexOfBytes`. */
function searchBytes(bytes: Uint8Array, needle: Uint8Array): number {
  if (nodeIndexOf !== undefined) {
    try {
      return nodeIndexOf.call(bytes, needle);
    } catch {
      // Not Node's own `Buffer` after all: search in JavaScript.
    }
  }
  return indexOfBytes(bytes, needle);
}

/** The first index of `needle` in `bytes`, or -1 (where Node's search is missing). */
function indexOfBytes(bytes: Uint8Array, needle: Uint8Array): number {
  const first = needle[0] as number;
  const last = bytes.length - needle.length;
  for (let i = bytes.indexOf(first); i >= 0 && i <= last; i = bytes.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && bytes[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/**
 * Decodes payload bytes produced by `encode`. Safe on hostile input: the bytes are checked
 * first (`assertBoundedMessagePack`), so no header can make the decoder allocate more than the
 * input can hold or nest deeper than `MAX_PAYLOAD_DEPTH`; cost and memory are linear in the
 * input length.
 * @throws AssuredError `CODEC_ERROR` when the bytes are not a valid payload.
 */
export function decode(payload: Uint8Array): unknown {
  if (!(payload instanceof Uint8Array)) {
    throw new AssuredError("CODEC_ERROR", "payload to decode must be a Uint8Array");
  }
  // Decode from a plain Uint8Array view: from a Node Buffer the decoder would return Buffer
  // views, and plain Uint8Array values would come back as Buffers.
  const bytes =
    payload.constructor === Uint8Array
      ? payload
      : new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  assertBoundedMessagePack(bytes);
  const binary = lastCheckedHadBinary();
  try {
    const value = decoder.decode(bytes);
    return binary ? copyBinaries(value) : value;
  } catch (error) {
    if (error instanceof AssuredError) throw error;
    throw new AssuredError(
      "CODEC_ERROR",
      `cannot decode payload: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/**
 * Decodes payloads packed one after another in `bytes` (a page's `payloads`: `lengths[i]` bytes
 * each, in order) in one pass over the page: each value is what `decode` gives for its payload,
 * checked the same way first. Stops at the first payload that is not exactly one valid value
 * and returns the values before it, so the caller decodes that one alone (and reports its
 * error) at its turn; returns `[]` when `lengths` do not add up to `bytes`.
 */
export function decodeConcatenated(bytes: Uint8Array, lengths: readonly number[]): unknown[] {
  const plain =
    bytes.constructor === Uint8Array
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let total = 0;
  for (const length of lengths) total += length;
  if (total !== plain.byteLength) return [];
  // The longest prefix of payloads that are each exactly one bounded value.
  let end = 0;
  let count = 0;
  // Values without `bin` are not views of the page: no copy pass over them.
  let binary = false;
  for (const length of lengths) {
    const next = end + length;
    try {
      if (length === 0 || boundedValueEnd(plain, end, next) !== next) break;
    } catch {
      break;
    }
    binary ||= lastCheckedHadBinary();
    end = next;
    count++;
  }
  const values: unknown[] = [];
  if (count === 0) return values;
  try {
    for (const value of decoder.decodeMulti(plain.subarray(0, end))) {
      values.push(binary ? copyBinaries(value) : value);
      if (values.length === count) break;
    }
  } catch {
    // An extension that does not decode: the values before it stand.
  }
  return values;
}

// The decoder returns `bin` values as views into the input; copy so results own their bytes.
function copyBinaries(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Uint8Array && value.constructor === Uint8Array) return value.slice();
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = copyBinaries(value[i]);
    return value;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = copyBinaries(record[key]);
  }
  return value;
}
