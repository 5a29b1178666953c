import { isAssuredError } from "@assured/core";
import Database from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import { SqliteDedupStore } from "../src/index.js";
import { useTempStores } from "./support/temp-database.js";

interface DedupRowInFile {
  dedup_key: string;
  fingerprint: string;
  state: string;
  token: string | null;
  expires_at: number;
  response_ok: number | null;
  response_payload: Buffer | null;
  owner: string | null;
  fence: number;
  lease_ms: number | null;
}

function rows(path: string): DedupRowInFile[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT * FROM assured_dedup ORDER BY dedup_key").all() as DedupRowInFile[];
  } finally {
    db.close();
  }
}

const lease = { leaseMs: 1_000, fingerprint: "fp-1" };
const code = (c: string) => (e: unknown) => isAssuredError(e) && e.code === c;

describe("SqliteDedupStore", () => {
  let now: number;
  const clock = () => now;
  const temp = useTempStores(
    (path, sweepIntervalMs?: number) =>
      new SqliteDedupStore({ path, clock, sweepIntervalMs: sweepIntervalMs ?? 0 }),
  );
  const open = temp.open;

  beforeEach(() => {
    now = 1_700_000_000_000;
  });

  it("G9: a claim writes a lease row with the holder's token and expiry", async () => {
    const store = open();
    const claim = await store.claim("user:1/m1", lease);
    expect(claim).toEqual({ status: "claimed", token: expect.any(String), fencingToken: now });
    expect(rows(temp.path)).toEqual([
      {
        dedup_key: "user:1/m1",
        fingerprint: "fp-1",
        state: "claimed",
        token: claim.status === "claimed" ? claim.token : "",
        expires_at: now + 1_000,
        response_ok: null,
        response_payload: null,
        owner: null,
        fence: now,
        lease_ms: 1_000,
      },
    ]);
  });

  it("G9: while leased, the same message is pending and a different one conflicts", async () => {
    const store = open();
    await store.claim("k", lease);
    now += 999;
    expect(await store.claim("k", lease)).toEqual({ status: "pending", leaseExpiresAt: now + 1 });
    expect(await store.claim("k", { ...lease, fingerprint: "fp-2" })).toEqual({
      status: "conflict",
    });
  });

  it("G9: complete stores the exact response bytes; later claims get done until the TTL passes", async () => {
    const store = open();
    const claim = await store.claim("k", lease);
    if (claim.status !== "claimed") throw new Error("expected a claim");
    const payload = new Uint8Array([0, 255, 1, 0]);
    expect(await store.complete("k", claim.token, { ok: false, payload }, { ttlMs: 5_000 })).toBe(
      true,
    );
    const [row] = rows(temp.path);
    expect(row).toMatchObject({
      state: "done",
      token: null,
      expires_at: now + 5_000,
      response_ok: 0,
    });
    expect([...row!.response_payload!]).toEqual([0, 255, 1, 0]);

    now += 4_999;
    const done = await store.claim("k", lease);
    expect(done).toEqual({ status: "done", response: { ok: false, payload } });
    expect(await store.claim("k", { ...lease, fingerprint: "other" })).toEqual({
      status: "conflict",
    });
    now += 1;
    expect(await store.claim("k", lease)).toMatchObject({ status: "claimed" });
  });

  it("G9: an expired lease can be claimed again; the old holder's token is then refused", async () => {
    const store = open();
    const first = await store.claim("k", lease);
    now += 1_000;
    const second = await store.claim("k", lease);
    expect(second).toMatchObject({ status: "claimed" });
    if (first.status !== "claimed" || second.status !== "claimed")
      throw new Error("expected claims");
    expect(second.token).not.toBe(first.token);
    const response = { ok: true, payload: new Uint8Array([1]) };
    expect(await store.complete("k", first.token, response, { ttlMs: 10 })).toBe(false);
    expect(await store.release("k", first.token)).toBe(false);
    expect(await store.complete("k", second.token, response, { ttlMs: 10 })).toBe(true);
    expect(await store.complete("k", second.token, response, { ttlMs: 10 })).toBe(false);
  });

  it("G9: release frees the key at once; a wrong token frees nothing", async () => {
    const store = open();
    const claim = await store.claim("k", lease);
    if (claim.status !== "claimed") throw new Error("expected a claim");
    expect(await store.release("k", "not-the-token")).toBe(false);
    expect(rows(temp.path)).toHaveLength(1);
    expect(await store.release("k", claim.token)).toBe(true);
    // The row stays, expired and held by no token, so the next claim continues its fencing.
    expect(rows(temp.path)).toMatchObject([
      { token: null, expires_at: 0, owner: null, fence: now },
    ]);
    expect(await store.claim("k", lease)).toMatchObject({
      status: "claimed",
      fencingToken: now + 1,
    });
  });

  it("G11: sweeping deletes expired leases and responses from the file and keeps live ones", async () => {
    const store = open();
    await store.claim("lease-expired", { ...lease, leaseMs: 10 });
    await store.claim("lease-live", { ...lease, leaseMs: 1_000 });
    const done = await store.claim("done-expired", lease);
    if (done.status !== "claimed") throw new Error("expected a claim");
    await store.complete(
      "done-expired",
      done.token,
      { ok: true, payload: new Uint8Array() },
      { ttlMs: 20 },
    );
    now += 100;
    expect(await store.sweepExpired()).toBe(2);
    expect(rows(temp.path).map((r) => r.dedup_key)).toEqual(["lease-live"]);
  });

  it("G11: sweeping works through more rows than one batch", async () => {
    const store = open();
    for (let i = 0; i < 2_100; i++) await store.claim(`k${i}`, { ...lease, leaseMs: 1 });
    now += 10;
    expect(await store.sweepExpired()).toBe(2_100);
    expect(rows(temp.path)).toHaveLength(0);
  });

  it("the sweep timer deletes expired rows on its own", async () => {
    const store = open(5);
    await store.claim("k", { ...lease, leaseMs: 1 });
    now += 10;
    const checker = new Database(temp.path, { readonly: true });
    const count = checker.prepare("SELECT count(*) FROM assured_dedup").pluck();
    await expect.poll(() => count.get(), { interval: 5, timeout: 5_000 }).toBe(0);
    checker.close();
  });

  it("restart: a new store on the same file sees earlier claims and responses", async () => {
    const first = open();
    const claim = await first.claim("k", lease);
    if (claim.status !== "claimed") throw new Error("expected a claim");
    await first.complete(
      "k",
      claim.token,
      { ok: true, payload: new Uint8Array([7]) },
      { ttlMs: 60_000 },
    );
    await first.close();
    const second = open();
    expect(await second.claim("k", lease)).toEqual({
      status: "done",
      response: { ok: true, payload: new Uint8Array([7]) },
    });
  });

  it("G9: exactly one of many concurrent claims across connections wins", async () => {
    const connections = Array.from({ length: 8 }, () => open());
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => connections[i % 8]!.claim("contested", lease)),
    );
    expect(results.filter((r) => r.status === "claimed")).toHaveLength(1);
    expect(results.filter((r) => r.status === "pending")).toHaveLength(39);
  });

  it("G12: bad arguments reject with INVALID_ARGUMENT; after close(), STORE_CLOSED", async () => {
    const store = open();
    const response = { ok: true, payload: new Uint8Array() };
    await expect(store.claim("", lease)).rejects.toSatisfy(code("INVALID_ARGUMENT"));
    await expect(store.claim("x".repeat(513), lease)).rejects.toSatisfy(code("INVALID_ARGUMENT"));
    await expect(store.claim("k", { leaseMs: 0, fingerprint: "f" })).rejects.toSatisfy(
      code("INVALID_ARGUMENT"),
    );
    await expect(store.claim("k", { leaseMs: 10, fingerprint: "" })).rejects.toSatisfy(
      code("INVALID_ARGUMENT"),
    );
    await expect(store.claim("k", null as never)).rejects.toSatisfy(code("INVALID_ARGUMENT"));
    await expect(
      store.complete("k", "t", { ok: "yes", payload: new Uint8Array() } as never, { ttlMs: 1 }),
    ).rejects.toSatisfy(code("INVALID_ARGUMENT"));
    await expect(store.complete("k", "t", response, { ttlMs: -1 })).rejects.toSatisfy(
      code("INVALID_ARGUMENT"),
    );
    await expect(store.release("k", 42 as never)).rejects.toSatisfy(code("INVALID_ARGUMENT"));
    expect(rows(temp.path)).toEqual([]);
    await store.close();
    await store.close();
    await expect(store.claim("k", lease)).rejects.toSatisfy(code("STORE_CLOSED"));
    await expect(store.complete("k", "t", response, { ttlMs: 1 })).rejects.toSatisfy(
      code("STORE_CLOSED"),
    );
    await expect(store.release("k", "t")).rejects.toSatisfy(code("STORE_CLOSED"));
    await expect(store.sweepExpired()).rejects.toSatisfy(code("STORE_CLOSED"));
  });
});
