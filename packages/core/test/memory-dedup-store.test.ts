import { describe, expect, it } from "vitest";
import { AssuredError, createMemoryBackend, MemoryDedupStore } from "../src/index.js";

const options = { leaseMs: 100, fingerprint: "f" };
const response = { ok: true, payload: new Uint8Array([7]) };

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(AssuredError);
    return (error as AssuredError).code;
  }
}

function claimedToken(result: Awaited<ReturnType<MemoryDedupStore["claim"]>>): string {
  if (result.status !== "claimed") throw new Error(`expected claimed, got ${result.status}`);
  return result.token;
}

describe("MemoryDedupStore", () => {
  it("G9: claim, pending while leased, done with the stored response, conflict on another fingerprint", async () => {
    let now = 0;
    const store = new MemoryDedupStore({ clock: () => now });
    const token = claimedToken(await store.claim("k", options));
    now = 10;
    expect(await store.claim("k", options)).toEqual({ status: "pending", leaseExpiresAt: 100 });
    expect(await store.claim("k", { ...options, fingerprint: "g" })).toEqual({
      status: "conflict",
    });
    expect(await store.complete("k", token, response, { ttlMs: 1_000 })).toBe(true);
    expect(await store.claim("k", options)).toEqual({ status: "done", response });
    expect(await store.claim("k", { ...options, fingerprint: "g" })).toEqual({
      status: "conflict",
    });
  });

  it("G9: an expired lease is claimed again and the old holder's token stops working", async () => {
    let now = 0;
    const store = new MemoryDedupStore({ clock: () => now });
    const stale = claimedToken(await store.claim("k", options));
    now = 100;
    const fresh = claimedToken(await store.claim("k", options));
    expect(fresh).not.toBe(stale);
    expect(await store.complete("k", stale, response, { ttlMs: 10 })).toBe(false);
    expect(await store.release("k", stale)).toBe(false);
    expect(await store.release("k", fresh)).toBe(true);
    claimedToken(await store.claim("k", options));
  });

  it("forgets a response after its TTL", async () => {
    let now = 0;
    const store = new MemoryDedupStore({ clock: () => now });
    await store.complete("k", claimedToken(await store.claim("k", options)), response, {
      ttlMs: 50,
    });
    now = 49;
    expect((await store.claim("k", options)).status).toBe("done");
    now = 50;
    expect((await store.claim("k", { ...options, fingerprint: "other" })).status).toBe("claimed");
  });

  it("G11: is bounded, sweeping expired keys when full before refusing with LIMIT_EXCEEDED", async () => {
    let now = 0;
    const store = new MemoryDedupStore({ clock: () => now, maxEntries: 3 });
    for (const key of ["a", "b", "c"])
      await store.claim(key, { ...options, leaseMs: 10 + key.length });
    expect(await codeOf(store.claim("d", options))).toBe("LIMIT_EXCEEDED");
    expect((await store.claim("a", options)).status).toBe("pending");
    now = 11;
    expect((await store.claim("d", options)).status).toBe("claimed");
  });

  it("sweeps expired keys a few at a time on every claim", async () => {
    let now = 0;
    const backend = createMemoryBackend();
    const store = new MemoryDedupStore({ clock: () => now, backend });
    for (let i = 0; i < 4; i++) await store.claim(`k${i}`, options);
    now = 100;
    await store.claim("other", options);
    expect([...backend.claims.keys()]).toEqual(["other"]);
  });

  it("shares claims between instances on one backend", async () => {
    const backend = createMemoryBackend();
    const a = new MemoryDedupStore({ backend });
    const b = new MemoryDedupStore({ backend });
    claimedToken(await a.claim("k", options));
    expect((await b.claim("k", options)).status).toBe("pending");
    expect(b.capabilities).toEqual({ sharedAcrossInstances: true, persistent: true });
  });

  it("G12: rejects bad arguments with INVALID_ARGUMENT and STORE_CLOSED after close", async () => {
    const store = new MemoryDedupStore();
    expect(await codeOf(store.claim("", options))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(store.claim("x".repeat(513), options))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(store.claim("k", { leaseMs: 0, fingerprint: "f" }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await codeOf(store.claim("k", { leaseMs: 1, fingerprint: "" }))).toBe(
      "INVALID_ARGUMENT",
    );
    const token = claimedToken(await store.claim("k", options));
    const bad = { ok: "yes", payload: new Uint8Array() } as never;
    expect(await codeOf(store.complete("k", token, bad, { ttlMs: 1 }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(store.complete("k", token, response, { ttlMs: 0 }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await codeOf(store.release("k", ""))).toBe("INVALID_ARGUMENT");
    expect(await store.release("k", token)).toBe(true);
    await store.close();
    expect(await codeOf(store.claim("k", options))).toBe("STORE_CLOSED");
    expect(await codeOf(store.release("k", token))).toBe("STORE_CLOSED");
  });
});
