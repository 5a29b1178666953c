import { type AssuredErrorData, decode, encode, MemoryDedupStore } from "@assured/core";
import { FRAMES, type MessageReply } from "@assured/core/protocol";
import { newId } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { expiryMarginMs, expiryWindowMs } from "../src/message-expiry.js";
import { assuredAuth, type Peer, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** dedupTtlMs 2000: margin 200 ms, so a message 1800 ms old or more is expired. */
const DEDUP_TTL_MS = 2_000;
const WINDOW_MS = 1_800;

/** A raw message frame with the optional `age` and `ttl` fields. */
function send(
  peer: Peer,
  id: string,
  data: unknown,
  fields: { seq?: number; age?: unknown; ttl?: unknown } = {},
): Promise<MessageReply> {
  const { seq = 1, ...rest } = fields;
  return peer.request<MessageReply>(FRAMES.message, {
    id,
    seq,
    name: "count",
    payload: encode(data),
    ...rest,
  });
}

const errorOf = (reply: MessageReply) => (reply as { error?: AssuredErrorData }).error;
const payloadOf = (reply: MessageReply) => decode((reply as { payload: Uint8Array }).payload);

/** A server whose dedup store runs on a clock the test moves, and a counting handler. */
async function startCounting(limits: Record<string, number> = {}) {
  let now = 1_000_000;
  const dedupStore = new MemoryDedupStore({ clock: () => now });
  const started = await startAssured({
    dedupStore,
    limits: { dedupTtlMs: DEDUP_TTL_MS, ...limits },
  });
  server = started;
  const runs: unknown[] = [];
  started.assured.on("count", async (data: unknown) => {
    runs.push(data);
    return { run: runs.length };
  });
  const peer = await started.connect(assuredAuth());
  return { peer, runs, advance: (ms: number) => (now += ms) };
}

describe("G9: messages expire, never re-run", () => {
  it("the margin is min(60 s, dedupTtlMs / 10)", () => {
    expect(expiryMarginMs(DEDUP_TTL_MS)).toBe(200);
    expect(expiryWindowMs(DEDUP_TTL_MS)).toBe(WINDOW_MS);
    expect(expiryMarginMs(24 * 60 * 60 * 1000)).toBe(60_000);
    expect(expiryWindowMs(1)).toBe(1);
  });

  it("G9: a message that ran, whose answer was lost, resent after the dedup window is EXPIRED and does not run again", async () => {
    const { peer, runs, advance } = await startCounting();
    expect(payloadOf(await send(peer, "m-1", "x", { age: 5 }))).toEqual({ run: 1 });
    // The answer is lost; the client resends long after: the store has forgotten the message.
    advance(DEDUP_TTL_MS + 1);
    const reply = await send(peer, "m-1", "x", { age: DEDUP_TTL_MS + 500 });
    expect(reply).toMatchObject({ id: "m-1", ok: false });
    expect(errorOf(reply)).toEqual({
      code: "EXPIRED",
      message: expect.stringContaining("older than the server's dedup window"),
      details: { age: expect.any(Number), windowMs: WINDOW_MS },
    });
    expect(errorOf(reply)?.message).toMatch(/run it twice.*send it as a new message/);
    expect(errorOf(reply)?.details?.age).toBeGreaterThanOrEqual(2_500);
    expect(runs).toEqual(["x"]);
  });

  it("G9: a resend of a message that ran gets its real answer while the store still holds it, however old it says it is", async () => {
    const { peer, runs } = await startCounting();
    const first = await send(peer, "m-1", "x", { age: 5 });
    const resent = await send(peer, "m-1", "x", { age: DEDUP_TTL_MS * 10 });
    expect(payloadOf(first)).toEqual({ run: 1 });
    expect(resent).toMatchObject({ id: "m-1", ok: true });
    expect(payloadOf(resent)).toEqual({ run: 1 });
    expect(runs).toEqual(["x"]);
  });

  it("G9: a fresh message older than the window is EXPIRED and its handler never runs; it leaves no dedup entry", async () => {
    // A quota of one entry: an entry left behind by the lookup would refuse the next message.
    const { peer, runs } = await startCounting({ maxDedupEntriesPerPrincipal: 1 });
    const atEdge = await send(peer, "old-1", "old", { age: WINDOW_MS });
    expect(errorOf(atEdge)).toMatchObject({ code: "EXPIRED", details: { windowMs: WINDOW_MS } });
    const huge = await send(peer, "old-2", "old", { age: Number.MAX_SAFE_INTEGER });
    expect(errorOf(huge)?.code).toBe("EXPIRED");
    expect(runs).toEqual([]);
    expect(payloadOf(await send(peer, "new-1", "new", { age: WINDOW_MS - 100 }))).toEqual({
      run: 1,
    });
    expect(runs).toEqual(["new"]);
  });

  it("G9: a message older than its own ttl is EXPIRED; younger than it, it runs", async () => {
    const { peer, runs } = await startCounting();
    const expired = await send(peer, newId(), "late", { age: 500, ttl: 400 });
    expect(errorOf(expired)).toMatchObject({
      code: "EXPIRED",
      message: expect.stringContaining("older than its own ttl (400 ms)"),
      details: { windowMs: 400, ttl: 400 },
    });
    expect(payloadOf(await send(peer, newId(), "in time", { age: 100, ttl: 60_000 }))).toEqual({
      run: 1,
    });
    expect(runs).toEqual(["in time"]);
  });

  it("G9: the time a message waited in the socket's queue counts towards its age", async () => {
    const started = await startAssured({ limits: { dedupTtlMs: DEDUP_TTL_MS } });
    server = started;
    const runs: string[] = [];
    started.assured.on("count", async (data: string) => {
      runs.push(data);
      if (data === "slow") await new Promise((resolve) => setTimeout(resolve, 150));
      return null;
    });
    const peer = await started.connect(assuredAuth());
    const [slow, queued] = await Promise.all([
      send(peer, newId(), "slow", { seq: 1, age: 0 }),
      send(peer, newId(), "queued", { seq: 2, age: WINDOW_MS - 50 }),
    ]);
    expect(slow).toMatchObject({ ok: true });
    expect(errorOf(queued)?.code).toBe("EXPIRED");
    expect(runs).toEqual(["slow"]);
  });

  it("G12: age and ttl must be non-negative integers (BAD_FRAME), and the server keeps serving", async () => {
    const { peer, runs } = await startCounting();
    const bad: Record<string, unknown>[] = [
      { age: -1 },
      { age: 1.5 },
      { age: "1" },
      { age: null },
      { age: Number.NaN },
      { age: 2 ** 60 },
      { ttl: -5 },
      { ttl: "10" },
      { age: 1, ttl: {} },
    ];
    for (const fields of bad) {
      const reply = await send(peer, newId(), "bad", fields);
      expect(errorOf(reply)?.code, JSON.stringify(fields)).toBe("BAD_FRAME");
    }
    expect(runs).toEqual([]);
    // Without age a message never expires (older clients).
    expect(payloadOf(await send(peer, newId(), "no age", { ttl: 0 }))).toEqual({ run: 1 });
  });
});
