import { isPromise } from "node:util/types";
import { encode } from "@assured/core";
import type { StoredResponse } from "@assured/core/store";
import { encodeApplicationError, isRetryableFailure } from "./application-error.js";
import type { AnyMessageHandler } from "./messages.js";
import type { MessageContext } from "./options.js";
import type { AnySocket } from "./wire.js";

/** `Promise.prototype.then` itself, as `await` uses it (not a `then` a promise may carry). */
const intrinsicThen: (
  this: Promise<unknown>,
  onFulfilled: (value: unknown) => StoredResponse,
  onRejected: (reason: unknown) => StoredResponse,
) => Promise<StoredResponse> = Promise.prototype.then;

/** Runs a handler; what it throws (or a result that does not encode) goes to `failed` too. */
export function runHandler(
  handler: AnyMessageHandler,
  data: unknown,
  context: MessageContext<AnySocket>,
  failed: (error: unknown) => void,
  timed: (durationMs: number, ok: boolean) => void,
): Promise<StoredResponse> {
  const start = performance.now();
  const threw = (error: unknown): StoredResponse => {
    timed(performance.now() - start, false);
    // What a handler throws once told to stop (an AbortError, the signal's reason) is no outcome.
    if (context.signal.aborted) throw error;
    failed(error);
    if (isRetryableFailure(error)) throw error;
    return { ok: false, payload: encodeApplicationError(error) };
  };
  const returned = (result: unknown): StoredResponse => {
    timed(performance.now() - start, true);
    try {
      return { ok: true, payload: encode(result) };
    } catch (error) {
      failed(error);
      return { ok: false, payload: encodeApplicationError(error) };
    }
  };
  let result: unknown;
  let then: unknown;
  try {
    result = handler(data, context);
    // A promise is followed as `await` follows it (no `instanceof`: a revoked Proxy would throw
    // from its prototype trap, where `await` reads only `then`).
    if (isPromise(result)) return intrinsicThen.call(Promise.resolve(result), returned, threw);
    // Read once and inside the try, as `await` reads it: a getter that throws (a revoked
    // Proxy) is the handler's failure, not the server's.
    then = isObjectLike(result) ? (result as { then?: unknown }).then : undefined;
  } catch (error) {
    return settledWith(threw, error);
  }
  if (typeof then === "function") {
    // A thenable other than a promise: adopted as `await` would, its `then` called in a job.
    const adopted = new Promise<unknown>((resolve, reject) => {
      queueMicrotask(() => {
        try {
          then.call(result, resolve, reject);
        } catch (error) {
          reject(error);
        }
      });
    });
    return adopted.then(returned, threw);
  }
  // A handler that answers synchronously costs no promise of its own (most do, per message).
  return settledWith(returned, result);
}

/** A promise of `compute(input)`, rejected with what it throws (no executor per message). */
function settledWith<I, T>(compute: (input: I) => T, input: I): Promise<T> {
  try {
    return Promise.resolve(compute(input));
  } catch (error) {
    return Promise.reject(error);
  }
}

function isObjectLike(value: unknown): value is object {
  return value !== null && (typeof value === "object" || typeof value === "function");
}
