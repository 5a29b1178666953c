import * as crypto from "node:crypto";

/** `crypto.hash` (one call, no Hash object): Node ≥ 20.12; older versions use `createHash`. */
const oneShot = (
  crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: "hex") => string }
).hash;

/**
 * `messageFingerprint` of `@assured/core` (hex SHA-256 of the length-prefixed name and the
 * payload bytes), computed synchronously with `node:crypto`: Web Crypto's `digest` hops to the
 * thread pool for every message, which dominated the server's per-message cost. Same value,
 * so nodes and stores agree whichever computed it.
 */
export function messageFingerprintSync(name: string, payload: Uint8Array): string {
  const nameLength = Buffer.byteLength(name, "utf8");
  if (oneShot !== undefined) {
    // The length prefix, the name and the payload in one buffer, hashed in one call.
    const input = Buffer.allocUnsafe(4 + nameLength + payload.byteLength);
    input.writeUInt32BE(nameLength, 0);
    input.write(name, 4, "utf8");
    input.set(payload, 4 + nameLength);
    return oneShot("sha256", input, "hex");
  }
  const head = Buffer.allocUnsafe(4 + nameLength);
  head.writeUInt32BE(nameLength, 0);
  head.write(name, 4, "utf8");
  return crypto.createHash("sha256").update(head).update(payload).digest("hex");
}
