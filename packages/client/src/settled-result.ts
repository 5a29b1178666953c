import { AssuredError, decode } from "@assured/core";
import type { MessageResult } from "@assured/core/protocol";

/**
 * The answer to a message as the application sees it. `omitted: true`: the message finished,
 * but its value was larger than `maxResultBytes` and was kept only by the page that received
 * it (`value` is then undefined).
 */
export type SettledResult =
  | { ok: true; value: unknown; omitted?: true }
  | { ok: false; error: AssuredError };

/**
 * Decodes a finished message's result: the handler's value; what it threw as `HANDLER_ERROR`
 * (decoded into `details.error`); or the protocol error.
 */
export function toSettled(result: MessageResult): SettledResult {
  try {
    if (result.ok) {
      if ("omitted" in result && result.omitted === true) {
        return { ok: true, value: undefined, omitted: true };
      }
      return { ok: true, value: decode(result.payload) };
    }
    if (result.stored === true && "omitted" in result && result.omitted === true) {
      return {
        ok: false,
        error: new AssuredError(
          "HANDLER_ERROR",
          `the server handler of ${JSON.stringify(result.name)} threw; what it threw was larger than maxResultBytes and was not kept.`,
          { details: { id: result.id, omitted: true } },
        ),
      };
    }
    if (result.stored === true) {
      const thrown = decode(result.payload);
      const message =
        typeof thrown === "object" &&
        thrown !== null &&
        typeof (thrown as { message?: unknown }).message === "string"
          ? (thrown as { message: string }).message
          : String(thrown);
      return {
        ok: false,
        error: new AssuredError(
          "HANDLER_ERROR",
          `the server handler of ${JSON.stringify(result.name)} threw: ${message}`,
          {
            details: { id: result.id, error: thrown },
          },
        ),
      };
    }
    const e = AssuredError.fromJSON(result.error);
    return {
      ok: false,
      error: new AssuredError(e.code, e.message, { details: { ...e.details, id: result.id } }),
    };
  } catch (error) {
    return {
      ok: false,
      error:
        error instanceof AssuredError
          ? error
          : new AssuredError("CODEC_ERROR", "cannot decode the result", { cause: error }),
    };
  }
}
