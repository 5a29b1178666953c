import { AssuredError } from "@assured/core";
import {
  assertClaimArguments,
  assertCompleteArguments,
  assertDedupBatch,
  assertPositiveInteger,
  assertReleaseArguments,
  assertRenewArguments,
  type BatchItemResult,
  type ClaimOptions,
  type ClaimRequest,
  type ClaimResult,
  type Clock,
  type CompleteRequest,
  claimRequestError,
  completeRequestError,
  type DedupStore,
  type DedupStoreCapabilities,
  newId,
  quotaExceededError,
  type ServerClock,
  type StoredResponse,
} from "@assured/core/store";
import { RedisHandle, type ScriptCall, toRedisStoreError } from "./connection.js";
import {
  dedupBoundKey,
  dedupBoundMember,
  dedupEntryKey,
  dedupOwnerTag,
  dedupQuotaKey,
  isDedupOwnerTag,
  ownedDedupEntryKey,
} from "./keys.js";
import { COMMON_OPTION_KEYS, type RedisStoreOptions, resolveStoreOptions } from "./options.js";
import {
  BOUND_EXTEND_MANY_SCRIPT,
  BOUND_EXTEND_SCRIPT,
  BOUND_RESERVE_MANY_SCRIPT,
  BOUND_RESERVE_SCRIPT,
  CLAIM_MANY_BOUNDED_SCRIPT,
  CLAIM_MANY_SCRIPT,
  CLAIM_SCRIPT,
  COMPLETE_MANY_BOUNDED_SCRIPT,
  COMPLETE_MANY_SCRIPT,
  COMPLETE_SCRIPT,
  OWNED_CLAIM_SCRIPT,
  OWNED_COMPLETE_SCRIPT,
  OWNED_RELEASE_SCRIPT,
  OWNED_RENEW_SCRIPT,
  RELEASE_SCRIPT,
  RENEW_SCRIPT,
} from "./scripts/dedup.js";
import { redisServerClock, storeNow } from "./server-clock.js";

/** Where a key's entry lives: alone, or with its owner's entries and quota set. */
type Location =
  | { owned: false; entry: string }
  /** `holder`: the part of the token the entry stores (its location is the rest). */
  | { owned: true; entry: string; quota: string; holder: string };

/** A variadic batch script's caller (`RedisHandle.defineVariadicScript`). */
type BatchScript = (
  keys: readonly string[],
  ...args: (string | Buffer | number)[]
) => Promise<unknown>;

/** One item of a batch script call: its entry, its owner's quota set (if owned), its fields. */
interface BatchItem {
  entry: string;
  quota: string | undefined;
  fields: (string | Buffer | number)[];
}

/** Options of `RedisDedupStore`. */
export interface RedisDedupStoreOptions extends RedisStoreOptions {
  /**
   * How long after its lease or TTL ends (by `clock`) an entry's key stays in Redis before Redis
   * expires it (default 60,000 ms). Expiry itself is decided by `clock`; this only bounds memory.
   */
  expiryGraceMs?: number;
  /**
   * Most unexpired entries at once (leased or done), all owners together. A claim that would
   * create one more, once expired entries are dropped, is `LIMIT_EXCEEDED` (retryable); keys
   * that hold an entry still answer. Default 1,000,000 (about 0.4–0.6 GB of Redis memory with
   * small responses; see the README's sizing). Counted in the store's bound set
   * (`<keyPrefix>dedup-bound`), one more command per claim, complete and release.
   */
  maxEntries?: number;
}

const OPTION_KEYS: readonly string[] = [
  ...COMMON_OPTION_KEYS,
  "expiryGraceMs",
  "maxEntries",
] satisfies (keyof RedisDedupStoreOptions)[];

/** Default `maxEntries` of `RedisDedupStore`. */
export const DEFAULT_REDIS_MAX_DEDUP_ENTRIES = 1_000_000;

/**
 * The `DedupStore` on Redis (ioredis), Redis Cluster ready. Each key is one hash at
 * `<keyPrefix>dedup:{<base64url(key)>}`; claim, complete, release and renew are Lua scripts, so
 * exactly one of many concurrent claimers wins, and only the current token completes, releases
 * or renews. The hash keeps the fencing token of the key's latest claim; a released entry stays
 * (expired, without a holder) until its Redis TTL, so the next claim's fencing token is one more
 * (or the Redis server's `TIME` in ms, read in the script, when larger: after Redis expired the
 * hash, the key's next token still exceeds every earlier one).
 *
 * A key claimed with an `owner` lives at `<keyPrefix>dedup:{q:<tag>}:<base64url(key)>` instead,
 * next to the owner's quota set `<keyPrefix>dedup-quota:{q:<tag>}` (`tag` = base64url of the
 * SHA-256 of the owner id): one hash slot per owner, so the claim script counts and adds
 * atomically and the quota is exact. Its tokens carry the tag (`<id>.<tag>`), so `complete`
 * and `release` find the entry without the owner; the entry stores only `<id>` (a hash field
 * longer than 64 bytes would move Redis off its compact hash encoding).
 *
 * All entries together are bounded by `maxEntries`, counted in the bound set
 * `<keyPrefix>dedup-bound` (one member per entry, scored by its expiry). That key lives in a
 * slot of its own, so a claim first reserves its entry's member there (one script: drop expired
 * members, count, add), then runs the claim script; with no room it runs the claim script in a
 * mode that answers for a live entry but creates none. Complete raises the member's score
 * first, release removes it after. Reservations are atomic, so concurrent claims never reserve
 * more than `maxEntries` members; see the README for the narrow cases where the count drifts.
 *
 * @example
 * const dedup = new RedisDedupStore({ redis: client });
 * const claim = await dedup.claim("user-1/msg-9", { leaseMs: 30_000, fingerprint: digest });
 * if (claim.status === "claimed") await dedup.complete("user-1/msg-9", claim.token, response, { ttlMs: 86_400_000 });
 */
export class RedisDedupStore implements DedupStore {
  /** Shared by every process on the same Redis; as persistent as the server's own settings. */
  readonly capabilities: DedupStoreCapabilities = {
    sharedAcrossInstances: true,
    persistent: true,
    quotaUnderContention: "exact",
  };
  /** The prefix of every key this store writes. */
  readonly keyPrefix: string;

  private readonly handle: RedisHandle;
  private readonly clock: Clock;
  /** Without an injected `clock`: leases and TTLs are judged by the Redis server's clock. */
  private readonly serverClock: ServerClock | undefined;
  private readonly graceMs: number;
  private readonly claimScript: ScriptCall;
  private readonly completeScript: ScriptCall;
  private readonly releaseScript: ScriptCall;
  private readonly renewScript: ScriptCall;
  private readonly ownedClaimScript: ScriptCall;
  private readonly ownedCompleteScript: ScriptCall;
  private readonly ownedReleaseScript: ScriptCall;
  private readonly ownedRenewScript: ScriptCall;
  private readonly boundReserveScript: ScriptCall;
  private readonly boundExtendScript: ScriptCall;
  private readonly claimManyScript: BatchScript;
  private readonly completeManyScript: BatchScript;
  private readonly claimManyBoundedScript: BatchScript;
  private readonly completeManyBoundedScript: BatchScript;
  private readonly boundReserveManyScript: BatchScript;
  private readonly boundExtendManyScript: BatchScript;
  private readonly maxEntries: number;
  private readonly boundKey: string;
  private closed = false;

  constructor(options: RedisDedupStoreOptions) {
    const common = resolveStoreOptions(
      options,
      "RedisDedupStore",
      OPTION_KEYS,
      "RedisDedupStoreOptions",
    );
    const graceMs = options.expiryGraceMs ?? 60_000;
    assertPositiveInteger(graceMs, "expiryGraceMs");
    const maxEntries = options.maxEntries ?? DEFAULT_REDIS_MAX_DEDUP_ENTRIES;
    assertPositiveInteger(maxEntries, "maxEntries");
    this.maxEntries = maxEntries;
    this.keyPrefix = common.keyPrefix;
    this.boundKey = dedupBoundKey(common.keyPrefix);
    this.clock = common.clock;
    this.graceMs = graceMs;
    this.handle = new RedisHandle(common.redis);
    const client = this.handle.client;
    this.serverClock = options.clock === undefined ? redisServerClock(client) : undefined;
    this.claimScript = this.handle.defineScript("dedup_claim_v4", CLAIM_SCRIPT);
    this.completeScript = this.handle.defineScript("dedup_complete_v1", COMPLETE_SCRIPT);
    this.releaseScript = this.handle.defineScript("dedup_release_v2", RELEASE_SCRIPT);
    this.renewScript = this.handle.defineScript("dedup_renew_v1", RENEW_SCRIPT);
    this.ownedClaimScript = this.handle.defineScript("dedup_owned_claim_v4", OWNED_CLAIM_SCRIPT, 2);
    this.ownedCompleteScript = this.handle.defineScript(
      "dedup_owned_complete_v1",
      OWNED_COMPLETE_SCRIPT,
      2,
    );
    this.ownedReleaseScript = this.handle.defineScript(
      "dedup_owned_release_v2",
      OWNED_RELEASE_SCRIPT,
      2,
    );
    this.ownedRenewScript = this.handle.defineScript("dedup_owned_renew_v1", OWNED_RENEW_SCRIPT, 2);
    this.boundReserveScript = this.handle.defineScript(
      "dedup_bound_reserve_v1",
      BOUND_RESERVE_SCRIPT,
    );
    this.boundExtendScript = this.handle.defineScript("dedup_bound_extend_v1", BOUND_EXTEND_SCRIPT);
    this.claimManyScript = this.handle.defineVariadicScript(
      "dedup_claim_many_v2",
      CLAIM_MANY_SCRIPT,
    );
    this.claimManyBoundedScript = this.handle.defineVariadicScript(
      "dedup_claim_many_bounded_v1",
      CLAIM_MANY_BOUNDED_SCRIPT,
    );
    this.completeManyBoundedScript = this.handle.defineVariadicScript(
      "dedup_complete_many_bounded_v1",
      COMPLETE_MANY_BOUNDED_SCRIPT,
    );
    this.completeManyScript = this.handle.defineVariadicScript(
      "dedup_complete_many_v2",
      COMPLETE_MANY_SCRIPT,
    );
    this.boundReserveManyScript = this.handle.defineVariadicScript(
      "dedup_bound_reserve_many_v2",
      BOUND_RESERVE_MANY_SCRIPT,
    );
    this.boundExtendManyScript = this.handle.defineVariadicScript(
      "dedup_bound_extend_many_v2",
      BOUND_EXTEND_MANY_SCRIPT,
    );
  }

  /**
   * Claims each request in order, as `claim` one after the other would (see
   * `DedupStore.claimMany`): one script call reserves the entries' places in the bound set, then
   * one script call per Cluster slot claims them (a single call on a plain Redis; on a Cluster,
   * one per owner, and one per key without owner).
   */
  async claimMany(requests: readonly ClaimRequest[]): Promise<BatchItemResult<ClaimResult>[]> {
    this.assertOpen();
    assertDedupBatch(requests, "claimMany");
    const results: BatchItemResult<ClaimResult>[] = new Array(requests.length);
    const valid: number[] = [];
    requests.forEach((request, i) => {
      const invalid = claimRequestError(request);
      if (invalid === undefined) valid.push(i);
      else results[i] = { status: "rejected", reason: invalid };
    });
    if (valid.length === 0) return results;
    const now = await this.now("redis dedup claimMany");
    const items = valid.map((i) => {
      const { key, options } = requests[i]!;
      const { owner } = options;
      const tag = owner === undefined ? undefined : dedupOwnerTag(owner.id);
      const entry =
        tag === undefined
          ? dedupEntryKey(this.keyPrefix, key)
          : ownedDedupEntryKey(this.keyPrefix, tag, key);
      const holder = newId();
      return {
        index: i,
        key,
        options,
        entry,
        quota: tag === undefined ? undefined : dedupQuotaKey(this.keyPrefix, tag),
        member: dedupBoundMember(entry),
        holder,
        token: tag === undefined ? holder : `${holder}.${tag}`,
        expiresAt: now + options.leaseMs,
        redisTtlMs: options.leaseMs + this.graceMs,
      };
    });
    let replies: unknown[];
    // On a plain Redis one call does it all (places in the bound set included); on a Cluster
    // the places first, in the bound set's own slot, then one call per hash tag.
    let reserved: number[] | undefined;
    try {
      if (!this.handle.isCluster) {
        replies = await this.runBatch(
          this.claimManyBoundedScript,
          [this.boundKey],
          [now, this.maxEntries],
          items.map((item) => ({
            entry: item.entry,
            quota: item.quota,
            fields: [
              item.expiresAt,
              item.options.fingerprint,
              item.holder,
              item.redisTtlMs,
              item.options.owner?.maxEntries ?? 0,
              item.key,
              item.member,
            ],
          })),
        );
      } else {
        const places = (await this.boundReserveManyScript(
          [this.boundKey],
          now,
          this.maxEntries,
          items.length,
          ...items.flatMap((item) => [item.member, item.expiresAt, item.redisTtlMs]),
        )) as number[];
        reserved = places;
        replies = await this.runBatch(
          this.claimManyScript,
          [],
          [now],
          items.map((item, n) => ({
            entry: item.entry,
            quota: item.quota,
            fields: [
              item.expiresAt,
              item.options.fingerprint,
              item.holder,
              item.redisTtlMs,
              item.options.owner?.maxEntries ?? 0,
              item.key,
              places[n] === 0 ? "1" : "0",
            ],
          })),
        );
      }
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup claimMany");
    }
    const unreserve: string[] = [];
    items.forEach((item, n) => {
      const [status, first, second] = (replies[n] ?? []) as Buffer[];
      let result: BatchItemResult<ClaimResult>;
      switch (status?.toString()) {
        case "claimed":
          result = {
            status: "fulfilled",
            value: {
              status: "claimed",
              token: item.token,
              fencingToken: Number(first?.toString()),
            },
          };
          break;
        case "pending":
          result = {
            status: "fulfilled",
            value: { status: "pending", leaseExpiresAt: Number(first?.toString()) },
          };
          break;
        case "done":
          result = {
            status: "fulfilled",
            value: {
              status: "done",
              response: { ok: first?.toString() === "1", payload: new Uint8Array(second ?? []) },
            },
          };
          break;
        case "conflict":
          result = { status: "fulfilled", value: { status: "conflict" } };
          break;
        case "full":
          result = { status: "rejected", reason: this.fullError() };
          break;
        case "quota":
          if (reserved?.[n] === 2) unreserve.push(item.member);
          result = {
            status: "rejected",
            reason:
              item.options.owner === undefined
                ? corruptReply()
                : quotaExceededError(item.options.owner),
          };
          break;
        default:
          result = { status: "rejected", reason: corruptReply() };
      }
      results[item.index] = result;
    });
    // A place reserved for an entry the quota refused would count it until its lease end.
    if (unreserve.length > 0) await this.dropMembers(unreserve);
    return results;
  }

  /**
   * Stores each response in order, as `complete` for each would (see `DedupStore.completeMany`):
   * one script call raises the entries' places in the bound set, then one per Cluster slot
   * stores the responses.
   */
  async completeMany(requests: readonly CompleteRequest[]): Promise<BatchItemResult<boolean>[]> {
    this.assertOpen();
    assertDedupBatch(requests, "completeMany");
    const results: BatchItemResult<boolean>[] = new Array(requests.length);
    const valid: number[] = [];
    requests.forEach((request, i) => {
      const invalid = completeRequestError(request);
      if (invalid === undefined) valid.push(i);
      else results[i] = { status: "rejected", reason: invalid };
    });
    if (valid.length === 0) return results;
    const now = await this.now("redis dedup completeMany");
    const items: (BatchItem & { index: number; member: string; expiresAt: number })[] = [];
    for (const i of valid) {
      const { key, token, response, options } = requests[i]!;
      const at = this.locate(key, token);
      if (at === undefined) {
        results[i] = { status: "fulfilled", value: false };
        continue;
      }
      const expiresAt = now + options.ttlMs;
      const redisTtlMs = options.ttlMs + this.graceMs;
      const payload = Buffer.from(
        response.payload.buffer,
        response.payload.byteOffset,
        response.payload.byteLength,
      );
      items.push({
        index: i,
        entry: at.entry,
        quota: at.owned ? at.quota : undefined,
        member: dedupBoundMember(at.entry),
        expiresAt,
        fields: [
          at.owned ? at.holder : token,
          expiresAt,
          response.ok ? "1" : "0",
          payload,
          redisTtlMs,
          key,
        ],
      });
    }
    if (items.length === 0) return results;
    let replies: unknown[];
    try {
      if (!this.handle.isCluster) {
        // Each entry's place raised before its new expiry, in the same call.
        const bounded = items.map((item) => ({ ...item, fields: [...item.fields, item.member] }));
        replies = await this.runBatch(this.completeManyBoundedScript, [this.boundKey], [], bounded);
      } else {
        // Before the entries' new expiries, so an entry never outlives its place in the bound set.
        await this.boundExtendManyScript(
          [this.boundKey],
          items.length,
          ...items.flatMap((item) => [item.member, item.expiresAt, item.fields[4]!]),
        );
        replies = await this.runBatch(this.completeManyScript, [], [], items);
      }
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup completeMany");
    }
    items.forEach((item, n) => {
      results[item.index] = { status: "fulfilled", value: replies[n] === 1 };
    });
    return results;
  }

  /**
   * Runs a batch script over `items`, in order: in one call on a plain Redis, in one call per
   * hash tag on a Cluster (items of one tag keep their order; tags touch disjoint keys, so the
   * answers are those of one call). `fixed` are the first KEYS of every call; `head` the first
   * ARGV, then the item count, then per item its entry index, quota index (0: none) and fields.
   * Returns one reply per item.
   */
  private async runBatch(
    script: BatchScript,
    fixed: readonly string[],
    head: readonly (string | number)[],
    items: readonly BatchItem[],
  ): Promise<unknown[]> {
    const groups = new Map<string, number[]>();
    items.forEach((item, n) => {
      const slot = this.handle.isCluster ? hashTagOf(item.entry) : "";
      const group = groups.get(slot);
      if (group === undefined) groups.set(slot, [n]);
      else group.push(n);
    });
    const replies: unknown[] = new Array(items.length);
    await Promise.all(
      [...groups.values()].map(async (members) => {
        const keys: string[] = [...fixed];
        const indexOf = new Map<string, number>(keys.map((key, i) => [key, i + 1]));
        const place = (key: string) => {
          let at = indexOf.get(key);
          if (at === undefined) {
            keys.push(key);
            at = keys.length;
            indexOf.set(key, at);
          }
          return at;
        };
        const args: (string | Buffer | number)[] = [...head, members.length];
        for (const n of members) {
          const item = items[n]!;
          args.push(place(item.entry), item.quota === undefined ? 0 : place(item.quota));
          args.push(...item.fields);
        }
        const answered = (await script(keys, ...args)) as unknown[];
        members.forEach((n, k) => {
          replies[n] = answered[k];
        });
      }),
    );
    return replies;
  }

  private fullError(): AssuredError {
    return new AssuredError(
      "LIMIT_EXCEEDED",
      `the Redis dedup store holds ${this.maxEntries} unexpired entries (maxEntries); ` +
        "retry later, or raise maxEntries or shorten TTLs.",
    );
  }

  /** Removes members of the bound set (best effort, as `dropMember`). */
  private async dropMembers(members: string[]): Promise<void> {
    try {
      await this.handle.client.zrem(this.boundKey, ...members);
    } catch {
      // Redis is failing; the members expire by their scores (the lease ends).
    }
  }

  /** Takes the key for `leaseMs`, or reports who has it (see `ClaimResult`). */
  async claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    this.assertOpen();
    assertClaimArguments(key, options);
    const now = await this.now("redis dedup claim");
    const { owner } = options;
    const tag = owner === undefined ? undefined : dedupOwnerTag(owner.id);
    const entry =
      tag === undefined
        ? dedupEntryKey(this.keyPrefix, key)
        : ownedDedupEntryKey(this.keyPrefix, tag, key);
    const member = dedupBoundMember(entry);
    const expiresAt = now + options.leaseMs;
    const redisTtlMs = options.leaseMs + this.graceMs;
    let reply: unknown;
    let token: string;
    let reserved: unknown;
    try {
      // First the entry's place in the bound set (0: no room, 1: it had one, 2: added now).
      reserved = await this.boundReserveScript(
        this.boundKey,
        now,
        member,
        expiresAt,
        this.maxEntries,
        redisTtlMs,
      );
      const full = reserved === 0 ? "1" : "0";
      if (owner === undefined || tag === undefined) {
        token = newId();
        reply = await this.claimScript(
          entry,
          now,
          expiresAt,
          options.fingerprint,
          token,
          redisTtlMs,
          full,
        );
      } else {
        const holder = newId();
        token = `${holder}.${tag}`;
        reply = await this.ownedClaimScript(
          entry,
          dedupQuotaKey(this.keyPrefix, tag),
          now,
          expiresAt,
          options.fingerprint,
          holder,
          redisTtlMs,
          owner.maxEntries,
          key,
          full,
        );
      }
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup claim");
    }
    const [status, first, second] = reply as Buffer[];
    switch (status?.toString()) {
      case "claimed":
        return { status: "claimed", token, fencingToken: Number(first?.toString()) };
      case "full":
        throw new AssuredError(
          "LIMIT_EXCEEDED",
          `the Redis dedup store holds ${this.maxEntries} unexpired entries (maxEntries); ` +
            "retry later, or raise maxEntries or shorten TTLs.",
        );
      case "pending":
        return { status: "pending", leaseExpiresAt: Number(first?.toString()) };
      case "done":
        return {
          status: "done",
          response: { ok: first?.toString() === "1", payload: new Uint8Array(second ?? []) },
        };
      case "conflict":
        return { status: "conflict" };
      case "quota":
        // The place reserved for an entry the quota refused would count it until its lease end.
        if (reserved === 2) await this.dropMember(member);
        if (owner !== undefined) throw quotaExceededError(owner);
        throw new AssuredError("STORE_CORRUPT", "the dedup claim script gave an unknown reply.");
      default:
        throw new AssuredError("STORE_CORRUPT", "the dedup claim script gave an unknown reply.");
    }
  }

  /** Stores the response under the key for `ttlMs`; false if `token` no longer holds the key. */
  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): Promise<boolean> {
    this.assertOpen();
    assertCompleteArguments(key, token, response, options);
    const now = await this.now("redis dedup complete");
    const at = this.locate(key, token);
    if (at === undefined) return false;
    const payload = Buffer.from(
      response.payload.buffer,
      response.payload.byteOffset,
      response.payload.byteLength,
    );
    const ok = response.ok ? "1" : "0";
    const expiresAt = now + options.ttlMs;
    const redisTtlMs = options.ttlMs + this.graceMs;
    try {
      // Before the entry's new expiry, so the entry never outlives its place in the bound set.
      await this.boundExtendScript(
        this.boundKey,
        dedupBoundMember(at.entry),
        expiresAt,
        redisTtlMs,
      );
      const done = at.owned
        ? await this.ownedCompleteScript(
            at.entry,
            at.quota,
            at.holder,
            expiresAt,
            ok,
            payload,
            redisTtlMs,
            key,
          )
        : await this.completeScript(at.entry, token, expiresAt, ok, payload, redisTtlMs);
      return done === 1;
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup complete");
    }
  }

  /** The time leases and TTLs are judged by: the injected `clock`, else the server's. */
  private now(operation: string): Promise<number> {
    return storeNow(this.serverClock, this.clock, operation);
  }

  /** Gives the key up without a response; false if `token` no longer holds it. */
  async release(key: string, token: string): Promise<boolean> {
    this.assertOpen();
    assertReleaseArguments(key, token);
    const at = this.locate(key, token);
    if (at === undefined) return false;
    try {
      const released = at.owned
        ? await this.ownedReleaseScript(at.entry, at.quota, at.holder, key)
        : await this.releaseScript(at.entry, token);
      if (released !== 1) return false;
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup release");
    }
    await this.dropMember(dedupBoundMember(at.entry));
    return true;
  }

  /**
   * Makes the lease end `leaseMs` from now (the store's clock: the Redis server's unless a
   * `clock` was given); false if `token` no longer holds the key.
   */
  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    this.assertOpen();
    assertRenewArguments(key, token, leaseMs);
    const now = await this.now("redis dedup renew");
    const at = this.locate(key, token);
    if (at === undefined) return false;
    const expiresAt = now + leaseMs;
    const redisTtlMs = leaseMs + this.graceMs;
    try {
      // As in complete: the entry's place in the bound set first, so it never outlives it.
      await this.boundExtendScript(
        this.boundKey,
        dedupBoundMember(at.entry),
        expiresAt,
        redisTtlMs,
      );
      const renewed = at.owned
        ? await this.ownedRenewScript(
            at.entry,
            at.quota,
            at.holder,
            now,
            expiresAt,
            redisTtlMs,
            key,
          )
        : await this.renewScript(at.entry, token, now, expiresAt, redisTtlMs);
      return renewed === 1;
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup renew");
    }
  }

  /**
   * Where the entry a token was issued for lives: a token of an owned claim ends with `.<tag>`.
   * Undefined for a token this store cannot have issued (it holds nothing).
   */
  private locate(key: string, token: string): Location | undefined {
    const dot = token.lastIndexOf(".");
    if (dot < 0) return { owned: false, entry: dedupEntryKey(this.keyPrefix, key) };
    const tag = token.slice(dot + 1);
    if (!isDedupOwnerTag(tag)) return undefined;
    return {
      owned: true,
      holder: token.slice(0, dot),
      entry: ownedDedupEntryKey(this.keyPrefix, tag, key),
      quota: dedupQuotaKey(this.keyPrefix, tag),
    };
  }

  /** Removes a member of the bound set (best effort: a member left behind expires by score). */
  private async dropMember(member: string): Promise<void> {
    try {
      await this.handle.client.zrem(this.boundKey, member);
    } catch {
      // Redis is failing; the member expires by its score (the lease end).
    }
  }

  /** Quits the client if the store created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new AssuredError("STORE_CLOSED", "the Redis dedup store is closed; create a new one.");
    }
  }
}

/** The hash tag of a Redis key (what decides its Cluster slot): the text in its first `{…}`. */
function hashTagOf(key: string): string {
  const open = key.indexOf("{");
  if (open < 0) return key;
  const close = key.indexOf("}", open + 1);
  if (close <= open + 1) return key;
  return key.slice(open + 1, close);
}

function corruptReply(): AssuredError {
  return new AssuredError("STORE_CORRUPT", "the dedup claim script gave an unknown reply.");
}
