import { describe, expect, it } from "vitest";
import { useStores } from "./fixture.js";

const stores = useStores();

/** Owner `id`'s figure (its upper bound on dedup rows), or null without a row. */
async function figureOf(schema: string, id: string): Promise<number | null> {
  const { rows } = await (await stores.admin()).query<{ entries: string }>(
    `SELECT entries FROM "${schema}".assured_dedup_owners WHERE owner = convert_to($1, 'UTF8')`,
    [id],
  );
  return rows.length === 0 ? null : Number(rows[0]!.entries);
}

/** How many dedup rows name `id` as owner, expired or not. */
async function rowsOf(schema: string, id: string): Promise<number> {
  const { rows } = await (await stores.admin()).query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".assured_dedup WHERE owner = convert_to($1, 'UTF8')`,
    [id],
  );
  return Number(rows[0]!.n);
}

describe("PostgresDedupStore owner figures (quotas without a count per claim)", () => {
  it("adds what an owner gains, subtracts nothing, and recounts exactly only at the quota", async () => {
    const schema = stores.schema("figures");
    let now = 1_000_000;
    const dedup = stores.dedup(schema, { clock: () => now });
    const owner = { id: "bob", maxEntries: 4 };
    const options = { leaseMs: 1_000, fingerprint: "f", owner };
    const claimed = await dedup.claimMany(["a", "b", "c"].map((key) => ({ key, options })));
    const tokens = claimed.map((r) => {
      if (r.status !== "fulfilled" || r.value.status !== "claimed") throw new Error("unclaimed");
      return r.value.token;
    });
    expect(await figureOf(schema, "bob")).toBe(3);
    // A release frees the row (its owner cleared): the figure stays, an upper bound.
    expect(await dedup.release("a", tokens[0]!)).toBe(true);
    expect(await figureOf(schema, "bob")).toBe(3);
    expect(await rowsOf(schema, "bob")).toBe(2);
    // Claiming the released key again (3 + 1 fits 4) takes its row over: the trigger on
    // `owner` adds one.
    const again = await dedup.claim("a", options);
    expect(again.status).toBe("claimed");
    expect(await figureOf(schema, "bob")).toBe(4);
    // Every lease ends; a new key does not fit the figure (4 + 1 > 4): the claim counts the
    // owner's rows — none unexpired, so it is let in — and the figure becomes all its rows (3,
    // expired ones included: a takeover of its own expired row fires no trigger), plus the new one.
    now += 2_000;
    expect((await dedup.claim("d", options)).status).toBe("claimed");
    expect(await rowsOf(schema, "bob")).toBe(4);
    expect(await figureOf(schema, "bob")).toBe(4);
    // Four more do not fit the figure (4 + 4 > 4): recounted (one unexpired row), three are let
    // in and the fourth refused, in order.
    const more = await dedup.claimMany(["e", "f", "g", "h"].map((key) => ({ key, options })));
    expect(more.map((r) => (r.status === "fulfilled" ? r.value.status : r.reason.code))).toEqual([
      "claimed",
      "claimed",
      "claimed",
      "QUOTA_EXCEEDED",
    ]);
    expect(await figureOf(schema, "bob")).toBe(7);
    await expect(dedup.claim("i", options)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    // One released ("e": its owner cleared), then an expired row of the owner taken over again
    // ("b"): recounted (three unexpired), let in; its owner unchanged, so no trigger fires, and
    // the figure (all six rows of the owner, expired "a", "b", "c" included) still covers it.
    const e = more[0]!;
    if (e.status !== "fulfilled" || e.value.status !== "claimed") throw new Error("unclaimed");
    expect(await dedup.release("e", e.value.token)).toBe(true);
    expect((await dedup.claim("b", options)).status).toBe("claimed");
    expect(await figureOf(schema, "bob")).toBe(6);
    await expect(dedup.claim("j", options)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    // Keys without an owner have no figure.
    await dedup.claim("free", { leaseMs: 1_000, fingerprint: "f" });
    const { rows } = await (await stores.admin()).query(
      `SELECT count(*)::int AS n FROM "${schema}".assured_dedup_owners`,
    );
    expect(rows[0].n).toBe(1);
  });

  it("a claim at the quota deletes nothing: a key's fencing tokens keep rising after a recount", async () => {
    const schema = stores.schema("fences");
    let now = 1_000_000;
    const dedup = stores.dedup(schema, { clock: () => now });
    const options = { leaseMs: 1, fingerprint: "f", owner: { id: "ann", maxEntries: 3 } };
    // Three claims of "k" in one millisecond (released in between): tokens above the clock's.
    let token = 0;
    for (let i = 0; i < 3; i++) {
      const claimed = await dedup.claim("k", options);
      if (claimed.status !== "claimed") throw new Error("expected a claim");
      expect(claimed.fencingToken).toBeGreaterThan(token);
      token = claimed.fencingToken;
      if (i < 2) expect(await dedup.release("k", claimed.token)).toBe(true);
    }
    expect(token).toBe(now + 2);
    // The lease ended a moment ago; two new keys do not fit the figure (3 + 2 > 3): a recount. Had it
    // deleted the expired row, the next claim of "k" would start again from the clock's token.
    now += 1.5;
    const two = await dedup.claimMany(["x", "y"].map((key) => ({ key, options })));
    expect(two.every((r) => r.status === "fulfilled" && r.value.status === "claimed")).toBe(true);
    // In the same millisecond: the clock's token is below the last one of "k".
    const again = await dedup.claimMany([{ key: "k", options }]);
    const first = again[0]!;
    if (first.status !== "fulfilled" || first.value.status !== "claimed") {
      throw new Error("expected a claim");
    }
    expect(first.value.fencingToken).toBeGreaterThan(token);
  });

  it("migrates a version 1 schema: the figures count the rows already there", async () => {
    const schema = stores.schema("migrate");
    const first = stores.dedup(schema);
    for (const [key, id] of [
      ["k1", "ann"],
      ["k2", "ann"],
      ["k3", "cy"],
    ] as const) {
      const claimed = await first.claim(key, {
        leaseMs: 60_000,
        fingerprint: "f",
        owner: { id, maxEntries: 10 },
      });
      expect(claimed.status).toBe("claimed");
    }
    await first.close();
    // Back to version 1, as an older release left the tables.
    const admin = await stores.admin();
    await admin.query(
      `DROP TRIGGER assured_dedup_owner_add ON "${schema}".assured_dedup; ` +
        `DROP TRIGGER assured_dedup_owner_take ON "${schema}".assured_dedup; ` +
        `DROP FUNCTION "${schema}".assured_dedup_owner_add(); ` +
        `DROP FUNCTION "${schema}".assured_dedup_owner_take(); ` +
        `DROP TABLE "${schema}".assured_dedup_owners; ` +
        `UPDATE "${schema}".assured_meta SET value = 1 WHERE key = 'schema_version'`,
    );
    const second = stores.dedup(schema);
    const claimed = await second.claim("k4", {
      leaseMs: 60_000,
      fingerprint: "f",
      owner: { id: "ann", maxEntries: 10 },
    });
    expect(claimed.status).toBe("claimed");
    expect(await figureOf(schema, "ann")).toBe(3);
    expect(await figureOf(schema, "cy")).toBe(1);
  });
});
