import { FRAMES } from "@assured/core/protocol";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { GatedStore } from "./gated-store.js";
import { assuredAuth, seed, startAssured } from "./harness.js";

type Step = "revoke" | "grant" | "refused-fetch" | "refused-subscribe";

/**
 * G12 across a revocation: fetches allowed at their start wait in their read while `authorize`
 * changes its mind any number of times and the socket's reads or subscriptions are refused (how a
 * revocation is found). Model: a fetch is answered with records unless a refusal happened while
 * it waited and `authorize` refuses when its records would leave.
 */
describe("G12: reads across refusals (property)", () => {
  it("answers each waiting fetch as authorize would when its records leave, once a refusal happened", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.constantFrom<Step>("revoke", "grant", "refused-fetch", "refused-subscribe"), {
          maxLength: 6,
        }),
        fc.boolean(),
        async (waiting, steps, allowedAtSend) => {
          const store = new GatedStore();
          await seed(store, "s", 3);
          const { epoch } = await store.head("s");
          let allowed = true;
          const server = await startAssured({ store, authorize: () => allowed });
          try {
            const peer = await server.connect(assuredAuth());
            const open = store.closeGate();
            const fetch = { stream: "s", epoch, after: 0, limit: 3 };
            // Different limits: requests for the same page would share one read (SharedReads).
            const replies = Array.from({ length: waiting }, (_, i) =>
              peer.request<{ ok: boolean }>(FRAMES.fetch, { ...fetch, limit: 3 - i }),
            );
            await vi.waitFor(() => expect(store.entered).toBe(waiting));
            let refusals = 0;
            let subscribeRefusals = 0;
            for (const step of steps) {
              if (step === "revoke") allowed = false;
              else if (step === "grant") allowed = true;
              // A read or subscription while allowed would only wait at the gate: refusals only.
              else if (allowed) continue;
              else if (step === "refused-fetch") {
                expect(await peer.request(FRAMES.fetch, fetch)).toMatchObject({ ok: false });
                refusals++;
              } else {
                peer.socket.emit(FRAMES.subscribe, {
                  stream: "s",
                  position: null,
                  from: "earliest",
                });
                subscribeRefusals++;
                await peer.until(
                  () => peer.frames(FRAMES.subscribeError).length === subscribeRefusals,
                );
                refusals++;
              }
            }
            allowed = allowedAtSend;
            open();
            const expectOk = refusals === 0 || allowedAtSend;
            for (const reply of await Promise.all(replies)) {
              expect(reply.ok).toBe(expectOk);
              if (!expectOk) expect(reply).not.toHaveProperty("records");
            }
          } finally {
            await server.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
