import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createTestClock } from "@assured/conformance";
import { startCutProxy } from "@assured/test-services";
import { afterEach, describe, expect, it } from "vitest";
import { MongoDedupStore } from "../src/index.js";
import { isolatedDatabase, mongodbUrl, useClient } from "./mongo-fixture.js";

const client = useClient();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The package folder: the holder's working directory, so `--import tsx` resolves. */
const PACKAGE_DIR = fileURLToPath(new URL("../", import.meta.url));
const HOLDER = fileURLToPath(new URL("./processes/dedup-holder.ts", import.meta.url));

/** `processes/dedup-holder.ts` in a process of its own: its claim's token, and a real SIGKILL. */
function startHolder(args: string[]): { token: Promise<string>; kill(): Promise<void> } {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--conditions=@assured/source", "--import", "tsx", HOLDER, ...args],
    { cwd: PACKAGE_DIR, stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let output = "";
  const token = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^claimed (\S+)$/m.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(() => reject(new Error(`the holder exited before its claim:\n${output}`)));
  });
  token.catch(() => {});
  return {
    token,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Resolves once `condition` holds, checking every 20 ms for at most `timeoutMs`. */
async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("MongoDedupStore: a holder killed mid-transition", () => {
  it("G9 on FerretDB: a holder SIGKILLed in complete(), between its transition lock and its write, leaves the key to one claim after the lease", async (ctx) => {
    const info = await client().db("admin").command({ buildInfo: 1 });
    // On MongoDB a transition is one compare-and-set update: there is no lock to die holding.
    if (!("ferretdbVersion" in info)) ctx.skip();
    const database = isolatedDatabase("dedupcrash");
    cleanups.push(async () => {
      await client().db(database).dropDatabase();
    });
    // The holder's connection stops at the insert of its transition lock (`token:` in
    // `<prefix>locks`): that reaches the server, the write that would follow never does.
    const proxy = await startCutProxy(mongodbUrl, ["assured_locks", "token:"]);
    cleanups.push(() => proxy.close());
    const holder = startHolder([proxy.url, database, "key", "1000"]);
    cleanups.push(() => holder.kill());
    const token = await holder.token;
    await proxy.cut;
    const db = client().db(database);
    await until(
      async () => (await db.collection("assured_locks").countDocuments()) > 0,
      "the lock",
    );
    await holder.kill();
    const lease = await db.collection("assured_dedup").findOne({ _id: "key" as never });
    expect(lease).toMatchObject({ st: "lease", tok: token });

    // The last millisecond of the holder's lease, however long the steps above took.
    const clock = createTestClock((lease!.le as number) - 1);
    const stores = Array.from({ length: 3 }, () => {
      const store = new MongoDedupStore({ connection: client(), database, clock });
      cleanups.push(() => store.close());
      return store;
    });
    const options = { leaseMs: 1_000, fingerprint: "fp" };
    // While the lease runs, the dead holder still holds the key.
    expect((await stores[0]!.claim("key", options)).status).toBe("pending");
    // A minute later the lease (and the transition its holder began) is long over: exactly one
    // of the concurrent claims takes the key over, instead of all of them failing for an hour.
    clock.advance(60_000);
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, n) => stores[n % 3]!.claim("key", options)),
    );
    expect(claims.map((c) => c.status).sort()).toEqual([
      "claimed",
      "pending",
      "pending",
      "pending",
      "pending",
      "pending",
    ]);
    const won = claims.find((c) => c.status === "claimed");
    const response = { ok: true, payload: new Uint8Array([2]) };
    const stored = await stores[1]!.complete(
      "key",
      won?.status === "claimed" ? won.token : "",
      response,
      { ttlMs: 60_000 },
    );
    expect(stored).toBe(true);
    const after = await stores[2]!.claim("key", options);
    expect(after.status === "done" && [...after.response.payload]).toEqual([2]);
  });
});
