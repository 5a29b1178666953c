import {
  AssuredError,
  assertClaimArguments,
  assertCompleteArguments,
  assertPositiveInteger,
  assertReleaseArguments,
  type ClaimOptions,
  type ClaimResult,
  type Clock,
  type DedupStore,
  type DedupStoreCapabilities,
  newId,
  quotaExceededError,
  type StoredResponse,
} from "@assured/core";
import { RedisHandle, type ScriptCall, toRedisStoreError } from "./connection.js";
import {
  dedupEntryKey,
  dedupOwnerTag,
  dedupQuotaKey,
  isDedupOwnerTag,
  ownedDedupEntryKey,
} from "./keys.js";
import { type RedisStoreOptions, readClock, resolveStoreOptions } from "./options.js";
import {
  CLAIM_SCRIPT,
  COMPLETE_SCRIPT,
  OWNED_CLAIM_SCRIPT,
  OWNED_COMPLETE_SCRIPT,
  OWNED_RELEASE_SCRIPT,
  RELEASE_SCRIPT,
} from "./scripts/dedup.js";

/** Where a key's entry lives: alone, or with its owner's entries and quota set. */
type Location =
  | { owned: false; entry: string }
  /** `holder`: the part of the token the entry stores (its location is the rest). */
  | { owned: true; entry: string; quota: string; holder: string };

/** Options of `RedisDedupStore`. */
export interface RedisDedupStoreOptions extends RedisStoreOptions {
  /**
   * How long after its lease or TTL ends (by `clock`) an entry's key stays in Redis before Redis
   * expires it (default 60,000 ms). Expiry itself is decided by `clock`; this only bounds memory.
   */
  expiryGraceMs?: number;
}

/**
 * The `DedupStore` on Redis (ioredis), Redis Cluster ready. Each key is one hash at
 * `<keyPrefix>dedup:{<base64url(key)>}`; claim, complete and release are Lua scripts, so exactly
 * one of many concurrent claimers wins, and only the current token completes or releases.
 *
 * A key claimed with an `owner` lives at `<keyPrefix>dedup:{q:<tag>}:<base64url(key)>` instead,
 * next to the owner's quota set `<keyPrefix>dedup-quota:{q:<tag>}` (`tag` = base64url of the
 * SHA-256 of the owner id): one hash slot per owner, so the claim script counts and adds
 * atomically and the quota is exact. Its tokens carry the tag (`<id>.<tag>`), so `complete`
 * and `release` find the entry without the owner; the entry stores only `<id>` (a hash field
 * longer than 64 bytes would move Redis off its compact hash encoding). There is no bound on all entries together:
 * a global counter would be one hot key outside every owner's slot; Redis's `maxmemory` and the
 * per-owner quotas bound memory (see the README's sizing).
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
  private readonly graceMs: number;
  private readonly claimScript: ScriptCall;
  private readonly completeScript: ScriptCall;
  private readonly releaseScript: ScriptCall;
  private readonly ownedClaimScript: ScriptCall;
  private readonly ownedCompleteScript: ScriptCall;
  private readonly ownedReleaseScript: ScriptCall;
  private closed = false;

  constructor(options: RedisDedupStoreOptions) {
    const common = resolveStoreOptions(options, "RedisDedupStore");
    const graceMs = options.expiryGraceMs ?? 60_000;
    assertPositiveInteger(graceMs, "expiryGraceMs");
    this.keyPrefix = common.keyPrefix;
    this.clock = common.clock;
    this.graceMs = graceMs;
    this.handle = new RedisHandle(common.redis);
    this.claimScript = this.handle.defineScript("dedup_claim_v1", CLAIM_SCRIPT);
    this.completeScript = this.handle.defineScript("dedup_complete_v1", COMPLETE_SCRIPT);
    this.releaseScript = this.handle.defineScript("dedup_release_v1", RELEASE_SCRIPT);
    this.ownedClaimScript = this.handle.defineScript("dedup_owned_claim_v1", OWNED_CLAIM_SCRIPT, 2);
    this.ownedCompleteScript = this.handle.defineScript(
      "dedup_owned_complete_v1",
      OWNED_COMPLETE_SCRIPT,
      2,
    );
    this.ownedReleaseScript = this.handle.defineScript(
      "dedup_owned_release_v1",
      OWNED_RELEASE_SCRIPT,
      2,
    );
  }

  /** Takes the key for `leaseMs`, or reports who has it (see `ClaimResult`). */
  async claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    this.assertOpen();
    assertClaimArguments(key, options);
    const now = readClock(this.clock);
    const { owner } = options;
    let reply: unknown;
    let token: string;
    try {
      if (owner === undefined) {
        token = newId();
        reply = await this.claimScript(
          dedupEntryKey(this.keyPrefix, key),
          now,
          now + options.leaseMs,
          options.fingerprint,
          token,
          options.leaseMs + this.graceMs,
        );
      } else {
        const tag = dedupOwnerTag(owner.id);
        const holder = newId();
        token = `${holder}.${tag}`;
        reply = await this.ownedClaimScript(
          ownedDedupEntryKey(this.keyPrefix, tag, key),
          dedupQuotaKey(this.keyPrefix, tag),
          now,
          now + options.leaseMs,
          options.fingerprint,
          holder,
          options.leaseMs + this.graceMs,
          owner.maxEntries,
          key,
        );
      }
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup claim");
    }
    const [status, first, second] = reply as Buffer[];
    switch (status?.toString()) {
      case "claimed":
        return { status: "claimed", token };
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
    const now = readClock(this.clock);
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
      return released === 1;
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup release");
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
