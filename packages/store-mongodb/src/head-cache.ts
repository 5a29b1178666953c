import { setBounded } from "./bounded-map.js";

/** Most streams whose head an instance remembers. */
const MAX_STREAMS = 10_000;

/**
 * The newest head this instance has seen per stream and epoch: a lower bound of the real head
 * (heads only grow within an epoch), so an appender can try `head + 1` at once. Bounded: the
 * oldest entries are forgotten first.
 */
export class HeadCache {
  private readonly heads = new Map<string, { epoch: string; head: number }>();

  /** The remembered head of `stream` in `epoch`, or 0. */
  get(stream: string, epoch: string): number {
    const entry = this.heads.get(stream);
    return entry !== undefined && entry.epoch === epoch ? entry.head : 0;
  }

  /** The remembered epoch and head of `stream`, whatever the epoch. */
  latest(stream: string): { epoch: string; head: number } | undefined {
    return this.heads.get(stream);
  }

  /** The remembered head of `stream` in `epoch`, or undefined when none is known. */
  peek(stream: string, epoch: string): number | undefined {
    const entry = this.heads.get(stream);
    return entry !== undefined && entry.epoch === epoch ? entry.head : undefined;
  }

  /** Remembers `head` if it is newer than what is known for `stream` in `epoch`. */
  set(stream: string, epoch: string, head: number): void {
    const known = this.heads.get(stream);
    if (known !== undefined && known.epoch === epoch && known.head >= head) return;
    setBounded(this.heads, stream, { epoch, head }, MAX_STREAMS);
  }

  /** Forgets a stream (after a reset). */
  forget(stream: string): void {
    this.heads.delete(stream);
  }
}
