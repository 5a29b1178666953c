import { AssuredError, decode, encode } from "@assured/core";
import type { StoredResponse } from "@assured/core/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeApplicationError, isRetryableFailure } from "../src/application-error.js";
import { runHandler } from "../src/handler-run.js";
import type { AnyMessageHandler } from "../src/messages.js";
import type { MessageContext } from "../src/options.js";
import type { AnySocket } from "../src/wire.js";

/**
 * The reference: the handler awaited in an async function, as the server did before handlers
 * that answer synchronously were taken without a promise of their own. `runHandler` must give
 * the same outcome, the same reports and the same timing flags for anything a handler does.
 */
async function awaited(
  handler: AnyMessageHandler,
  data: unknown,
  context: MessageContext<AnySocket>,
  failed: (error: unknown) => void,
  timed: (durationMs: number, ok: boolean) => void,
): Promise<StoredResponse> {
  let result: unknown;
  try {
    result = await handler(data, context);
    timed(0, true);
  } catch (error) {
    timed(0, false);
    if (context.signal.aborted) throw error;
    failed(error);
    if (isRetryableFailure(error)) throw error;
    return { ok: false, payload: encodeApplicationError(error) };
  }
  try {
    return { ok: true, payload: encode(result) };
  } catch (error) {
    failed(error);
    return { ok: false, payload: encodeApplicationError(error) };
  }
}

/** What a value or failure is: a plain value, an application error, a retryable error. */
const outcome = fc.oneof(
  fc.record({ kind: fc.constant("value" as const), value: fc.jsonValue() }),
  fc.record({ kind: fc.constant("unencodable" as const) }),
  fc.record({ kind: fc.constant("error" as const), message: fc.string() }),
  fc.record({ kind: fc.constant("retryable" as const) }),
);
type Outcome = typeof outcome extends fc.Arbitrary<infer T> ? T : never;

/** How the handler delivers it. */
const delivery = fc.constantFrom(
  "sync",
  "promise",
  "async-later",
  "thenable",
  "thenable-throws-in-then",
  "then-getter-throws",
  "revoked-proxy",
);

function failure(o: Outcome): unknown {
  if (o.kind === "retryable") return new AssuredError("STORE_UNAVAILABLE", "down for a moment");
  return new Error(o.kind === "error" ? o.message : "?");
}

function makeHandler(o: Outcome, how: string): AnyMessageHandler {
  const fails = o.kind === "error" || o.kind === "retryable";
  const value = o.kind === "value" ? o.value : o.kind === "unencodable" ? { big: 1n } : undefined;
  switch (how) {
    case "sync":
      return () => {
        if (fails) throw failure(o);
        return value;
      };
    case "promise":
      return () => (fails ? Promise.reject(failure(o)) : Promise.resolve(value));
    case "async-later":
      return async () => {
        await new Promise((resolve) => setImmediate(resolve));
        if (fails) throw failure(o);
        return value;
      };
    case "thenable":
      return () => ({
        // biome-ignore lint/suspicious/noThenProperty: a thenable is what this case returns.
        then: (resolve: (v: unknown) => void, reject: (e: unknown) => void) =>
          fails ? reject(failure(o)) : resolve(value),
      });
    case "thenable-throws-in-then":
      return () => ({
        // biome-ignore lint/suspicious/noThenProperty: a thenable is what this case returns.
        then: () => {
          throw failure(o);
        },
      });
    case "then-getter-throws":
      return () =>
        // biome-ignore lint/suspicious/noThenProperty: a `then` that cannot be read is the case.
        Object.defineProperty({}, "then", {
          get() {
            throw failure(o);
          },
        });
    default: {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return () => proxy;
    }
  }
}

type Settled = { status: "fulfilled"; value: unknown } | { status: "rejected"; reason: string };

/** Runs one implementation and describes everything observable about it. */
async function observe(
  run: typeof runHandler,
  handler: AnyMessageHandler,
  aborted: boolean,
): Promise<{ settled: Settled; failed: string[]; timed: boolean[] }> {
  const controller = new AbortController();
  if (aborted) controller.abort(new AssuredError("TIMEOUT", "given up"));
  const context = {
    socket: undefined as unknown as AnySocket,
    principal: "p",
    id: "m",
    seq: 1,
    signal: controller.signal,
    fencingToken: 1,
  };
  const failed: string[] = [];
  const timed: boolean[] = [];
  const settled = await run(
    handler,
    null,
    context,
    (error) => failed.push(String(error)),
    (_ms, ok) => timed.push(ok),
  ).then(
    (response): Settled => ({
      status: "fulfilled",
      value: { ok: response.ok, data: decode(response.payload) },
    }),
    (reason: unknown): Settled => ({ status: "rejected", reason: String(reason) }),
  );
  return { settled, failed, timed };
}

describe("runHandler answers as awaiting the handler would", () => {
  it("for any value or failure, delivered in any way, with or without an aborted signal", async () => {
    await fc.assert(
      fc.asyncProperty(outcome, delivery, fc.boolean(), async (o, how, aborted) => {
        const handler = makeHandler(o, how);
        const got = await observe(runHandler, handler, aborted);
        const expected = await observe(awaited, handler, aborted);
        expect(got).toEqual(expected);
      }),
      {
        numRuns: 300,
        // Found by a run: a value with an own "__proto__" key encoded, and its answer never decoded.
        examples: [[{ kind: "value", value: JSON.parse('{"__proto__": null}') }, "sync", false]],
      },
    );
  });
});
