/** What the hammer process (`hammer-child.ts`) is started with, as JSON in `ASSURED_E2E_HAMMER`. */
export interface HammerConfig {
  /** The server's URL. */
  url: string;
  /** Clients (sockets) that hammer `assured:heads`, each with its own client id. */
  headsClients: number;
  /** Clients (sockets) that hammer `assured:fetch`, each with its own client id. */
  fetchClients: number;
  /** Clients (sockets) that hammer `assured:msg` (an `echo` with a small payload), each with its own client id. */
  messageClients?: number;
  /** Requests each client keeps in flight. */
  inFlight: number;
  /** The streams of every heads request (the server's `maxHeadsStreams` of them). */
  headsStreams: string[];
  /** The stream every fetch reads, its epoch, and the `limit` asked for (the server's `fetchLimit`). */
  fetch: { stream: string; epoch: string; limit: number; after: number };
  /** Wait after a `RATE_LIMITED` reply: doubles per refusal in a row, from `minMs` to `maxMs`. */
  backoff: { minMs: number; maxMs: number };
}

/** Commands the parent writes to the hammer's stdin, one per line. */
export type HammerCommand = "start" | "stop";

/** Counters of one hammering phase: from the moment every client was refused once (else from `start`) to its `stop`. */
export interface HammerStats {
  /** Requests answered `ok: true`. */
  served: number;
  /** Requests answered `RATE_LIMITED`. */
  limited: number;
  /** Requests answered with any other error, or not answered within 10 s. */
  failed: number;
  /** Streams in the served heads replies. */
  heads: number;
  /** Messages answered with their handler's result. */
  messages: number;
  /** Records in the served fetch replies. */
  records: number;
  /** Payload bytes in the served fetch replies. */
  bytes: number;
  /** Length of the phase in ms. */
  ms: number;
}

/** One line the hammer writes to stdout, as JSON. */
export type HammerLine =
  | { type: "connected" }
  /** Every client has been refused at least once since `start`: its burst is spent. */
  | { type: "saturated" }
  | { type: "stopped"; stats: HammerStats };

/** The environment variable carrying `HammerConfig`. */
export const HAMMER_CONFIG_ENV = "ASSURED_E2E_HAMMER";
