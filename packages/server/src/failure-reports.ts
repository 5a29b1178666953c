import { AssuredError } from "@assured/core";
import createDebug from "debug";
import type { Socket } from "socket.io";

const log = createDebug("assured:server");

/**
 * What failed, for `onError`:
 * - `handler`: a message handler threw (or its result could not be encoded, or it ran past
 *   `handlerTimeoutMs`); the client got the stored error or a retryable one;
 * - `store`: the event or dedup store failed (`STORE_UNAVAILABLE`), or the dedup store holds
 *   as many keys as it may (`LIMIT_EXCEEDED` from a claim); the client got a retryable error
 *   without the store's details;
 * - `frame`: a client frame was refused (malformed, rate limited, undecodable payload);
 * - `hook`: the `authorize` or `identify` hook threw (counted as a refusal);
 * - `internal`: anything else the server did not expect (the client got `INTERNAL`).
 */
export type ServerFailureKind = "handler" | "store" | "frame" | "hook" | "internal";

/** One failure reported to `onError`, with what is known of where it happened. */
export interface ServerFailure<S extends Socket = Socket> {
  kind: ServerFailureKind;
  /** What was thrown, as it was (store errors keep their driver error as `cause`). */
  error: unknown;
  /** The operation, e.g. `"fetch"`, `"heads"`, `"subscribe"`, `"dedup"`, `"authorize"`, `"commits"`. */
  operation?: string;
  socket?: S;
  /** The socket's dedup principal, when known. */
  principal?: string;
  stream?: string;
  /** The client message being handled. */
  message?: { id: string; name: string };
}

/** Receives every failure the server answers on its own (see `ServerFailure`). */
export type OnServerFailure<S extends Socket = Socket> = (failure: ServerFailure<S>) => void;

/** Store failures printed at most once per operation in this window (the rest are counted). */
const STORE_PRINT_WINDOW_MS = 10_000;

/**
 * The reporter the server calls. With an `onError` hook, every failure goes to it (a hook that
 * throws is logged and ignored). Without one, the default prints each handler failure once, and
 * store failures at most once per operation every 10 s with the number left out; refused frames
 * and hook failures go to the `assured:server` debug log only (clients can cause them at will).
 */
export function createFailureReporter(
  onError: OnServerFailure | undefined,
  print: (line: string, error: unknown) => void = (line, error) => console.error(line, error),
  now: () => number = () => performance.now(),
): (failure: ServerFailure) => void {
  if (onError !== undefined) {
    return (failure) => {
      try {
        onError(failure);
      } catch (error) {
        log("onError threw: %o", error);
      }
    };
  }
  const lastPrinted = new Map<string, { at: number; skipped: number }>();
  return (failure) => {
    if (failure.kind === "handler") {
      const { message, principal } = failure;
      const what = message ? `message ${message.id} ("${message.name}")` : "a message";
      print(
        `[assured] the handler of ${what}${principal ? ` from ${principal}` : ""} failed:`,
        failure.error,
      );
      return;
    }
    if (failure.kind === "store") {
      const operation = failure.operation ?? "store";
      const last = lastPrinted.get(operation);
      const at = now();
      if (last !== undefined && at - last.at < STORE_PRINT_WINDOW_MS) {
        last.skipped++;
        return;
      }
      const skipped = last?.skipped ? ` (${last.skipped} more since the last report)` : "";
      lastPrinted.set(operation, { at, skipped: 0 });
      print(`[assured] the store failed in ${operation}${skipped}:`, failure.error);
      return;
    }
    log(
      "%s failure%s: %o",
      failure.kind,
      failure.operation ? ` in ${failure.operation}` : "",
      failure.error,
    );
  };
}

/** Codes of a refused client frame (reported as kind `frame`). */
const FRAME_CODES = new Set(["BAD_FRAME", "RATE_LIMITED", "CODEC_ERROR", "PAYLOAD_TOO_LARGE"]);

/**
 * The kind of a failure about to be answered to a client, or undefined for an ordinary answer
 * (`UNAUTHORIZED`, `OUT_OF_ORDER`, `EXPIRED`…, which the protocol expects).
 */
export function failureKind(error: unknown): ServerFailureKind | undefined {
  if (!(error instanceof AssuredError)) return "internal";
  if (error.code === "STORE_UNAVAILABLE") return "store";
  if (error.code === "INTERNAL") return "internal";
  return FRAME_CODES.has(error.code) ? "frame" : undefined;
}
