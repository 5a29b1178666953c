import { join } from "node:path";
import { decode, encode } from "@assured/core";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createSqliteStores } from "../src/index.js";
import { type TempDatabase, tempDatabase } from "./support/temp-database.js";

let temp: TempDatabase;
beforeEach(() => {
  temp = tempDatabase();
});
afterEach(() => {
  temp.remove();
});

it("the README example runs as written", async () => {
  const path = join(temp.path, "..", "assured.sqlite");
  // --- as in README.md ---
  const { eventStore, dedupStore, close } = createSqliteStores({
    path,
    retention: { maxLength: 100_000, maxAgeMs: 7 * 24 * 3_600_000 },
  });
  const [result] = await eventStore.append("room:1", [
    { name: "msg", payload: encode({ text: "hi" }) },
  ]);
  const { records } = await eventStore.read("room:1", { after: 0, limit: 100 });
  // ---
  expect(result?.offset).toBe(1);
  expect(result?.epoch).not.toBe("");
  expect(decode(records[0]!.payload)).toEqual({ text: "hi" });
  expect(dedupStore.capabilities.persistent).toBe(true);
  await close();
});
