/**
 * Base64 for frames (`assured:msgs`, `assured:replies`): Node's `Buffer` when present (native
 * speed), else a table-driven codec that needs no `btoa`/`atob` string round trip (browsers).
 */

type NodeBase64 = {
  from(value: string, encoding: "base64"): Uint8Array;
  from(
    value: ArrayBuffer,
    byteOffset: number,
    length: number,
  ): { toString(encoding: "base64"): string };
};
const NodeBuffer = (globalThis as { Buffer?: NodeBase64 }).Buffer;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Standard base64 (with padding) of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  if (NodeBuffer !== undefined) {
    return NodeBuffer.from(
      bytes.buffer as ArrayBuffer,
      bytes.byteOffset,
      bytes.byteLength,
    ).toString("base64");
  }
  return encodeBase64Portable(bytes);
}

/** The table-driven encoder (exported for tests: it is what browsers run). */
export function encodeBase64Portable(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = "";
  const n = bytes.byteLength;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    chunk +=
      ALPHABET[v >> 18]! + ALPHABET[(v >> 12) & 63]! + ALPHABET[(v >> 6) & 63]! + ALPHABET[v & 63]!;
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = "";
    }
  }
  if (i < n) {
    const a = bytes[i]!;
    const b = i + 1 < n ? bytes[i + 1]! : 0;
    const v = (a << 16) | (b << 8);
    chunk += ALPHABET[v >> 18]! + ALPHABET[(v >> 12) & 63]!;
    chunk += i + 1 < n ? `${ALPHABET[(v >> 6) & 63]!}=` : "==";
  }
  parts.push(chunk);
  return parts.join("");
}

/**
 * The bytes of a standard base64 string, or undefined when it is not one (a length that is
 * not a multiple of 4, a character outside the alphabet, `=` other than 1–2 at the end).
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  if (NodeBuffer !== undefined) {
    // Buffer skips characters it does not know: check the alphabet first (a linear scan).
    if (!isBase64(text)) return undefined;
    const bytes = NodeBuffer.from(text, "base64");
    return bytes.byteLength === expectedLength(text) ? bytes : undefined;
  }
  return decodeBase64Portable(text);
}

/** The table-driven decoder (exported for tests: it is what browsers run). */
export function decodeBase64Portable(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !isBase64(text)) return undefined;
  const out = new Uint8Array(expectedLength(text));
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const a = DECODE[text.charCodeAt(i)]!;
    const b = DECODE[text.charCodeAt(i + 1)]!;
    const c = text.charCodeAt(i + 2) === 61 ? 0 : DECODE[text.charCodeAt(i + 2)]!;
    const d = text.charCodeAt(i + 3) === 61 ? 0 : DECODE[text.charCodeAt(i + 3)]!;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    if (o < out.length) out[o++] = v >> 16;
    if (o < out.length) out[o++] = (v >> 8) & 255;
    if (o < out.length) out[o++] = v & 255;
  }
  return out;
}

function expectedLength(text: string): number {
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - pad;
}

/** Only alphabet characters, then at most two `=` at the end. */
function isBase64(text: string): boolean {
  const n = text.length;
  let end = n;
  if (n > 0 && text.charCodeAt(n - 1) === 61) end--;
  if (end < n && end > 0 && text.charCodeAt(end - 1) === 61) end--;
  for (let i = 0; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || DECODE[code] === -1) return false;
  }
  return true;
}
