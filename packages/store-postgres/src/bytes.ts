/**
 * Text as `bytea`: the UTF-8 bytes of a well-formed string (every name, id, key and token is
 * checked to be one). PostgreSQL `text` cannot hold NUL, and bytes compare without collation or
 * normalization, so `"é"` and `"e\u0301"` stay two names.
 */
export function textBytes(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

/** The string a `textBytes` column holds. */
export function bytesText(bytes: Buffer): string {
  return bytes.toString("utf8");
}

/** A payload's exact bytes as a Buffer view (no copy; mind `byteOffset` of views). */
export function payloadBytes(payload: Uint8Array): Buffer {
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** A Buffer the driver returned, as a plain `Uint8Array` over the same bytes. */
export function bytesPayload(bytes: Buffer): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
