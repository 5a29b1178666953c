import { decode, encode, MemoryEventStore } from "@assured/core";
import { FRAMES, unpackRecords, type WirePage } from "@assured/core/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { GatedStore } from "./gated-store.js";
import { assuredAuth, range, seed, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface FetchOk {
  ok: true;
  epoch: string;
  head: number;
  earliest: number;
  records: WirePage;
}

async function withEvents(count: number, limits = {}) {
  const store = new MemoryEventStore();
  await seed(store, "s", count);
  const { epoch } = await store.head("s");
  server = await startAssured({
    store,
    limits,
    authorize: (_socket, stream) => !stream.startsWith("secret"),
  });
  await seed(store, "secret", 3);
  return { store, epoch, peer: await server.connect(assuredAuth()) };
}

describe("G7: assured:fetch", () => {
  it("G7: fetches a missing range with its payloads", async () => {
    const { epoch, peer } = await withEvents(20);
    const reply = await peer.request<FetchOk>(FRAMES.fetch, {
      stream: "s",
      epoch,
      after: 4,
      limit: 6,
    });
    expect(reply).toMatchObject({ ok: true, epoch, head: 20, earliest: 1 });
    const records = unpackRecords("s", reply.records).records;
    expect(records.map((r) => r.offset)).toEqual(range(5, 10));
    expect(records.map((r) => decode(r.payload))).toEqual(range(5, 10));
  });

  it("G11: a limit above fetchLimit is lowered to it", async () => {
    const { epoch, peer } = await withEvents(50, { fetchLimit: 10 });
    const reply = await peer.request<FetchOk>(FRAMES.fetch, {
      stream: "s",
      epoch,
      after: 0,
      limit: 10_000,
    });
    expect(unpackRecords("s", reply.records).records).toHaveLength(10);
  });

  it("G11: a fetch reply carries at most maxBatchBytes of payloads (at least one record)", async () => {
    const { epoch, peer, store } = await withEvents(0, { maxBatchBytes: 250 });
    const payload = encode("x".repeat(95));
    await store.append(
      "s",
      range(1, 5).map(() => ({ name: "e", payload })),
    );
    const first = await peer.request<FetchOk>(FRAMES.fetch, {
      stream: "s",
      epoch,
      after: 0,
      limit: 5,
    });
    expect(first.records.count).toBe(2);
    const big = encode("y".repeat(400));
    await store.append("s", [{ name: "e", payload: big }]);
    const alone = await peer.request<FetchOk>(FRAMES.fetch, {
      stream: "s",
      epoch: first.epoch,
      after: 5,
      limit: 5,
    });
    expect(unpackRecords("s", alone.records).records.map((r) => r.offset)).toEqual([6]);
  });

  it("G7: a fetch in another epoch gets the current epoch and no records", async () => {
    const { epoch, peer } = await withEvents(5);
    const reply = await peer.request<FetchOk>(FRAMES.fetch, {
      stream: "s",
      epoch: "an-old-epoch",
      after: 2,
      limit: 10,
    });
    expect(reply).toMatchObject({ ok: true, epoch, head: 5, records: { count: 0 } });
  });

  it("G12: an unauthorized fetch is UNAUTHORIZED and returns no records", async () => {
    const { peer } = await withEvents(1);
    const reply = await peer.request(FRAMES.fetch, {
      stream: "secret",
      epoch: "",
      after: 0,
      limit: 10,
    });
    expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: "UNAUTHORIZED" }) });
  });

  it.each(["fetch", "subscribe"] as const)(
    "G12: a fetch authorized before a refusal of its stream (found by a %s) is not answered with records",
    async (refusedBy) => {
      // The read waits at a gate, as a slow store or a storm's pacing would hold it.
      const store = new GatedStore();
      await seed(store, "s", 5);
      const { epoch } = await store.head("s");
      let allowed = true;
      server = await startAssured({ store, authorize: () => allowed });
      const peer = await server.connect(assuredAuth());
      const open = store.closeGate();
      const fetch = { stream: "s", epoch, after: 0, limit: 5 };
      const pending = peer.request(FRAMES.fetch, fetch);
      await vi.waitFor(() => expect(store.entered).toBe(1));
      // Revoked: the next read or subscription of the stream finds it out.
      allowed = false;
      if (refusedBy === "fetch") {
        const refused = await peer.request(FRAMES.fetch, fetch);
        expect(refused).toMatchObject({ ok: false, error: { code: "UNAUTHORIZED" } });
      } else {
        peer.socket.emit(FRAMES.subscribe, { stream: "s", position: null, from: "earliest" });
        await peer.until(() => peer.frames(FRAMES.subscribeError).length === 1);
      }
      open();
      expect(await pending).toMatchObject({ ok: false, error: { code: "UNAUTHORIZED" } });
      expect(await pending).not.toHaveProperty("records");
    },
  );

  it("G12: bad fetch frames get typed errors in the ack", async () => {
    const { epoch, peer } = await withEvents(3);
    const cases: [unknown, string][] = [
      [{ stream: "s", epoch, after: -1, limit: 5 }, "INVALID_OFFSET"],
      [{ stream: "s", epoch, after: 1e300, limit: 5 }, "INVALID_OFFSET"],
      [{ stream: "s", epoch, after: 1.5, limit: 5 }, "INVALID_OFFSET"],
      [{ stream: "s", epoch, after: Number.NaN, limit: 5 }, "INVALID_OFFSET"],
      [{ stream: "s", epoch, after: "3", limit: 5 }, "INVALID_OFFSET"],
      [{ stream: "s", epoch: 42, after: 0, limit: 5 }, "INVALID_EPOCH"],
      [{ stream: "s", epoch: "e".repeat(129), after: 0, limit: 5 }, "INVALID_EPOCH"],
      [{ stream: "", epoch, after: 0, limit: 5 }, "INVALID_STREAM"],
      [{ stream: "s", epoch, after: 0, limit: 0 }, "INVALID_ARGUMENT"],
      [{ stream: "s", epoch, after: 0 }, "INVALID_ARGUMENT"],
      ["garbage", "BAD_FRAME"],
      [null, "BAD_FRAME"],
    ];
    for (const [frame, code] of cases) {
      const reply = await peer.request(FRAMES.fetch, frame);
      expect(reply, JSON.stringify(frame)).toEqual({
        ok: false,
        error: expect.objectContaining({ code }),
      });
    }
  });
});

describe("G7: assured:heads", () => {
  it("G7: returns epoch and head of each readable stream and leaves the others out", async () => {
    const { epoch, peer } = await withEvents(7);
    const reply = await peer.request(FRAMES.heads, { streams: ["s", "secret", "new", "s"] });
    expect(reply).toEqual({
      ok: true,
      heads: { s: { epoch, head: 7 }, new: { epoch: "", head: 0 } },
    });
  });

  it("G11/G12: too many or invalid streams get typed errors", async () => {
    const { peer } = await withEvents(1, { maxHeadsStreams: 2 });
    expect(await peer.request(FRAMES.heads, { streams: ["a", "b", "c"] })).toEqual({
      ok: false,
      error: expect.objectContaining({ code: "LIMIT_EXCEEDED" }),
    });
    expect(await peer.request(FRAMES.heads, { streams: [1] })).toEqual({
      ok: false,
      error: expect.objectContaining({ code: "INVALID_STREAM" }),
    });
    expect(await peer.request(FRAMES.heads, { streams: "s" })).toEqual({
      ok: false,
      error: expect.objectContaining({ code: "BAD_FRAME" }),
    });
  });

  it("a stream named __proto__ stays plain data in the reply", async () => {
    const { peer } = await withEvents(1);
    await server!.assured.publish("__proto__", "e", 1);
    const reply = await peer.request<{ heads: Record<string, unknown> }>(FRAMES.heads, {
      streams: ["__proto__"],
    });
    expect(Object.hasOwn(reply.heads, "__proto__")).toBe(true);
  });
});
