/**
 * Strict base64 for inline frame payloads (`packRecords`): Node's native Buffer codec where it
 * exists, a table codec elsewhere (browsers). Decoding accepts only the canonical padded form of
 * the expected length, so both paths accept and refuse the same strings.
 */

interface NodeBuffer {
  from(buffer: ArrayBufferLike, byteOffset?: number, length?: number): NodeBufferView;
}
interface NodeBufferView {
  toString(encoding: "base64"): string;
  write(text: string, encoding: "base64"): number;
}

const NodeBuffer = (globalThis as { Buffer?: NodeBuffer }).Buffer;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const CANONICAL = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** The length of the padded base64 of `bytes` bytes. */
export function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/** Text up to this length decodes with the table (no native call); longer with Node's Buffer. */
const TABLE_DECODE_MAX_LENGTH = 1024;

/** The 6-bit value of the character at `i`, or -1 outside the alphabet (`=` included). */
function valueAt(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return code < 128 ? VALUES[code]! : -1;
}

/**
 * True when `text` has the length, alphabet and padding of the base64 of `length` bytes, and
 * the bits its last character carries beyond those bytes are zero (one string per byte array).
 */
function isCanonical(text: string, length: number): boolean {
  if (text.length !== base64Length(length) || !CANONICAL.test(text)) return false;
  const padding = (3 - (length % 3)) % 3;
  if (padding === 0) return text.length === 0 || text[text.length - 1] !== "=";
  if (!text.endsWith(padding === 1 ? "=" : "==") || text[text.length - padding - 1] === "=") {
    return false;
  }
  const last = valueAt(text, text.length - padding - 1);
  return (last & (padding === 1 ? 3 : 15)) === 0;
}

/** Padded base64 of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  if (NodeBuffer) {
    return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  }
  return encodeBase64Table(bytes);
}

/** `encodeBase64` without Node's Buffer (browsers; exported for tests). */
export function encodeBase64Table(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out +=
      ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  if (i < bytes.length) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? `${ALPHABET[(n >> 6) & 63]!}=` : "==";
  }
  return out;
}

/**
 * The `length` bytes `text` encodes, in a new buffer of exactly that size (views of it keep
 * nothing else alive); undefined unless `text` is canonical padded base64 of `length` bytes.
 */
export function decodeBase64(text: string, length: number): Uint8Array | undefined {
  // Short text (a live batch, a message): a table pass costs less than the native call.
  if (!NodeBuffer || text.length <= TABLE_DECODE_MAX_LENGTH) return decodeBase64Table(text, length);
  if (!isCanonical(text, length)) return undefined;
  const out = new Uint8Array(length);
  const written = NodeBuffer.from(out.buffer, 0, length).write(text, "base64");
  return written === length ? out : undefined;
}

/**
 * `decodeBase64` without Node's Buffer (browsers, short text; exported for tests): one pass that
 * checks and decodes, refusing what `isCanonical` refuses.
 */
export function decodeBase64Table(text: string, length: number): Uint8Array | undefined {
  if (text.length !== base64Length(length)) return undefined;
  const out = new Uint8Array(length);
  const last = text.length - 4;
  let at = 0;
  for (let i = 0; i < last; i += 4) {
    const a = valueAt(text, i);
    const b = valueAt(text, i + 1);
    const c = valueAt(text, i + 2);
    const d = valueAt(text, i + 3);
    if ((a | b | c | d) < 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[at++] = n >> 16;
    out[at++] = (n >> 8) & 255;
    out[at++] = n & 255;
  }
  if (last < 0) return out; // no bytes, no text
  const padding = (3 - (length % 3)) % 3;
  const a = valueAt(text, last);
  const b = valueAt(text, last + 1);
  const c = padding === 2 ? (text.charCodeAt(last + 2) === 61 ? 0 : -1) : valueAt(text, last + 2);
  const d = padding >= 1 ? (text.charCodeAt(last + 3) === 61 ? 0 : -1) : valueAt(text, last + 3);
  if ((a | b | c | d) < 0) return undefined;
  // The bits beyond the last byte are zero in the one canonical form.
  if ((padding === 2 && (b & 15) !== 0) || (padding === 1 && (c & 3) !== 0)) return undefined;
  const n = (a << 18) | (b << 12) | (c << 6) | d;
  out[at++] = n >> 16;
  if (padding < 2) out[at++] = (n >> 8) & 255;
  if (padding < 1) out[at] = n & 255;
  return out;
}

/**
 * The bytes of a canonical padded base64 string whose decoded length is not known beforehand
 * (the padding says it); undefined when `text` is not one.
 */
export function decodeBase64Text(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return decodeBase64(text, (text.length / 4) * 3 - padding);
}
