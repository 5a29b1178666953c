import type { EventRecord, Offset, Position } from "@assured/core";
import { resumeCheckOffset } from "@assured/core/protocol";
import { type StreamHead, toStoreError } from "@assured/core/store";
import type { ServerContext } from "./context.js";

/**
 * The one-record reads a (re)subscription needs to keep positions `(epoch, offset, id)` (DESIGN
 * §8, positions detect divergence): the record at the client's offset, to check its id, and the
 * id of the record where the subscription starts, sent to the client with the outcome.
 */

/** The record at `offset` in `log`'s epoch, or undefined when it is not retained. */
async function recordAt(
  ctx: ServerContext,
  stream: string,
  offset: Offset,
  log: StreamHead,
): Promise<EventRecord | undefined> {
  let page: Awaited<ReturnType<typeof ctx.store.read>>;
  try {
    page = await ctx.store.read(stream, { after: offset - 1, limit: 1 });
  } catch (error) {
    throw toStoreError(error, "read");
  }
  // Another epoch since the head was read, or trimmed meanwhile: nothing to say about `offset`.
  const record = page.records[0];
  return page.epoch === log.epoch && record?.offset === offset ? record : undefined;
}

/**
 * The record at the position's offset, when the position has an id to check against it
 * (`resumeCheckOffset`); undefined when there is nothing to check.
 */
export function recordAtPosition(
  ctx: ServerContext,
  stream: string,
  position: Position | null,
  log: StreamHead,
): Promise<EventRecord | undefined> {
  const offset = position && resumeCheckOffset(position, log);
  return offset ? recordAt(ctx, stream, offset, log) : Promise.resolve(undefined);
}

/**
 * The id of the event at `start`, where the subscription continues (`known`: a record already
 * read), so the client's position has one from the start; undefined at offset 0 or when the
 * record is not retained.
 */
export async function idAtStart(
  ctx: ServerContext,
  stream: string,
  start: Offset,
  log: StreamHead,
  known: EventRecord | undefined,
): Promise<string | undefined> {
  if (start === 0 || start < log.earliest || start > log.head) return undefined;
  if (known?.offset === start) return known.id;
  return (await recordAt(ctx, stream, start, log))?.id;
}
