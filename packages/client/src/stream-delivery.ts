import {
  AssuredError,
  decode,
  type EventRecord,
  type FetchRequest,
  type Position,
  type Sequencer,
  type StreamName,
} from "@assured/core";
import { type ErrorReporter, toAssuredError, withDetails } from "./error-reporter.js";
import type { EventHandler, EventHandlers, EventMeta } from "./event-handlers.js";

/**
 * Hands a stream's records to the application's handlers one at a time, in offset order (G1),
 * and advances the position only when they resolved (G3). One drain loop per stream.
 */
export class StreamDelivery {
  readonly #sequencer: Sequencer;
  readonly #handlers: EventHandlers;
  readonly #errors: ErrorReporter;
  readonly #savePosition: (stream: StreamName, position: Position) => void;
  readonly #fetch: (request: FetchRequest) => void;
  readonly #draining = new Set<StreamName>();
  #stopped = false;

  constructor(
    sequencer: Sequencer,
    handlers: EventHandlers,
    errors: ErrorReporter,
    savePosition: (stream: StreamName, position: Position) => void,
    fetch: (request: FetchRequest) => void,
  ) {
    this.#sequencer = sequencer;
    this.#handlers = handlers;
    this.#errors = errors;
    this.#savePosition = savePosition;
    this.#fetch = fetch;
  }

  /** Delivers what is ready on `stream`, unless a loop for it is already running. */
  async drain(stream: StreamName): Promise<void> {
    if (this.#draining.has(stream)) return;
    this.#draining.add(stream);
    try {
      const seq = this.#sequencer;
      for (let record = seq.next(stream); record && !this.#stopped; record = seq.next(stream)) {
        const epoch = seq.position(stream)?.epoch ?? "";
        // Synchronous handlers cost no await per record; a returned promise is awaited.
        let failure = this.#handle(record, epoch);
        if (failure instanceof Promise) failure = await failure;
        if (failure) {
          // Pause first, then report: a listener may call resume() right away.
          for (const ack of seq.failed(stream, record.offset)) ack();
          this.#errors.report(failure);
          return;
        }
        const step = seq.delivered(stream, record.offset);
        if (!step) continue;
        for (const ack of step.acks) ack();
        this.#savePosition(stream, step.position);
        if (step.fetch) this.#fetch(step.fetch);
      }
    } finally {
      this.#draining.delete(stream);
    }
  }

  /** Stops every loop before its next record. */
  stop(): void {
    this.#stopped = true;
  }

  /** Runs the handlers of one record; returns the error when one threw (the stream pauses). */
  #handle(record: EventRecord, epoch: string): Outcome | Promise<Outcome> {
    const meta: EventMeta = {
      stream: record.stream,
      offset: record.offset,
      epoch,
      id: record.id,
      name: record.name,
      time: record.time,
    };
    let data: unknown;
    try {
      data = decode(record.payload);
    } catch (error) {
      // Bytes that cannot be decoded never will be: report and move on rather than stall.
      this.#errors.report(withDetails(toAssuredError(error), { ...meta }));
      return undefined;
    }
    return runHandlers(this.#handlers.for(record.name), 0, data, meta);
  }
}

/** A handler failure, or undefined when every handler resolved. */
type Outcome = AssuredError | undefined;

function runHandlers(
  handlers: readonly EventHandler[],
  from: number,
  data: unknown,
  meta: EventMeta,
): Outcome | Promise<Outcome> {
  for (let i = from; i < handlers.length; i++) {
    let result: unknown;
    try {
      result = handlers[i]!(data, meta);
    } catch (error) {
      return handlerError(error, meta);
    }
    if (isThenable(result)) return awaitHandler(result, handlers, i + 1, data, meta);
  }
  return undefined;
}

async function awaitHandler(
  pending: PromiseLike<unknown>,
  handlers: readonly EventHandler[],
  next: number,
  data: unknown,
  meta: EventMeta,
): Promise<Outcome> {
  try {
    await pending;
  } catch (error) {
    return handlerError(error, meta);
  }
  return runHandlers(handlers, next, data, meta);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function handlerError(error: unknown, meta: EventMeta): AssuredError {
  const message = error instanceof Error ? error.message : String(error);
  return new AssuredError(
    "HANDLER_ERROR",
    `handler for ${JSON.stringify(meta.name)} threw: ${message}`,
    {
      details: { ...meta, error },
      cause: error,
    },
  );
}
