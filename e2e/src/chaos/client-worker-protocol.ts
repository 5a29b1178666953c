/**
 * What the chaos run's client workers (`client-worker.ts`, one process each) and their parent
 * (`client-workers.ts`) exchange: the config in an environment variable, then JSON lines —
 * commands on the child's stdin, replies and notices on its stdout (see `WorkerRequest`,
 * `WorkerOutput`). The child's own record of what its clients saw goes to its log file as
 * `ChaosLogLine`s (see `chaos-log.ts`), not to stdout.
 */

/** The environment variable carrying the worker's `ClientWorkerConfig` as JSON. */
export const CLIENT_WORKER_CONFIG_ENV = "ASSURED_CHAOS_WORKER";

/** One worker process's configuration. */
export interface ClientWorkerConfig {
  /** The worker's name; its clients are `${worker}-c0`, `${worker}-c1`… */
  worker: string;
  /** Where every client's socket connects (a node, or the fault proxy in front of one). */
  url: string;
  /** Clients in this process, each with its own socket. */
  clients: number;
  /** Streams every client subscribes to, from `"earliest"`. */
  streams: string[];
  /** The orchestrator's `Date.now()` at the run's start: a log line's `t` is measured from it. */
  startedAt: number;
  /** Messages per second per client, in exponentially distributed gaps (0: none). */
  messagesPerSecond: number;
  /** Messages each client sends in all. */
  maxMessages: number;
  /** Seeds the gaps between messages (mixed with the worker's and the client's names). */
  seed: number;
  /** Where the worker appends its `ChaosLogLine`s (JSON lines). */
  logFile: string;
}

/** A command to the worker. */
export type WorkerCommand =
  /** Blocks the worker's event loop synchronously for `ms` (a busy main thread); replied after. */
  | { cmd: "busy"; ms: number }
  /** Stops the clients' message timers (messages in flight continue). */
  | { cmd: "pause-sending" }
  /** Restarts them. */
  | { cmd: "resume-sending" }
  /** Replied with a `WorkerStatus`. */
  | { cmd: "status" }
  /** Stops sending, closes every client, flushes the log, replies `{ stopped: true }`, exits 0. */
  | { cmd: "stop" };

/** A command as written to the child's stdin: `id` pairs it with its reply. */
export type WorkerRequest = WorkerCommand & { id: number };

/** A stream's position as a client last saw it; `id` only when a delivery set it. */
export interface SeenPosition {
  epoch: string;
  offset: number;
  id?: string;
}

/**
 * Moves `positions[stream]` to an outcome's position. A recovered outcome at the delivered
 * position keeps the delivery's id; any other (a `diverged` one may name the same offset, of
 * another event) drops it.
 */
export function seeOutcome(
  positions: Record<string, SeenPosition>,
  outcome: { stream: string; recovered: boolean; epoch: string; offset: number },
): void {
  const { stream, recovered, epoch, offset } = outcome;
  const seen = positions[stream];
  if (!recovered || seen?.epoch !== epoch || seen.offset !== offset) {
    positions[stream] = { epoch, offset };
  }
}

/** One client's progress. */
export interface ClientStatus {
  name: string;
  /** Whether its socket is connected now. */
  connected: boolean;
  /** Messages in its outbox still waiting for an answer. */
  pending: number;
  /** The offset its handler last saw, per subscribed stream (0: none yet). */
  delivered: Record<string, number>;
  /** Where each stream stands: its last delivery (with the event's id) or outcome, if later. */
  positions: Record<string, SeenPosition>;
  /** Handler runs for events, across streams. */
  deliveries: number;
  /** Subscription outcomes seen, and how many of them did not recover. */
  outcomes: number;
  notRecovered: number;
  /** Messages emitted, and how many of their promises settled (either way). */
  emitted: number;
  settled: number;
  /** Settled promises that rejected. */
  failed: number;
  /** Errors reported through `onError`. */
  errors: number;
}

/** What `status` answers. */
export interface WorkerStatus {
  worker: string;
  /** Whether the clients' message timers run (not paused, not stopped). */
  sending: boolean;
  clients: ClientStatus[];
}

/** The reply to each command. */
export interface WorkerReplies {
  busy: { busyMs: number };
  "pause-sending": { sending: false };
  "resume-sending": { sending: true };
  status: WorkerStatus;
  stop: { stopped: true };
}

/** What the child writes to stdout, one JSON object per line. */
export type WorkerOutput =
  /** Every client's socket connected and every stream had its first outcome; sending started. */
  | { type: "ready"; worker: string }
  /** The reply to request `id`. */
  | { type: "reply"; id: number; ok: true; result: unknown }
  /** Request `id` failed (an unknown command, or an error while stopping). */
  | { type: "reply"; id: number; ok: false; error: string }
  /** Starting failed; the child exits 1 after this. */
  | { type: "failed"; worker: string; error: string };

/** Mixes a run's seed with a name (FNV-1a over the name, then the seed): one seed per client. */
export function mixSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
