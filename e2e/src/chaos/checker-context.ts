/** What the checker's passes share: the violation list and the store's history per stream. */
import type { Violation, ViolationKind } from "./checker-types.js";

/** Collects violations: all are counted, at most `cap` per kind are kept. */
export class Violations {
  readonly list: Violation[] = [];
  readonly counts: Partial<Record<ViolationKind, number>> = {};
  readonly #cap: number;

  constructor(cap: number) {
    this.#cap = cap;
  }

  add(violation: Violation): void {
    const count = (this.counts[violation.kind] ?? 0) + 1;
    this.counts[violation.kind] = count;
    if (count <= this.#cap) this.list.push(violation);
  }

  get total(): number {
    let n = 0;
    for (const count of Object.values(this.counts)) n += count ?? 0;
    return n;
  }
}

/**
 * What the store held during the run, per stream: the epochs seen (in `published` lines, the
 * final logs, deliveries and `recovered: true` outcomes — everything the server reported as
 * the log's state, but not the epoch a `recovered: false` outcome claims) and the `k` each
 * published (epoch, offset) carried (several when a restore let an offset be written twice).
 */
export class StoreHistory {
  readonly #epochs = new Map<string, Set<string>>();
  readonly #published = new Map<string, Map<number, number | number[]>>();
  /** The earliest time a line showed each (stream, epoch). */
  readonly #firstSeen = new Map<string, number>();
  /** When each (stream, epoch, offset, k) was acknowledged to the publisher. */
  readonly #publishedAt = new Map<string, number>();

  sawEpoch(stream: string, epoch: string, t?: number): void {
    if (epoch === "") return;
    let set = this.#epochs.get(stream);
    if (!set) {
      set = new Set();
      this.#epochs.set(stream, set);
    }
    set.add(epoch);
    if (t !== undefined) {
      const key = `${stream}\u0000${epoch}`;
      const seen = this.#firstSeen.get(key);
      if (seen === undefined || t < seen) this.#firstSeen.set(key, t);
    }
  }

  /** The earliest time a line showed the stream in `epoch` (undefined if none did). */
  firstSeen(stream: string, epoch: string): number | undefined {
    return this.#firstSeen.get(`${stream}\u0000${epoch}`);
  }

  /** When the publisher's `published` line put `k` at (stream, epoch, offset), if one did. */
  publishedAt(stream: string, epoch: string, offset: number, k: number): number | undefined {
    return this.#publishedAt.get(`${stream}\u0000${epoch}\u0000${offset}\u0000${k}`);
  }

  epochs(stream: string): ReadonlySet<string> {
    return this.#epochs.get(stream) ?? new Set();
  }

  published(stream: string, epoch: string, offset: number, k: number, t?: number): void {
    this.sawEpoch(stream, epoch, t);
    if (t !== undefined) {
      const at = `${stream}\u0000${epoch}\u0000${offset}\u0000${k}`;
      if (!this.#publishedAt.has(at)) this.#publishedAt.set(at, t);
    }
    const key = `${stream}\u0000${epoch}`;
    let map = this.#published.get(key);
    if (!map) {
      map = new Map();
      this.#published.set(key, map);
    }
    const had = map.get(offset);
    if (had === undefined) map.set(offset, k);
    else if (typeof had === "number") {
      if (had !== k) map.set(offset, [had, k]);
    } else if (!had.includes(k)) had.push(k);
  }

  /** The `k`s published at (stream, epoch, offset), or undefined if no line says. */
  publishedKs(stream: string, epoch: string, offset: number): readonly number[] | undefined {
    const had = this.#published.get(`${stream}\u0000${epoch}`)?.get(offset);
    return had === undefined ? undefined : typeof had === "number" ? [had] : had;
  }
}
