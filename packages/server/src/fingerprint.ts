import { createHash } from "node:crypto";

/**
 * `messageFingerprint` of `@assured/core` (hex SHA-256 of the length-prefixed name and the
 * payload bytes), computed synchronously with `node:crypto`: Web Crypto's `digest` hops to the
 * thread pool for every message, which dominated the server's per-message cost. Same value,
 * so nodes and stores agree whichever computed it.
 */
export function messageFingerprintSync(name: string, payload: Uint8Array): string {
  // The length prefix and the name in one buffer: one `update` for both.
  const nameLength = Buffer.byteLength(name, "utf8");
  const head = Buffer.allocUnsafe(4 + nameLength);
  head.writeUInt32BE(nameLength, 0);
  head.write(name, 4, "utf8");
  return createHash("sha256").update(head).update(payload).digest("hex");
}
