/** The checker's input, options and verdict (see `checker.ts`). */
import type { ChaosHandledRun, ChaosLogLine } from "./chaos-log.js";

/** A stream's log as the store holds it at the end of the run (the truth). */
export interface ChaosStoreLog {
  epoch: string;
  head: number;
  /** The oldest retained offset (`head + 1` when none is retained). */
  earliest: number;
  /** Offset → the event's data (`ChaosEventData`, as decoded from the stored payload). */
  events: ReadonlyMap<number, unknown>;
}

/**
 * A store restart the run injected (`store-restarts.ts`), with every stream's log right before
 * the kill and right after the restart for the lossy modes: the store's history, which the
 * final logs alone do not show.
 */
export interface ChaosStoreRestart {
  /** `persistent` loses nothing; `volatile` loses everything; `snapshot` goes back in time. */
  mode: "persistent" | "volatile" | "snapshot";
  /** When the store was killed, and when it answered again (orchestrator clock, ms). */
  t: number;
  upT: number;
  before?: ReadonlyMap<string, ChaosStoreLog>;
  after?: ReadonlyMap<string, ChaosStoreLog>;
}

/** Everything a chaos run recorded. */
export interface ChaosRecord {
  /**
   * Every process's lines, in any order across processes; the lines of one client must keep
   * that client's own order (the checker never reorders them).
   */
  lines: readonly ChaosLogLine[];
  /** The shared handled log, in append order (the order the runs were recorded). */
  handled: readonly ChaosHandledRun[];
  /** The store's final log per stream, read at the end of the run. */
  logs: ReadonlyMap<string, ChaosStoreLog>;
  /**
   * Whether the run's faults could lose stored data (a store restarted without persistence or
   * restored from an older snapshot, a failover that loses writes). When false, every
   * `recovered: false` outcome is a violation (unless its reason is allowlisted).
   */
  lossPossible: boolean;
  /**
   * The run's start by the nodes' clock (ms since the Unix epoch), to put handled runs (`at`)
   * on the timeline; without it they are listed after it, by node clock.
   */
  runStartedAt?: number;
  /**
   * The store restarts of the run, in order. When given (even empty), `epoch` and `diverged`
   * outcomes are judged against them: an `epoch` outcome needs a volatile or snapshot restart
   * that lost the client's epoch, a `diverged` one a snapshot restart that no longer held the
   * client's last event; deliveries of a lost history are checked against the captured logs;
   * a message run again across a lossy restart (its dedup entry lost) is counted in
   * `storeLossReruns`, and one whose first run was in flight when the store was killed (its
   * answer not stored) in `storeDownReruns`, not reported.
   */
  restarts?: readonly ChaosStoreRestart[];
}

export interface CheckOptions {
  /**
   * Error codes a settled `emit` may legitimately fail with (e.g. `["EXPIRED"]`); such a message
   * may have run zero times. Any other `ok: false` is a `promise-rejected` violation. Default none.
   */
  allowedErrorCodes?: readonly string[];
  /** `recovered: false` reasons accepted even when `lossPossible` is false (e.g. `["trimmed"]`). */
  allowedOutcomeReasons?: readonly string[];
  /** A node whose RSS exceeds this is a `node-rss` violation. */
  maxRssBytes?: number;
  /** A node whose event-loop lag exceeds this is a `node-lag` violation. */
  maxEventLoopLagMs?: number;
  /**
   * Clients that left before the end on purpose (a closed tab, a killed client process): they
   * are not expected to have caught up to the store's head or final epoch, and a message of
   * theirs still pending (never settled) when they left is not `message-lost` /
   * `promise-missing`. Everything they did record is checked as usual.
   */
  departedClients?: readonly string[];
  /** At most this many violations of each kind are listed (all are counted). Default 1000. */
  maxViolationsPerKind?: number;
}

export type ServerToClientViolation =
  /** An offset the client should have had was never delivered, and no outcome skipped it. */
  | "lost"
  /** The same (epoch, offset) reached one client's handler twice. */
  | "duplicated"
  /** A delivery came after a later offset of its epoch, or from an epoch the client had left. */
  | "out-of-order"
  /** The delivered data is not what the store holds (or held) at that (epoch, offset). */
  | "wrong-payload"
  /** A `recovered: false` outcome although the store lost nothing the client needed. */
  | "outcome-without-loss"
  /** The store lost or replaced data (epoch change, divergence) and the client was not told. */
  | "loss-without-outcome";

export type ClientToServerViolation =
  /** An emitted message whose handler never ran (and whose promise did not fail legitimately). */
  | "message-lost"
  /** A message whose handler ran more than once. */
  | "message-duplicated"
  /** G10: a message first handled after a later message of the same client. */
  | "message-out-of-order"
  /** A handler run whose counter `n` differs from the emitted message's. */
  | "message-mismatch"
  /** A handler run or settled promise for a message id no `emit` line has. */
  | "message-unknown"
  /** An emitted message whose promise never settled. */
  | "promise-missing"
  /** A promise that settled more than once. */
  | "promise-settled-twice"
  /** A promise resolved with something other than `{ node, client, n }` of its handler run. */
  | "promise-wrong-value"
  /** A promise rejected with an error code that is not allowlisted. */
  | "promise-rejected";

export type NodeViolation = "node-rss" | "node-lag";

export type ViolationKind = ServerToClientViolation | ClientToServerViolation | NodeViolation;

export interface Violation {
  kind: ViolationKind;
  direction: "server-to-client" | "client-to-server" | "node";
  client?: string;
  stream?: string;
  /** The message id (client → server violations). */
  id?: string;
  node?: string;
  /** One line: what was wrong. */
  explanation: string;
  /** Orchestrator-relative time where it shows (for the timeline's `around`). */
  t: number;
}

/** One `recovered: false` outcome a client saw, and whether the store really lost data. */
export interface Recovery {
  client: string;
  stream: string;
  reason: string;
  epoch: string;
  offset: number;
  t: number;
  /**
   * `epoch`: the store had more than one epoch for the stream and the client's changed;
   * `trimmed`: the store no longer holds the offset the client needed; `diverged`: the store no
   * longer holds the client's last event at its position; `limit`: always false (a replay cap,
   * not a loss).
   */
  storeLost: boolean;
}

export interface NodeFigures {
  samples: number;
  /** The first and last samples' times and RSS (growth between them hints at a leak). */
  firstAt: number;
  firstRssBytes: number;
  lastAt: number;
  lastRssBytes: number;
  maxRssBytes: number;
  maxRssAt: number;
  maxEventLoopLagMs: number;
  maxLagAt: number;
}

export interface ChaosFigures {
  clients: number;
  streams: number;
  /** `published` lines. */
  eventsPublished: number;
  /** `delivery` lines. */
  deliveries: number;
  /** `emit` lines. */
  messages: number;
  /** Entries in the handled log. */
  handledRuns: number;
  /** `settled` lines, and how many of them resolved. */
  settled: number;
  settledOk: number;
  /** Outcomes by reason; `recovered` counts `recovered: true`. */
  outcomes: Record<string, number>;
  /** `fault` lines by `fault`. */
  faults: Record<string, number>;
  /** Client `error` lines by code. */
  errors: Record<string, number>;
  connects: number;
  disconnects: number;
  nodes: Record<string, NodeFigures>;
  /**
   * Messages whose handler ran again because the node running it was SIGKILLed before it could
   * store the answer (the claim is released after the lease): a side effect outside the dedup
   * store is then repeated. Not a violation (G9 does not cover it); counted.
   */
  crashReruns: number;
  /**
   * Messages whose handler ran again because a volatile or snapshot store restart fell between
   * two runs (the dedup entry was lost with the store's data): the documented consequence of
   * store data loss, not a violation; counted.
   */
  storeLossReruns: number;
  /**
   * Messages whose handler ran again because the store was SIGKILLed (any restart mode) while
   * the first run was in flight, so its answer could not be stored (`DedupOutcome.stored:
   * false`) and its claim ran out: the store-side twin of `crashReruns`; counted.
   */
  storeDownReruns: number;
  /** Store restarts by mode. */
  storeRestarts: Record<string, number>;
  /** Violations by kind (all of them, also those past the listing cap). */
  violations: Partial<Record<ViolationKind, number>>;
}

export interface ChaosVerdict {
  ok: boolean;
  violations: Violation[];
  /** Every `recovered: false` outcome, with its reason and whether the store lost data. */
  recoveries: Recovery[];
  figures: ChaosFigures;
}
