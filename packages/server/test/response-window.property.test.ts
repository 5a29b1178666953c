import { decode, MemoryDedupStore } from "@assured/core";
import type { MessageReply } from "@assured/core/protocol";
import type { DedupStore } from "@assured/core/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assuredAuth, startAssured } from "./harness.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const payloadOf = (reply: MessageReply) => decode((reply as { payload: Uint8Array }).payload);

/**
 * The response window (`limits.maxUnstoredResponses`), searched: with random windows, handler
 * durations and store-write delays, one socket's handlers run in send order, never more than the
 * window of handled messages wait for their responses to be stored when a handler starts, every
 * reply leaves in send order with its handler's result, and every response is stored.
 */
describe("response window (maxUnstoredResponses), property", () => {
  it("G9/G10: handlers in order, at most the window unstored, replies in send order, every response stored", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 10 }),
        async (window, handlerDelays, writeDelays) => {
          const memory = new MemoryDedupStore();
          const handled = new Set<number>();
          const stored = new Set<number>();
          let writes = 0;
          const store: DedupStore = {
            capabilities: memory.capabilities,
            claim: (key, options) => memory.claim(key, options),
            complete: (key, token, response, options) =>
              memory.complete(key, token, response, options),
            release: (key, token) => memory.release(key, token),
            renew: (key, token, leaseMs) => memory.renew(key, token, leaseMs),
            claimMany: (requests) => memory.claimMany(requests),
            completeMany: async (requests) => {
              await sleep(writeDelays[writes++ % writeDelays.length]!);
              const results = await memory.completeMany(requests);
              for (const r of requests) stored.add(Number(/m(\d+)$/.exec(r.key)![1]));
              return results;
            },
            close: () => memory.close(),
          };
          const server = await startAssured({
            dedupStore: store,
            limits: { maxUnstoredResponses: window },
          });
          try {
            const ran: number[] = [];
            let mostUnstored = 0;
            server.assured.on("step", async (n: number) => {
              ran.push(n);
              mostUnstored = Math.max(
                mostUnstored,
                [...handled].filter((k) => !stored.has(k)).length,
              );
              const delay = handlerDelays[n % handlerDelays.length]!;
              if (delay > 0) await sleep(delay);
              handled.add(n);
              return n * 10;
            });
            const peer = await server.connect(assuredAuth());
            const count = handlerDelays.length;
            const replied: number[] = [];
            const replies = await Promise.all(
              Array.from({ length: count }, (_, n) =>
                peer.send("step", n, `m${n}`, n + 1).then((reply) => {
                  replied.push(n);
                  return reply;
                }),
              ),
            );
            const order = Array.from({ length: count }, (_, n) => n);
            expect(ran).toEqual(order);
            expect(replied).toEqual(order);
            expect(replies.map(payloadOf)).toEqual(order.map((n) => n * 10));
            expect(mostUnstored).toBeLessThan(window);
            for (const n of order) expect(stored.has(n), `response ${n} stored`).toBe(true);
          } finally {
            await server.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);
});
