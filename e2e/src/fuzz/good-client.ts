import { isDeepStrictEqual } from "node:util";
import { RecordingClient } from "../recording-client.js";
import { type FuzzContext, pause } from "./context.js";
import { checkOwnData, describe, Findings } from "./oracle.js";
import {
  GOOD_PRINCIPAL,
  GOOD_STREAM,
  OWNER_FIELD,
  STREAM_FIELD,
  type StreamHead,
  secretOf,
} from "./rules.js";

/** Streams the well-behaved client reads: its public feed and its own secret stream. */
export const GOOD_STREAMS = [GOOD_STREAM, `secret:${GOOD_PRINCIPAL}`] as const;

/** Messages the well-behaved client keeps in flight. */
const WINDOW = 8;

/** What the well-behaved client saw. */
export interface GoodClientReport {
  /** True when every message was answered correctly and every event delivered once, in order. */
  served: boolean;
  messagesSent: number;
  messagesAnswered: number;
  /** Per stream: events delivered to the handler, and the head the server ended with. */
  events: Record<string, { delivered: number; expected: number; exactlyOnceInOrder: boolean }>;
  /** Errors the client reported through `onError`. */
  clientErrors: string[];
  /** What went wrong (empty when served). */
  problems: string[];
}

/**
 * One well-behaved `@assured/client` next to the hostile ones: it reads a published stream and
 * its own secret stream, and keeps sending `echo` and `whoami` messages (ids `good-<n>`, the
 * same ids the hostile principals also use). At the end every message must have its right
 * answer and every event must have reached the handler exactly once, in offset order.
 */
export class GoodClient {
  readonly recording: RecordingClient;
  readonly #problems: string[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #sent = 0;
  #answered = 0;

  private constructor(recording: RecordingClient) {
    this.recording = recording;
  }

  /** Connects to the server and subscribes from the earliest event. */
  static async start(url: string): Promise<GoodClient> {
    const recording = new RecordingClient(url, {
      socket: { auth: { token: GOOD_PRINCIPAL } },
      positionCheckIntervalMs: 2_000,
    });
    for (const stream of GOOD_STREAMS) recording.client.subscribe(stream, { from: "earliest" });
    await recording.client.connect();
    await recording.connected();
    return new GoodClient(recording);
  }

  /** Sends messages until the run stops. */
  async run(ctx: FuzzContext): Promise<void> {
    while (!ctx.stopped()) {
      while (this.#inFlight.size >= WINDOW && !ctx.stopped()) {
        await Promise.race([...this.#inFlight, pause(ctx, 1_000)]);
      }
      if (ctx.stopped()) break;
      this.#send(ctx);
      await pause(ctx, 10);
    }
  }

  #send(ctx: FuzzContext): void {
    const n = this.#sent++;
    ctx.frames.good++;
    const whoami = n % 4 === 3;
    const data = { n, text: `hello ${n}`, bytes: new Uint8Array([n & 0xff, 1, 2]) };
    const id = `good-${n}`;
    const done = this.recording.client
      .emit(whoami ? "whoami" : "echo", data, { id })
      .then(
        (result) => {
          this.#answered++;
          const expected = whoami
            ? { [OWNER_FIELD]: GOOD_PRINCIPAL, id, secret: secretOf(GOOD_PRINCIPAL) }
            : data;
          if (!isDeepStrictEqual(normalize(result), normalize(expected))) {
            this.#problem(
              `message ${id} answered ${describe(result)}, expected ${describe(expected)}`,
            );
          }
          const leaks = new Findings();
          checkOwnData(leaks, id, GOOD_PRINCIPAL, result);
          for (const leak of leaks.samples) this.#problem(leak.detail);
        },
        (error: unknown) =>
          this.#problem(`message ${id} failed: ${describe(error)} ${String(error)}`),
      )
      .finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
  }

  #problem(text: string): void {
    if (this.#problems.length < 20) this.#problems.push(text);
    else if (this.#problems.length === 20) this.#problems.push("…more problems left out");
  }

  /**
   * Waits (at most `timeoutMs`) for the messages in flight and for every event up to the
   * final heads, then judges what the client saw.
   */
  async finish(
    heads: Record<string, StreamHead> | undefined,
    timeoutMs: number,
  ): Promise<GoodClientReport> {
    const deadline = Date.now() + timeoutMs;
    const { recording } = this;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(this.#inFlight), timeout]);
    clearTimeout(timer);
    if (this.#inFlight.size > 0) this.#problem(`${this.#inFlight.size} messages never answered`);
    const events: GoodClientReport["events"] = {};
    for (const stream of GOOD_STREAMS) {
      const expected = heads?.[stream]?.head;
      if (expected !== undefined) {
        await recording
          .reached(stream, expected, Math.max(1, deadline - Date.now()))
          .catch(() => undefined);
      }
      const deliveries = recording.deliveries.get(stream) ?? [];
      const offsets = deliveries.map((d) => d.offset);
      const exactlyOnceInOrder =
        expected !== undefined &&
        offsets.length === expected &&
        offsets.every((offset, i) => offset === i + 1) &&
        deliveries.every((d) => {
          const data = d.data as Record<string, unknown> | null;
          return data?.[STREAM_FIELD] === stream && data?.n === d.offset;
        });
      if (!exactlyOnceInOrder) {
        this.#problem(
          `${stream}: delivered offsets ${describe(summarize(offsets))}, expected 1..${expected ?? "?"}`,
        );
      }
      events[stream] = { delivered: offsets.length, expected: expected ?? -1, exactlyOnceInOrder };
    }
    return {
      served: this.#problems.length === 0,
      messagesSent: this.#sent,
      messagesAnswered: this.#answered,
      events,
      clientErrors: recording.errors.slice(0, 10).map((e) => `${e.code}: ${e.message}`),
      problems: [...this.#problems],
    };
  }

  async close(): Promise<void> {
    await this.recording.close();
  }
}

/** Binary comes back as the same kind; compare bytes only. */
function normalize(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) =>
      v instanceof Uint8Array ? { bytes: Array.from(v) } : v,
    ),
  );
}

/** Offsets as ranges, for a short problem description. */
function summarize(offsets: number[]): string[] {
  const ranges: string[] = [];
  let start = offsets[0];
  let prev = start;
  for (const offset of offsets.slice(1)) {
    if (prev !== undefined && offset === prev + 1) {
      prev = offset;
      continue;
    }
    ranges.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = offset;
    prev = offset;
  }
  if (start !== undefined) ranges.push(start === prev ? `${start}` : `${start}-${prev}`);
  return ranges;
}
