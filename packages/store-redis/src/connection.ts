import { AssuredError } from "@assured/core";
import { describe, toStoreError } from "@assured/core/store";
import type { Cluster, Redis, RedisOptions } from "ioredis";
import { redisDriver } from "./driver.js";

/**
 * Where a store keeps its data: an ioredis client you own (`Redis` or `Cluster`, left open by
 * `close()`), or a URL / `RedisOptions` for a client the store creates and quits on `close()`.
 */
export type RedisConnection = Redis | Cluster | RedisOptions | string;

/**
 * ioredis defaults for a client the store creates: fail fast rather than queue for minutes while
 * the server is down, and give a command up after 10 s (a hung server or a network partition
 * keeps the connection open and would never answer).
 */
const OWN_CLIENT_DEFAULTS: RedisOptions = { maxRetriesPerRequest: 1, commandTimeout: 10_000 };

/** A server-side script callable with binary arguments and replies. */
export type ScriptCall = (key: string, ...args: (string | Buffer | number)[]) => Promise<unknown>;

/** An ioredis client held by a store, knowing whether the store must quit it. */
export class RedisHandle {
  readonly client: Redis | Cluster;
  private readonly owned: boolean;

  constructor(connection: unknown) {
    if (isClient(connection)) {
      assertNoBraces(connection.options.keyPrefix);
      this.client = connection;
      this.owned = false;
      return;
    }
    if (typeof connection !== "string" && (typeof connection !== "object" || connection === null)) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `redis must be an ioredis client, a redis:// URL or ioredis options, got ${describe(connection)}.`,
      );
    }
    if (typeof connection === "object") assertNoBraces((connection as RedisOptions).keyPrefix);
    const { Redis: RedisClient } = redisDriver();
    try {
      this.client =
        typeof connection === "string"
          ? new RedisClient(connection, OWN_CLIENT_DEFAULTS)
          : new RedisClient({ ...OWN_CLIENT_DEFAULTS, ...(connection as RedisOptions) });
    } catch (error) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `ioredis refused the connection settings: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    this.owned = true;
    // Failures reach callers as STORE_UNAVAILABLE on their next command; an "error" listener
    // keeps ioredis from printing every reconnect attempt.
    this.client.on("error", () => {});
  }

  /**
   * Registers a Lua script (EVALSHA, falling back to EVAL after a server restart) and returns
   * its binary-safe caller (the first `numberOfKeys` arguments are keys, in one Cluster slot).
   * The name is namespaced so it cannot clash with the user's commands.
   */
  defineScript(name: string, lua: string, numberOfKeys = 1): ScriptCall {
    const command = `assured_${name}`;
    this.client.defineCommand(command, { numberOfKeys, lua });
    const commands = this.client as unknown as Record<string, ScriptCall>;
    const call = commands[`${command}Buffer`];
    if (!call) throw new AssuredError("INTERNAL", `ioredis did not define script ${command}`);
    return call.bind(this.client);
  }

  /**
   * Registers a Lua script taking any number of keys (the batch scripts): its caller takes the
   * keys (all in one Cluster slot) as an array, then the arguments.
   */
  defineVariadicScript(
    name: string,
    lua: string,
  ): (keys: readonly string[], ...args: (string | Buffer | number)[]) => Promise<unknown> {
    const command = `assured_${name}`;
    this.client.defineCommand(command, { lua });
    const commands = this.client as unknown as Record<
      string,
      (...args: (string | Buffer | number)[]) => Promise<unknown>
    >;
    const call = commands[`${command}Buffer`];
    if (!call) throw new AssuredError("INTERNAL", `ioredis did not define script ${command}`);
    const bound = call.bind(this.client);
    return (keys, ...args) => bound(keys.length, ...keys, ...args);
  }

  /** Whether the client is a Redis Cluster client (a batch is then split by hash slot). */
  get isCluster(): boolean {
    return (this.client as { isCluster?: unknown }).isCluster === true;
  }

  /** Quits the client if the store created it; a client passed in is left open. */
  async close(): Promise<void> {
    if (!this.owned) return;
    if (this.client.status !== "ready") {
      // Not connected: QUIT would wait in the offline queue for a server that is not there.
      this.client.disconnect();
      return;
    }
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** ioredis prepends its own `keyPrefix` to keys: a brace there would move the hash tag. */
function assertNoBraces(keyPrefix: unknown): void {
  if (typeof keyPrefix === "string" && /[{}]/.test(keyPrefix)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "the ioredis client's keyPrefix must not contain '{' or '}': they would change the Redis Cluster hash slot. Use the store's keyPrefix option instead.",
    );
  }
}

function isClient(value: unknown): value is Redis | Cluster {
  // By shape, not instanceof: it holds for another copy of ioredis, and needs no driver here.
  const v = value as { defineCommand?: unknown; quit?: unknown; pipeline?: unknown } | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.defineCommand === "function" &&
    typeof v.quit === "function" &&
    typeof v.pipeline === "function"
  );
}

/**
 * Turns a failure of a Redis command into an `AssuredError`: a script's `STORE_CORRUPT` reply
 * keeps its code; anything else becomes `STORE_UNAVAILABLE` (the driver error is the `cause`).
 */
export function toRedisStoreError(error: unknown, operation: string): AssuredError {
  const message = error instanceof Error ? error.message : "";
  if (message.includes("STORE_CORRUPT")) {
    return new AssuredError("STORE_CORRUPT", `${operation} found a damaged log: ${message}`, {
      cause: error,
    });
  }
  return toStoreError(error, operation);
}
