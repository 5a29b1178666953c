import { AssuredError } from "@assured/core";
import {
  assertClaimOptions,
  assertClaimToken,
  assertCompleteOptions,
  assertDedupBatch,
  assertDedupKey,
  assertRenewArguments,
  assertStoredResponse,
  type BatchItemResult,
  type ClaimOptions,
  type ClaimRequest,
  type ClaimResult,
  type CompleteRequest,
  claimRequestError,
  completeRequestError,
  type DedupOwner,
  type DedupStore,
  type DedupStoreCapabilities,
  newId,
  nextFencingToken,
  quotaExceededError,
  type StoredResponse,
} from "@assured/core/store";
import type { Collection, Db } from "mongodb";
import {
  type DedupCollections,
  type DedupDocument,
  prepareDedupCollections,
} from "./collections.js";
import { ensureConnected, openConnection } from "./connection.js";
import { DedupBound } from "./dedup-bound.js";
import {
  atomicTransitions,
  type CompleteItem,
  type DedupState,
  type DedupTransitions,
  LockWait,
  lockedTransitions,
  type StoredState,
} from "./dedup-transitions.js";
import { bytesOf } from "./documents.js";
import { documentsById } from "./documents-by-id.js";
import { toBinary } from "./driver.js";
import { insertConflictOf, isDuplicateKeyError } from "./duplicate-key.js";
import {
  DEDUP_STORE_OPTION_KEYS,
  type MongoDedupStoreOptions,
  type ResolvedStoreOptions,
  resolveMaxDedupEntries,
  resolveStoreOptions,
} from "./options.js";
import { OwnerTally } from "./owner-tally.js";
import { mongoOwnerTallyBackend } from "./owner-tally-backend.js";
import { scheduleSweep } from "./retention-sweep.js";
import { type StoreClocks, storeClocks } from "./server-clock.js";
import { detectServerProfile } from "./server-profile.js";
import { StoreLifecycle } from "./store-lifecycle.js";

/** Rounds of "insert, else read and take over" before a claim gives up under contention. */
const CLAIM_ROUNDS = 20;

/** Most expired documents one claim at the bound deletes on FerretDB (one transition each). */
const BOUND_SWEEP_BATCH = 1_000;

interface Ready extends DedupCollections, StoreClocks {
  transitions: DedupTransitions;
  /** Deletes expired documents (the periodic sweep's work). */
  sweep: () => Promise<number>;
  /** `maxEntries`: whether a claim may insert a new document. */
  bound: DedupBound;
  /** Owners' quotas: a bound on their documents without a count per claim. */
  tally: OwnerTally;
  /** Most documents one ordered `insertMany` may hold (`ServerProfile.orderedInsertLimit`). */
  insertLimit: number;
  /** Several documents are read by one point lookup each (`documentsById`; FerretDB). */
  pointLookups: boolean;
  stopSweep: () => void;
}

/**
 * A `DedupStore` on MongoDB (driver 6) or FerretDB: one document per key (`_id` = key) holding
 * the fingerprint, the holder's token and lease end, then the stored response and its expiry.
 * A claim inserts the document (the unique `_id` lets exactly one of many claimers win) or takes
 * over an expired one with a compare-and-set on the previous token. Leases and TTLs follow the
 * store's clock; a TTL index (or a sweep) deletes expired documents.
 *
 * Quota: a claim with an `owner` writes the owner id (`o`) and the state's end (`u`, store
 * clock) into its document, then adds itself to the owner's counter (`<prefix>dedup_owners`)
 * and bounds the owner's documents from it (`OwnerTally`); only near the quota does it count
 * them, those with `u` in the future (index `{ o, u }`, read concern "local"), and when they are
 * more than `owner.maxEntries` it gives its own claim up again and throws `QUOTA_EXCEEDED`. Of
 * claims racing for the last places, the one that adds (or counts) last sees every other's
 * document, so once the claims have answered an owner
 * never holds more than its quota, without transactions and also on FerretDB (whose only atomic
 * arbiter is the unique insert). The price: near the bound, racing claims may all give up
 * (`quotaUnderContention: "optimistic"`), and until a refused claim has withdrawn (or, if its
 * process died, until its lease ends) the owner's count is briefly above the quota.
 *
 * Bound on all documents (`maxEntries`): before inserting a new key's document a claim asks
 * `DedupBound` (a cached `estimatedDocumentCount`; at the bound, expired documents are deleted
 * and counted again). Without room it inserts nothing: a key holding a live document still
 * answers, an expired one is still taken over (no new document), any other claim fails with
 * `LIMIT_EXCEEDED`. Approximate under concurrency; see `DedupBound`.
 *
 * @example
 * const dedup = new MongoDedupStore({ connection: client, database: "chat" });
 * const claim = await dedup.claim(key, { leaseMs: 30_000, fingerprint });
 */
export class MongoDedupStore implements DedupStore {
  /** Shared across instances and persistent. */
  readonly capabilities: DedupStoreCapabilities = {
    sharedAcrossInstances: true,
    persistent: true,
    quotaUnderContention: "optimistic",
  };

  private readonly options: ResolvedStoreOptions;
  /** The `clock` option as given: without one, leases follow the server's clock. */
  private readonly injectedClock: MongoDedupStoreOptions["clock"];
  private readonly maxEntries: number;
  private readonly lifecycle: StoreLifecycle<Ready>;

  /** Validates the options (INVALID_ARGUMENT); connects and creates indexes on first use. */
  constructor(options: MongoDedupStoreOptions) {
    this.options = resolveStoreOptions(
      options,
      "MongoDedupStore",
      DEDUP_STORE_OPTION_KEYS,
      "MongoDedupStoreOptions",
    );
    this.injectedClock = options.clock;
    this.maxEntries = resolveMaxDedupEntries(options.maxEntries);
    const connection = openConnection(this.options);
    this.lifecycle = new StoreLifecycle(async () => {
      await ensureConnected(connection);
      return this.prepare(connection.db);
    }, connection.ownedClient);
  }

  private async prepare(db: Db): Promise<Ready> {
    const profile = await detectServerProfile(db, this.options.server);
    const clocks = await storeClocks(db, this.injectedClock);
    const { clock, wall } = clocks;
    const collections = await prepareDedupCollections(db, this.options);
    const { dedup, dedupLocal, locks, owners } = collections;
    const transitions = profile.atomicUpdates
      ? atomicTransitions(dedup)
      : lockedTransitions(dedup, locks, clock, !profile.rangeQueries);
    const sweep = async () => {
      const now = new Date(wall());
      const expired = await dedup
        .find(
          { x: { $lt: now }, ...tokenPassed(clock(), wall()) },
          { projection: { tok: 1, st: 1 } },
        )
        .toArray();
      let deleted = 0;
      // Each deletion is a transition out of the document's token, so it cannot hit a newer state.
      for (const doc of expired) {
        if (await transitions.replace(doc._id, doc.tok, doc.st, null)) deleted++;
      }
      if (!profile.atomicUpdates) await locks.deleteMany({ x: { $lt: now } });
      await owners.deleteMany({ x: { $lt: now } });
      return deleted;
    };
    const bound = new DedupBound(this.maxEntries, {
      count: () => dedupLocal.estimatedDocumentCount(),
      deleteExpired: async (now) => {
        const filter = { u: { $lte: now }, ...tokenPassed(now, wall()) };
        // MongoDB checks the filter on each document as it deletes it: a taken-over one stays.
        if (profile.atomicUpdates) {
          await dedup.deleteMany(filter);
          return;
        }
        const expired = await dedupLocal
          .find(filter, { projection: { tok: 1, st: 1 }, limit: BOUND_SWEEP_BATCH })
          .toArray();
        for (const doc of expired) await transitions.replace(doc._id, doc.tok, doc.st, null);
      },
    });
    const interval = this.options.sweepIntervalMs;
    return {
      ...collections,
      ...clocks,
      transitions,
      sweep,
      bound,
      tally: new OwnerTally(mongoOwnerTallyBackend(owners, dedupLocal, wall), newId),
      insertLimit: profile.orderedInsertLimit,
      pointLookups: !profile.rangeQueries,
      stopSweep: !collections.ttl && interval > 0 ? scheduleSweep(interval, sweep) : () => {},
    };
  }

  /** Tries to take the key: claimed, pending, done or conflict (see `ClaimResult`). */
  async claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    this.lifecycle.assertOpen();
    assertDedupKey(key);
    assertClaimOptions(options);
    return this.lifecycle.run("claim", (ready) => this.claimOne(ready, key, options));
  }

  /** `claim` on the prepared store (arguments checked). */
  private async claimOne(ready: Ready, key: string, options: ClaimOptions): Promise<ClaimResult> {
    const { leaseMs, fingerprint, owner } = options;
    const { dedup, dedupLocal, transitions, bound, tally, clock, wall } = ready;
    const room = await bound.hasRoom(clock());
    // A takeover keeps trying while the expired state it takes over stays locked (`LockWait`).
    const wait = new LockWait();
    // Rounds are bounded by count, and by time while a takeover waits for a locked state.
    for (let round = 0; round < CLAIM_ROUNDS || !wait.over; round++) {
      const now = clock();
      const token = newId();
      const lease = {
        f: fingerprint,
        st: "lease" as const,
        tok: token,
        le: now + leaseMs,
        u: now + leaseMs,
        ...(owner === undefined ? {} : { o: owner.id }),
      };
      const expires = new Date(wall() + leaseMs);
      // From both clocks: the sweeps delete by `clock` (`u`) and by `wall` (`x`, TTL index).
      const tokenClock = Math.max(now, wall());
      let won = false;
      let fencingToken = nextFencingToken(undefined, tokenClock);
      /** The taken-over document's fencing token; undefined when this claim created it. */
      let previousFence: number | undefined;
      if (room) {
        try {
          await dedup.insertOne({ _id: key, ...lease, x: expires, fc: fencingToken });
          won = true;
          bound.inserted();
        } catch (error) {
          if (!isDuplicateKeyError(error)) throw error;
        }
      }
      if (!won) {
        const doc = await dedup.findOne({ _id: key });
        if (doc === null) {
          if (room) continue;
          // As in the other stores, an owner at its quota hears so (final) before the bound.
          if (owner !== undefined && (await this.held(dedupLocal, owner, now)) >= owner.maxEntries)
            throw quotaExceededError(owner);
          throw bound.limitError();
        }
        const live = doc.st === "lease" ? doc.le > now : (doc.ex ?? 0) > now;
        if (live) return this.answer(doc, fingerprint);
        // The lease ran out (holder presumed dead), was released, or the response expired:
        // take it over, with the next fencing token.
        previousFence = doc.fc ?? 0;
        fencingToken = nextFencingToken(previousFence, tokenClock);
        won = await transitions.replace(key, doc.tok, doc.st, {
          ...lease,
          x: expires,
          fc: fencingToken,
        });
      }
      if (!won) {
        // Another transition out of the expired state won or holds its lock (on FerretDB, one
        // whose holder may have died before writing: its lock goes stale after 5 s). A pause
        // before reading again, instead of spending the rounds at once and failing.
        if (previousFence !== undefined) {
          await wait.pause();
        }
        continue;
      }
      if (owner !== undefined) {
        // A refused claim leaves the key free, held by nobody, with the fencing token it had.
        const withdrawn =
          previousFence === undefined
            ? null
            : {
                f: fingerprint,
                st: "lease" as const,
                tok: newId(),
                le: 0,
                u: 0,
                x: expires,
                fc: previousFence,
              };
        const claim = { key, token, withdrawn };
        await this.enforceQuota(tally, transitions, claim, owner, now);
      }
      return { status: "claimed", token, fencingToken };
    }
    throw new AssuredError(
      "STORE_UNAVAILABLE",
      `claim lost ${CLAIM_ROUNDS} races for the same key; retry later.`,
    );
  }

  /**
   * Claims each request as `claim` one after the other would (see `DedupStore.claimMany`). New
   * keys go in with one ordered `insertMany` per run of distinct keys, and each owner's
   * documents are counted once per run, its claims then judged in order against its quota; a
   * key that exists already (a repeat, a pending, done or expired one) is claimed alone, as
   * `claim` does, where the insert stopped. Once an insert stops so, the documents of the
   * batch's later keys are read in one query: a key held by a live lease or a live response is
   * answered from it (`pending`, `done` or `conflict`, as `claim` would answer without writing),
   * so a batch of resent messages costs one read instead of a claim each.
   */
  async claimMany(requests: readonly ClaimRequest[]): Promise<BatchItemResult<ClaimResult>[]> {
    this.lifecycle.assertOpen();
    assertDedupBatch(requests, "claimMany");
    const invalid = requests.map(claimRequestError);
    return this.lifecycle.run("claimMany", async (ready) => {
      const results: BatchItemResult<ClaimResult>[] = [];
      /** Answers read ahead for later items (by index), once an insert found an existing key. */
      let known: Map<number, ClaimResult> | undefined;
      while (results.length < requests.length) {
        const at = results.length;
        const error = invalid[at];
        if (error !== undefined) {
          results.push({ status: "rejected", reason: error });
          continue;
        }
        const answer = known?.get(at);
        if (answer !== undefined) {
          results.push({ status: "fulfilled", value: answer });
          continue;
        }
        const run: ClaimRequest[] = [];
        const keys = new Set<string>();
        for (let i = at; i < requests.length && run.length < ready.insertLimit; i++) {
          const request = requests[i]!;
          if (invalid[i] !== undefined || keys.has(request.key) || known?.has(i)) break;
          keys.add(request.key);
          run.push(request);
        }
        const inserted = await this.insertClaims(ready, run);
        results.push(...inserted);
        // Where the insert stopped: a key that exists (or no room for new ones) is claimed alone.
        if (inserted.length < run.length) {
          known ??= await this.liveAnswers(ready, requests, invalid, results.length + 1);
          results.push(
            await settle(
              this.claimOne(ready, run[inserted.length]!.key, run[inserted.length]!.options),
            ),
          );
        }
      }
      return results;
    });
  }

  /**
   * The answers `claim` would give without writing for the requests from index `from` on, read
   * in one query: for each key's first request there, `pending`, `done` or `conflict` when its
   * document holds a live lease or a live response (by index). A key asked for earlier in the
   * batch is left out: an earlier item may have changed its document.
   */
  private async liveAnswers(
    ready: Ready,
    requests: readonly ClaimRequest[],
    invalid: readonly (AssuredError | undefined)[],
    from: number,
  ): Promise<Map<number, ClaimResult>> {
    const answers = new Map<number, ClaimResult>();
    const seen = new Set(requests.slice(0, from).map((request) => request.key));
    const firsts = new Map<string, number>();
    for (let i = from; i < requests.length; i++) {
      const key = requests[i]!.key;
      if (invalid[i] === undefined && !seen.has(key) && !firsts.has(key)) firsts.set(key, i);
    }
    if (firsts.size === 0) return answers;
    const docs = await documentsById(ready.dedup, [...firsts.keys()], ready.pointLookups);
    const now = ready.clock();
    for (const doc of docs.values()) {
      const i = firsts.get(doc._id);
      if (i === undefined) continue;
      const live = doc.st === "lease" ? doc.le > now : (doc.ex ?? 0) > now;
      if (live) answers.set(i, this.answer(doc, requests[i]!.options.fingerprint));
    }
    return answers;
  }

  /**
   * Inserts the claims of new keys `run` (distinct keys) with one ordered `insertMany` and
   * applies each owner's quota in order; answers the inserted prefix (empty without room).
   */
  private async insertClaims(
    ready: Ready,
    run: readonly ClaimRequest[],
  ): Promise<BatchItemResult<ClaimResult>[]> {
    const { dedup, transitions, bound, tally, clock, wall } = ready;
    const now = clock();
    if (!(await bound.hasRoom(now))) return [];
    const wallNow = wall();
    const tokenClock = Math.max(now, wallNow);
    const claims = run.map(({ key, options: { leaseMs, fingerprint, owner } }) => ({
      key,
      owner,
      token: newId(),
      fencingToken: nextFencingToken(undefined, tokenClock),
      leaseMs,
      fingerprint,
    }));
    const docs = claims.map((c) => ({
      _id: c.key,
      f: c.fingerprint,
      st: "lease" as const,
      tok: c.token,
      le: now + c.leaseMs,
      u: now + c.leaseMs,
      ...(c.owner === undefined ? {} : { o: c.owner.id }),
      x: new Date(wallNow + c.leaseMs),
      fc: c.fencingToken,
    }));
    let count = docs.length;
    try {
      await dedup.insertMany(docs, { ordered: true });
    } catch (error) {
      const conflict = insertConflictOf(error);
      if (conflict === undefined) throw error;
      count = conflict.index;
    }
    for (let i = 0; i < count; i++) bound.inserted();
    const results: BatchItemResult<ClaimResult>[] = claims.slice(0, count).map((c) => ({
      status: "fulfilled",
      value: { status: "claimed", token: c.token, fencingToken: c.fencingToken },
    }));
    // Each owner's documents bounded once (`OwnerTally`: counted only near its quota), with
    // this run's; its claims judged in order, as single claims would count them (a refused one
    // withdrawn before the next counts).
    const byOwner = new Map<string, number[]>();
    for (let i = 0; i < count; i++) {
      const id = claims[i]!.owner?.id;
      if (id !== undefined) byOwner.set(id, [...(byOwner.get(id) ?? []), i]);
    }
    for (const [id, items] of byOwner) {
      const quotas = items.map((i) => claims[i]!.owner!.maxEntries);
      const most = Math.max(...quotas);
      const held = await tally.held(
        id,
        items.length,
        Math.min(...quotas),
        most + items.length + 1,
        now,
      );
      let kept = held - items.length;
      for (const i of items) {
        const owner = claims[i]!.owner!;
        if (kept + 1 <= owner.maxEntries) {
          kept++;
          continue;
        }
        await transitions.replace(claims[i]!.key, claims[i]!.token, "lease", null);
        results[i] = { status: "rejected", reason: quotaExceededError(owner) };
      }
    }
    return results;
  }

  /**
   * After a claim wrote its document: bounds the owner's unexpired documents (its own included;
   * counted only near the quota, see `OwnerTally`) and, beyond the quota, withdraws the claim and throws `QUOTA_EXCEEDED`, leaving
   * the key as if the claim had not run: a document the claim created (`withdrawn` null) is
   * deleted; one it took over is left released with its previous fencing token, so the key's
   * next claim follows that one (the refused claim's token was never handed out).
   */
  private async enforceQuota(
    tally: OwnerTally,
    transitions: DedupTransitions,
    claim: { key: string; token: string; withdrawn: DedupState | null },
    owner: DedupOwner,
    now: number,
  ): Promise<void> {
    const { id, maxEntries } = owner;
    if ((await tally.held(id, 1, maxEntries, maxEntries + 1, now)) <= maxEntries) return;
    await transitions.replace(claim.key, claim.token, "lease", claim.withdrawn);
    throw quotaExceededError(owner);
  }

  /** The owner's unexpired documents, counted up to `maxEntries + 1`. */
  private held(dedupLocal: Collection<DedupDocument>, owner: DedupOwner, now: number) {
    return dedupLocal.countDocuments(
      { o: owner.id, u: { $gt: now } },
      { limit: owner.maxEntries + 1 },
    );
  }

  private answer(doc: DedupDocument, fingerprint: string): ClaimResult {
    if (doc.f !== fingerprint) return { status: "conflict" };
    if (doc.st === "lease") return { status: "pending", leaseExpiresAt: doc.le };
    const payload = doc.r === undefined ? new Uint8Array() : bytesOf(doc.r);
    return { status: "done", response: { ok: doc.ok === true, payload } };
  }

  /** Stores the response for the holder of `token`; false if it no longer holds the key. */
  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): Promise<boolean> {
    this.lifecycle.assertOpen();
    assertDedupKey(key);
    assertClaimToken(token);
    assertStoredResponse(response);
    assertCompleteOptions(options);
    return this.lifecycle.run("complete", ({ transitions, clock, wall }) =>
      transitions.complete(key, token, stored(response, options.ttlMs, clock(), wall())),
    );
  }

  /**
   * Stores each response as `complete` one after the other would (see
   * `DedupStore.completeMany`). Completes of distinct keys are independent, so each run of
   * distinct keys is written together (`DedupTransitions.completeMany`); a repeated key starts
   * the next run, after the earlier item.
   */
  async completeMany(requests: readonly CompleteRequest[]): Promise<BatchItemResult<boolean>[]> {
    this.lifecycle.assertOpen();
    assertDedupBatch(requests, "completeMany");
    const invalid = requests.map(completeRequestError);
    return this.lifecycle.run("completeMany", async ({ transitions, clock, wall }) => {
      const results: BatchItemResult<boolean>[] = [];
      while (results.length < requests.length) {
        const run: BatchItemResult<boolean>[] = [];
        const items: { at: number; item: CompleteItem }[] = [];
        const keys = new Set<string>();
        for (let i = results.length; i < requests.length; i++) {
          const error = invalid[i];
          if (error !== undefined) {
            run.push({ status: "rejected", reason: error });
            continue;
          }
          const { key, token, response, options } = requests[i]!;
          if (keys.has(key)) break;
          keys.add(key);
          items.push({
            at: run.length,
            item: {
              key,
              holder: token,
              response: stored(response, options.ttlMs, clock(), wall()),
            },
          });
          run.push({ status: "fulfilled", value: false });
        }
        const answers = await transitions.completeMany(items.map((entry) => entry.item));
        for (const [n, { at }] of items.entries())
          run[at] = { status: "fulfilled", value: answers[n]! };
        results.push(...run);
      }
      return results;
    });
  }

  /** Gives the key up without a response; false if `token` no longer holds it. */
  async release(key: string, token: string): Promise<boolean> {
    this.lifecycle.assertOpen();
    assertDedupKey(key);
    assertClaimToken(token);
    return this.lifecycle.run("release", ({ transitions }) => transitions.release(key, token));
  }

  /**
   * Makes the lease end `leaseMs` from now (the store's clock: the server's unless a `clock` was
   * given); false if `token` no longer holds the key.
   */
  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    this.lifecycle.assertOpen();
    assertRenewArguments(key, token, leaseMs);
    return this.lifecycle.run("renew", ({ transitions, clock, wall }) => {
      const now = clock();
      const end = now + leaseMs;
      return transitions.renew(key, token, { le: end, u: end, x: new Date(wall() + leaseMs) }, now);
    });
  }

  /**
   * Deletes documents whose lease or response expired (by the TTL index's clock: the server's,
   * or the wall clock with an injected `clock`), as the periodic sweep does on servers without
   * TTL indexes. Returns how many.
   */
  async sweepExpired(): Promise<number> {
    return this.lifecycle.run("sweepExpired", ({ sweep }) => sweep());
  }

  /**
   * Stops the sweep, waits for running operations, and closes the client only if the store
   * created it from a connection string. Idempotent.
   */
  async close(): Promise<void> {
    await this.lifecycle.close(async () => {
      const ready = await this.lifecycle.started()?.catch(() => undefined);
      ready?.stopSweep();
    });
  }
}

/** The stored state of `response`, kept `ttlMs` from `now` (store clock) and `wall`. */
function stored(response: StoredResponse, ttlMs: number, now: number, wall: number): StoredState {
  return {
    ok: response.ok,
    r: toBinary(response.payload),
    ex: now + ttlMs,
    u: now + ttlMs,
    x: new Date(wall + ttlMs),
  };
}

/**
 * One item's outcome: its value, or the `AssuredError` a single call would have thrown
 * (`QUOTA_EXCEEDED`, `LIMIT_EXCEEDED`…). Any other error (the driver's) fails the whole batch.
 */
async function settle<T>(item: Promise<T>): Promise<BatchItemResult<T>> {
  try {
    return { status: "fulfilled", value: await item };
  } catch (error) {
    if (error instanceof AssuredError && error.code !== "STORE_UNAVAILABLE") {
      return { status: "rejected", reason: error };
    }
    throw error;
  }
}

/**
 * The filter of documents whose fencing token both clocks have passed (tokens are read from
 * the larger one): only those are deleted by this store, so the key's next claim gets a larger
 * token from the clock, also right after a release (`u` 0). Documents without `fc` (written
 * before fencing) count as 0. The TTL index deletes by `x` alone: at least a lease after the
 * claim, or a TTL after the response, which the clock has passed.
 */
function tokenPassed(clock: number, wall: number) {
  return { $or: [{ fc: { $lt: Math.floor(Math.max(clock, wall)) } }, { fc: { $exists: false } }] };
}
