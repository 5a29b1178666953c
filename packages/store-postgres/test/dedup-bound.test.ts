import { isAssuredError } from "@assured/core";
import { describe, expect, it } from "vitest";
import { useStores } from "./fixture.js";

const stores = useStores();
const payload = new Uint8Array([4]);

describe("PostgresDedupStore maxEntries: a bound on all rows together", () => {
  it("refuses a new key at the bound with LIMIT_EXCEEDED, answers held keys, frees places as rows expire", async () => {
    let now = 1_000_000;
    const dedup = stores.dedup(stores.schema("bound"), {
      maxEntries: 3,
      clock: () => now,
      sweepIntervalMs: 0,
    });
    const a = await dedup.claim("a", { leaseMs: 1_000, fingerprint: "f" });
    await dedup.claim("b", { leaseMs: 5_000, fingerprint: "f", owner: { id: "o", maxEntries: 9 } });
    await dedup.claim("c", { leaseMs: 5_000, fingerprint: "f" });
    const refused = await dedup.claim("d", { leaseMs: 1_000, fingerprint: "f" }).catch((e) => e);
    expect(isAssuredError(refused, "LIMIT_EXCEEDED"), String(refused)).toBe(true);
    expect((refused as Error).message).toContain("maxEntries");
    // Keys that hold a row still answer.
    expect((await dedup.claim("b", { leaseMs: 1_000, fingerprint: "f" })).status).toBe("pending");
    if (a.status !== "claimed") throw new Error("a was not claimed");
    expect(await dedup.complete("a", a.token, { ok: true, payload }, { ttlMs: 500 })).toBe(true);
    expect((await dedup.claim("a", { leaseMs: 1_000, fingerprint: "f" })).status).toBe("done");
    // a's response expires: the claim of a new key deletes it and takes its place.
    now += 1_000;
    expect((await dedup.claim("d", { leaseMs: 1_000, fingerprint: "f" })).status).toBe("claimed");
    const again = await dedup.claim("e", { leaseMs: 1_000, fingerprint: "f" }).catch((e) => e);
    expect(isAssuredError(again, "LIMIT_EXCEEDED"), String(again)).toBe(true);
  });

  it("refuses maxEntries that is not a positive integer", () => {
    expect(() => stores.dedup("x", { maxEntries: 0 })).toThrow(/maxEntries/);
  });
});
