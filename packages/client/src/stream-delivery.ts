import { AssuredError, type EventRecord, type Position, type StreamName } from "@assured/core";
import type { FetchRequest, Sequencer } from "@assured/core/protocol";
import { decodeRecord } from "@assured/core/protocol";
import { type ErrorReporter, toAssuredError, withDetails } from "./error-reporter.js";
import type { EventHandler, EventHandlers, EventMeta } from "./event-handlers.js";

/**
 * Hands a stream's records to the application's handlers one at a time, in offset order (G1),
 * and advances the position only when they resolved (G3). One drain loop per stream.
 *
 * Nothing is consumed silently (DESIGN §8): an event whose name has no handler (and is not in
 * `skip`), or whose payload cannot be decoded, pauses its stream and is reported, like a
 * handler that threw; a stream waiting for a handler resumes when one is added (`handlerAdded`).
 * A stream can also be held (`hold`) while the application's recovery listeners run.
 */
export class StreamDelivery {
  readonly #sequencer: Sequencer;
  readonly #handlers: EventHandlers;
  readonly #errors: ErrorReporter;
  readonly #savePosition: (stream: StreamName, position: Position) => void;
  readonly #fetch: (request: FetchRequest) => void;
  readonly #skip: ReadonlySet<string>;
  /** Called once a record's handlers resolved (delivery lag). */
  readonly #delivered: (record: EventRecord) => void;
  readonly #draining = new Set<StreamName>();
  /** Paused streams waiting for a handler of the named event. */
  readonly #waitingForHandler = new Map<StreamName, string>();
  /** Streams whose delivery waits for the application (recovery listeners). */
  readonly #held = new Set<StreamName>();
  #stopped = false;

  constructor(
    sequencer: Sequencer,
    handlers: EventHandlers,
    errors: ErrorReporter,
    savePosition: (stream: StreamName, position: Position) => void,
    fetch: (request: FetchRequest) => void,
    skip: ReadonlySet<string> = new Set(),
    delivered: (record: EventRecord) => void = () => undefined,
  ) {
    this.#delivered = delivered;
    this.#skip = skip;
    this.#sequencer = sequencer;
    this.#handlers = handlers;
    this.#errors = errors;
    this.#savePosition = savePosition;
    this.#fetch = fetch;
  }

  /** Delivers what is ready on `stream`, unless a loop for it is already running. */
  async drain(stream: StreamName): Promise<void> {
    if (this.#draining.has(stream) || this.#held.has(stream)) return;
    this.#draining.add(stream);
    try {
      const seq = this.#sequencer;
      // A hold (recovery listeners running) stops a loop that is already running, too.
      while (!this.#stopped && !this.#held.has(stream)) {
        const record = seq.next(stream);
        if (record === undefined) break;
        const epoch = seq.positionEpoch(stream) ?? "";
        if (this.#handlers.for(record.name).length === 0 && !this.#skip.has(record.name)) {
          // Nobody handles this name (yet): the stream waits, nothing is consumed.
          seq.failed(stream, record.offset);
          this.#waitingForHandler.set(stream, record.name);
          this.#errors.report(noHandler(record, epoch));
          return;
        }
        // Synchronous handlers cost no await per record; a returned promise is awaited.
        let failure = this.#handle(record, epoch);
        if (failure instanceof Promise) failure = await failure;
        if (failure) {
          // Pause first, then report: a listener may call resume() right away.
          seq.failed(stream, record.offset);
          this.#errors.report(failure);
          return;
        }
        this.#delivered(record);
        const step = seq.delivered(stream, record.offset);
        if (!step) continue;
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

  /** A handler for `name` was added: the streams that waited for one (to resume). */
  handlerAdded(name: string): StreamName[] {
    const streams: StreamName[] = [];
    for (const [stream, waited] of this.#waitingForHandler) {
      if (waited !== name) continue;
      this.#waitingForHandler.delete(stream);
      streams.push(stream);
    }
    return streams;
  }

  /** The connection dropped: paused streams are subscribed again, so none waits any more. */
  disconnected(): void {
    this.#waitingForHandler.clear();
  }

  /** The stream starts again (resume, resubscribe, reconnect): it no longer waits. */
  restarted(stream: StreamName): void {
    this.#waitingForHandler.delete(stream);
    this.#held.delete(stream);
  }

  /** Holds a stream's delivery until `release` (the application is handling an outcome). */
  hold(stream: StreamName): void {
    this.#held.add(stream);
  }

  /** Ends a hold; the caller drains the stream again. */
  release(stream: StreamName): void {
    this.#held.delete(stream);
  }

  /** True while the stream is held. */
  isHeld(stream: StreamName): boolean {
    return this.#held.has(stream);
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
      data = decodeRecord(record);
    } catch (error) {
      // Never skipped silently: the stream pauses and the error is reported, like a handler
      // that threw; `resume` tries again (after a fix on the server, or a new client version).
      return withDetails(toAssuredError(error), { ...meta });
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

/** True for a promise or any other thenable (what a handler or listener may return). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function noHandler(record: EventRecord, epoch: string): AssuredError {
  const { stream, offset, id, name } = record;
  return new AssuredError(
    "NO_HANDLER",
    `no handler for event ${JSON.stringify(name)} on stream ${JSON.stringify(stream)}: the stream waits at offset ${offset} until client.on(${JSON.stringify(name)}, …) adds one, or list the name in the skipEvents option to let such events pass.`,
    { details: { stream, offset, epoch, id, name } },
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
