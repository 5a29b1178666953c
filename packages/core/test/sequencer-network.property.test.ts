import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CheckMarks,
  type EventRecord,
  type FetchRequest,
  type FetchResult,
  judgeResume,
  type Position,
  type RecoveryOutcome,
  Sequencer,
  type SequencerStep,
  type SubscribedFrame,
  type SubscribeRequest,
} from "../src/index.js";
import { seeded } from "./seeded.js";

/*
 * The client's Sequencer against a simulated server and connection, under random schedules:
 * appends, resets and rewrites (a store restored from an older snapshot) of the log; replies
 * read from the store at one moment and sent later (other frames overtaking them); fetches that
 * fail or time out; disconnects and resubscriptions; small buffers that drop records. The
 * server side is a plain model of the protocol (docs/protocol.md), not the server package.
 *
 * Safety, at every delivery: the record is one the log held at (epoch, offset), and it follows
 * the previous delivery — or the latest outcome's position — by exactly one offset (G1, G3, G6).
 * Liveness, once the faults stop: with the position checks the binding runs, the client
 * reaches the log's head (G7).
 */

const S = "room:1";

interface Log {
  epoch: string;
  head: number;
  records: Map<number, EventRecord>;
}

type ToClient =
  | { kind: "subscribed"; frame: SubscribedFrame }
  | { kind: "batch"; epoch: string; records: EventRecord[]; ack?: () => void }
  | { kind: "fetched"; request: FetchRequest; reply: FetchResult }
  | { kind: "heads"; marks: CheckMarks; heads: Record<string, { epoch: string; head: number }> };

/** Work the server does later: read the store now (`read`), send the frames at `send`. */
interface ServerTask {
  run(): ToClient[];
}

interface Replay {
  epoch: string;
  records: EventRecord[];
  sent: number;
  unacked: number;
  stopped: boolean;
}

interface Anchor {
  epoch: string;
  offset: number;
}

class Simulation {
  readonly log: Log = { epoch: "", head: 0, records: new Map() };
  /** Every (epoch, offset) → id the log ever held. */
  readonly held = new Map<string, Set<string>>();
  readonly seq: Sequencer;
  /** Frames on the wire to the client, in order. */
  queue: ToClient[] = [];
  /** Server work not done yet (store reads whose replies are not sent). */
  tasks: ServerTask[] = [];
  connected = true;
  /** The server streams live appends to this connection (after it processed a subscribe). */
  live = false;
  inFlight: EventRecord | null = null;
  /** The server's current replay to this connection. */
  replay: Replay | null = null;
  /** Fetches sent (the binding times out the outstanding one). */
  readonly sentFetches: FetchRequest[] = [];
  anchor: Anchor | null = null;
  readonly violations: string[] = [];
  readonly trace: string[] = [];
  #ids = 0;
  #epochs = 0;

  constructor(
    readonly random: () => number,
    options: { maxBuffered: number; fetchLimit: number },
  ) {
    this.seq = new Sequencer(options);
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
    this.trace.push(`append ${n} → ${this.log.epoch}#${this.log.head}`);
    if (this.live) this.queue.push({ kind: "batch", epoch: this.log.epoch, records });
  }

  /** The log reset or lost: a new epoch, empty (its first append names it). */
  reset(): void {
    this.log.epoch = "";
    this.log.head = 0;
    this.log.records.clear();
    this.trace.push("reset");
  }

  /** The store restored from an older snapshot: the same epoch, a shorter head. */
  rewrite(): void {
    const head = Math.floor(this.random() * this.log.head);
    for (let o = head + 1; o <= this.log.head; o++) this.log.records.delete(o);
    this.log.head = head;
    this.trace.push(`rewrite → ${this.log.epoch}#${head}`);
  }

  #read(after: number, limit: number): EventRecord[] {
    const out: EventRecord[] = [];
    for (let o = after + 1; o <= Math.min(this.log.head, after + limit); o++) {
      out.push(this.log.records.get(o)!);
    }
    return out;
  }

  #outcome(request: SubscribeRequest): SubscribedFrame {
    const { head, epoch } = this.log;
    const base = { stream: S, epoch, head };
    const p = request.position;
    if (p === null || p.offset === 0) return { ...base, recovered: true, start: 0 };
    const verdict = judgeResume(p, { epoch, head, earliest: 1 }, this.log.records.get(p.offset));
    if (verdict === "epoch" || verdict === "diverged") {
      const frame: SubscribedFrame = { ...base, recovered: false, reason: verdict, start: head };
      const id = this.log.records.get(head)?.id;
      if (id !== undefined) frame.startId = id;
      return frame;
    }
    const frame: SubscribedFrame = { ...base, recovered: true, start: p.offset };
    const id = this.log.records.get(p.offset)?.id;
    if (id !== undefined) frame.startId = id;
    return frame;
  }

  #subscribe(request: SubscribeRequest): void {
    this.tasks.push({
      run: () => {
        const frame = this.#outcome(request);
        this.live = true;
        this.queue.push({ kind: "subscribed", frame });
        if (this.replay) this.replay.stopped = true;
        this.replay = {
          epoch: frame.epoch,
          records: this.#read(frame.start, 10_000),
          sent: 0,
          unacked: 0,
          stopped: false,
        };
        this.trace.push(`subscribe ${JSON.stringify(request.position)} → ${JSON.stringify(frame)}`);
        this.#pump(this.replay);
        return [];
      },
    });
  }

  /** Sends replay batches while fewer than two are unacknowledged (flow control). */
  #pump(replay: Replay): void {
    while (!replay.stopped && replay.unacked < 2 && replay.sent < replay.records.length) {
      const records = replay.records.slice(replay.sent, replay.sent + 7);
      replay.sent += records.length;
      replay.unacked++;
      const ack = () => {
        replay.unacked--;
        this.#pump(replay);
      };
      this.queue.push({ kind: "batch", epoch: replay.epoch, records, ack });
    }
  }

  /** The server's replay ack timeout: a replay waiting for an ack stops, silently. */
  stopReplay(): void {
    if (this.replay && !this.replay.stopped && this.replay.unacked > 0) {
      this.replay.stopped = true;
      this.trace.push(
        `replay stopped (unacked) at ${this.replay.sent}/${this.replay.records.length}`,
      );
    }
  }

  #fetch(request: FetchRequest, fails: boolean): void {
    this.sentFetches.push(request);
    this.trace.push(`fetch ${JSON.stringify(request)}${fails ? " (fails)" : ""}`);
    // Read now, sent when the task is picked (other frames may overtake the reply).
    const snapshot: FetchResult = fails
      ? { ok: false, error: { code: "STORE_UNAVAILABLE", message: "down" } }
      : {
          ok: true,
          epoch: this.log.epoch,
          head: this.log.head,
          earliest: 1,
          records: request.epoch === this.log.epoch ? this.#read(request.after, request.limit) : [],
        };
    this.tasks.push({ run: () => [{ kind: "fetched", request, reply: snapshot }] });
  }

  // --- the client binding -----------------------------------------------------------------

  #step(step: SequencerStep | undefined, fetchFails = false): void {
    if (step === undefined) return;
    for (const ack of step.acks) ack();
    if (step.outcome) this.#outcomeSeen(step.outcome);
    if (step.fetch && this.connected) this.#fetch(step.fetch, fetchFails);
    if (step.resubscribe && this.connected) this.#subscribe(step.resubscribe);
  }

  #outcomeSeen(outcome: RecoveryOutcome): void {
    this.anchor = { epoch: outcome.position.epoch, offset: outcome.position.offset };
    this.trace.push(`outcome ${JSON.stringify(outcome)}`);
  }

  /** The client reads the next frame off the wire. */
  receiveOne(failFetches: boolean): boolean {
    const frame = this.queue.shift();
    if (frame === undefined) return false;
    switch (frame.kind) {
      case "subscribed":
        this.#step(this.seq.subscribed(frame.frame), failFetches);
        break;
      case "batch":
        this.#step(
          this.seq.receive({ stream: S, epoch: frame.epoch, records: frame.records }, frame.ack),
          failFetches,
        );
        break;
      case "fetched":
        this.trace.push(
          `fetched ${JSON.stringify(frame.request)} → ${frame.reply.ok ? `${frame.reply.epoch}#${frame.reply.head} ${frame.reply.records.length} records` : "error"}`,
        );
        if (!frame.reply.ok && this.seq.awaitsFetch(frame.request)) {
          this.seq.fetchFailed(frame.request);
        } else {
          this.#step(this.seq.fetched(frame.request, frame.reply), failFetches);
        }
        break;
      case "heads":
        this.trace.push(`heads ${JSON.stringify(frame.heads)}`);
        for (const step of this.seq.heads(frame.heads, frame.marks)) this.#step(step, failFetches);
        break;
    }
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
    this.#step({ acks: result.acks, ...(result.fetch ? { fetch: result.fetch } : {}) });
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

  /** The binding's fetch timeout fires for the outstanding fetch (its reply may still come). */
  timeoutFetch(): void {
    const outstanding = this.#outstandingFetch();
    if (outstanding) this.seq.fetchFailed(outstanding);
    if (outstanding) this.trace.push(`fetch timeout ${JSON.stringify(outstanding)}`);
  }

  #outstandingFetch(): FetchRequest | undefined {
    return this.sentFetches.find((request) => this.seq.awaitsFetch(request));
  }

  disconnect(): void {
    this.connected = false;
    this.live = false;
    this.queue = [];
    this.tasks = [];
    if (this.replay) this.replay.stopped = true;
    this.replay = null;
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

  /**
   * Faults stop, but live events keep coming: one append, then everything on the wire and a
   * position check, `rounds` times. Records missing below the live ones must be repaired
   * meanwhile, not only once the stream is quiet.
   */
  flow(rounds: number): void {
    this.reconnect();
    for (let round = 0; round < rounds; round++) {
      this.append(1);
      while (this.serveOne(false) || this.receiveOne(false) || this.handleOne());
      this.check();
      while (this.serveOne(false) || this.receiveOne(false) || this.handleOne());
    }
  }

  /** Faults stop: reconnect, then run server, client and checks until nothing moves. */
  settle(): void {
    this.reconnect();
    for (let round = 0; round < 200; round++) {
      let moved = false;
      while (this.serveOne(false) || this.receiveOne(false) || this.handleOne()) moved = true;
      const before = JSON.stringify(this.seq.position(S));
      this.check();
      while (this.serveOne(false) || this.receiveOne(false) || this.handleOne()) moved = true;
      if (!moved && JSON.stringify(this.seq.position(S)) === before && round > 3) return;
    }
  }
}

function result(position: Position | null): Position {
  if (position === null) throw new Error("no position");
  return position;
}

function run(seed: number, steps: number, withRewrites: boolean, settle = true) {
  const random = seeded(seed);
  const sim = new Simulation(random, {
    maxBuffered: 4 + Math.floor(random() * 30),
    fetchLimit: 1 + Math.floor(random() * 20),
  });
  for (let i = 0; i < steps && sim.violations.length === 0; i++) {
    const r = random();
    if (r < 0.12) sim.append(1 + Math.floor(random() * 12));
    else if (r < 0.14) sim.reset();
    else if (r < 0.16 && withRewrites) sim.rewrite();
    else if (r < 0.2) sim.check();
    else if (r < 0.21) sim.timeoutFetch();
    else if (r < 0.22) sim.stopReplay();
    else if (r < 0.24) sim.disconnect();
    else if (r < 0.28) sim.reconnect();
    else if (r < 0.45) sim.serveOne(true);
    else if (r < 0.75) sim.receiveOne(random() < 0.15);
    else sim.handleOne();
  }
  if (settle && sim.violations.length === 0) sim.settle();
  return sim;
}

describe("Sequencer against a simulated server and connection (property)", () => {
  it("G1/G3/G6: every delivery follows the previous one or the latest outcome, and is a record the log held", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.boolean(), (seed, rewrites) => {
        const sim = run(seed, 400, rewrites);
        if (sim.violations.length > 0) {
          throw new Error(`${sim.violations[0]}\n${sim.trace.slice(-30).join("\n")}`);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("G7: while live events flow after the faults, what is missing below them is repaired", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.boolean(), (seed, rewrites) => {
        const sim = run(seed, 400, rewrites, false);
        expect(sim.violations).toEqual([]);
        sim.flow(30);
        expect(sim.violations).toEqual([]);
        const position = sim.seq.position(S);
        if (position?.epoch !== sim.log.epoch || position.offset !== sim.log.head) {
          throw new Error(
            `after 30 live events and checks: at ${JSON.stringify(position)}, log ${sim.log.epoch}#${sim.log.head}\n${sim.trace
              .filter((l) => !l.startsWith("heads"))
              .slice(-40)
              .join("\n")}`,
          );
        }
      }),
      { numRuns: 400 },
    );
  });

  it("G7: once the faults stop, the client reaches the log's head", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.boolean(), (seed, rewrites) => {
        const sim = run(seed, 400, rewrites);
        expect(sim.violations).toEqual([]);
        const position = sim.seq.position(S);
        const reached = {
          epoch: position?.offset === 0 && sim.log.head === 0 ? sim.log.epoch : position?.epoch,
          offset: position?.offset,
        };
        if (reached.epoch !== sim.log.epoch || reached.offset !== sim.log.head) {
          throw new Error(
            `stuck at ${JSON.stringify(position)}, log ${sim.log.epoch}#${sim.log.head}\n${sim.trace
              .filter((l) => !l.startsWith("heads"))
              .slice(-40)
              .join("\n")}`,
          );
        }
      }),
      { numRuns: 400 },
    );
  });
});
