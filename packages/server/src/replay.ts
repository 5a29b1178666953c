import {
  type BatchFrame,
  FRAMES,
  packRecords,
  type SubscribedFrame,
  toStoreError,
} from "@assured/core";
import createDebug from "debug";
import { chunkByBytes } from "./batch-chunks.js";
import type { ServerContext } from "./context.js";
import type { AnySocket } from "./wire.js";

const log = createDebug("assured:server:replay");

/** A replay to send: events `(start, head]` of one epoch of a stream. */
export interface ReplayRange {
  stream: string;
  epoch: string;
  start: number;
  head: number;
}

/** Why a replay stopped early. */
export type ReplayStop = "done" | "superseded" | "epoch" | "trimmed" | "unacked" | "store";

/**
 * Sends a subscription's replay (G5): reads the store in pages of `replayBatchSize`, sends each
 * page as one `assured:batch` with an ack (split if its payloads exceed `maxBatchBytes`), and keeps at most `replayWindow` pages unacked (flow
 * control: a slow client slows the replay instead of filling memory). Stops when the
 * subscription is no longer current. If the log was trimmed under the replay, sends a second
 * `assured:subscribed` with `recovered: false, reason: "trimmed"` instead of a silent partial
 * replay (G6).
 */
export async function replay(
  ctx: ServerContext,
  socket: AnySocket,
  range: ReplayRange,
  isCurrent: () => boolean,
): Promise<ReplayStop> {
  const { replayBatchSize, replayWindow, replayAckTimeoutMs, maxBatchBytes } = ctx.limits;
  const { stream, epoch, head } = range;
  const unacked: Promise<boolean>[] = [];
  let after = range.start;
  while (after < head) {
    if (!isCurrent()) return "superseded";
    let page: Awaited<ReturnType<typeof ctx.store.read>>;
    try {
      page = await ctx.store.read(stream, {
        after,
        limit: Math.min(replayBatchSize, head - after),
      });
    } catch (error) {
      throw toStoreError(error, "replay read");
    }
    if (!isCurrent()) return "superseded";
    if (page.epoch !== epoch) {
      log("%o was reset during replay to socket %s", stream, socket.id);
      return "epoch";
    }
    const first = page.records[0];
    if (first === undefined || first.offset !== after + 1) {
      log("%o was trimmed past %d during replay to socket %s", stream, after, socket.id);
      const outcome: SubscribedFrame = {
        stream,
        epoch,
        recovered: false,
        reason: "trimmed",
        start: page.head,
        head: page.head,
      };
      socket.emit(FRAMES.subscribed, outcome);
      return "trimmed";
    }
    after = page.records[page.records.length - 1]!.offset;
    for (const chunk of chunkByBytes(page.records, maxBatchBytes)) {
      if (!isCurrent()) return "superseded";
      const frame: BatchFrame = { stream, epoch, ...packRecords(chunk) };
      unacked.push(
        socket
          .timeout(replayAckTimeoutMs)
          .emitWithAck(FRAMES.batch, frame)
          .then(
            () => true,
            () => false,
          ),
      );
      if (unacked.length >= replayWindow && !(await unacked.shift())) {
        return stopUnacked(socket, stream);
      }
    }
    log("replayed %o up to %d to socket %s", stream, after, socket.id);
  }
  for (const acked of unacked) if (!(await acked)) return stopUnacked(socket, stream);
  return "done";
}

function stopUnacked(socket: AnySocket, stream: string): ReplayStop {
  log("socket %s did not ack a replay batch of %o in time; replay stopped", socket.id, stream);
  return "unacked";
}
