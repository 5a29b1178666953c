import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { EventStore } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { postgresUrl, useStores } from "./fixture.js";

const stores = useStores();
const payload = new Uint8Array([1]);

/**
 * A reader that follows the stream like a consumer: every page must start exactly at its
 * cursor + 1 (or it skipped an offset that was not visible yet) and be consecutive.
 */
async function follow(store: EventStore, stream: string, until: () => boolean): Promise<number> {
  let cursor = 0;
  let pages = 0;
  while (!until() || cursor < (await store.head(stream)).head) {
    const page = await store.read(stream, { after: cursor, limit: 1_000 });
    pages++;
    for (const record of page.records) {
      expect(record.offset, `a reader at ${cursor} got offset ${record.offset}`).toBe(cursor + 1);
      cursor = record.offset;
    }
    expect(cursor).toBeLessThanOrEqual(page.head);
  }
  return pages;
}

/** An appender process (`processes/appender.ts`): what it printed, and how to stop it. */
interface AppenderProcess {
  output: Promise<string>;
  kill(): void;
}

/** Runs `processes/appender.ts` in a process of its own; `output` is what it printed. */
function runAppenderProcess(args: string[]): AppenderProcess {
  const script = fileURLToPath(new URL("./processes/appender.ts", import.meta.url));
  const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
  const child = spawn(tsx, ["--conditions=@assured/source", script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = new Promise<string>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolve(stdout.trim())
        : reject(new Error(`appender exited ${code}: ${stdout}${stderr}`)),
    );
  });
  return { output, kill: () => child.kill("SIGKILL") };
}

describe("PostgresEventStore: concurrent appenders on several pools", () => {
  it("assigns gapless offsets and readers on other pools never see n + 1 before n", async () => {
    const schema = stores.schema("concurrent");
    // Four instances, each its own pool of connections (as four processes would have).
    const writers = Array.from({ length: 4 }, () => stores.events(schema));
    const readers = Array.from({ length: 3 }, () => stores.events(schema));
    await writers[0]!.append("s", [{ id: "warm", name: "e", payload }]);
    let done = false;
    const following = readers.map((reader) => follow(reader, "s", () => done));
    const appends: Promise<{ offset: number; id: string; duplicate: boolean }[]>[] = [];
    for (let round = 0; round < 20; round++) {
      for (const [w, writer] of writers.entries()) {
        for (let k = 0; k < 5; k++) {
          const id = `w${w}-r${round}-k${k}`;
          appends.push(
            writer.append("s", [
              { id: `${id}-a`, name: "e", payload },
              { id: `${id}-b`, name: "e", payload },
            ]),
          );
        }
      }
      // Let the groups of this round go out before the next round is issued.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const results = (await Promise.all(appends)).flat();
    done = true;
    const pages = await Promise.all(following);
    expect(pages.every((count) => count > 1)).toBe(true);

    const offsets = results.map((result) => result.offset).sort((a, b) => a - b);
    expect(offsets).toEqual(Array.from({ length: 800 }, (_, i) => i + 2));
    expect(results.every((result) => !result.duplicate)).toBe(true);
    // Each call's two entries are consecutive: a group commits whole calls.
    for (let i = 0; i < results.length; i += 2) {
      expect(results[i + 1]!.offset).toBe(results[i]!.offset + 1);
    }
    const all = await readers[0]!.read("s", { after: 0, limit: 10_000 });
    expect(all.head).toBe(801);
    expect(all.records.map((r) => r.offset)).toEqual(Array.from({ length: 801 }, (_, i) => i + 1));
    const byId = new Map(results.map((result) => [result.id, result.offset]));
    for (const record of all.records.slice(1)) expect(byId.get(record.id)).toBe(record.offset);
  });

  it("lets exactly one of many instances append an id racing on the same new stream", async () => {
    const schema = stores.schema("raceid");
    const instances = Array.from({ length: 5 }, () => stores.events(schema));
    const results = await Promise.all(
      instances.flatMap((store) =>
        Array.from({ length: 4 }, () =>
          store.append("fresh", [{ id: "once", name: "e", payload }]),
        ),
      ),
    );
    const flat = results.flat();
    expect(flat.filter((result) => !result.duplicate)).toHaveLength(1);
    expect(new Set(flat.map((result) => result.offset))).toEqual(new Set([1]));
    expect(new Set(flat.map((result) => result.epoch)).size).toBe(1);
    expect((await instances[0]!.head("fresh")).head).toBe(1);
  });

  it("prefix visibility across processes: two appender processes, appends and a follower in this one", async () => {
    const schema = stores.schema("processes");
    const [local, reader] = [stores.events(schema), stores.events(schema)];
    await local.append("p", [{ id: "warm", name: "e", payload }]); // the schema exists
    const batches = 100;
    let done = false;
    const following = follow(reader, "p", () => done);
    let childrenDone = 0;
    const children = ["child-a", "child-b"].map((label) =>
      runAppenderProcess([postgresUrl, schema, "p", label, String(batches)]),
    );
    const localOffsets: number[] = [];
    try {
      const ended = () => {
        childrenDone++;
      };
      for (const child of children) child.output.then(ended, ended);
      // This process appends for as long as the children do (and at least 20 batches).
      for (let b = 0; b < 20 || childrenDone < children.length; b++) {
        const results = await local.append("p", [
          { id: `local-${b}-0`, name: "event", payload },
          { id: `local-${b}-1`, name: "event", payload },
        ]);
        expect(results[1]!.offset).toBe(results[0]!.offset + 1);
        localOffsets.push(...results.map((r) => r.offset));
      }
      expect(await Promise.all(children.map((c) => c.output))).toEqual([
        `appended ${batches * 2}`,
        `appended ${batches * 2}`,
      ]);
    } finally {
      for (const child of children) child.kill();
    }
    done = true;
    expect(await following).toBeGreaterThan(1);
    const total = 1 + 2 * batches * 2 + localOffsets.length;
    const all = await reader.read("p", { after: 0, limit: 10_000 });
    expect(all.head).toBe(total);
    expect(all.records.map((r) => r.offset)).toEqual(
      Array.from({ length: total }, (_, i) => i + 1),
    );
    expect(new Set(all.records.map((r) => r.id)).size).toBe(total);
    // The processes' appends interleaved with this one's: the children's events are not one block.
    const childOffsets = all.records.filter((r) => r.id.startsWith("child-")).map((r) => r.offset);
    const first = Math.min(...childOffsets);
    const last = Math.max(...childOffsets);
    expect(localOffsets.some((o) => o > first && o < last)).toBe(true);
    const byId = new Map(all.records.map((r) => [r.id, r.offset]));
    expect(localOffsets).toEqual(
      localOffsets.map((_, i) => byId.get(`local-${Math.floor(i / 2)}-${i % 2}`)),
    );
    // Each call of the children got consecutive offsets too.
    for (const label of ["child-a", "child-b"]) {
      for (let b = 0; b < batches; b++) {
        expect(byId.get(`${label}-${b}-1`)).toBe(byId.get(`${label}-${b}-0`)! + 1);
      }
    }
  }, 60_000);
});
