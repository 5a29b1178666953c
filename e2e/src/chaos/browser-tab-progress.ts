import type { TabLine, TabStart } from "./browser-tab-protocol.js";
import type { ChaosLogLine } from "./chaos-log.js";
import { type ClientStatus, type SeenPosition, seeOutcome } from "./client-worker-protocol.js";

/** What a tab's reloads did, for the run's report. */
export interface TabFigures {
  reloads: number;
  /** Deliveries at or below the last delivered offset of their epoch (replays after a reload). */
  replayed: number;
  /** Batches of lines a page life sent again (lost on the way when the earlier life went). */
  resentBatches: number;
  /** Messages of an earlier page life settled from their stored results. */
  settledAfterReload: number;
}

/**
 * A chaos tab's progress, kept from its lines on the Node side (the page's state goes with
 * each reload): what it emitted and what settled, where each stream is, and what the next page
 * life must continue (`nextLife`). `take` also turns the page's lines into `ChaosLogLine`s: a
 * settlement read from a stored result counts only for a message no line settled yet.
 */
export class TabProgress {
  readonly name: string;
  readonly figures: TabFigures = {
    reloads: 0,
    replayed: 0,
    resentBatches: 0,
    settledAfterReload: 0,
  };
  /** Message id → its counter and whether a line settled it. */
  readonly #messages = new Map<string, { n: number; settled: boolean }>();
  readonly #delivered: Record<string, number> = {};
  readonly #epochs: Record<string, string> = {};
  readonly #positions: Record<string, SeenPosition> = {};
  #life = -1;
  #emitted = 0;
  #settled = 0;
  #failed = 0;
  #deliveries = 0;
  #outcomes = 0;
  #notRecovered = 0;
  #errors = 0;
  #connected = false;

  constructor(name: string, streams: readonly string[]) {
    this.name = name;
    for (const stream of streams) this.#delivered[stream] = 0;
  }

  /** Starts the next page life: its number, the next message counter, what is unsettled. */
  nextLife(): TabStart {
    this.#life++;
    this.#connected = false;
    return {
      life: this.#life,
      nextN: this.#emitted + 1,
      unsettled: [...this.#messages]
        .filter(([, m]) => !m.settled)
        .map(([id, m]) => ({ id, n: m.n })),
    };
  }

  /** Counts a page error. */
  pageError(): void {
    this.#errors++;
  }

  /** Updates the progress from a page's line; returns the line to log (without `via`), or none. */
  take(line: TabLine): ChaosLogLine | undefined {
    switch (line.kind) {
      case "delivery":
        this.#deliveries++;
        if (
          line.epoch === this.#epochs[line.stream] &&
          line.offset <= (this.#delivered[line.stream] ?? 0)
        ) {
          this.figures.replayed++;
        }
        this.#epochs[line.stream] = line.epoch;
        this.#delivered[line.stream] = line.offset;
        this.#positions[line.stream] = {
          epoch: line.epoch,
          offset: line.offset,
          ...(line.id === undefined ? {} : { id: line.id }),
        };
        return line;
      case "outcome":
        this.#outcomes++;
        if (!line.recovered) this.#notRecovered++;
        seeOutcome(this.#positions, line);
        return line;
      case "emit":
        this.#emitted = Math.max(this.#emitted, line.n);
        this.#messages.set(line.id, { n: line.n, settled: false });
        return line;
      case "settled": {
        if (!("via" in line)) return this.#settle(line);
        // A result read in a later page life: only the first settlement of a message counts.
        if (this.#messages.get(line.id)?.settled) return undefined;
        const { via: _, ...settled } = line;
        if (this.#messages.has(line.id)) this.figures.settledAfterReload++;
        return this.#settle(settled);
      }
      case "connection":
        this.#connected = line.connected;
        return line;
      case "error":
        this.#errors++;
        return line;
      default:
        return line;
    }
  }

  /** The tab's progress in the shape of a worker client's. */
  status(): ClientStatus {
    return {
      name: this.name,
      connected: this.#connected,
      pending: this.#emitted - this.#settled,
      delivered: { ...this.#delivered },
      positions: { ...this.#positions },
      deliveries: this.#deliveries,
      outcomes: this.#outcomes,
      notRecovered: this.#notRecovered,
      emitted: this.#emitted,
      settled: this.#settled,
      failed: this.#failed,
      errors: this.#errors,
    };
  }

  #settle(line: Extract<ChaosLogLine, { kind: "settled" }>): ChaosLogLine {
    const message = this.#messages.get(line.id);
    if (message && !message.settled) {
      message.settled = true;
      this.#settled++;
      if (!line.ok) this.#failed++;
    }
    return line;
  }
}
