import { describe, expect, it } from "vitest";
import {
  breakMemoryBackend,
  createMemoryBackend,
  MemoryDedupStore,
  MemoryEventStore,
} from "../src/index.js";

const entry = (id: string) => ({ id, name: "e", payload: new Uint8Array([1]) });
const lease = { leaseMs: 1_000, fingerprint: "fp" };
const response = { ok: true, payload: new Uint8Array([7]) };

/** The rejection of `promise`, or a failure if it resolved. */
async function rejectionOf(promise: Promise<unknown>): Promise<{ code?: string; cause?: unknown }> {
  return promise.then(
    () => expect.fail("expected the call to reject"),
    (error: { code?: string; cause?: unknown }) => error,
  );
}

describe("breakMemoryBackend", () => {
  it("makes every event store method reject with STORE_UNAVAILABLE, then restores the same data", async () => {
    const backend = createMemoryBackend();
    const store = new MemoryEventStore({ backend });
    await store.append("s", [entry("a")]);
    const outage = breakMemoryBackend(backend);
    const calls = [
      store.append("s", [entry("b")]),
      store.read("s", { after: 0, limit: 10 }),
      store.head("s"),
      store.reset("s"),
    ];
    for (const call of calls) {
      const error = await rejectionOf(call);
      expect(error.code).toBe("STORE_UNAVAILABLE");
      expect(error.cause).toBeInstanceOf(Error);
    }
    outage.restore();
    expect((await store.head("s")).head).toBe(1);
    expect((await store.append("s", [entry("b")]))[0]).toMatchObject({ offset: 2 });
  });

  it("makes every dedup store method reject with STORE_UNAVAILABLE, then restores the same data", async () => {
    const backend = createMemoryBackend();
    const store = new MemoryDedupStore({ backend });
    const claim = await store.claim("k", lease);
    if (claim.status !== "claimed") expect.fail("claim");
    const outage = breakMemoryBackend(backend);
    const calls = [
      store.claim("other", lease),
      store.complete("k", claim.token, response, { ttlMs: 1_000 }),
      store.release("k", claim.token),
      store.renew("k", claim.token, 1_000),
    ];
    for (const call of calls) expect((await rejectionOf(call)).code).toBe("STORE_UNAVAILABLE");
    outage.restore();
    expect((await store.claim("k", lease)).status).toBe("pending");
    expect(await store.complete("k", claim.token, response, { ttlMs: 1_000 })).toBe(true);
  });

  it("breaks every store on the backend and no other, and restore is idempotent", async () => {
    const backend = createMemoryBackend();
    const other = new MemoryEventStore({ backend: createMemoryBackend() });
    const outage = breakMemoryBackend(backend);
    const second = new MemoryEventStore({ backend });
    expect((await rejectionOf(second.head("s"))).code).toBe("STORE_UNAVAILABLE");
    expect((await other.head("s")).head).toBe(0);
    outage.restore();
    outage.restore();
    expect((await second.head("s")).head).toBe(0);
  });
});
