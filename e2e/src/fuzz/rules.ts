/**
 * What the fuzz server (`fuzz-server.ts`) and the fuzzer both know: how a handshake token maps
 * to a principal, which streams a principal may read, what the handlers return, and the shape
 * of the messages between the parent and the server process. The fuzzer uses these rules as
 * its oracle: a frame that contradicts them is a leak.
 */

/** Principals the hostile clients take (their handshake `auth.token` is the principal). */
export const HOSTILE_PRINCIPALS = [
  "alice",
  "bob",
  "carol",
  "__proto__",
  "constructor",
  "hasOwnProperty",
] as const;

/** Principals of raw engine.io peers: disjoint from the others, so their ids never mix. */
export const RAW_PRINCIPALS = ["raw-1", "raw-2", "toString"] as const;

/** Principals of HTTP long-polling probes: disjoint from the others too. */
export const HTTP_PRINCIPALS = ["http-1", "valueOf"] as const;

/** The principal of the one well-behaved `@assured/client`. */
export const GOOD_PRINCIPAL = "good";

/** The stream the well-behaved client reads: the background publisher's only writer of it. */
export const GOOD_STREAM = "good:feed";

/** Streams the background publisher appends to, so every kind of stream has data. */
export const PUBLISHED_STREAMS = [
  GOOD_STREAM,
  "public:lobby",
  "secret:alice",
  "secret:bob",
  "secret:__proto__",
  "secret:constructor",
  "secret:good",
  "deny:vault",
] as const;

/** Stream names the generators pick from besides random ones. */
export const KNOWN_STREAMS = [
  ...PUBLISHED_STREAMS,
  "secret:carol",
  "secret:raw-1",
  "secret:",
  "deny:",
  "public:empty",
  "__proto__",
  "constructor",
  "assured:good:feed",
] as const;

/** Message names with a handler on the fuzz server. */
export const HANDLER_NAMES = ["echo", "whoami", "note", "fail", "slow"] as const;

/** A principal is the handshake's `auth.token` when it is 1–64 of `[A-Za-z0-9_-]`; else none. */
export function principalOfToken(token: unknown): string | undefined {
  return typeof token === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(token) ? token : undefined;
}

/** The principal of a handshake `auth` object (anything: it comes from the client). */
export function principalOfAuth(auth: unknown): string | undefined {
  if (typeof auth !== "object" || auth === null) return undefined;
  return principalOfToken((auth as { token?: unknown }).token);
}

/**
 * What the server will see of a value a client sends as JSON (a handshake's `auth`): a boxed
 * `new String("alice")` arrives as "alice", a Date as its ISO string. The fuzzer judges
 * replies by the principal the server derives, so it derives it from this.
 */
export function asSent(value: unknown): unknown {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The `authorize` rule: `deny:*` is readable by nobody, `secret:<p>` only by principal `p`
 * (so nobody without a principal reads any `secret:` stream), everything else by everybody.
 */
export function mayRead(principal: string | undefined, stream: string): boolean {
  if (stream.startsWith("deny:")) return false;
  if (stream.startsWith("secret:")) {
    return principal !== undefined && stream === `secret:${principal}`;
  }
  return true;
}

/** What `whoami` returns and `fail` throws for a principal: another principal must never see it. */
export function secretOf(principal: string): string {
  return `secret-of-${principal}`;
}

/** Field marking whose data a handler's result or a published event is. */
export const OWNER_FIELD = "fuzzOwner";
/** Field naming the stream a published event was appended to. */
export const STREAM_FIELD = "fuzzStream";

/** The fuzz server's configuration, as JSON in `FUZZ_SERVER_ENV`. */
export interface FuzzServerConfig {
  /** `memory` (default) or `sqlite` on `databasePath`. */
  store: "memory" | "sqlite";
  databasePath?: string;
  /** Pause between two rounds of the background publisher (one event per published stream). */
  publishIntervalMs: number;
  /** How often the server reports its memory, event-loop lag and room audit. */
  statsIntervalMs: number;
  /** `limits.maxPayloadBytes` of the server. */
  maxPayloadBytes: number;
  /** Socket.IO's connection state recovery (restored sessions must not keep denied rooms). */
  connectionStateRecovery: boolean;
  /**
   * Harness self-tests only, to prove the oracle can fail: `oom` registers a `selftest:oom`
   * handler that allocates until the heap is exhausted (a crash must be reported); `leak` makes
   * `authorize` allow every stream and `identify` map everybody to one principal (leaks must be
   * reported).
   */
  selfTest?: "oom" | "leak";
}

/** The environment variable carrying `FuzzServerConfig`. */
export const FUZZ_SERVER_ENV = "ASSURED_FUZZ_SERVER";

/** A socket found in the room of a stream its principal may not read. */
export interface RoomLeak {
  socketId: string;
  principal: string | null;
  stream: string;
}

/** Memory and event-loop figures of the server process at one moment. */
export interface ServerStats {
  at: number;
  rss: number;
  heapUsed: number;
  external: number;
  /** Largest event-loop delay since the previous report (ms). */
  lagMaxMs: number;
  /** 99th percentile of the event-loop delay since the previous report (ms). */
  lagP99Ms: number;
  sockets: number;
  /** Rooms the namespace's adapter holds (each socket's own room included). */
  rooms: number;
  /** Sockets in an `assured:` room of a stream their principal may not read. */
  roomLeaks: RoomLeak[];
  /** Room members the adapter holds for sockets that are no longer connected. */
  ghostMembers: number;
}

/** Head of a stream as the server's store reports it. */
export interface StreamHead {
  epoch: string;
  head: number;
}

/** Parent → server process requests (over the IPC channel). */
export type FuzzServerRequest =
  | { type: "heads"; requestId: number }
  | { type: "stop-publishing"; requestId: number }
  | { type: "stats"; requestId: number; gc: boolean };

/** Server process → parent messages (over the IPC channel). */
export type FuzzServerMessage =
  | { type: "ready"; port: number }
  | { type: "stats"; stats: ServerStats; requestId?: number }
  | { type: "heads"; requestId: number; heads: Record<string, StreamHead> }
  | { type: "publish-error"; stream: string; code: string; message: string }
  | { type: "fatal"; error: string };
