import { AssuredError, type Epoch, type StreamName } from "@assured/core";
import {
  assertLimit,
  decodeRecord,
  FRAMES,
  type HistoryRequest,
  parseFetchReply,
} from "@assured/core/protocol";
import { assertKnownOptions, assertStreamName } from "@assured/core/store";
import type { Socket } from "socket.io-client";
import type { EventMeta } from "./event-handlers.js";
import type { FirstParameter, IsLoose } from "./typed-events.js";

/** Options of `history`. */
export interface HistoryOptions {
  /** Only events with offsets below this one (default: up to the stream's head). */
  before?: number;
  /** Most events in the page: 1 to the client's `fetchLimit` (default 50, or `fetchLimit` if lower). */
  limit?: number;
}

/** One event of a history page: what a handler gets, its `data` decoded, and its metadata. */
export interface HistoryEvent<T = unknown> extends EventMeta {
  data: T;
}

/** A history event typed by the event map `E` (a union over its names), or `T` with a loose map. */
export type HistoryEventOf<E, T> =
  IsLoose<E> extends true
    ? HistoryEvent<T>
    : { [K in keyof E & string]: HistoryEvent<FirstParameter<E[K]>> & { name: K } }[keyof E &
        string];

/** What `history` resolves with. */
export interface HistoryPage<V = HistoryEvent> {
  /**
   * The log the offsets belong to. A different epoch than an earlier page's means the log was
   * replaced (offsets start over): drop what you showed and read again from the head.
   */
  epoch: Epoch;
  /** Consecutive events, oldest first, ending right below `before` (or at the head). */
  events: V[];
  /** Older retained events exist: read them with `before: events[0].offset`. */
  more: boolean;
}

/** Events in a page when `limit` is not given (the client's `fetchLimit` if that is lower). */
export const DEFAULT_HISTORY_LIMIT = 50;

const HISTORY_OPTION_KEYS: readonly string[] = [
  "before",
  "limit",
] satisfies (keyof HistoryOptions)[];

/** Checks `history`'s arguments; returns the request to send. */
export function historyRequest(
  stream: unknown,
  options: unknown,
  fetchLimit: number,
): HistoryRequest {
  assertStreamName(stream);
  assertKnownOptions(options, HISTORY_OPTION_KEYS, "history", "HistoryOptions");
  const { before, limit = Math.min(DEFAULT_HISTORY_LIMIT, fetchLimit) } = (options ?? {}) as Record<
    string,
    unknown
  >;
  if (
    before !== undefined &&
    (typeof before !== "number" || !Number.isSafeInteger(before) || before < 1)
  ) {
    throw new AssuredError(
      "INVALID_OFFSET",
      `before must be an offset of at least 1 (an event's offset), got ${String(before)}.`,
    );
  }
  assertLimit(limit, fetchLimit);
  return before === undefined ? { stream, limit } : { stream, before, limit };
}

/**
 * Sends `assured:history` requests and turns their replies into pages. A request waits for the
 * socket to connect and for its answer together at most `timeoutMs` (then `TIMEOUT`); `close`
 * rejects the waiting ones with `CLOSED`. It touches no subscription state.
 */
export class HistoryReader {
  readonly #socket: Socket;
  readonly #timeoutMs: number;
  readonly #waiting = new Set<(error: AssuredError) => void>();

  constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Reads one page.
   * @throws AssuredError the server's refusal, `TIMEOUT`, `CLOSED`, `BAD_FRAME`, `CODEC_ERROR`.
   */
  read(request: HistoryRequest): Promise<HistoryPage> {
    return new Promise<HistoryPage>((resolve, reject) => {
      const deadline = Date.now() + this.#timeoutMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onConnect = () => send();
      const finish = (error?: AssuredError, page?: HistoryPage) => {
        if (!this.#waiting.delete(fail)) return;
        clearTimeout(timer);
        this.#socket.off("connect", onConnect);
        if (error) reject(error);
        else resolve(page as HistoryPage);
      };
      const fail = (error: AssuredError) => finish(error);
      const send = () => {
        this.#socket.off("connect", onConnect);
        clearTimeout(timer);
        this.#socket
          .timeout(Math.max(1, deadline - Date.now()))
          .emit(FRAMES.history, request, (err: unknown, raw: unknown) => {
            if (err) return fail(timeoutError(request.stream, this.#timeoutMs));
            try {
              finish(undefined, toPage(request, raw));
            } catch (error) {
              fail(error as AssuredError);
            }
          });
      };
      this.#waiting.add(fail);
      if (this.#socket.connected) return send();
      // Not connected (yet): wait for the connection within the same time limit.
      this.#socket.on("connect", onConnect);
      timer = setTimeout(
        () => fail(timeoutError(request.stream, this.#timeoutMs)),
        this.#timeoutMs,
      );
    });
  }

  /** Rejects every waiting request with `error` (the client closed). */
  close(error: AssuredError): void {
    for (const fail of [...this.#waiting]) fail(error);
  }
}

/** Parses a reply into a page: records below `before`, decoded. */
function toPage(request: HistoryRequest, raw: unknown): HistoryPage {
  const reply = parseFetchReply(request.stream, raw);
  if (!reply.ok) {
    const error = AssuredError.fromJSON(reply.error);
    throw new AssuredError(error.code, error.message, {
      details: { ...error.details, stream: request.stream },
    });
  }
  const last = reply.records[reply.records.length - 1];
  if (
    reply.records.length > request.limit ||
    (last !== undefined && last.offset >= (request.before ?? reply.head + 1))
  ) {
    throw new AssuredError("BAD_FRAME", "malformed history reply from the server");
  }
  const events = reply.records.map((record): HistoryEvent => {
    let data: unknown;
    try {
      data = decodeRecord(record);
    } catch (error) {
      throw new AssuredError(
        "CODEC_ERROR",
        `the event at offset ${record.offset} of ${JSON.stringify(request.stream)} cannot be decoded.`,
        { details: { stream: request.stream, offset: record.offset, id: record.id }, cause: error },
      );
    }
    const { stream, offset, id, name, time } = record;
    return { stream, offset, epoch: reply.epoch, id, name, time, data };
  });
  const first = events[0];
  return { epoch: reply.epoch, events, more: first !== undefined && first.offset > reply.earliest };
}

function timeoutError(stream: StreamName, timeoutMs: number): AssuredError {
  return new AssuredError(
    "TIMEOUT",
    `no history of ${JSON.stringify(stream)} within ackTimeoutMs (${timeoutMs} ms): the socket did not connect, or the server did not answer. Call history again.`,
    { details: { stream } },
  );
}
