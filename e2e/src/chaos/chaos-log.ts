/**
 * What a chaos run records, one JSON object per line, for the checker (`checker.ts`) and for the
 * timeline printed when a check fails. Every line has `t`, the orchestrator-relative time in ms
 * when it happened (each process measures from the run's start, which the orchestrator passes
 * to it), and `kind`.
 */

/** Published events carry this payload: the checker compares what handlers saw with it. */
export interface ChaosEventData {
  stream: string;
  /** The publisher's own counter per stream (1, 2, 3…), independent of offsets. */
  k: number;
}

/** Client messages carry this payload; the node's handler records it (with the message id). */
export interface ChaosMessageData {
  /** The sending client's name (unique in the run). */
  client: string;
  /** The client's own counter (1, 2, 3… in emit order). */
  n: number;
}

/** The handler's answer to a message: the checker compares the settled promise with it. */
export interface ChaosMessageAnswer {
  node: string;
  client: string;
  n: number;
}

export type ChaosLogLine =
  /** A handler of client `client` ran for an event. */
  | {
      kind: "delivery";
      t: number;
      client: string;
      stream: string;
      epoch: string;
      offset: number;
      /** The event's id (absent in logs written before it was recorded). */
      id?: string;
      data: unknown;
    }
  /** A subscription outcome a client saw (G6). */
  | {
      kind: "outcome";
      t: number;
      client: string;
      stream: string;
      recovered: boolean;
      reason?: string;
      epoch: string;
      offset: number;
    }
  /** A client emitted a message (its id and counter). */
  | { kind: "emit"; t: number; client: string; id: string; n: number }
  /** An `emit` promise settled: the answer, or the error code. */
  | {
      kind: "settled";
      t: number;
      client: string;
      id: string;
      n: number;
      ok: boolean;
      value?: unknown;
      code?: string;
    }
  /** An error a client reported through `onError`. */
  | { kind: "error"; t: number; client: string; code: string; message: string }
  /** A client's socket connected or disconnected. */
  | { kind: "connection"; t: number; client: string; connected: boolean; reason?: string }
  /**
   * A browser tab reloaded: a new client instance of `client` (same name, same storage) starts
   * from the stored positions and outbox; the earlier instance's promises are gone.
   */
  | { kind: "reload"; t: number; client: string }
  /** A fault the orchestrator injected (or ended). */
  | { kind: "fault"; t: number; fault: string; target?: string; detail?: unknown }
  /** An event the orchestrator published and the store acknowledged. */
  | {
      kind: "published";
      t: number;
      stream: string;
      k: number;
      epoch: string;
      offset: number;
    }
  /** A node's resource figures, sampled every second. */
  | { kind: "node-stats"; t: number; node: string; rssBytes: number; eventLoopLagMs: number };

/** One run of a message handler, as the node recorded it in the shared handled log. */
export interface ChaosHandledRun {
  id: string;
  node: string;
  client: string;
  n: number;
  /** When the run started, by the node's clock (ms since the Unix epoch). */
  at: number;
}
