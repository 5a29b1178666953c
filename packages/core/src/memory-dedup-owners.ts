import type { MemoryClaim, MemoryOwnerEntries } from "./memory-backend.js";

type Node = MemoryOwnerEntries["heap"][number];

/** A heap this much larger than the owner's live entries (plus a floor) is rebuilt. */
const STALE_SLACK = 32;

/** When a claim stops counting: the end of its lease, or of its response's TTL. */
export function expiryOf(claim: MemoryClaim): number {
  return claim.state === "leased" ? claim.leaseExpiresAt : claim.expiresAt;
}

/**
 * Per-owner entry counts of the in-memory dedup data, kept in step with the claims map: every
 * write of a claim with an owner calls `added` or `replaced`, every removal `removed`. A count
 * includes the owner's expired entries that no sweep has dropped yet, so it is an upper bound
 * of the unexpired ones; only a claim that finds the owner at its quota asks for the exact
 * number (`dropExpired`), which pops the owner's expired entries off a min-heap of expiry times.
 *
 * The heap holds `{ expiresAt, key }` with `expiresAt` never later than the key's current
 * expiry: a completed key keeps its lease's node and is filed again under its response's
 * expiry when that node comes up (so a claim costs one node, not two). Nodes of keys removed
 * since are skipped when they come up, and the heap is rebuilt once they outnumber the live
 * ones. Every operation is O(log n) in the owner's entries, amortized.
 */
export class MemoryDedupOwners {
  constructor(
    private readonly claims: Map<string, MemoryClaim>,
    private readonly owners: Map<string, MemoryOwnerEntries>,
  ) {}

  /** How many entries (expired or not) the owner holds in the map. */
  held(owner: string): number {
    return this.owners.get(owner)?.count ?? 0;
  }

  /** Records that `claim` was just stored under `key`, which held nothing. */
  added(key: string, claim: MemoryClaim): void {
    if (claim.owner === undefined) return;
    let entries = this.owners.get(claim.owner);
    if (entries === undefined) {
      entries = { count: 0, heap: [] };
      this.owners.set(claim.owner, entries);
    }
    entries.count++;
    this.file(entries, claim.owner, key, expiryOf(claim));
  }

  /** Records that `next` just replaced `previous` under `key`. */
  replaced(key: string, previous: MemoryClaim, next: MemoryClaim): void {
    if (previous.owner === undefined || previous.owner !== next.owner) {
      this.removed(previous);
      this.added(key, next);
      return;
    }
    // Same owner, same count. The key's node holds the previous expiry: it stays a lower bound
    // unless the new expiry is earlier (a TTL shorter than the rest of the lease).
    const entries = this.owners.get(next.owner);
    if (entries !== undefined && expiryOf(next) < expiryOf(previous)) {
      this.file(entries, next.owner, key, expiryOf(next));
    }
  }

  /** Records that `claim` was just removed from the map. */
  removed(claim: MemoryClaim): void {
    if (claim.owner === undefined) return;
    const entries = this.owners.get(claim.owner);
    if (entries === undefined) return;
    entries.count--;
    if (entries.count <= 0) this.owners.delete(claim.owner);
  }

  /**
   * Drops the owner's entries expired at `now` through `drop` (which must remove them from the
   * map and call `removed`) and returns how many entries the owner still holds: all unexpired.
   */
  dropExpired(owner: string, now: number, drop: (key: string, claim: MemoryClaim) => void): number {
    const entries = this.owners.get(owner);
    if (entries === undefined) return 0;
    const { heap } = entries;
    while (heap.length > 0 && heap[0]!.expiresAt <= now) {
      const { key } = pop(heap);
      const claim = this.claims.get(key);
      if (claim?.owner !== owner) continue;
      const expiresAt = expiryOf(claim);
      if (expiresAt <= now) drop(key, claim);
      else push(heap, { expiresAt, key });
    }
    return this.held(owner);
  }

  private file(entries: MemoryOwnerEntries, owner: string, key: string, expiresAt: number): void {
    push(entries.heap, { expiresAt, key });
    if (entries.heap.length > 2 * entries.count + STALE_SLACK) this.rebuild(entries, owner);
  }

  /** One node per key the owner still holds, at its current expiry, as a valid heap. */
  private rebuild(entries: MemoryOwnerEntries, owner: string): void {
    const live = new Map<string, number>();
    for (const { key } of entries.heap) {
      const claim = this.claims.get(key);
      if (claim?.owner === owner) live.set(key, expiryOf(claim));
    }
    entries.heap = [...live]
      .map(([key, expiresAt]) => ({ expiresAt, key }))
      .sort((a, b) => a.expiresAt - b.expiresAt);
  }
}

function push(heap: Node[], node: Node): void {
  heap.push(node);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]!.expiresAt <= node.expiresAt) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = node;
}

function pop(heap: Node[]): Node {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const right = left + 1;
    const child =
      right < heap.length && heap[right]!.expiresAt < heap[left]!.expiresAt ? right : left;
    if (heap[child]!.expiresAt >= last.expiresAt) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
  return top;
}
