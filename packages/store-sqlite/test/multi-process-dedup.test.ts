import { afterEach, beforeEach, expect, it } from "vitest";
import { SqliteDedupStore } from "../src/index.js";
import { spawnFixture } from "./support/child-process.js";
import { type TempDatabase, tempDatabase } from "./support/temp-database.js";

type ClaimerLine = { ready: true } | { key: string; status: string };

let temp: TempDatabase;
beforeEach(() => {
  temp = tempDatabase();
});
afterEach(() => {
  temp.remove();
});

it("G9: across processes racing on the same keys, exactly one claim per key wins", async () => {
  const keys = 100;
  const parent = new SqliteDedupStore({ path: temp.path, sweepIntervalMs: 0 });
  const children = [0, 1].map(() =>
    spawnFixture<ClaimerLine>("dedup-claimer.ts", [temp.path, String(keys)]),
  );
  await Promise.all(children.map((child) => child.started));
  for (const child of children) child.process.stdin.write("go\n");

  const parentResults: ClaimerLine[] = [];
  for (let i = 0; i < keys; i++) {
    const result = await parent.claim(`k${i}`, { leaseMs: 60_000, fingerprint: "f" });
    parentResults.push({ key: `k${i}`, status: result.status });
    await new Promise((resolve) => setImmediate(resolve));
  }
  const exits = await Promise.all(children.map((child) => child.exited));
  for (const exit of exits) expect(exit).toMatchObject({ code: 0 });
  await parent.close();

  const all = [...parentResults, ...children.flatMap((child) => child.lines)].filter(
    (line): line is { key: string; status: string } => "key" in line,
  );
  expect(all).toHaveLength(3 * keys);
  for (let i = 0; i < keys; i++) {
    const statuses = all.filter((line) => line.key === `k${i}`).map((line) => line.status);
    expect(statuses.sort()).toEqual(["claimed", "pending", "pending"]);
  }
});
