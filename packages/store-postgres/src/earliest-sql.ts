/**
 * SQL for a stream's earliest retained offset, for a stream row aliased `alias` (columns
 * `stream_id`, `head`): the first stored offset within `maxLength` of the head (parameter
 * `$<lengthParam>`, NULL for no bound) and appended at or after the age cutoff (parameter
 * `$<cutoffParam>`: now − maxAgeMs, NULL for no bound); `head + 1` when none is. Events are
 * only ever trimmed from the front, so every offset from there to the head is stored.
 */
export function earliestSql(
  events: string,
  alias: string,
  lengthParam: number,
  cutoffParam: number,
): string {
  return (
    `coalesce((SELECT e.event_offset FROM ${events} e WHERE e.stream_id = ${alias}.stream_id ` +
    `AND e.event_offset >= greatest(1, ${alias}.head - coalesce($${lengthParam}::bigint, ${alias}.head) + 1) ` +
    `AND ($${cutoffParam}::double precision IS NULL OR e.appended_at >= $${cutoffParam}::double precision) ` +
    `ORDER BY e.event_offset LIMIT 1), ${alias}.head + 1)`
  );
}

/** The retention parameters of `earliestSql`: `[maxLength, cutoff]`, NULL where unbounded. */
export function retentionParams(
  retention: { maxLength?: number; maxAgeMs?: number },
  now: number,
): [number | null, number | null] {
  return [
    retention.maxLength ?? null,
    retention.maxAgeMs === undefined ? null : now - retention.maxAgeMs,
  ];
}
