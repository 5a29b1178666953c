import { createHash } from "node:crypto";

/**
 * `messageFingerprint` of `@assured/core` (hex SHA-256 of the length-prefixed name and the
 * payload bytes), computed synchronously with `node:crypto`: Web Crypto's `digest` hops to the
 * thread pool for every message, which dominated the server's per-message cost. Same value,
 * so nodes and stores agree whichever computed it.
 */
export function messageFingerprintSync(name: string, payload: Uint8Array): string {
  const nameBytes = Buffer.from(name, "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(nameBytes.byteLength, 0);
  return createHash("sha256").update(length).update(nameBytes).update(payload).digest("hex");
}
