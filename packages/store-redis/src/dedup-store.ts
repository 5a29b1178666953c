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
  type StoredResponse,
} from "@assured/core";
import { RedisHandle, type ScriptCall, toRedisStoreError } from "./connection.js";
import { dedupEntryKey } from "./keys.js";
import { type RedisStoreOptions, readClock, resolveStoreOptions } from "./options.js";
import { CLAIM_SCRIPT, COMPLETE_SCRIPT, RELEASE_SCRIPT } from "./scripts/dedup.js";

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
 * @example
 * const dedup = new RedisDedupStore({ redis: client });
 * const claim = await dedup.claim("user-1/msg-9", { leaseMs: 30_000, fingerprint: digest });
 * if (claim.status === "claimed") await dedup.complete("user-1/msg-9", claim.token, response, { ttlMs: 86_400_000 });
 */
export class RedisDedupStore implements DedupStore {
  /** Shared by every process on the same Redis; as persistent as the server's own settings. */
  readonly capabilities: DedupStoreCapabilities = { sharedAcrossInstances: true, persistent: true };
  /** The prefix of every key this store writes. */
  readonly keyPrefix: string;

  private readonly handle: RedisHandle;
  private readonly clock: Clock;
  private readonly graceMs: number;
  private readonly claimScript: ScriptCall;
  private readonly completeScript: ScriptCall;
  private readonly releaseScript: ScriptCall;
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
  }

  /** Takes the key for `leaseMs`, or reports who has it (see `ClaimResult`). */
  async claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    this.assertOpen();
    assertClaimArguments(key, options);
    const now = readClock(this.clock);
    const token = newId();
    let reply: unknown;
    try {
      reply = await this.claimScript(
        dedupEntryKey(this.keyPrefix, key),
        now,
        now + options.leaseMs,
        options.fingerprint,
        token,
        options.leaseMs + this.graceMs,
      );
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
    try {
      const done = await this.completeScript(
        dedupEntryKey(this.keyPrefix, key),
        token,
        now + options.ttlMs,
        response.ok ? "1" : "0",
        Buffer.from(
          response.payload.buffer,
          response.payload.byteOffset,
          response.payload.byteLength,
        ),
        options.ttlMs + this.graceMs,
      );
      return done === 1;
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup complete");
    }
  }

  /** Gives the key up without a response; false if `token` no longer holds it. */
  async release(key: string, token: string): Promise<boolean> {
    this.assertOpen();
    assertReleaseArguments(key, token);
    try {
      return (await this.releaseScript(dedupEntryKey(this.keyPrefix, key), token)) === 1;
    } catch (error) {
      throw toRedisStoreError(error, "redis dedup release");
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
