import { AssuredError } from "@assured/core";
import {
  assertEventName,
  assertId,
  assertMeterOption,
  assertRetryPolicy,
  type ClientLocks,
  type ClientStorage,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_RETRY_POLICY,
  DEFAULT_WINDOW,
  type MetricsMeter,
  memoryStorage,
  type RandomSource,
  type RetryPolicy,
} from "@assured/core/protocol";
import { assertKnownOptions, assertPositiveInteger, MAX_READ_LIMIT } from "@assured/core/store";

/** Options of `createAssuredClient`. Every field is optional. */
export interface AssuredClientOptions {
  /** Where the outbox, client id and positions persist (default: memory; use `webStorage(localStorage)` in browsers). */
  storage?: ClientStorage;
  /** Prefix of the keys Assured writes into `storage` (default `"assured:"`). */
  storagePrefix?: string;
  /** The client id (default: the stored one, else a new random one). */
  clientId?: string;
  /**
   * Largest encoded message payload in bytes (default 524,288, the server's default
   * `maxPayloadBytes`). `emit` rejects a larger one with `PAYLOAD_TOO_LARGE` before it is
   * stored: sent anyway, it would be refused — or, beyond Socket.IO's `maxHttpBufferSize`,
   * drop the connection on every resend. Keep it at most the server's limit.
   */
  maxPayloadBytes?: number;
  /**
   * Messages in flight at once (default 128). A client sends at most this many per round trip,
   * so over a 10 ms link 32 capped it near 3,200 messages a second.
   */
  window?: number;
  /** Unanswered messages kept; `emit` beyond rejects with `LIMIT_EXCEEDED` (default 1000). */
  maxPending?: number;
  /**
   * How long to wait for an answer before sending again, and for fetch, heads and `history`
   * replies (default 10,000 ms).
   */
  ackTimeoutMs?: number;
  /**
   * Backoff before retries (default `{ initialMs: 500, maxMs: 30000, factor: 2 }`, full jitter):
   * of messages, refused subscriptions and failed fetches (retried forever while subscribed).
   */
  retry?: RetryPolicy;
  /**
   * Events buffered per stream ahead of the handlers (default 2500). The client fetches only
   * when its buffer has room (flow control, protocol v2); live events beyond it are dropped and
   * fetched again, which is correct but slower.
   */
  maxBufferedEvents?: number;
  /** Most streams subscribed at once (default 256, the server's default per socket). */
  maxStreams?: number;
  /**
   * Interval of the position check (default 15,000 ms): it tells the client heads it did not hear
   * of (a trailing gap on a quiet stream), epoch changes and rewritten logs.
   */
  positionCheckIntervalMs?: number;
  /** Largest fetch in events (catch-up page or gap; the server may lower it), and largest `history` limit (default 500). */
  fetchLimit?: number;
  /** Results of finished messages kept for `result(id)` (default 100). */
  maxResults?: number;
  /** How long those results are kept (default 24 h). */
  resultTtlMs?: number;
  /**
   * Largest result stored per message, in bytes (default 65,536). A larger one still resolves
   * `emit`, but other tabs and later page lives see `{ ok: true, omitted: true }`; so one big
   * result can never fill the storage quota and block later messages.
   */
  maxResultBytes?: number;
  /** Random source for retry jitter (default `Math.random`). */
  random?: RandomSource;
  /**
   * Event names that may pass without a handler. By default an event nobody handles holds its
   * stream (reported as `NO_HANDLER` through `onError`) until `on(name, …)` adds a handler, so
   * no event is consumed unseen.
   */
  skipEvents?: readonly string[];
  /**
   * The oldest a message may be when it is (re)sent, in ms: an older one is answered `EXPIRED`
   * by the server and does not run. At most the server's dedup window (checked at connect and
   * reported through `onError`); without it the server's window applies.
   */
  messageTtlMs?: number;
  /**
   * The locks that keep clients sharing `storage` apart (default: the browser's Web Locks, or
   * in-process locks shared by clients given the same storage object in Node).
   */
  locks?: ClientLocks;
  /**
   * Where the client's OpenTelemetry metrics go (docs/operations.md): a `Meter` of
   * `@opentelemetry/api`, or `false` for none. Default: the global meter provider's
   * `"@assured/client"` meter when `@opentelemetry/api` can be imported (in Node; a browser
   * bundle does not include it: pass a meter), else none. `client.stats()` works either way.
   */
  meter?: MetricsMeter | false;
}

/** The options with their defaults filled in. */
export type ResolvedOptions = Required<
  Omit<AssuredClientOptions, "clientId" | "messageTtlMs" | "locks" | "meter">
> & {
  clientId?: string;
  messageTtlMs?: number;
  locks?: ClientLocks;
  meter?: MetricsMeter | false;
  /**
   * The storage is the client's own (none was given): no other client or tab can reach it, so
   * what this client wrote last is what is stored.
   */
  privateStorage: boolean;
};

const OPTION_KEYS: ReadonlySet<string> = new Set([
  "storage",
  "storagePrefix",
  "clientId",
  "maxPayloadBytes",
  "window",
  "maxPending",
  "ackTimeoutMs",
  "retry",
  "maxBufferedEvents",
  "maxStreams",
  "positionCheckIntervalMs",
  "fetchLimit",
  "maxResults",
  "resultTtlMs",
  "maxResultBytes",
  "random",
  "skipEvents",
  "messageTtlMs",
  "locks",
  "meter",
] satisfies (keyof AssuredClientOptions)[]);

/** Validates options and fills in defaults; throws `INVALID_ARGUMENT` on a bad value or an unknown option. */
export function resolveOptions(options: AssuredClientOptions = {}): ResolvedOptions {
  assertKnownOptions(options, OPTION_KEYS, "createAssuredClient", "AssuredClientOptions");
  const resolved: ResolvedOptions = {
    storage: options.storage ?? memoryStorage(),
    privateStorage: options.storage === undefined,
    storagePrefix: options.storagePrefix ?? "assured:",
    maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    window: options.window ?? DEFAULT_WINDOW,
    maxPending: options.maxPending ?? 1000,
    ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
    retry: options.retry ?? { ...DEFAULT_RETRY_POLICY },
    maxBufferedEvents: options.maxBufferedEvents ?? 2500,
    maxStreams: options.maxStreams ?? 256,
    positionCheckIntervalMs: options.positionCheckIntervalMs ?? 15_000,
    fetchLimit: options.fetchLimit ?? 500,
    maxResults: options.maxResults ?? 100,
    resultTtlMs: options.resultTtlMs ?? 24 * 60 * 60 * 1000,
    maxResultBytes: options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES,
    random: options.random ?? Math.random,
    skipEvents: checkSkipEvents(options.skipEvents),
  };
  if (options.messageTtlMs !== undefined) {
    assertPositiveInteger(options.messageTtlMs, "messageTtlMs");
    resolved.messageTtlMs = options.messageTtlMs;
  }
  if (options.locks !== undefined) {
    if (typeof (options.locks as Partial<ClientLocks> | null)?.request !== "function") {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        "locks must implement request(name, options, task) (see ClientLocks).",
      );
    }
    resolved.locks = options.locks;
  }
  if (options.meter !== undefined) {
    assertMeterOption(options.meter, "meter");
    resolved.meter = options.meter;
  }
  if (options.clientId !== undefined) {
    assertId(options.clientId, "clientId");
    resolved.clientId = options.clientId;
  }
  const s = resolved.storage as Partial<ClientStorage>;
  if (
    typeof s.get !== "function" ||
    typeof s.set !== "function" ||
    typeof s.remove !== "function"
  ) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "storage must implement get, set and remove (see ClientStorage).",
    );
  }
  if (typeof resolved.storagePrefix !== "string") {
    throw new AssuredError("INVALID_ARGUMENT", "storagePrefix must be a string.");
  }
  for (const key of [
    "maxPayloadBytes",
    "window",
    "maxPending",
    "ackTimeoutMs",
    "maxBufferedEvents",
    "maxStreams",
    "positionCheckIntervalMs",
    "fetchLimit",
    "maxResults",
    "resultTtlMs",
    "maxResultBytes",
  ] as const) {
    assertPositiveInteger(resolved[key], key);
  }
  if (resolved.fetchLimit > MAX_READ_LIMIT) {
    throw new AssuredError("INVALID_ARGUMENT", `fetchLimit must be at most ${MAX_READ_LIMIT}.`);
  }
  assertRetryPolicy(resolved.retry);
  if (typeof resolved.random !== "function") {
    throw new AssuredError("INVALID_ARGUMENT", "random must be a function returning [0, 1).");
  }
  return resolved;
}

function checkSkipEvents(names: unknown): readonly string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) {
    throw new AssuredError("INVALID_ARGUMENT", "skipEvents must be an array of event names.");
  }
  for (const name of names) assertEventName(name);
  return [...names];
}
