import { rm } from "node:fs/promises";
import {
  AssuredError,
  assertClaimOptions,
  assertClaimToken,
  assertCompleteOptions,
  assertDedupKey,
  assertStoredResponse,
  type ClaimOptions,
  type ClaimResult,
  type Clock,
  type DedupStore,
  type DedupStoreCapabilities,
  newId,
  type StoredResponse,
  systemClock,
} from "@assured/core";
import { DirectoryOperations } from "./directory-operations.js";
import { readIfExists, replaceDurably } from "./durable-file.js";

/** Options of `FileDedupStore`. */
export interface FileDedupStoreOptions {
  /** The directory holding one JSON file per key (created if missing). */
  directory: string;
  /** Leases and TTLs are measured with this clock. Default: the wall clock. */
  clock?: Clock;
}

/** A key's file: held under a lease, or done with the response (payload in base64). */
type KeyFile =
  | { key: string; state: "leased"; fingerprint: string; token: string; leaseExpiresAt: number }
  | {
      key: string;
      state: "done";
      fingerprint: string;
      ok: boolean;
      payload: string;
      expiresAt: number;
    };

/**
 * A `DedupStore` on plain files: one small JSON file per key, replaced atomically (write, fsync,
 * rename). Persistent and single-instance, like `FileEventStore`. An expired key's file is
 * overwritten by the next claim of that key.
 */
export class FileDedupStore implements DedupStore {
  readonly capabilities: DedupStoreCapabilities = {
    sharedAcrossInstances: false,
    persistent: true,
  };
  private readonly files: DirectoryOperations;
  private readonly clock: Clock;

  constructor(options: FileDedupStoreOptions) {
    this.files = new DirectoryOperations({
      directory: options?.directory,
      store: "FileDedupStore",
      extension: ".json",
      assertName: assertDedupKey,
    });
    this.clock = options.clock ?? systemClock;
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
        const leaseExpiresAt = now + options.leaseMs;
        await this.save(path, {
          key,
          state: "leased",
          fingerprint: options.fingerprint,
          token,
          leaseExpiresAt,
        });
        return { status: "claimed", token };
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
      const expiresAt = this.clock() + options.ttlMs;
      await this.save(path, {
        key,
        state: "done",
        fingerprint: current.fingerprint,
        ok: response.ok,
        payload,
        expiresAt,
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
        await rm(path, { force: true });
        return true;
      },
    );
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
}

function isExpired(file: KeyFile, now: number): boolean {
  return file.state === "leased" ? file.leaseExpiresAt <= now : file.expiresAt <= now;
}

function responseOf(file: Extract<KeyFile, { state: "done" }>): StoredResponse {
  return { ok: file.ok, payload: new Uint8Array(Buffer.from(file.payload, "base64")) };
}
