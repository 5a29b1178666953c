import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";

/**
 * Faults applied to every byte the proxy relays, on every current and future connection, in
 * both directions. An absent or zero field is no fault.
 */
export interface Toxics {
  /** Added one-way delay of every chunk (ms). */
  latencyMs?: number;
  /** Uniform noise on the delay, ±this many ms; it never reorders bytes. */
  jitterMs?: number;
  /** Throughput limit per connection and direction (a token bucket). */
  bytesPerSecond?: number;
}

/** Depth of the bandwidth bucket: at most this many ms worth of the rate pass in one burst. */
const BURST_MS = 50;
/** Under a bandwidth limit, reading pauses beyond this many ms worth of the rate queued… */
const WINDOW_MS = 1_000;
/** …or this many bytes, whichever is larger (like a TCP window on a slow link). */
const MIN_WINDOW_BYTES = 64 * 1024;
/** The queue's array is compacted once this many sent entries precede its head. */
const COMPACT_AFTER = 1_024;

/** A chunk in flight and when it may be delivered (`performance.now()` time). */
interface Held {
  chunk: Buffer;
  readonly due: number;
}

/**
 * One direction of a relayed connection: bytes read from `source` are held until their due
 * time (latency and jitter, never reordered), the end of a stall and the bandwidth bucket allow
 * them, then written to `sink` in order. The sink's backpressure pauses the source; so does a
 * bandwidth-limited queue beyond its window. When the source ends, the sink is ended once
 * everything held has been written.
 */
export class Pipe {
  /** Bytes held and not yet written. */
  queuedBytes = 0;
  readonly #source: Socket;
  readonly #sink: Socket;
  readonly #toxics: () => Toxics;
  #queue: Held[] = [];
  #head = 0;
  #lastDue = 0;
  #tokens = Number.POSITIVE_INFINITY;
  #refilledAt = performance.now();
  #stalledUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  #sinkBlocked = false;
  #sourcePaused = false;
  #ended = false;
  #stopped = false;

  /** `toxics` is read at every chunk, so a change applies to the open connection at once. */
  constructor(source: Socket, sink: Socket, toxics: () => Toxics) {
    this.#source = source;
    this.#sink = sink;
    this.#toxics = toxics;
    sink.on("drain", () => {
      this.#sinkBlocked = false;
      this.pump();
    });
  }

  /**
   * Holds `chunk` from the source, due after the latency toxic (never before earlier ones);
   * `pump()` writes it when due (the caller checks its memory bound in between).
   */
  push(chunk: Buffer): void {
    if (this.#stopped) return;
    const { latencyMs = 0, jitterMs = 0 } = this.#toxics();
    const delay = Math.max(0, latencyMs + (Math.random() * 2 - 1) * jitterMs);
    this.#lastDue = Math.max(this.#lastDue, performance.now() + delay);
    this.#queue.push({ chunk, due: this.#lastDue });
    this.queuedBytes += chunk.length;
  }

  /** The source ended: end the sink once everything held is written. */
  end(): void {
    this.#ended = true;
    this.pump();
  }

  /** Writes nothing before `until` (`performance.now()` time); a longer stall wins. */
  stallUntil(until: number): void {
    this.#stalledUntil = Math.max(this.#stalledUntil, until);
    this.pump();
  }

  /** Ends a stall: what it held is written now, in order. */
  unstall(): void {
    this.#stalledUntil = 0;
    this.pump();
  }

  /** Half-open: drops what is held, stops reading the source and never writes again. */
  kill(): void {
    this.dispose();
    this.#source.pause();
  }

  /** Drops what is held and stops every timer; the pipe does nothing any more. */
  dispose(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#head = 0;
    this.queuedBytes = 0;
  }

  /** Writes every chunk that is due now, then waits (one timer) for the next one. */
  pump(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const limit = this.#queue.length - this.#head + 2;
    for (let i = 0; i < limit; i++) {
      if (this.#stopped || this.#sinkBlocked) {
        this.#updateFlow();
        return;
      }
      const held = this.#queue[this.#head];
      if (held === undefined) {
        this.#drained();
        return;
      }
      const now = performance.now();
      const wait = Math.max(this.#stalledUntil, held.due) - now;
      const allowed = wait > 0 ? undefined : this.#allowance(now, held.chunk.length);
      if (allowed === undefined || allowed.bytes === 0) {
        this.#wake(allowed?.waitMs ?? wait);
        return;
      }
      this.#write(held, allowed.bytes);
    }
    this.#wake(0);
  }

  /** How many bytes of a `wanted`-byte chunk the bandwidth bucket lets through now. */
  #allowance(now: number, wanted: number): { bytes: number; waitMs: number } {
    const rate = this.#toxics().bytesPerSecond ?? 0;
    const elapsed = now - this.#refilledAt;
    this.#refilledAt = now;
    if (rate <= 0) return { bytes: wanted, waitMs: 0 };
    const capacity = Math.max(1, (rate * BURST_MS) / 1_000);
    this.#tokens = Math.min(capacity, this.#tokens + (elapsed * rate) / 1_000);
    const needed = Math.min(wanted, Math.floor(capacity));
    if (this.#tokens < needed)
      return { bytes: 0, waitMs: ((needed - this.#tokens) * 1_000) / rate };
    const bytes = Math.min(wanted, Math.floor(this.#tokens));
    this.#tokens -= bytes;
    return { bytes, waitMs: 0 };
  }

  #write(held: Held, bytes: number): void {
    const whole = bytes >= held.chunk.length;
    const piece = whole ? held.chunk : held.chunk.subarray(0, bytes);
    if (whole) {
      this.#head++;
      if (this.#head >= COMPACT_AFTER) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
    } else {
      held.chunk = held.chunk.subarray(bytes);
    }
    this.queuedBytes -= piece.length;
    if (this.#sink.destroyed || this.#sink.writableEnded) return;
    if (!this.#sink.write(piece)) this.#sinkBlocked = true;
  }

  #drained(): void {
    this.#queue = [];
    this.#head = 0;
    this.#updateFlow();
    if (this.#ended && !this.#sink.destroyed && !this.#sink.writableEnded) this.#sink.end();
  }

  #wake(ms: number): void {
    this.#updateFlow();
    this.#timer = setTimeout(() => this.pump(), Math.max(0, Math.ceil(ms)));
  }

  /** Pauses the source under backpressure (a blocked sink, a full bandwidth window). */
  #updateFlow(): void {
    if (this.#stopped) return;
    const rate = this.#toxics().bytesPerSecond ?? 0;
    const window = rate > 0 ? Math.max(MIN_WINDOW_BYTES, (rate * WINDOW_MS) / 1_000) : Infinity;
    const pause = this.#sinkBlocked || this.queuedBytes > window;
    if (pause === this.#sourcePaused) return;
    this.#sourcePaused = pause;
    if (pause) this.#source.pause();
    else this.#source.resume();
  }
}
