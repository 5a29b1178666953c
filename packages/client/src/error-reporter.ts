import { AssuredError, isAssuredError } from "@assured/core";

/**
 * Delivers errors that no caller awaits to `onError` listeners (or `console.error` when there
 * is none). A throwing listener never breaks delivery.
 */
export class ErrorReporter {
  readonly #listeners = new Set<(error: AssuredError) => void>();

  /** Adds a listener; returns a function that removes it. */
  add(listener: (error: AssuredError) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  report(error: unknown): void {
    const e = toAssuredError(error);
    if (this.#listeners.size === 0) {
      console.error(e);
      return;
    }
    for (const listener of this.#listeners) {
      try {
        listener(e);
      } catch {
        // A throwing error listener must not break delivery.
      }
    }
  }

  /** Runs `task`; whatever it throws is reported. */
  guard(task: () => void): void {
    try {
      task();
    } catch (error) {
      this.report(error);
    }
  }
}

/** The error as an `AssuredError` (`INTERNAL` for anything else). */
export function toAssuredError(error: unknown): AssuredError {
  if (isAssuredError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AssuredError("INTERNAL", message, { cause: error });
}

/** A copy of an `AssuredError` with more details (the original is the cause). */
export function withDetails(error: AssuredError, details: Record<string, unknown>): AssuredError {
  return new AssuredError(error.code, error.message, {
    details: { ...error.details, ...details },
    cause: error,
  });
}
