/**
 * Per-offset marks for one (client, stream, epoch): how many times the client's handler saw
 * each offset, and whether a `recovered: false` outcome skipped it. One byte per offset in a
 * growable window, so a million deliveries cost a megabyte and no hashing.
 */

const COUNT = 0x7f;
const COVERED = 0x80;

/** An inclusive range of offsets. */
export interface OffsetRange {
  from: number;
  to: number;
}

export class OffsetMarks {
  #base = 0;
  #bytes = new Uint8Array(0);

  /** How many times `offset` was delivered (saturates at 127). */
  count(offset: number): number {
    return this.#at(offset) & COUNT;
  }

  /** True when an outcome skipped `offset`. */
  covered(offset: number): boolean {
    return (this.#at(offset) & COVERED) !== 0;
  }

  /** Records one delivery of `offset`; returns how many there were before. */
  deliver(offset: number): number {
    const i = this.#index(offset);
    const byte = this.#bytes[i]!;
    const before = byte & COUNT;
    if (before < COUNT) this.#bytes[i] = byte + 1;
    return before;
  }

  /** Marks `from..to` as skipped by an outcome. */
  cover(from: number, to: number): void {
    if (to < from) return;
    this.#index(from);
    this.#index(to);
    for (let o = from; o <= to; o++) this.#bytes[o - this.#base]! |= COVERED;
  }

  /** Forgets deliveries and skips of `from..to` (the log diverged there: new records follow). */
  clear(from: number, to: number): void {
    const lo = Math.max(from, this.#base);
    const hi = Math.min(to, this.#base + this.#bytes.length - 1);
    if (hi >= lo) this.#bytes.fill(0, lo - this.#base, hi - this.#base + 1);
  }

  /** The offsets of `from..to` neither delivered nor skipped, as ranges in offset order. */
  holes(from: number, to: number): OffsetRange[] {
    const out: OffsetRange[] = [];
    let start = -1;
    for (let o = from; o <= to; o++) {
      if (this.#at(o) === 0) {
        if (start < 0) start = o;
      } else if (start >= 0) {
        out.push({ from: start, to: o - 1 });
        start = -1;
      }
    }
    if (start >= 0) out.push({ from: start, to });
    return out;
  }

  #at(offset: number): number {
    const i = offset - this.#base;
    return i >= 0 && i < this.#bytes.length ? this.#bytes[i]! : 0;
  }

  #index(offset: number): number {
    if (this.#bytes.length === 0) {
      this.#base = offset;
      this.#bytes = new Uint8Array(1024);
      return 0;
    }
    const end = this.#base + this.#bytes.length;
    if (offset >= this.#base && offset < end) return offset - this.#base;
    const grow = Math.max(this.#bytes.length, 1024);
    const base = offset < this.#base ? Math.max(0, offset - grow) : this.#base;
    const newEnd = offset >= end ? Math.max(end + grow, offset + 1) : end;
    const bytes = new Uint8Array(newEnd - base);
    bytes.set(this.#bytes, this.#base - base);
    this.#base = base;
    this.#bytes = bytes;
    return offset - base;
  }
}
