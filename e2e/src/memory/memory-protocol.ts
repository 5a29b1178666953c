import type { AssuredLimits } from "@assured/server";

/** What the memory server (`memory-server.ts`) is started with, as JSON in `ASSURED_E2E_MEMORY`. */
export interface MemoryServerConfig {
  /** The Assured limits under test. */
  limits: Partial<AssuredLimits>;
  /**
   * Streams the synthetic store holds from the start: `count` events whose payloads are all the
   * same `bytes`-long buffer, so the store itself costs no memory and every byte the server
   * holds is buffering.
   */
  streams: Record<string, { count: number; bytes: number }>;
}

/** What the server sent one connection (by the `tag` of its handshake `auth`). */
export interface SentCounters {
  /** Bytes of every packet queued for the connection (string length or binary byte length). */
  bytes: number;
  /** Bytes of the binary attachments of `assured:batch` frames and fetch replies. */
  recordBytes: number;
  /** Frames per event name (`assured:subscribed`, `assured:batch`, …; acks count as "ack"). */
  frames: Record<string, number>;
}

/** The server process's memory and what it did. */
export interface MemoryStats {
  /** Resident set size now, in bytes. */
  rss: number;
  /** The largest RSS sampled (every 10 ms) since the last `resetPeak`. */
  peakRss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Per connection tag. */
  sent: Record<string, SentCounters>;
  /** Connections that ended, with the reason and what had been sent to them by then. */
  disconnects: { tag: string; reason: string; bytes: number }[];
  /** Connected sockets. */
  sockets: number;
  /** Messages whose handler is holding (`hold`), not yet released. */
  holding: number;
}

/** Commands the parent sends over IPC; the child answers each with `{ id, result }`. */
export type MemoryCommand =
  | { id: number; type: "stats"; gc?: boolean }
  | { id: number; type: "resetPeak" }
  | { id: number; type: "publish"; stream: string; count: number; bytes: number }
  | { id: number; type: "release" };

/** The environment variable carrying `MemoryServerConfig`. */
export const MEMORY_CONFIG_ENV = "ASSURED_E2E_MEMORY";
