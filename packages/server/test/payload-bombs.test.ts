import { FRAMES, type MessageReply } from "@assured/core/protocol";
import { newId } from "@assured/core/store";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { assuredAuth, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** ~100 bytes of nested `array32` headers: decoded naively, they allocate gigabytes. */
const CRASH_PAYLOAD = Uint8Array.from(
  Array.from({ length: 20 }, () => [0xdd, 0x01, 0xff, 0xff, 0xff]).flat(),
);

/** Container headers (array/map/str/bin/ext, 16 and 32 bit) announcing huge sizes, nested. */
const bombPayload = fc
  .array(
    fc.tuple(
      fc.constantFrom(0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xc6, 0xc9),
      fc.integer({ min: 0x10000, max: 0xffffffff }),
    ),
    { minLength: 1, maxLength: 20 },
  )
  .map((headers) =>
    Uint8Array.from(
      headers.flatMap(([head, size]) => {
        const bytes = [size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff];
        if (head === 0xdc || head === 0xde) return [head, 0xff, 0xff];
        return head === 0xc9 ? [head, ...bytes, 0x12] : [head, ...bytes];
      }),
    ),
  );

describe("G11/G12: a payload cannot make the server allocate more than it carries", () => {
  it("answers the crash frame with CODEC_ERROR, runs no handler and keeps serving", async () => {
    let runs = 0;
    server = await startAssured();
    server.assured.on("echo", (data) => {
      runs++;
      return data;
    });
    const attacker = await server.connect(assuredAuth());
    const other = await server.connect(assuredAuth());
    const bombs = fc.sample(bombPayload, { numRuns: 300, seed: 9 });
    globalThis.gc?.();
    const before = process.memoryUsage();
    const started = performance.now();
    const replies = await Promise.all(
      [CRASH_PAYLOAD, ...bombs].map((payload, i) =>
        attacker.request<MessageReply>(FRAMES.message, {
          id: newId(),
          seq: i + 1,
          name: "echo",
          payload,
        }),
      ),
    );
    const elapsed = performance.now() - started;
    const after = process.memoryUsage();
    expect(new Set(replies.map((r) => ("error" in r ? r.error.code : "answered")))).toEqual(
      new Set(["CODEC_ERROR"]),
    );
    expect(runs).toBe(0);
    // 301 frames announcing ~10^11 elements in all: the server's memory barely moves.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(64 * 1024 * 1024);
    expect(after.rss - before.rss).toBeLessThan(128 * 1024 * 1024);
    expect(elapsed / replies.length).toBeLessThan(50);
    const reply = await other.send("echo", { text: "still here" });
    expect(reply).toMatchObject({ ok: true });
    expect(runs).toBe(1);
  });
});
