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
    // Every lease ends; a new key does not fit the figure (4 + 1 > 4): the claim deletes the
    // owner's expired rows, counts the rest (none) and is let in.
    now += 2_000;
    expect((await dedup.claim("d", options)).status).toBe("claimed");
    expect(await rowsOf(schema, "bob")).toBe(1);
    expect(await figureOf(schema, "bob")).toBe(1);
    // Four more do not fit the figure (1 + 4 > 4): recounted (one unexpired row), three are
    // let in and the fourth refused, in order.
    const more = await dedup.claimMany(["e", "f", "g", "h"].map((key) => ({ key, options })));
    expect(more.map((r) => (r.status === "fulfilled" ? r.value.status : r.reason.code))).toEqual([
      "claimed",
      "claimed",
      "claimed",
      "QUOTA_EXCEEDED",
    ]);
    expect(await figureOf(schema, "bob")).toBe(4);
    await expect(dedup.claim("i", options)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    // Keys without an owner have no figure.
    await dedup.claim("free", { leaseMs: 1_000, fingerprint: "f" });
    const { rows } = await (await stores.admin()).query(
      `SELECT count(*)::int AS n FROM "${schema}".assured_dedup_owners`,
    );
    expect(rows[0].n).toBe(1);
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
