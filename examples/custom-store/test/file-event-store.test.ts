import { appendFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { FileEventStore } from "../src/index.js";

const directories: string[] = [];
afterEach(async () => {
  for (const directory of directories.splice(0))
    await rm(directory, { recursive: true, force: true });
});

it("drops a line torn by a crash mid-append and continues gaplessly in the same epoch", async () => {
  const directory = await mkdtemp(join(tmpdir(), "assured-file-store-"));
  directories.push(directory);
  const store = new FileEventStore({ directory });
  const payload = new Uint8Array([1, 2]);
  const [first] = await store.append("room", [{ id: "a", name: "msg", payload }]);
  await store.close();
  // A crash while writing the second event leaves half a line behind; that append never resolved.
  const [file] = await readdir(directory);
  await appendFile(join(directory, file!), '{"offset":2,"id":"b","na');

  const restarted = new FileEventStore({ directory });
  expect(await restarted.head("room")).toEqual({ epoch: first!.epoch, head: 1, earliest: 1 });
  const [second] = await restarted.append("room", [{ id: "b", name: "msg", payload }]);
  expect(second).toMatchObject({ offset: 2, duplicate: false, epoch: first!.epoch });
  const page = await restarted.read("room", { after: 0, limit: 10 });
  expect(page.records.map((r) => [r.offset, r.id])).toEqual([
    [1, "a"],
    [2, "b"],
  ]);
  await restarted.close();
});
