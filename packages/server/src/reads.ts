import {
  AssuredError,
  type FetchReply,
  type FetchRequest,
  type HeadsReply,
  packRecords,
  toStoreError,
} from "@assured/core";
import { chunkByBytes } from "./batch-chunks.js";
import type { ServerContext } from "./context.js";
import { type AnySocket, toErrorData } from "./wire.js";

/**
 * Answers `assured:fetch` (gap repair, G7): authorized like a subscription, at most
 * `fetchLimit` records and `maxBatchBytes` of payloads (the first record always fits). Records are sent only for the client's epoch (or from offset 0); for
 * another epoch the reply carries the current epoch and no records, and the client treats it
 * like an `epoch` outcome.
 */
export async function fetchRange(
  ctx: ServerContext,
  socket: AnySocket,
  request: FetchRequest,
): Promise<FetchReply> {
  const { stream, epoch, after, limit } = request;
  if (!(await ctx.allowed(socket, stream, "fetch"))) {
    return {
      ok: false,
      error: new AssuredError("UNAUTHORIZED", "not allowed to fetch this stream.").toJSON(),
    };
  }
  try {
    const page = await ctx.store.read(stream, { after, limit });
    const sameLog = after === 0 || page.epoch === epoch;
    return {
      ok: true,
      epoch: page.epoch,
      head: page.head,
      earliest: page.earliest,
      // At most maxBatchBytes of payloads: the client fetches the rest next.
      ...packRecords(
        sameLog ? (chunkByBytes(page.records, ctx.limits.maxBatchBytes)[0] ?? []) : [],
      ),
    };
  } catch (error) {
    return { ok: false, error: toErrorData(toStoreError(error, "fetch")) };
  }
}

/**
 * Answers `assured:heads` (the periodic position check, G7): the epoch and head of each stream
 * the socket may read; streams it may not read are left out.
 */
export async function readHeads(
  ctx: ServerContext,
  socket: AnySocket,
  streams: string[],
): Promise<HeadsReply> {
  try {
    const entries = await Promise.all(
      streams.map(async (stream) => {
        if (!(await ctx.allowed(socket, stream, "fetch"))) return undefined;
        const { epoch, head } = await ctx.store.head(stream);
        return [stream, { epoch, head }] as const;
      }),
    );
    // fromEntries defines own properties, so a stream named "__proto__" stays data.
    const heads = Object.fromEntries(entries.filter((entry) => entry !== undefined));
    return { ok: true, heads };
  } catch (error) {
    return { ok: false, error: toErrorData(toStoreError(error, "heads")) };
  }
}
