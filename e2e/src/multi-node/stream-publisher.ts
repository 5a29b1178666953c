import type { NodeProcess } from "./node-process.js";
import { waitFor } from "./wait-for.js";

/** One published event: where the store put it and what it carries. */
export interface PublishedEvent {
  offset: number;
  epoch: string;
  data: { k: number };
}

/**
 * Publishes numbered events (`{ k }`, name `e`) to one stream through nodes' `POST /publish`,
 * remembering the offset and epoch the store gave each, in batches, or in the background.
 *
 * @example
 * const publisher = new StreamPublisher("feed");
 * await publisher.publishBatch(nodeB);
 * publisher.start(nodeB, () => clientsCaughtUp());
 * …
 * await publisher.stop();
 */
export class StreamPublisher {
  readonly stream: string;
  readonly batchSize: number;
  /** Every event published, in publish order. */
  readonly events: PublishedEvent[] = [];
  /** Batches the background loop published. */
  loopBatches = 0;
  #k = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  #loopError: unknown;

  constructor(stream: string, batchSize = 5) {
    this.stream = stream;
    this.batchSize = batchSize;
  }

  /** Publishes one batch of `size` events on `node` (at once) and records their offsets. */
  async publishBatch(node: NodeProcess, size = this.batchSize): Promise<PublishedEvent[]> {
    const data = Array.from({ length: size }, () => ({ k: ++this.#k }));
    const results = await node.publish(this.stream, data);
    const batch = results.map((r, i) => ({ offset: r.offset, epoch: r.epoch, data: data[i]! }));
    this.events.push(...batch);
    return batch;
  }

  /** The epochs the events were published in, in order of first appearance. */
  epochs(): string[] {
    return [...new Set(this.events.map((e) => e.epoch))];
  }

  /** The events of `epoch` (default: the latest), sorted by offset. */
  inEpoch(epoch = this.events.at(-1)?.epoch): PublishedEvent[] {
    return this.events.filter((e) => e.epoch === epoch).sort((a, b) => a.offset - b.offset);
  }

  /** The highest offset of the latest epoch (0 before the first publish). */
  head(): number {
    return this.inEpoch().at(-1)?.offset ?? 0;
  }

  /**
   * Publishes batch after batch on `node` until `stop()`; each batch waits until `paced()` is
   * true, so publishing keeps pace with delivery.
   */
  start(node: NodeProcess, paced: () => boolean): void {
    if (this.#running) throw new Error("the publisher is already running");
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        await this.publishBatch(node);
        this.loopBatches++;
        await waitFor(() => !this.#running || paced(), 10_000, "delivery to keep pace");
      }
    })().catch((error: unknown) => {
      this.#running = false;
      this.#loopError = error;
    });
  }

  /** Stops the background loop after its current batch; rethrows what made it fail. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    this.#loop = undefined;
    if (this.#loopError !== undefined) throw this.#loopError;
  }
}
