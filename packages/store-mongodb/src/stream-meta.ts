import { newId } from "@assured/core/store";
import type { Collection } from "mongodb";
import type { StreamDocument } from "./documents.js";
import { isDuplicateKeyError } from "./duplicate-key.js";

/** How often a racing upsert is retried (FerretDB reports the race as a duplicate key). */
const UPSERT_ATTEMPTS = 5;

/** Reads and writes the per-stream documents: epoch, head floor, trimmed-through. */
export class StreamMeta {
  constructor(private readonly streams: Collection<StreamDocument>) {}

  /** The stream's document, or null if it was never appended to nor reset. */
  load(stream: string): Promise<StreamDocument | null> {
    return this.streams.findOne({ _id: stream });
  }

  /** The stream's document, created with a new epoch atomically if missing (first append). */
  async ensure(stream: string): Promise<StreamDocument> {
    const existing = await this.load(stream);
    if (existing !== null) return existing;
    for (let attempt = 1; ; attempt++) {
      try {
        const doc = await this.streams.findOneAndUpdate(
          { _id: stream },
          { $setOnInsert: { e: newId(), h: 0, f: 0 } },
          { upsert: true, returnDocument: "after" },
        );
        if (doc !== null) return doc;
      } catch (error) {
        // Two first appends raced; MongoDB retries this itself, FerretDB reports it.
        if (!isDuplicateKeyError(error) || attempt >= UPSERT_ATTEMPTS) throw error;
      }
    }
  }

  /** Starts a new epoch (creating the document if missing) and returns it. */
  async renew(stream: string): Promise<StreamDocument> {
    const doc: StreamDocument = { _id: stream, e: newId(), h: 0, f: 0 };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.streams.replaceOne({ _id: stream }, doc, { upsert: true });
        return doc;
      } catch (error) {
        if (!isDuplicateKeyError(error) || attempt >= UPSERT_ATTEMPTS) throw error;
      }
    }
  }

  /** Raises the head floor and/or trimmed-through of `epoch` (no effect after a reset). */
  async raise(stream: string, epoch: string, marks: { h?: number; f?: number }): Promise<void> {
    await this.streams.updateOne({ _id: stream, e: epoch }, { $max: marks });
  }
}
