/**
 * Every error code Assured reports. Codes are stable API: match on `error.code`, never on the
 * message text.
 */
export type AssuredErrorCode =
  /** An argument had the wrong type, range or shape. */
  | "INVALID_ARGUMENT"
  /** A stream name was empty, too long, or not a string. */
  | "INVALID_STREAM"
  /** An offset was negative, fractional, NaN or beyond the safe integer range. */
  | "INVALID_OFFSET"
  /** An epoch was not a string of the accepted shape. */
  | "INVALID_EPOCH"
  /** An encoded payload was larger than the configured limit. */
  | "PAYLOAD_TOO_LARGE"
  /** A configured bound (buffer, batch, replay, outbox, window) was exceeded. */
  | "LIMIT_EXCEEDED"
  /** Too many requests from one socket in the configured interval. */
  | "RATE_LIMITED"
  /** One principal holds its whole share of a bounded resource (dedup entries); final until entries expire. */
  | "QUOTA_EXCEEDED"
  /** A value could not be encoded or a stored payload could not be decoded. */
  | "CODEC_ERROR"
  /** A frame on the wire did not match the protocol. */
  | "BAD_FRAME"
  /**
   * The peer speaks another version of the wire protocol (`details.version`: this side's,
   * `details.peerVersion`: the peer's): final; upgrade the older side (`@assured/client` and
   * `@assured/server` of the same major version speak the same protocol).
   */
  | "PROTOCOL_VERSION"
  /** The subscription or fetch was refused by the `authorize` hook. */
  | "UNAUTHORIZED"
  /** No handler is registered for a client message name. */
  | "UNKNOWN_EVENT"
  /** The same idempotency key was used with a different payload. */
  | "IDEMPOTENCY_CONFLICT"
  /** The store could not be reached or failed; the operation may be retried. */
  | "STORE_UNAVAILABLE"
  /** The store was closed; create a new instance. */
  | "STORE_CLOSED"
  /** A stored record failed an integrity check (wrong epoch, missing offset). */
  | "STORE_CORRUPT"
  /** The application's handler threw; `details.error` carries what it threw. */
  | "HANDLER_ERROR"
  /** A message older than the server's dedup window (or its own `messageTtlMs`): final, it did not run. */
  | "EXPIRED"
  /** A message arrived ahead of an earlier unanswered one of its session (`details.waitingForSeq`); retryable. */
  | "OUT_OF_ORDER"
  /** An event has no handler: its stream waits until one is added with `on` (or the name is skipped). */
  | "NO_HANDLER"
  /** The operation did not complete in time. */
  | "TIMEOUT"
  /** A running handler's dedup lease was taken over or could not be renewed: it must stop and not write. */
  | "LEASE_LOST"
  /** The client or server was closed while the operation was pending. */
  | "CLOSED"
  /** A bug in Assured: please report it. */
  | "INTERNAL";

/** All codes, for validation and exhaustive tests. */
export const ASSURED_ERROR_CODES: readonly AssuredErrorCode[] = [
  "INVALID_ARGUMENT",
  "INVALID_STREAM",
  "INVALID_OFFSET",
  "INVALID_EPOCH",
  "PAYLOAD_TOO_LARGE",
  "LIMIT_EXCEEDED",
  "RATE_LIMITED",
  "QUOTA_EXCEEDED",
  "CODEC_ERROR",
  "BAD_FRAME",
  "PROTOCOL_VERSION",
  "UNAUTHORIZED",
  "UNKNOWN_EVENT",
  "IDEMPOTENCY_CONFLICT",
  "STORE_UNAVAILABLE",
  "STORE_CLOSED",
  "STORE_CORRUPT",
  "HANDLER_ERROR",
  "EXPIRED",
  "OUT_OF_ORDER",
  "NO_HANDLER",
  "TIMEOUT",
  "LEASE_LOST",
  "CLOSED",
  "INTERNAL",
];

/** Serializable shape of an error, as it travels on the wire and is stored as a response. */
export interface AssuredErrorData {
  code: AssuredErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * The one error class of Assured. Every failure a user can see is an `AssuredError` with a
 * `code`; driver errors are wrapped (the original is kept as `cause`).
 *
 * @example
 * try { await store.append(stream, entries) }
 * catch (e) { if (isAssuredError(e, "STORE_UNAVAILABLE")) retryLater() }
 */
export class AssuredError extends Error {
  override readonly name = "AssuredError";
  readonly code: AssuredErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: AssuredErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** The serializable form sent to peers. The `cause` stays local. */
  toJSON(): AssuredErrorData {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  /** Rebuilds an error received from a peer; unknown codes become `INTERNAL`. */
  static fromJSON(data: unknown): AssuredError {
    if (typeof data === "object" && data !== null) {
      const d = data as Partial<AssuredErrorData>;
      const code = ASSURED_ERROR_CODES.includes(d.code as AssuredErrorCode)
        ? (d.code as AssuredErrorCode)
        : "INTERNAL";
      const message = typeof d.message === "string" ? d.message : "unknown error from peer";
      const details = typeof d.details === "object" && d.details !== null ? d.details : undefined;
      return new AssuredError(code, message, details === undefined ? {} : { details });
    }
    return new AssuredError("INTERNAL", "malformed error from peer");
  }
}

/** True when `value` is an `AssuredError`, optionally with the given code. */
export function isAssuredError(value: unknown, code?: AssuredErrorCode): value is AssuredError {
  return value instanceof AssuredError && (code === undefined || value.code === code);
}

/**
 * Wraps an unknown failure from a driver as `STORE_UNAVAILABLE` unless it already is an
 * `AssuredError`. Stores call this so driver errors never leak raw.
 */
export function toStoreError(error: unknown, operation: string): AssuredError {
  if (error instanceof AssuredError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new AssuredError(
    "STORE_UNAVAILABLE",
    `${operation} failed: ${reason}. The store may be down or unreachable; retry later.`,
    { cause: error },
  );
}
