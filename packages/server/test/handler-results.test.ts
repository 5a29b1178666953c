import { decode, MemoryDedupStore } from "@assured/core";
import type { DedupStore } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import type { ServerFailure } from "../src/index.js";
import { assuredAuth, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
const servers: Started[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** The memory store without its batch methods: claims and completes one at a time. */
function singlesOnly(memory: MemoryDedupStore): DedupStore {
  return {
    capabilities: memory.capabilities,
    claim: (key, options) => memory.claim(key, options),
    complete: (key, token, response, options) => memory.complete(key, token, response, options),
    release: (key, token) => memory.release(key, token),
    renew: (key, token, leaseMs) => memory.renew(key, token, leaseMs),
    close: () => memory.close(),
  };
}

/** What a handler may return, and the reply the client must get for it (stored, run once). */
const RESULTS: { title: string; make: () => unknown; ok: boolean; value?: unknown }[] = [
  { title: "a value", make: () => ({ n: 1 }), ok: true, value: { n: 1 } },
  { title: "a promise", make: () => Promise.resolve({ n: 2 }), ok: true, value: { n: 2 } },
  {
    title: "a thenable that is not a promise",
    // biome-ignore lint/suspicious/noThenProperty: a thenable is what this case returns.
    make: () => ({ then: (resolve: (v: unknown) => void) => resolve({ n: 3 }) }),
    ok: true,
    value: { n: 3 },
  },
  {
    title: "an object whose `then` cannot be read (a revoked Proxy)",
    make: () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    },
    ok: false,
  },
  { title: "a rejected promise", make: () => Promise.reject(new Error("no")), ok: false },
];

describe("what a handler returns is its answer, stored and run once", () => {
  for (const batches of [true, false]) {
    for (const result of RESULTS) {
      it(`${result.title} (${batches ? "store with batches" : "single claims"})`, async () => {
        const memory = new MemoryDedupStore();
        const failures: ServerFailure[] = [];
        const server = await startAssured({
          dedupStore: batches ? memory : singlesOnly(memory),
          onError: (failure) => failures.push(failure),
        });
        servers.push(server);
        let runs = 0;
        server.assured.on("job", () => {
          runs++;
          return result.make();
        });
        const peer = await server.connect(assuredAuth());
        const first = await peer.send("job", null, "m-1");
        const again = await peer.send("job", null, "m-1");
        expect(runs).toBe(1);
        expect(again).toEqual(first);
        if (result.ok) {
          expect(first).toMatchObject({ id: "m-1", ok: true });
          expect(decode((first as { payload: Uint8Array }).payload)).toEqual(result.value);
          expect(failures).toEqual([]);
        } else {
          // An application error: stored, final, reported as the handler's (not the server's).
          expect(first).toMatchObject({ id: "m-1", ok: false, stored: true });
          expect(failures.map((f) => f.kind)).toEqual(["handler"]);
        }
      });
    }
  }
});
