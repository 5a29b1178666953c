import { afterEach, describe, expect, it } from "vitest";
import { electSweeper, type LockDocument } from "../src/retention-sweep.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

const client = useClient();
const databases: string[] = [];

afterEach(async () => {
  for (const database of databases.splice(0)) await client().db(database).dropDatabase();
});

describe("sweep election", () => {
  it("elects exactly one sweeper per window among concurrent instances", async () => {
    const database = isolatedDatabase("elect");
    databases.push(database);
    const locks = client().db(database).collection<LockDocument>("assured_locks");
    // A window of a day: every call below falls in the same one.
    const day = 24 * 60 * 60 * 1_000;
    const elected = await Promise.all(
      Array.from({ length: 8 }, () => electSweeper(locks, "sweep-events", day)),
    );
    expect(elected.filter(Boolean)).toHaveLength(1);
    expect(await electSweeper(locks, "sweep-events", day)).toBe(false);
    // Another sweep kind has windows of its own.
    expect(await electSweeper(locks, "sweep-other", day)).toBe(true);
  });
});
