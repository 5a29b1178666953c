import type { EventRecord } from "@assured/core";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SqliteEventStore } from "../src/index.js";
import { spawnFixture } from "./support/child-process.js";
import { useTempStores } from "./support/temp-database.js";

const payload = new Uint8Array([1]);

/** A child process appending `count` events one by one; `crash` SIGKILLs it after the last. */
function spawnWriter(path: string, stream: string, count: number, then: "exit" | "crash") {
  return spawnFixture<{ offset: number; id: string }>("append-writer.ts", [
    path,
    stream,
    String(count),
    then,
  ]);
}

describe("several connections and processes on one file", () => {
  const temp = useTempStores((path) => new SqliteEventStore({ path }));
  const open = temp.open;

  it("offsets stay gapless and unique with appenders on several connections", async () => {
    const writers = Array.from({ length: 5 }, () => open());
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        writers[i % 5]!.append("shared", [
          { id: `m${i}`, name: "n", payload },
          { name: "n", payload },
        ]),
      ),
    );
    const offsets = results
      .flat()
      .map((r) => r.offset)
      .sort((a, b) => a - b);
    expect(offsets).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // Each connection's epoch view agrees: one epoch row, created once.
    expect(new Set(results.flat().map((r) => r.epoch)).size).toBe(1);
  });

  it("prefix visibility: a reader polling while another process and this one append never skips an offset", async () => {
    const count = 400;
    const reader = open();
    const writer = open();
    const child = spawnWriter(temp.path, "live", count, "exit");
    let childExit: Awaited<typeof child.exited> | undefined;
    void child.exited.then((exit) => {
      childExit = exit;
    });

    const seen: EventRecord[] = [];
    let cursor = 0;
    const appendOwn = (async () => {
      await Promise.race([child.started, child.exited]);
      for (let i = 0; i < count; i++) {
        await writer.append("live", [{ id: `parent-${i}`, name: "parent", payload }]);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    while (cursor < 2 * count) {
      const page = await reader.read("live", { after: cursor, limit: 50 });
      // Every page starts right after the cursor and is consecutive: no offset was skipped.
      page.records.forEach((record, i) => {
        expect(record.offset).toBe(cursor + 1 + i);
      });
      expect(page.head).toBeGreaterThanOrEqual(cursor + page.records.length);
      seen.push(...page.records);
      cursor += page.records.length;
      if (childExit !== undefined && childExit.code !== 0 && cursor < 2 * count) {
        throw new Error(
          `child writer failed: ${childExit.code} ${childExit.signal} ${childExit.stderr}`,
        );
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await appendOwn;
    expect(await child.exited).toMatchObject({ code: 0 });

    const ids = seen.map((r) => r.id);
    expect(new Set(ids).size).toBe(2 * count);
    for (let i = 0; i < count; i++) {
      expect(ids).toContain(`child-${i}`);
      expect(ids).toContain(`parent-${i}`);
    }
    // What the child saw resolve is what the file holds.
    for (const { offset, id } of child.lines) {
      expect(seen[offset - 1]!.id).toBe(id);
    }
  });

  it("durability: appends that resolved in a process killed with SIGKILL are in the file", async () => {
    const child = spawnWriter(temp.path, "crash", 40, "crash");
    const exit = await child.exited;
    // The writer runs under tsx, which reports its child's SIGKILL as exit code 128 + 9.
    expect(exit.signal === "SIGKILL" || exit.code === 137).toBe(true);
    expect(child.lines).toHaveLength(40);
    const db = new Database(temp.path, { readonly: true });
    try {
      const stored = db
        .prepare(
          "SELECT e.event_offset AS offset, e.event_id AS id FROM assured_events e " +
            "JOIN assured_streams s USING (stream_id) WHERE s.stream_name = 'crash' ORDER BY e.event_offset",
        )
        .all();
      expect(stored).toEqual(child.lines);
    } finally {
      db.close();
    }
    const reopened = open();
    expect(await reopened.head("crash")).toMatchObject({ head: 40, earliest: 1 });
  });
});
