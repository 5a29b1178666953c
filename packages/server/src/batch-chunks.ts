/**
 * Splits consecutive records into runs whose payloads add up to at most `maxBytes` (a record
 * larger than that travels alone), so no batch frame or fetch reply grows without bound.
 */
export function chunkByBytes<T extends { payload: Uint8Array }>(
  records: readonly T[],
  maxBytes: number,
): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = record.payload.byteLength;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(record);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
