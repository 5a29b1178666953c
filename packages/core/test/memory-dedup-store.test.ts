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
    expect(b.capabilities).toEqual({
      sharedAcrossInstances: true,
      persistent: true,
      quotaUnderContention: "exact",
    });
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

  it("refuses unknown option names with INVALID_ARGUMENT naming them", () => {
    expect(() => new MemoryDedupStore({ maxEntry: 10 } as never)).toThrowError(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message:
          'unknown option "maxEntry" of MemoryDedupStore — did you mean "maxEntries"? (see MemoryDedupStoreOptions).',
      }),
    );
    expect(() => new MemoryDedupStore({ maxEntries: 10 })).not.toThrow();
  });
});

describe("MemoryDedupStore: per-owner quota (DESIGN.md §8)", () => {
  const alice = { id: "alice", maxEntries: 2 };
  const bob = { id: "bob", maxEntries: 2 };

  it("refuses a third new key of an owner with QUOTA_EXCEEDED; others and answers are unaffected", async () => {
    const store = new MemoryDedupStore({ clock: () => 0 });
    claimedToken(await store.claim("a1", { ...options, owner: alice }));
    claimedToken(await store.claim("a2", { ...options, owner: alice }));
    const refused = store.claim("a3", { ...options, owner: alice });
    await expect(refused).rejects.toMatchObject({
      code: "QUOTA_EXCEEDED",
      details: { maxEntries: 2 },
    });
    // Answers that create nothing are given at the quota.
    expect((await store.claim("a1", { ...options, owner: alice })).status).toBe("pending");
    expect((await store.claim("a1", { ...options, fingerprint: "g", owner: alice })).status).toBe(
      "conflict",
    );
    claimedToken(await store.claim("b1", { ...options, owner: bob }));
    claimedToken(await store.claim("free", options));
  });

  it("frees quota on release, on expiry and after the TTL; done keys stay done", async () => {
    let now = 0;
    const store = new MemoryDedupStore({ clock: () => now });
    const t1 = claimedToken(await store.claim("a1", { ...options, owner: alice }));
    const t2 = claimedToken(await store.claim("a2", { ...options, owner: alice }));
    expect(await store.release("a1", t1)).toBe(true);
    claimedToken(await store.claim("a3", { ...options, owner: alice }));
    expect(await store.complete("a2", t2, response, { ttlMs: 1_000 })).toBe(true);
    expect(await codeOf(store.claim("a4", { ...options, owner: alice }))).toBe("QUOTA_EXCEEDED");
    expect((await store.claim("a2", { ...options, owner: alice })).status).toBe("done");
    now = 100; // a3's lease ran out
    claimedToken(await store.claim("a4", { ...options, owner: alice }));
    expect(await codeOf(store.claim("a5", { ...options, owner: alice }))).toBe("QUOTA_EXCEEDED");
    now = 1_000; // a2's response expired
    claimedToken(await store.claim("a5", { ...options, owner: alice }));
  });

  it("frees a completed key's place at its response's expiry, whether the TTL is longer or shorter than the lease", async () => {
    let now = 0;
    const backend = createMemoryBackend();
    const store = new MemoryDedupStore({ clock: () => now, backend });
    // Oldest keys that never expire: the global sweep of the oldest keys finds nothing.
    for (let i = 0; i < 8; i++) await store.claim(`filler${i}`, { ...options, leaseMs: 1e9 });
    const one = { id: "alice", maxEntries: 1 };
    const long = claimedToken(await store.claim("a1", { ...options, leaseMs: 10, owner: one }));
    await store.complete("a1", long, response, { ttlMs: 100 });
    now = 50; // past the lease, within the TTL: the key is filed again under its TTL
    expect(await codeOf(store.claim("a2", { ...options, owner: one }))).toBe("QUOTA_EXCEEDED");
    now = 100;
    const short = claimedToken(await store.claim("a2", { ...options, leaseMs: 1_000, owner: one }));
    await store.complete("a2", short, response, { ttlMs: 5 });
    now = 105; // the TTL ended long before the lease would have
    claimedToken(await store.claim("a3", { ...options, owner: one }));
    expect(backend.owners.get("alice")?.count).toBe(1);
  });

  it("counts an expired key claimed again as a new entry of its owner", async () => {
    let now = 0;
    const store = new MemoryDedupStore({ clock: () => now });
    claimedToken(await store.claim("a1", { ...options, leaseMs: 10, owner: alice }));
    now = 10;
    claimedToken(await store.claim("a2", { ...options, owner: alice }));
    claimedToken(await store.claim("a3", { ...options, owner: alice }));
    expect(await codeOf(store.claim("a1", { ...options, owner: alice }))).toBe("QUOTA_EXCEEDED");
  });

  it("shares the counts between instances on one backend and keeps them when the global sweep drops keys", async () => {
    let now = 0;
    const backend = createMemoryBackend();
    const a = new MemoryDedupStore({ clock: () => now, backend });
    const b = new MemoryDedupStore({ clock: () => now, backend });
    claimedToken(await a.claim("a1", { ...options, owner: alice }));
    claimedToken(await b.claim("a2", { ...options, owner: alice }));
    expect(await codeOf(a.claim("a3", { ...options, owner: alice }))).toBe("QUOTA_EXCEEDED");
    now = 100;
    // Unowned claims sweep the oldest keys, alice's expired ones among them.
    await b.claim("x", options);
    expect(backend.claims.has("a1")).toBe(false);
    expect(backend.owners.has("alice")).toBe(false);
    claimedToken(await a.claim("a3", { ...options, owner: alice }));
    claimedToken(await a.claim("a4", { ...options, owner: alice }));
  });

  it("refuses invalid owners with INVALID_ARGUMENT, and unknown claim option fields", async () => {
    const store = new MemoryDedupStore();
    const bad: unknown[] = [
      null,
      "alice",
      [],
      {},
      { id: "alice" },
      { maxEntries: 1 },
      { id: "", maxEntries: 1 },
      { id: "x".repeat(257), maxEntries: 1 },
      { id: "a\uD800", maxEntries: 1 },
      { id: 7, maxEntries: 1 },
      { id: "alice", maxEntries: 0 },
      { id: "alice", maxEntries: 1.5 },
      { id: "alice", maxEntries: "1" },
      { id: "alice", maxEntries: Number.POSITIVE_INFINITY },
      { id: "alice", maxEntries: 1, max: 2 },
    ];
    for (const owner of bad) {
      expect(await codeOf(store.claim("k", { ...options, owner } as never))).toBe(
        "INVALID_ARGUMENT",
      );
    }
    expect(await codeOf(store.claim("k", { ...options, ownr: alice } as never))).toBe(
      "INVALID_ARGUMENT",
    );
    claimedToken(await store.claim("k", { ...options, owner: undefined }));
  });
});
