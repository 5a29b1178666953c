import type { ChaosEventData, ChaosLogLine } from "./chaos-log.js";
import type { ChaosTopology } from "./topology.js";

/**
 * Publishes `{ stream, k }` events at a steady rate through whichever node is up, logging each
 * acknowledged one (`published`). A publish that fails (the node died, the store is away) is
 * retried on the next tick with the same `k`: an ambiguous failure may then leave two events
 * with one `k`, which is what a real publisher's retry does; the checker's truth is the store.
 */
export class Publisher {
  readonly #topology: ChaosTopology;
  readonly #streams: readonly string[];
  readonly #perTick: number;
  readonly #log: (line: ChaosLogLine) => void;
  readonly #clock: () => number;
  readonly #next = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;
  #turn = 0;
  published = 0;
  failures = 0;

  constructor(
    topology: ChaosTopology,
    streams: readonly string[],
    eventsPerSecond: number,
    log: (line: ChaosLogLine) => void,
    clock: () => number,
  ) {
    this.#topology = topology;
    this.#streams = streams;
    this.#perTick = Math.max(1, Math.round(eventsPerSecond / 10));
    this.#log = log;
    this.#clock = clock;
  }

  /** Publishes every 100 ms until `stop`. */
  start(): void {
    this.#timer = setInterval(() => void this.#tick(), 100);
  }

  /** Stops publishing and waits for the tick in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    while (this.#busy) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const live = this.#topology.live();
      if (live.length === 0) return;
      const node = live[this.#turn++ % live.length]!;
      const stream = this.#streams[this.#turn % this.#streams.length]!;
      const first = this.#next.get(stream) ?? 1;
      const events: ChaosEventData[] = Array.from({ length: this.#perTick }, (_, i) => ({
        stream,
        k: first + i,
      }));
      try {
        const results = await node.publish(stream, events);
        results.forEach(({ offset, epoch }, i) => {
          this.#log({ kind: "published", t: this.#clock(), stream, k: first + i, epoch, offset });
        });
        this.#next.set(stream, first + events.length);
        this.published += events.length;
      } catch {
        this.failures++;
      }
    } finally {
      this.#busy = false;
    }
  }
}
