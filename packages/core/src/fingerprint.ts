import { AssuredError } from "./errors.js";

const textEncoder = new TextEncoder();

/**
 * The fingerprint of a client message: the hex SHA-256 of its name and payload bytes (the name
 * is length-prefixed, so `("ab", [0x63])` and `("abc", [])` differ). Uses Web Crypto
 * (`globalThis.crypto.subtle`), available in Node ≥ 20 and in browsers' secure contexts.
 * The dedup store compares it to reject one idempotency key reused for another message (G9).
 *
 * @example const fp = await messageFingerprint("chat:send", encode({ text: "hi" }));
 */
export async function messageFingerprint(name: string, payload: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) {
    throw new AssuredError(
      "INTERNAL",
      "Web Crypto (crypto.subtle) is not available; run on Node >= 20 or in a secure context.",
    );
  }
  const nameBytes = textEncoder.encode(name);
  const input = new Uint8Array(4 + nameBytes.byteLength + payload.byteLength);
  new DataView(input.buffer).setUint32(0, nameBytes.byteLength);
  input.set(nameBytes, 4);
  input.set(payload, 4 + nameBytes.byteLength);
  const digest = new Uint8Array(await subtle.digest("SHA-256", input));
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
