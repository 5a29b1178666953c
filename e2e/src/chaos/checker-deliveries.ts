/**
 * Server → client: one tracker per (client, stream) walks the client's deliveries and outcomes
 * in the client's own order and reports lost, duplicated, out-of-order and wrong-payload
 * events, outcomes without loss and loss without outcome (G1, G2, G3, G5, G6).
 *
 * Model (the client sequencer's): a position `(epoch, offset)` means the next event is
 * `offset + 1` of `epoch`. The first outcome sets the start; a `recovered: false` outcome moves
 * the position (skipped offsets are covered); offset 0 is valid in every epoch, so a client
 * that has handled nothing may adopt a new epoch without an outcome.
 */
import type { ChaosLogLine } from "./chaos-log.js";
import type { StoreHistory, Violations } from "./checker-context.js";
import { brief, deepEqual, isRecord } from "./checker-equal.js";
import { OffsetMarks } from "./checker-offsets.js";
import { capturedVersions, divergedBy, epochLostBy } from "./checker-restarts.js";
import type { ChaosStoreLog, ChaosStoreRestart, Recovery } from "./checker-types.js";

type Delivery = Extract<ChaosLogLine, { kind: "delivery" }>;
type Outcome = Extract<ChaosLogLine, { kind: "outcome" }>;

export interface DeliveryContext {
  violations: Violations;
  history: StoreHistory;
  logs: ReadonlyMap<string, ChaosStoreLog>;
  lossPossible: boolean;
  allowedOutcomeReasons: ReadonlySet<string>;
  /** Clients not expected to have caught up by the end. */
  departed: ReadonlySet<string>;
  recoveries: Recovery[];
  /** The run's store restarts with their captures (undefined: judge by the final logs only). */
  restarts?: readonly ChaosStoreRestart[];
}

/** The client's state in one epoch of the stream. */
class EpochTrack {
  readonly marks = new OffsetMarks();
  /** The client's position when it entered the epoch: offsets after it are expected. */
  readonly start: number;
  /** The highest offset delivered or skipped: the next delivery should be `cursor + 1`. */
  cursor: number;
  delivered = 0;
  /** The data of the delivery at `cursor`, if a delivery (not a skip) put it there. */
  last: { offset: number; data: unknown } | null = null;
  /** Where deliveries jumped ahead (for the time a hole is reported at). */
  readonly jumps: { from: number; to: number; t: number }[] = [];

  constructor(
    readonly epoch: string,
    start: number,
  ) {
    this.start = start;
    this.cursor = start;
  }

  /** Nothing handled in this epoch: a new epoch may be adopted at offset 0. */
  get blank(): boolean {
    return this.cursor === 0 && this.delivered === 0;
  }
}

export class StreamTracker {
  #current: EpochTrack | null = null;
  readonly #epochs = new Map<string, EpochTrack>();
  #lastT = 0;
  /** The first delivery whose record the store later replaced or lost, since the last outcome. */
  #stale: { epoch: string; offset: number; t: number } | null = null;
  /** A reload came and the new client instance has not reported this stream's outcome yet. */
  #reloaded = false;

  constructor(
    readonly client: string,
    readonly stream: string,
    readonly ctx: DeliveryContext,
  ) {}

  delivery(d: Delivery): void {
    this.#lastT = d.t;
    this.#checkPayload(d);
    let track = this.#current;
    if (track === null) {
      // No outcome before the first delivery: the start is taken from it.
      track = this.#enter(d.epoch, d.offset - 1);
    } else if (d.epoch !== track.epoch) {
      const left = this.#epochs.get(d.epoch);
      if (left) {
        this.#late(left, d, `after the client moved on to epoch ${track.epoch}`);
        return;
      }
      if (track.blank) {
        track = this.#enter(d.epoch, 0);
      } else {
        this.#violation(
          "loss-without-outcome",
          d.t,
          `epoch changed ${track.epoch} → ${d.epoch} (delivery #${d.offset}) without a recovered: false outcome; the client was at #${track.cursor}`,
        );
        track = this.#enter(d.epoch, d.offset - 1);
      }
    }
    if (d.offset > track.cursor) {
      if (d.offset > track.cursor + 1) {
        track.jumps.push({ from: track.cursor + 1, to: d.offset - 1, t: d.t });
      }
      track.cursor = d.offset;
      track.marks.deliver(d.offset);
      track.delivered++;
      track.last = { offset: d.offset, data: d.data };
    } else {
      this.#late(track, d, `after #${track.cursor}`);
    }
  }

  /** The client reloaded (a new instance on the same storage): see `outcome`. */
  reload(): void {
    this.#reloaded = true;
  }

  outcome(o: Outcome): void {
    this.#lastT = o.t;
    const track = this.#current;
    const reloaded = this.#reloaded;
    this.#reloaded = false;
    if (reloaded && o.recovered && track !== null && o.epoch === track.epoch) {
      if (o.offset < track.cursor) {
        // The new instance resumes from the stored position, which lags the handlers by the
        // positions the page did not save before it went (G3: once per saved position): the
        // offsets after it are expected again, once more each.
        track.marks.clear(o.offset + 1, track.cursor);
        track.cursor = o.offset;
        track.last = null;
      }
      return;
    }
    if (o.recovered) {
      if (track === null) {
        this.#enter(o.epoch, o.offset);
      } else if (o.epoch !== track.epoch) {
        if (!track.blank) {
          this.#violation(
            "loss-without-outcome",
            o.t,
            `epoch changed ${track.epoch} → ${o.epoch} with a recovered: true outcome (client at #${track.cursor})`,
          );
        }
        this.#enter(o.epoch, o.offset);
      }
      // A recovered outcome in the same epoch moves nothing: whatever it skipped is lost.
      return;
    }
    this.#recovery(o, track);
    this.#stale = null;
    if (track === null || o.epoch !== track.epoch) {
      const entered = this.#enter(o.epoch, o.offset);
      if (o.offset < entered.cursor) {
        // An epoch the client had left came back with a shorter log (a snapshot older than a
        // later reset): the outcome told the client, and the offsets after it are new records.
        entered.marks.clear(o.offset + 1, entered.cursor);
        entered.cursor = o.offset;
        entered.last = null;
      }
      return;
    }
    if (o.offset > track.cursor) {
      track.marks.cover(track.cursor + 1, o.offset);
      track.cursor = o.offset;
      track.last = null;
    } else if (o.offset < track.cursor && o.reason === "diverged") {
      // The log diverged: the offsets after the position are new records, expected again.
      track.marks.clear(o.offset + 1, track.cursor);
      track.cursor = o.offset;
      track.last = null;
    }
  }

  /** Reports what the end of the run shows: holes, a wrong final epoch, silent divergence. */
  finish(): void {
    const departed = this.ctx.departed.has(this.client);
    const log = departed ? undefined : this.ctx.logs.get(this.stream);
    for (const track of this.#epochs.values()) {
      track.jumps.sort((a, b) => a.from - b.from);
      const upper =
        log && log.epoch === track.epoch ? Math.max(track.cursor, log.head) : track.cursor;
      for (const hole of track.marks.holes(track.start + 1, upper)) {
        const jump = jumpAt(track.jumps, hole.from);
        const n = hole.to - hole.from + 1;
        const what = n === 1 ? `#${hole.from}` : `#${hole.from}..#${hole.to} (${n} events)`;
        this.#violation(
          "lost",
          jump?.t ?? this.#lastT,
          `${what} of epoch ${track.epoch} never delivered (client started at #${track.start}${
            jump ? `, jumped to #${jump.to + 1}` : ""
          }) and no recovered: false outcome skipped ${n === 1 ? "it" : "them"}`,
        );
      }
    }
    const current = this.#current;
    if (log && log.head > 0 && current && !this.#epochs.has(log.epoch)) {
      if (current.blank) {
        this.#violation(
          "lost",
          this.#lastT,
          `#1..#${log.head} of the store's epoch ${log.epoch} never delivered (the client stayed at ${current.epoch}#0)`,
        );
      } else {
        this.#violation(
          "loss-without-outcome",
          this.#lastT,
          `the client ended in epoch ${current.epoch} at #${current.cursor}; the store's stream is in epoch ${log.epoch} (head #${log.head}) and no recovered: false outcome said so`,
        );
      }
    }
    if (this.#stale) {
      const s = this.#stale;
      this.#violation(
        "loss-without-outcome",
        s.t,
        `delivered ${s.epoch}#${s.offset}, which the store has since replaced or lost (restore or failover), and no recovered: false outcome followed`,
      );
    }
  }

  #enter(epoch: string, start: number): EpochTrack {
    let track = this.#epochs.get(epoch);
    if (track) {
      if (start > track.cursor) {
        track.marks.cover(track.cursor + 1, start);
        track.cursor = start;
        track.last = null;
      }
    } else {
      track = new EpochTrack(epoch, start);
      this.#epochs.set(epoch, track);
    }
    this.#current = track;
    return track;
  }

  // A delivery at or below the cursor: a duplicate if delivered before, else out of order.
  #late(track: EpochTrack, d: Delivery, when: string): void {
    const before = track.marks.deliver(d.offset);
    track.delivered++;
    if (before > 0) {
      this.#violation(
        "duplicated",
        d.t,
        `${d.epoch}#${d.offset} delivered ${before + 1} times (${when})`,
      );
    } else {
      const why = track.marks.covered(d.offset)
        ? ", which an outcome had skipped"
        : d.offset <= track.start
          ? `, at or before the client's start #${track.start}`
          : "";
      this.#violation("out-of-order", d.t, `${d.epoch}#${d.offset} delivered ${when}${why}`);
    }
  }

  #checkPayload(d: Delivery): void {
    const data = d.data;
    if (!isRecord(data) || data.stream !== this.stream) {
      this.#violation(
        "wrong-payload",
        d.t,
        `${d.epoch}#${d.offset}: data ${brief(data)} is not an event of stream ${this.stream}`,
      );
      return;
    }
    const history = this.ctx.history;
    const log = this.ctx.logs.get(this.stream);
    const ks = history.publishedKs(this.stream, d.epoch, d.offset);
    // What the store held there before or after a restart (the history the final log lost).
    const captured = this.ctx.restarts
      ? capturedVersions(this.ctx.restarts, this.stream, d.epoch, d.offset)
      : [];
    const wasCaptured = captured.some((v) => deepEqual(v, data));
    if (log && log.epoch === d.epoch && log.events.has(d.offset)) {
      const stored = log.events.get(d.offset);
      if (deepEqual(stored, data)) return;
      if (this.ctx.lossPossible && (ks?.includes(data.k as number) || wasCaptured)) {
        // Once published there, since replaced in the store: fine if an outcome follows.
        this.#stale ??= { epoch: d.epoch, offset: d.offset, t: d.t };
        return;
      }
      this.#violation(
        "wrong-payload",
        d.t,
        `${d.epoch}#${d.offset}: delivered ${brief(data, 60)}, the store holds ${brief(stored, 60)}`,
      );
      return;
    }
    // The publisher's acknowledgement, else the captures, say what was there.
    const published =
      wasCaptured || (ks === undefined ? captured.length === 0 : ks.includes(data.k as number));
    if (log && log.epoch === d.epoch && d.offset > log.head) {
      // Beyond the store's final head: the store lost it (or it never existed).
      if (this.ctx.lossPossible && published) {
        this.#stale ??= { epoch: d.epoch, offset: d.offset, t: d.t };
        return;
      }
      this.#violation(
        "wrong-payload",
        d.t,
        `${d.epoch}#${d.offset}: delivered ${brief(data, 60)}, but the store's head is #${log.head}`,
      );
      return;
    }
    if (!published) {
      const was = ks ? `published k=${ks.join("/")}` : `the store held ${brief(captured[0], 60)}`;
      this.#violation(
        "wrong-payload",
        d.t,
        `${d.epoch}#${d.offset}: delivered k=${brief(data.k)}, ${was}`,
      );
    }
  }

  #recovery(o: Outcome, track: EpochTrack | null): void {
    const reason = o.reason ?? "(none)";
    const problems: string[] = [];
    let storeLost = true;
    const log = this.ctx.logs.get(this.stream);
    if (reason === "epoch") {
      const epochs = this.ctx.history.epochs(this.stream);
      if (track !== null && track.epoch === o.epoch) {
        storeLost = false;
        problems.push(`reason epoch, but the client was already in epoch ${o.epoch}`);
      } else if (this.ctx.restarts && track !== null) {
        // With the restart history, a lost epoch is told by the restarts alone: the store may
        // have come back empty and stayed so (outcome epoch ""), a second epoch never seen.
        if (!epochLostBy(this.ctx.restarts, this.ctx.history, this.stream, track.epoch, o.t)) {
          storeLost = false;
          problems.push(
            `reason epoch, but no volatile or snapshot restart before it lost the client's epoch ${track.epoch}`,
          );
        }
      } else if (epochs.size <= 1) {
        storeLost = false;
        problems.push(
          `reason epoch, but the store's stream had one epoch (${[...epochs].join(", ") || "none"}) all run`,
        );
      }
    } else if (reason === "trimmed") {
      const need = track !== null && track.epoch === o.epoch ? track.cursor + 1 : null;
      if (need !== null && log && log.epoch === o.epoch && log.earliest <= need) {
        storeLost = false;
        problems.push(
          `reason trimmed, but the store still holds #${need} (earliest #${log.earliest})`,
        );
      }
    } else if (reason === "diverged") {
      const last = track !== null && track.epoch === o.epoch ? track.last : null;
      if (
        last !== null &&
        log &&
        log.epoch === o.epoch &&
        last.offset <= log.head &&
        log.events.has(last.offset) &&
        deepEqual(log.events.get(last.offset), last.data)
      ) {
        storeLost = false;
        problems.push(
          `reason diverged, but the store still holds the client's event at #${last.offset}`,
        );
      } else if (
        this.ctx.restarts &&
        track !== null &&
        track.epoch === o.epoch &&
        !divergedBy(this.ctx.restarts, this.ctx.history, this.stream, o.epoch, last, o.t)
      ) {
        storeLost = false;
        problems.push(
          last === null
            ? "reason diverged, but no snapshot restart came before it"
            : `reason diverged, but no snapshot restart before it replaced the client's event at #${last.offset}`,
        );
      }
    } else if (reason === "limit") {
      storeLost = false;
    } else {
      storeLost = false;
      problems.push(`unknown reason ${brief(o.reason)}`);
    }
    if (!this.ctx.lossPossible && !this.ctx.allowedOutcomeReasons.has(reason)) {
      problems.unshift(`recovered: false (${reason}) in a run whose faults cannot lose data`);
    }
    this.ctx.recoveries.push({
      client: this.client,
      stream: this.stream,
      reason,
      epoch: o.epoch,
      offset: o.offset,
      t: o.t,
      storeLost,
    });
    if (problems.length > 0) {
      this.#violation(
        "outcome-without-loss",
        o.t,
        `${problems.join("; ")} (outcome → ${o.epoch}#${o.offset})`,
      );
    }
  }

  #violation(
    kind:
      | "lost"
      | "duplicated"
      | "out-of-order"
      | "wrong-payload"
      | "outcome-without-loss"
      | "loss-without-outcome",
    t: number,
    explanation: string,
  ): void {
    this.ctx.violations.add({
      kind,
      direction: "server-to-client",
      client: this.client,
      stream: this.stream,
      explanation,
      t,
    });
  }
}

/** The jump (sorted by `from`) whose skipped range holds `offset`, by binary search. */
function jumpAt(
  jumps: readonly { from: number; to: number; t: number }[],
  offset: number,
): { from: number; to: number; t: number } | undefined {
  let lo = 0;
  let hi = jumps.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (jumps[mid]!.from <= offset) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  const jump = found >= 0 ? jumps[found] : undefined;
  return jump && offset <= jump.to ? jump : undefined;
}
