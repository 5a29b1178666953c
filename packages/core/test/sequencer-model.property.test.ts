import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { EventRecord, Position, RecoveryOutcome } from "../src/index.js";
import {
  type CheckMarks,
  type FetchRequest,
  type FetchResult,
  judgeResume,
  type ParsedSubscribed,
  Sequencer,
  type SequencerStep,
  type SubscribeRequest,
} from "../src/protocol-entry.js";
import { seeded } from "./seeded.js";

/*
 * Model-based test of the client's Sequencer (protocol v2, DESIGN §8: one repair loop pulled by
 * the client). fast-check generates the schedule — appends (live batches), resets (a new epoch),
 * trims (retention) and rewrites (a store restored from an older snapshot, same epoch) of the log, lost live
 * batches, fetch replies read at one moment and delivered later or out of order, failed and
 * timed-out fetches, time passing (timeouts, backoff), disconnects and resubscriptions, small
 * buffers — against a reference model: the log (every (epoch, offset) → id it ever held) and
 * the client's expected next offset (the previous delivery or the latest explicit outcome).
 * The server side is a plain model of the protocol (docs/protocol.md), not the server package.
 *
 * Safety, at every delivery: the record is one the log held at (epoch, offset), and it follows
 * the previous delivery — or the latest outcome's position — by exactly one offset (G1, G3, G6):
 * every offset is delivered once, in order, or skipped only by an explicit outcome.
 * Liveness, once the faults stop (time passes, the client's timers run): the client reaches the
 * log's head (G2, G7) — also while live events keep coming.
 */

const S = "room:1";
const FETCH_TIMEOUT_MS = 1000;
const RETRY = { initialMs: 50, maxMs: 400, factor: 2 };

interface Log {
  epoch: string;
  head: number;
  /** The lowest retained offset (retention trims the log from the front). */
  earliest: number;
  records: Map<number, EventRecord>;
}

type ToClient =
  | { kind: "subscribed"; frame: ParsedSubscribed }
  | { kind: "batch"; epoch: string; records: EventRecord[] }
  | { kind: "fetched"; request: FetchRequest; reply: FetchResult }
  | { kind: "heads"; marks: CheckMarks; heads: Record<string, { epoch: string; head: number }> };

/** Work the server does later: read the store now or later, send the frames when it runs. */
interface ServerTask {
  run(): ToClient[];
}

interface Anchor {
  epoch: string;
  offset: number;
}

class Simulation {
  readonly log: Log = { epoch: "", head: 0, earliest: 1, records: new Map() };
  /** Every (epoch, offset) → ids the log ever held there. */
  readonly held = new Map<string, Set<string>>();
  readonly seq: Sequencer;
  now = 0;
  /** Frames on the wire to the client, in order. */
  queue: ToClient[] = [];
  /** Server work not done yet (store reads whose replies are not sent). */
  tasks: ServerTask[] = [];
  connected = true;
  /** The server streams live appends to this connection (after it processed a subscribe). */
  live = false;
  /** The next live batch is lost on the way (an adapter dropped it, a node died). */
  loseNextBatch = false;
  /**
   * The next live batch is held on the way (an adapter's publish queued while its connection
   * was down) and arrives only at a later `release`, after anything read meanwhile.
   */
  delayNextBatch = false;
  /** Live batches held on the way, oldest first. */
  delayed: ToClient[] = [];
  /** The newest epoch the client was ever in, by creation order (e1 < e2 < …). */
  newestEpoch = 0;
  /** The next fetches fail (the store is down, the server refuses). */
  failFetches = false;
  inFlight: EventRecord | null = null;
  anchor: Anchor | null = null;
  readonly violations: string[] = [];
  readonly trace: string[] = [];
  readonly pageLimit: number;
  #ids = 0;
  #epochs = 0;

  constructor(
    readonly random: () => number,
    options: { maxBuffered: number; fetchLimit: number; pageLimit: number },
  ) {
    this.pageLimit = options.pageLimit;
    this.seq = new Sequencer({
      maxBuffered: options.maxBuffered,
      fetchLimit: options.fetchLimit,
      fetchTimeoutMs: FETCH_TIMEOUT_MS,
      retry: RETRY,
      random,
      now: () => this.now,
    });
    this.seq.track(S, null, "earliest");
    this.#subscribe(this.seq.subscriptions()[0]!);
  }

  // --- the server -------------------------------------------------------------------------

  append(n: number): void {
    if (this.log.epoch === "") this.log.epoch = `e${++this.#epochs}`;
    const records: EventRecord[] = [];
    for (let i = 0; i < n; i++) {
      const offset = ++this.log.head;
      const record: EventRecord = {
        stream: S,
        offset,
        id: `id${++this.#ids}`,
        name: "m",
        payload: new Uint8Array([offset & 0xff]),
        time: 0,
      };
      this.log.records.set(offset, record);
      const key = `${this.log.epoch}#${offset}`;
      if (!this.held.has(key)) this.held.set(key, new Set());
      this.held.get(key)!.add(record.id);
      records.push(record);
    }
    const lost = this.loseNextBatch;
    const late = this.delayNextBatch && !lost;
    this.loseNextBatch = false;
    this.delayNextBatch = false;
    this.trace.push(
      `append ${n} → ${this.log.epoch}#${this.log.head}${lost ? " (lost)" : late ? " (delayed)" : ""}`,
    );
    if (!this.live || lost) return;
    const batch: ToClient = { kind: "batch", epoch: this.log.epoch, records };
    if (late) this.delayed.push(batch);
    else this.queue.push(batch);
  }

  /** The held live batches arrive now, behind everything sent meanwhile. */
  release(): void {
    if (this.delayed.length === 0) return;
    this.trace.push(`release ${this.delayed.length} delayed batches`);
    if (this.connected) this.queue.push(...this.delayed);
    this.delayed = [];
  }

  /** The log reset or lost: a new epoch, empty (its first append names it). */
  reset(): void {
    this.log.epoch = "";
    this.log.head = 0;
    this.log.earliest = 1;
    this.log.records.clear();
    this.trace.push("reset");
  }

  /** The store restored from an older snapshot: the same epoch, a shorter head. */
  rewrite(): void {
    const head = Math.floor(this.random() * this.log.head);
    for (let o = head + 1; o <= this.log.head; o++) this.log.records.delete(o);
    this.log.head = head;
    this.log.earliest = Math.min(this.log.earliest, head + 1);
    this.trace.push(`rewrite → ${this.log.epoch}#${head}`);
  }

  /** Retention trims the log from the front (the client may be behind it: `trimmed`). */
  trim(): void {
    const { earliest, head } = this.log;
    const to = earliest + Math.floor(this.random() * (head + 2 - earliest));
    for (let o = earliest; o < to; o++) this.log.records.delete(o);
    this.log.earliest = to;
    this.trace.push(`trim → earliest ${to}, head ${head}`);
  }

  /** A store read: up to `limit` records from the first retained offset after `after`. */
  #read(after: number, limit: number): EventRecord[] {
    const out: EventRecord[] = [];
    const from = Math.max(after + 1, this.log.earliest);
    for (let o = from; o <= Math.min(this.log.head, from + limit - 1); o++) {
      out.push(this.log.records.get(o)!);
    }
    return out;
  }

  #outcome(request: SubscribeRequest): ParsedSubscribed {
    const { head, epoch, earliest } = this.log;
    const base = { stream: S, epoch, head };
    const p = request.position;
    let frame: ParsedSubscribed;
    // The outcome table of docs/protocol.md (no replayLimit here).
    if (p === null) frame = { ...base, recovered: true, start: earliest - 1 };
    else {
      const verdict = judgeResume(p, { epoch, head, earliest }, this.log.records.get(p.offset));
      if (verdict === "epoch" || verdict === "diverged") {
        frame = { ...base, recovered: false, reason: verdict, start: head };
      } else if (p.offset < earliest - 1) {
        frame = { ...base, recovered: false, reason: "trimmed", start: head };
      } else frame = { ...base, recovered: true, start: p.offset };
    }
    const id = this.log.records.get(frame.start)?.id;
    if (id !== undefined) frame.startId = id;
    // The first page travels with the outcome (DESIGN §8).
    frame.records = this.#read(frame.start, this.pageLimit);
    return frame;
  }

  #subscribe(request: SubscribeRequest): void {
    this.tasks.push({
      run: () => {
        const frame = this.#outcome(request);
        this.live = true;
        this.trace.push(
          `subscribe ${JSON.stringify(request.position)} → ${frame.epoch}#${frame.start}..${frame.head} ${frame.recovered ? "" : frame.reason} page ${frame.records?.length}`,
        );
        return [{ kind: "subscribed", frame }];
      },
    });
  }

  #fetch(request: FetchRequest): void {
    const fails = this.failFetches;
    this.trace.push(`fetch ${JSON.stringify(request)}${fails ? " (fails)" : ""}`);
    // Read now, sent when the task is picked (other frames may overtake the reply).
    const snapshot: FetchResult = fails
      ? { ok: false, error: { code: "STORE_UNAVAILABLE", message: "down" } }
      : {
          ok: true,
          epoch: this.log.epoch,
          head: this.log.head,
          earliest: this.log.earliest,
          records:
            request.after === 0 || request.epoch === this.log.epoch
              ? this.#read(request.after, request.limit)
              : [],
        };
    this.tasks.push({ run: () => [{ kind: "fetched", request, reply: snapshot }] });
  }

  // --- the client binding -----------------------------------------------------------------

  #step(step: SequencerStep | undefined): void {
    if (step === undefined) return;
    if (step.outcome) this.#outcomeSeen(step.outcome);
    if (step.fetch && this.connected) this.#fetch(step.fetch);
    else if (step.fetch) this.seq.fetchFailed(step.fetch);
    if (step.resubscribe && this.connected) this.#subscribe(step.resubscribe);
  }

  #outcomeSeen(outcome: RecoveryOutcome): void {
    this.anchor = { epoch: outcome.position.epoch, offset: outcome.position.offset };
    this.trace.push(`outcome ${JSON.stringify(outcome)}`);
    this.#epochSeen(outcome.position.epoch);
  }

  // The client never goes back to an epoch the log had left before the client's newest one
  // existed: that log is gone, and its events are not the stream's (a late live batch of it is
  // no news about the log).
  #epochSeen(epoch: string): void {
    if (epoch === "") return;
    const index = Number(epoch.slice(1));
    if (index < this.newestEpoch) {
      this.violations.push(`back to epoch ${epoch} after e${this.newestEpoch} (a dead log)`);
    }
    this.newestEpoch = Math.max(this.newestEpoch, index);
  }

  /** The client reads the next frame off the wire. */
  receiveOne(): boolean {
    const frame = this.queue.shift();
    if (frame === undefined) return false;
    switch (frame.kind) {
      case "subscribed":
        this.#step(this.seq.subscribed(frame.frame));
        break;
      case "batch":
        this.#step(this.seq.receive({ stream: S, epoch: frame.epoch, records: frame.records }));
        break;
      case "fetched":
        this.trace.push(
          `fetched ${JSON.stringify(frame.request)} → ${frame.reply.ok ? `${frame.reply.epoch}#${frame.reply.head} ${frame.reply.records.length} records` : "error"}`,
        );
        this.#step(this.seq.fetched(frame.request, frame.reply));
        break;
      case "heads":
        this.trace.push(`heads ${JSON.stringify(frame.heads)}`);
        for (const step of this.seq.heads(frame.heads, frame.marks)) this.#step(step);
        break;
    }
    // An epoch taken without an outcome (a first log adopted at offset 0) counts too.
    const position = this.seq.position(S);
    if (position !== null) this.#epochSeen(position.epoch);
    return true;
  }

  /** The server finishes one piece of work (the oldest, or any: replies overtake each other). */
  serveOne(anyOrder: boolean): boolean {
    if (this.tasks.length === 0) return false;
    const i = anyOrder ? Math.floor(this.random() * this.tasks.length) : 0;
    const [task] = this.tasks.splice(i, 1);
    this.queue.push(...task!.run());
    return true;
  }

  /** The application takes the next record, or finishes the one it holds. */
  handleOne(): boolean {
    if (this.inFlight === null) {
      const record = this.seq.next(S);
      if (record === undefined) return false;
      this.inFlight = record;
      return true;
    }
    const record = this.inFlight;
    this.inFlight = null;
    const result = this.seq.delivered(S, record.offset);
    if (result === undefined) return true;
    this.#check(record);
    if (result.fetch) this.#step({ fetch: result.fetch });
    return true;
  }

  #check(record: EventRecord): void {
    const position = result(this.seq.position(S));
    const epoch = position.epoch;
    const at = `${epoch}#${record.offset}`;
    this.trace.push(`delivered ${at} ${record.id}`);
    if (!this.held.get(at)?.has(record.id)) {
      this.violations.push(`delivered ${at} ${record.id}, never in the log there`);
    }
    const a = this.anchor;
    const follows =
      a === null
        ? record.offset === 1
        : a.epoch === epoch
          ? record.offset === a.offset + 1
          : a.offset === 0 && record.offset === 1;
    if (!follows) {
      this.violations.push(
        `delivered ${at} after ${a === null ? "nothing" : `${a.epoch}#${a.offset}`} (G1/G3)`,
      );
    }
    this.anchor = { epoch, offset: record.offset };
    this.#epochSeen(epoch);
  }

  /** A position check (the binding's timer). */
  check(): void {
    const request = this.seq.checkRequest();
    if (request === null || !this.connected) return;
    const marks = this.seq.checkMarks(request.streams);
    this.tasks.push({
      run: () => [
        { kind: "heads", marks, heads: { [S]: { epoch: this.log.epoch, head: this.log.head } } },
      ],
    });
  }

  /** Time passes (fetch deadlines, backoff); the binding's timer runs the sequencer's `tick`. */
  advance(ms: number): void {
    this.now += ms;
    for (const step of this.seq.tick()) this.#step(step);
  }

  /** Jumps to the sequencer's next wake-up, if any; returns whether there was one. */
  wake(): boolean {
    const at = this.seq.nextWakeAt();
    if (at === undefined) return false;
    this.advance(Math.max(0, at - this.now));
    return true;
  }

  disconnect(): void {
    this.connected = false;
    this.live = false;
    this.queue = [];
    this.tasks = [];
    // A handler that is running goes on: it reports to the sequencer when it settles.
    this.seq.disconnected();
    this.trace.push("disconnect");
  }

  reconnect(): void {
    if (this.connected) return;
    this.connected = true;
    for (const request of this.seq.subscriptions()) this.#subscribe(request);
    this.trace.push("reconnect");
  }

  #drain(): boolean {
    let moved = false;
    while (this.serveOne(false) || this.receiveOne() || this.handleOne()) moved = true;
    return moved;
  }

  /**
   * Faults stop, but live events keep coming: one append, then the wire drains (with the
   * periodic position check among the frames), `rounds` times.
   */
  flow(rounds: number): void {
    this.failFetches = false;
    this.loseNextBatch = false;
    this.delayNextBatch = false;
    this.reconnect();
    // Batches still on the way arrive late, among the first frames.
    this.release();
    for (let round = 0; round < rounds; round++) {
      this.append(1);
      this.#drain();
      this.check();
      this.#drain();
      this.wake();
      this.#drain();
    }
  }

  /**
   * Faults stop and the stream goes quiet: the wire drains and time passes (timeouts, backoff);
   * the periodic position check runs whenever nothing else is pending (it finds a trailing gap,
   * a log rewritten below the client).
   */
  settle(): void {
    this.failFetches = false;
    this.loseNextBatch = false;
    this.delayNextBatch = false;
    this.reconnect();
    // Batches still on the way arrive late, among the first frames.
    this.release();
    for (let round = 0; round < 500; round++) {
      this.#drain();
      if (this.wake()) continue;
      // Nothing pending: a position check; when it changes nothing, the client has settled.
      const before = this.trace.length;
      this.check();
      this.#drain();
      if (!this.wake() && this.trace.every((l, i) => i < before || l.startsWith("heads"))) return;
    }
  }
}

function result(position: Position | null): Position {
  if (position === null) throw new Error("no position");
  return position;
}

type Action =
  | { kind: "append"; n: number }
  | { kind: "lose" }
  | { kind: "delay" }
  | { kind: "release" }
  | { kind: "reset" }
  | { kind: "rewrite" }
  | { kind: "trim" }
  | { kind: "check" }
  | { kind: "failFetches"; on: boolean }
  | { kind: "advance"; ms: number }
  | { kind: "disconnect" }
  | { kind: "reconnect" }
  | { kind: "serve"; anyOrder: boolean }
  | { kind: "receive" }
  | { kind: "handle" };

function actions(withRewrites: boolean): fc.Arbitrary<Action[]> {
  const action: fc.Arbitrary<Action> = fc.oneof(
    {
      weight: 12,
      arbitrary: fc.integer({ min: 1, max: 12 }).map((n) => ({ kind: "append", n }) as const),
    },
    { weight: 3, arbitrary: fc.constant({ kind: "lose" } as const) },
    { weight: 2, arbitrary: fc.constant({ kind: "delay" } as const) },
    { weight: 2, arbitrary: fc.constant({ kind: "release" } as const) },
    { weight: 2, arbitrary: fc.constant({ kind: "reset" } as const) },
    { weight: withRewrites ? 2 : 0, arbitrary: fc.constant({ kind: "rewrite" } as const) },
    { weight: 2, arbitrary: fc.constant({ kind: "trim" } as const) },
    { weight: 3, arbitrary: fc.constant({ kind: "check" } as const) },
    { weight: 2, arbitrary: fc.boolean().map((on) => ({ kind: "failFetches", on }) as const) },
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(10, 100, FETCH_TIMEOUT_MS)
        .map((ms) => ({ kind: "advance", ms }) as const),
    },
    { weight: 2, arbitrary: fc.constant({ kind: "disconnect" } as const) },
    { weight: 4, arbitrary: fc.constant({ kind: "reconnect" } as const) },
    {
      weight: 17,
      arbitrary: fc.boolean().map((anyOrder) => ({ kind: "serve", anyOrder }) as const),
    },
    { weight: 30, arbitrary: fc.constant({ kind: "receive" } as const) },
    { weight: 25, arbitrary: fc.constant({ kind: "handle" } as const) },
  );
  return fc.array(action, { minLength: 1, maxLength: 400, size: "max" });
}

interface Scenario {
  seed: number;
  maxBuffered: number;
  fetchLimit: number;
  pageLimit: number;
  steps: Action[];
}

function scenario(withRewrites: boolean): fc.Arbitrary<Scenario> {
  return fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    maxBuffered: fc.integer({ min: 1, max: 34 }),
    fetchLimit: fc.integer({ min: 1, max: 20 }),
    pageLimit: fc.integer({ min: 0, max: 20 }),
    steps: actions(withRewrites),
  });
}

function run(s: Scenario): Simulation {
  const sim = new Simulation(seeded(s.seed), s);
  for (const a of s.steps) {
    if (sim.violations.length > 0) break;
    switch (a.kind) {
      case "append":
        sim.append(a.n);
        break;
      case "lose":
        sim.loseNextBatch = true;
        break;
      case "delay":
        sim.delayNextBatch = true;
        break;
      case "release":
        sim.release();
        break;
      case "reset":
        sim.reset();
        break;
      case "rewrite":
        sim.rewrite();
        break;
      case "trim":
        sim.trim();
        break;
      case "check":
        sim.check();
        break;
      case "failFetches":
        sim.failFetches = a.on;
        break;
      case "advance":
        sim.advance(a.ms);
        break;
      case "disconnect":
        sim.disconnect();
        break;
      case "reconnect":
        sim.reconnect();
        break;
      case "serve":
        sim.serveOne(a.anyOrder);
        break;
      case "receive":
        sim.receiveOne();
        break;
      case "handle":
        sim.handleOne();
        break;
    }
  }
  return sim;
}

function explain(sim: Simulation, what: string): Error {
  return new Error(
    `${what}\n${sim.trace
      .filter((l) => !l.startsWith("heads"))
      .slice(-40)
      .join("\n")}`,
  );
}

function reachedHead(sim: Simulation): boolean {
  const position = sim.seq.position(S);
  const epoch = position?.offset === 0 && sim.log.head === 0 ? sim.log.epoch : position?.epoch;
  return epoch === sim.log.epoch && position?.offset === sim.log.head;
}

describe("Sequencer against a reference model of the log and the network (property)", () => {
  it("G1/G3/G6: every offset is delivered once and in order, or skipped by an explicit outcome", () => {
    fc.assert(
      fc.property(scenario(true), (s) => {
        const sim = run(s);
        if (sim.violations.length === 0) sim.settle();
        if (sim.violations.length > 0) throw explain(sim, sim.violations[0]!);
      }),
      { numRuns: 400 },
    );
  });

  it("G7: while live events flow after the faults, what is missing below them is repaired", () => {
    fc.assert(
      fc.property(scenario(true), (s) => {
        const sim = run(s);
        expect(sim.violations).toEqual([]);
        sim.flow(30);
        expect(sim.violations).toEqual([]);
        if (!reachedHead(sim)) {
          throw explain(
            sim,
            `after 30 live events: at ${JSON.stringify(sim.seq.position(S))}, log ${sim.log.epoch}#${sim.log.head}`,
          );
        }
      }),
      { numRuns: 400 },
    );
  });

  it("G2/G7: once the faults stop and the stream is quiet, the client reaches the log's head", () => {
    fc.assert(
      fc.property(scenario(true), (s) => {
        const sim = run(s);
        expect(sim.violations).toEqual([]);
        sim.settle();
        expect(sim.violations).toEqual([]);
        if (!reachedHead(sim)) {
          throw explain(
            sim,
            `stuck at ${JSON.stringify(sim.seq.position(S))}, log ${sim.log.epoch}#${sim.log.head}`,
          );
        }
      }),
      { numRuns: 400 },
    );
  });

  it("G7: one fetch outstanding at most, and none while caught up", () => {
    fc.assert(
      fc.property(scenario(false), (s) => {
        const sim = run(s);
        sim.settle();
        // Caught up and quiet: nothing is asked, and no timer is left.
        expect(sim.seq.nextWakeAt()).toBeUndefined();
        expect(sim.tasks).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
