import { AssuredError } from "@assured/core";
import {
  assertClaimOptions,
  assertClaimToken,
  assertCompleteOptions,
  assertDedupKey,
  assertPositiveInteger,
  assertStoredResponse,
  type ClaimOptions,
  type ClaimResult,
  type Clock,
  type DedupOwner,
  type DedupStore,
  type DedupStoreCapabilities,
  newId,
  nextFencingToken,
  quotaExceededError,
  type StoredResponse,
  systemClock,
} from "@assured/core/store";
import { DirectoryOperations } from "./directory-operations.js";
import { fileFor, readIfExists, replaceDurably } from "./durable-file.js";

/** Options of `FileDedupStore`. */
export interface FileDedupStoreOptions {
  /** The directory holding one JSON file per key (created if missing). */
  directory: string;
  /** Leases and TTLs are measured with this clock. Default: the wall clock. */
  clock?: Clock;
}

/**
 * A key's file: held under a lease, or done with the response (payload in base64); `owner` is
 * the id of the claim's owner, when it had one; `fencingToken` the latest claim's (absent in
 * files written before fencing: 0). A released key's file stays as a lease that ended at 0,
 * held by no token (`""`) and no owner, so the next claim's fencing token follows its own.
 */
type KeyFile =
  | {
      key: string;
      state: "leased";
      fingerprint: string;
      token: string;
      leaseExpiresAt: number;
      fencingToken?: number;
      owner?: string;
    }
  | {
      key: string;
      state: "done";
      fingerprint: string;
      ok: boolean;
      payload: string;
      expiresAt: number;
      fencingToken?: number;
      owner?: string;
    };

/** An owner's file: its keys with when each stops counting (pairs, so any key is safe). */
interface OwnerFile {
  owner: string;
  entries: [key: string, expiresAt: number][];
}

/**
 * A `DedupStore` on plain files: one small JSON file per key, replaced atomically (write, fsync,
 * rename). Persistent and single-instance, like `FileEventStore`. An expired or released key's
 * file is overwritten by the next claim of that key, whose fencing token is larger than the
 * file's (`nextFencingToken`: the file's plus one, or the clock in ms when larger).
 *
 * Quotas: each owner has a file listing its keys and when each stops counting, rewritten by
 * every claim, complete and release of its keys (expired ones are dropped then), so a claim
 * reads one file to count. Operations run one at a time, so the quota is exact. The owner's
 * file is written before the key's: a crash in between can only over-count, until the entry's
 * recorded expiry. Simple rather than fast: the file holds up to `maxEntries` keys.
 */
export class FileDedupStore implements DedupStore {
  readonly capabilities: DedupStoreCapabilities = {
    sharedAcrossInstances: false,
    persistent: true,
    quotaUnderContention: "exact",
  };
  private readonly files: DirectoryOperations;
  private readonly clock: Clock;
  private readonly directory: string;

  constructor(options: FileDedupStoreOptions) {
    this.files = new DirectoryOperations({
      directory: options?.directory,
      store: "FileDedupStore",
      extension: ".json",
      assertName: assertDedupKey,
    });
    this.clock = options.clock ?? systemClock;
    this.directory = options.directory;
  }

  claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.files.run(
      "claim",
      key,
      () => assertClaimOptions(options),
      async (path) => {
        const now = this.clock();
        const current = await this.load(path, key);
        if (current !== undefined && !isExpired(current, now)) {
          if (current.fingerprint !== options.fingerprint) return { status: "conflict" };
          return current.state === "leased"
            ? { status: "pending", leaseExpiresAt: current.leaseExpiresAt }
            : { status: "done", response: responseOf(current) };
        }
        const token = newId();
        // Larger than the file's token, and read from the clock for a key without a file (one
        // deleted by hand after it expired still gets a token above all earlier ones).
        const fencingToken = nextFencingToken(
          current === undefined ? undefined : (current.fencingToken ?? 0),
          now,
        );
        const leaseExpiresAt = now + options.leaseMs;
        const { owner } = options;
        if (owner !== undefined) await this.countIn(owner, key, leaseExpiresAt, now);
        await this.save(path, {
          key,
          state: "leased",
          fingerprint: options.fingerprint,
          token,
          leaseExpiresAt,
          fencingToken,
          ...(owner === undefined ? {} : { owner: owner.id }),
        });
        return { status: "claimed", token, fencingToken };
      },
    );
  }

  complete(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): Promise<boolean> {
    const validate = () => {
      assertClaimToken(token);
      assertStoredResponse(response);
      assertCompleteOptions(options);
    };
    return this.files.run("complete", key, validate, async (path) => {
      const current = await this.load(path, key);
      if (current?.state !== "leased" || current.token !== token) return false;
      const bytes = response.payload;
      const payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(
        "base64",
      );
      const now = this.clock();
      const expiresAt = now + options.ttlMs;
      if (current.owner !== undefined) {
        await this.updateOwner(current.owner, now, (entries) => entries.set(key, expiresAt));
      }
      await this.save(path, {
        key,
        state: "done",
        fingerprint: current.fingerprint,
        ok: response.ok,
        payload,
        expiresAt,
        fencingToken: current.fencingToken ?? 0,
        ...(current.owner === undefined ? {} : { owner: current.owner }),
      });
      return true;
    });
  }

  release(key: string, token: string): Promise<boolean> {
    return this.files.run(
      "release",
      key,
      () => assertClaimToken(token),
      async (path) => {
        const current = await this.load(path, key);
        if (current?.state !== "leased" || current.token !== token) return false;
        if (current.owner !== undefined) {
          await this.updateOwner(current.owner, this.clock(), (entries) => entries.delete(key));
        }
        const { owner: _, ...rest } = current;
        await this.save(path, { ...rest, token: "", leaseExpiresAt: 0 });
        return true;
      },
    );
  }

  renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    const validate = () => {
      assertClaimToken(token);
      assertPositiveInteger(leaseMs, "leaseMs");
    };
    return this.files.run("renew", key, validate, async (path) => {
      const current = await this.load(path, key);
      const now = this.clock();
      if (current?.state !== "leased" || current.token !== token || isExpired(current, now)) {
        return false;
      }
      const leaseExpiresAt = now + leaseMs;
      if (current.owner !== undefined) {
        // Written first, as in claim: a crash in between can only over-count.
        await this.updateOwner(current.owner, now, (entries) => entries.set(key, leaseExpiresAt));
      }
      await this.save(path, { ...current, leaseExpiresAt });
      return true;
    });
  }

  close(): Promise<void> {
    return this.files.close();
  }

  private async load(path: string, key: string): Promise<KeyFile | undefined> {
    const text = await readIfExists(path);
    if (text === undefined) return undefined;
    let file: KeyFile;
    try {
      file = JSON.parse(text) as KeyFile;
    } catch {
      throw new AssuredError("STORE_CORRUPT", `${path} is not valid JSON; restore or delete it.`);
    }
    if (file.key !== key) {
      throw new AssuredError("STORE_CORRUPT", `${path} holds another key; restore or delete it.`);
    }
    return file;
  }

  private save(path: string, file: KeyFile): Promise<void> {
    return replaceDurably(path, JSON.stringify(file));
  }

  /** Adds `key` to the owner's entries, or throws `QUOTA_EXCEEDED` when the owner is full. */
  private async countIn(owner: DedupOwner, key: string, expiresAt: number, now: number) {
    await this.updateOwner(owner.id, now, (entries) => {
      // `key` itself is free or expired here: it does not count against its own claim.
      entries.delete(key);
      if (entries.size >= owner.maxEntries) throw quotaExceededError(owner);
      entries.set(key, expiresAt);
    });
  }

  /** Reads the owner's unexpired entries, lets `change` edit them, and writes them back. */
  private async updateOwner(
    owner: string,
    now: number,
    change: (entries: Map<string, number>) => void,
  ): Promise<void> {
    const path = fileFor(this.directory, owner, ".owner.json");
    const text = await readIfExists(path);
    const entries = new Map<string, number>();
    if (text !== undefined) {
      let file: OwnerFile;
      try {
        file = JSON.parse(text) as OwnerFile;
      } catch {
        throw new AssuredError("STORE_CORRUPT", `${path} is not valid JSON; restore or delete it.`);
      }
      if (file.owner !== owner) {
        throw new AssuredError(
          "STORE_CORRUPT",
          `${path} holds another owner; restore or delete it.`,
        );
      }
      for (const [key, expiresAt] of file.entries) if (expiresAt > now) entries.set(key, expiresAt);
    }
    change(entries);
    const file: OwnerFile = { owner, entries: [...entries] };
    await replaceDurably(path, JSON.stringify(file));
  }
}

function isExpired(file: KeyFile, now: number): boolean {
  return file.state === "leased" ? file.leaseExpiresAt <= now : file.expiresAt <= now;
}

function responseOf(file: Extract<KeyFile, { state: "done" }>): StoredResponse {
  return { ok: file.ok, payload: new Uint8Array(Buffer.from(file.payload, "base64")) };
}
