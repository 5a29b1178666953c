import { type AssuredErrorData, encode } from "@assured/core";
import {
  type FetchReply,
  FRAMES,
  packWireRecords,
  type SubscribeErrorFrame,
} from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../src/index.js";
import {
  fetchCost,
  fetchReplyCost,
  fetchReservation,
  headsCost,
  MAX_SHARED_BUCKETS,
  messageCost,
  RateLimiter,
  replayCost,
} from "../src/rate-limit.js";
import { assuredAuth, FETCHED, type Peer, range, seed, startAssured } from "./harness.js";

/**
 * The rate limit charges tokens per unit of work, not per frame (G11, DESIGN §8): the cost
 * table, the fetch reservation and its refund, the handshake and replay charges, and buckets
 * shared by the sockets of one principal. Socket tests refill at 1 token per second, so a test
 * that runs for a second earns at most a token or two: every expectation keeps a wider margin.
 */

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const KiB = 1024;
const streams = (count: number, prefix = "s") => range(1, count).map((n) => `${prefix}${n}`);

function headsCode(peer: Peer, names: string[]): Promise<string> {
  return peer
    .request<{ ok: boolean; error?: AssuredErrorData }>(FRAMES.heads, { streams: names })
    .then((reply) => (reply.ok ? "ok" : reply.error!.code));
}

describe("cost table (RATE_COSTS)", () => {
  it("G11: heads cost 1 token per 16 streams, at least 1", () => {
    expect([0, 1, 16, 17, 32, 100, 256].map(headsCost)).toEqual([1, 1, 1, 2, 2, 7, 16]);
  });

  it("G11: fetches cost 1 token per 32 records read plus 1 per 32 KiB sent, at least 1", () => {
    expect(fetchCost(0, 0)).toBe(1);
    expect(fetchCost(1, 100)).toBe(1);
    expect(fetchCost(32, 0)).toBe(1);
    expect(fetchCost(33, 0)).toBe(2);
    expect(fetchCost(1_000, 500 * 1_000)).toBe(Math.ceil(1_000 / 32 + 500_000 / (32 * KiB)));
    expect(fetchCost(0, 1024 * KiB)).toBe(32);
  });

  it("G11: a fetch reserves the records of its limit (its bytes are paid once sent)", () => {
    expect(fetchReservation(DEFAULT_LIMITS.fetchLimit)).toBe(32);
    expect(fetchReservation(500)).toBe(16); // the client's default limit
    expect(fetchReservation(1)).toBe(1);
  });

  it("G11: an answered fetch costs the records the store read, also those the reply left out", () => {
    const request = { stream: "s", epoch: "e1", after: 100, limit: 1_000 };
    const reply = (
      head: number,
      earliest: number,
      records: number,
      bytes: number,
      epoch = "e1",
    ): FetchReply => ({
      ok: true,
      epoch,
      head,
      earliest,
      // The payload bytes as the records announce them (all on the first record).
      records: packWireRecords(
        range(1, records).map((n) => [100 + n, `id${n}`, "e", n === 1 ? bytes : 0, 0]),
        new Uint8Array(bytes),
      ),
    });
    // All 1,000 records read; the reply carried 300 of them (maxBatchBytes).
    expect(fetchReplyCost(request, reply(5_000, 1, 300, 1024 * KiB))).toBe(64);
    // Only 20 records after `after`.
    expect(fetchReplyCost(request, reply(120, 1, 20, 20 * KiB))).toBe(2);
    // Trimmed: the store read from `earliest` on.
    expect(fetchReplyCost(request, reply(1_150, 1_101, 50, 0))).toBe(2);
    // Another epoch: records read, none sent.
    expect(fetchReplyCost(request, reply(400, 1, 0, 0, "e2"))).toBe(10);
    expect(
      fetchReplyCost(request, { ok: false, error: { code: "UNAUTHORIZED", message: "" } }),
    ).toBe(1);
  });

  it("G11: messages cost 3 tokens plus 1 per full 32 KiB; replays 1 per 32 records", () => {
    expect([0, 100, 32 * KiB - 1, 32 * KiB, 512 * KiB].map(messageCost)).toEqual([3, 3, 3, 4, 19]);
    expect([0, -5, 1, 32, 33, 10_000].map(replayCost)).toEqual([0, 0, 1, 1, 2, 313]);
  });
});

describe("RateLimiter", () => {
  it("G11: a frame costing more than a full bucket passes once the bucket is full, and owes the rest", () => {
    let now = 0;
    const limiter = new RateLimiter({ tokensPerSecond: 10, burstTokens: 20 }, { now: () => now });
    const bucket = limiter.bucket();
    expect(limiter.take(bucket, 64)).toBe(true);
    expect(bucket.tokens).toBe(-44);
    expect(limiter.take(bucket, 1)).toBe(false);
    expect(bucket.tokens).toBe(-44); // a refusal takes nothing
    now += 6_000;
    expect(limiter.take(bucket, 64)).toBe(false); // 16 tokens: not full
    expect(limiter.take(bucket, 16)).toBe(true);
    now += 2_000;
    expect(limiter.take(bucket, 64)).toBe(true);
  });

  it("G11: work sized only later (a replay) is admitted while the bucket is not empty, and paid in full", () => {
    let now = 0;
    const limiter = new RateLimiter({ tokensPerSecond: 10, burstTokens: 20 }, { now: () => now });
    const bucket = limiter.bucket();
    expect(limiter.charge(bucket, 15)).toBe(true);
    expect(limiter.charge(bucket, 313)).toBe(true); // 5 left: admitted, 308 owed
    expect(bucket.tokens).toBe(-308);
    expect(limiter.charge(bucket, 1)).toBe(false);
    expect(limiter.charge(bucket, 0)).toBe(true); // nothing to replay
    now += 30_900;
    expect(limiter.charge(bucket, 1)).toBe(true);
  });

  it("G11: settling a reservation gives back what was not used, and owes what was used beyond it", () => {
    let now = 0;
    const limiter = new RateLimiter({ tokensPerSecond: 1, burstTokens: 100 }, { now: () => now });
    const bucket = limiter.bucket();
    expect(limiter.take(bucket, 64)).toBe(true);
    limiter.settle(bucket, 64, 3);
    expect(bucket.tokens).toBe(97);
    expect(limiter.take(bucket, 50)).toBe(true);
    limiter.settle(bucket, 50, 90); // the reply's bytes: 40 more, owed
    expect(bucket.tokens).toBe(7);
    expect(limiter.take(bucket, 5)).toBe(true);
    limiter.settle(bucket, 5, 100); // 95 more than reserved: more than the bucket holds
    expect(bucket.tokens).toBe(-93);
    expect(limiter.take(bucket, 1)).toBe(false);
    now += 93_000;
    expect(limiter.take(bucket, 1)).toBe(false);
    now += 1_000;
    expect(limiter.take(bucket, 1)).toBe(true);
  });

  it("G11: the sockets of a principal share one bucket; what a socket spent before it was identified is owed to it", () => {
    let now = 0;
    const limiter = new RateLimiter({ tokensPerSecond: 1, burstTokens: 10 }, { now: () => now });
    const first = limiter.bucket();
    expect(limiter.take(first, 6)).toBe(true); // its handshake, before identify resolved
    const alice = limiter.shared("alice", first);
    expect(alice.tokens).toBe(4);
    const second = limiter.bucket();
    expect(limiter.shared("alice", second)).toBe(alice);
    expect(limiter.take(alice, 4)).toBe(true);
    expect(limiter.take(alice, 1)).toBe(false);
    expect(limiter.shared("bob", limiter.bucket()).tokens).toBe(10);
    now += 2_000;
    expect(limiter.take(alice, 2)).toBe(true);
  });

  it("G11: the map of shared buckets is bounded; refilled buckets go first, as they equal new ones", () => {
    let now = 0;
    const limiter = new RateLimiter(
      { tokensPerSecond: 1, burstTokens: 10 },
      { maxShared: 3, now: () => now },
    );
    const busy = limiter.shared("busy", limiter.bucket());
    limiter.take(busy, 10);
    for (const idle of ["a", "b", "c", "d", "e"]) {
      limiter.shared(idle, limiter.bucket());
      expect(limiter.sharedCount).toBeLessThanOrEqual(3);
    }
    // "busy" still owes its burst: it survived while full ones were dropped…
    expect(limiter.shared("busy", limiter.bucket())).toBe(busy);
    // …until the map is full of buckets still refilling: then the oldest goes.
    for (const spender of ["x", "y", "z"])
      limiter.take(limiter.shared(spender, limiter.bucket()), 10);
    expect(limiter.sharedCount).toBe(3);
    expect(limiter.shared("busy", limiter.bucket())).not.toBe(busy);
    now += 10_000; // every bucket refilled: the next new principal drops them all
    limiter.shared("new", limiter.bucket());
    expect(limiter.sharedCount).toBe(1);
    expect(MAX_SHARED_BUCKETS).toBeGreaterThanOrEqual(1_000);
  });
});

describe("G11: frames are charged for their work over real sockets", () => {
  it("G11: assured:heads costs 1 token per 16 streams; a refusal costs nothing", async () => {
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 40 } });
    const peer = await server.connect(assuredAuth());
    const many = streams(256);
    expect(await headsCode(peer, many)).toBe("ok"); // 16
    expect(await headsCode(peer, many)).toBe("ok"); // 16: 8 left
    expect(await headsCode(peer, many)).toBe("RATE_LIMITED");
    expect(await headsCode(peer, many)).toBe("RATE_LIMITED");
    // The refusals took nothing: 8 small checks still pass.
    for (let i = 0; i < 4; i++) expect(await headsCode(peer, streams(16))).toBe("ok");
    for (let i = 0; i < 2; i++) expect(await headsCode(peer, streams(32))).toBe("ok");
    expect(await headsCode(peer, streams(32))).toBe("RATE_LIMITED");
  });

  it("G11: assured:fetch reserves its limit, gives back what it did not read and pays for the bytes it sent", async () => {
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 70 } });
    await seed(server.store, "small", 10);
    await seed(server.store, "big", 2_000);
    const bigPayload = encode("x".repeat(60 * KiB));
    await server.store.append(
      "large",
      [1, 2, 3].map(() => ({ name: "e", payload: bigPayload })),
    );
    const fetch = async (stream: string, limit: number) => {
      const { epoch } = await server!.store.head(stream);
      return peer.request<FetchReply>(FRAMES.fetch, { stream, epoch, after: 0, limit });
    };
    const peer = await server.connect(assuredAuth());
    // Each reserves 32 and uses 1: twenty of them fit in a bucket of 70.
    for (let i = 0; i < 20; i++) {
      expect(await fetch("small", 1_000)).toMatchObject({ ok: true, head: 10 });
    }
    // 1,000 records read: 32 used, about 18 left.
    const page = await fetch("big", 1_000);
    expect(page.ok && page.records.count).toBe(1_000);
    expect(await fetch("big", 1_000)).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
    // Three records of 60 KiB: 1 reserved, 6 paid once sent; about 12 left.
    const large = await fetch("large", 3);
    expect(large.ok && large.records.count).toBe(3);
    expect(await fetch("big", 500)).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
    expect(await fetch("big", 320)).toMatchObject({ ok: true });
    expect(await fetch("big", 100)).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
  });

  it("G11: a handshake pays 1 token per subscription; those beyond the bucket get RATE_LIMITED naming the stream", async () => {
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 5 } });
    const wanted = streams(8);
    const peer = await server.connect(
      assuredAuth(wanted.map((stream) => ({ stream, position: null }))),
    );
    await peer.until(
      () => peer.frames(FRAMES.subscribed).length + peer.frames(FRAMES.subscribeError).length === 8,
    );
    expect(peer.frames<{ stream: string }>(FRAMES.subscribed).map((f) => f.stream)).toEqual(
      wanted.slice(0, 5),
    );
    expect(peer.frames<SubscribeErrorFrame>(FRAMES.subscribeError)).toEqual(
      wanted.slice(5).map((stream) => ({
        stream,
        error: expect.objectContaining({ code: "RATE_LIMITED" }),
      })),
    );
  });

  it("G11: a subscription the client asks for pays for its replay; one the server makes is free", async () => {
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 40 } });
    const big = ["big1", "big2", "big3"];
    for (const stream of [...big, "big4"]) await seed(server.store, stream, 1_000);
    // 3 for the subscriptions, then 32 per replay of 1,000 records: 37 → 5 → -27, and the
    // third replay finds the bucket in debt.
    const peer = await server.connect(
      assuredAuth(big.map((stream) => ({ stream, position: null, from: "earliest" }))),
    );
    await peer.until(
      () => peer.frames(FRAMES.subscribed).length + peer.frames(FRAMES.subscribeError).length === 3,
    );
    const subscribed = peer.frames<{ stream: string; start: number }>(FRAMES.subscribed);
    const refused = peer.frames<SubscribeErrorFrame>(FRAMES.subscribeError);
    expect(subscribed.map((f) => f.start)).toEqual([0, 0]);
    expect(refused).toEqual([
      {
        stream: expect.stringMatching(/^big/),
        error: expect.objectContaining({ code: "RATE_LIMITED" }),
      },
    ]);
    for (const { stream } of subscribed)
      await peer.until(() => peer.offsets(stream).length === 1_000);
    // Nothing of the refused one was sent.
    expect(peer.offsets(refused[0]!.stream)).toEqual([]);
    expect(await headsCode(peer, ["x"])).toBe("RATE_LIMITED");
    // The server's own subscriptions are not charged.
    const socket = server.io.sockets.sockets.get(peer.socket.id!)!;
    const outcome = await server.assured.subscribe(socket, "big4", { from: "earliest" });
    expect(outcome).toMatchObject({ recovered: true, start: 0, head: 1_000 });
    await peer.until(() => peer.offsets("big4").length === 1_000);
  });

  it("G11: a subscription's catch-up is pulled by fetches paid after their reply, like a replay; the debt bounds the next frames", async () => {
    // 1 token a second and a burst of 40: the old pacing (32 tokens reserved per page of 1,000
    // records before it is read) refuses the second page and allows one page per 32 s after.
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 40 } });
    await seed(server.store, "big", 8_000);
    await seed(server.store, "other", 1_000);
    const peer = await server.connect(
      assuredAuth([{ stream: "big", position: null, from: "earliest" }]),
    );
    const subscribed = await peer.next<{ epoch: string; head: number }>(FRAMES.subscribed);
    expect(subscribed.head).toBe(8_000);
    const { epoch } = subscribed;
    // Two pulls at once: only one is the catch-up's, the other is charged up front (refused).
    const [first, second] = await Promise.all([
      peer.request<FetchReply>(FRAMES.fetch, { stream: "big", epoch, after: 1_000, limit: 1_000 }),
      peer.request<FetchReply>(FRAMES.fetch, { stream: "big", epoch, after: 1_000, limit: 1_000 }),
    ]);
    expect([first.ok, second.ok].sort()).toEqual([false, true]);
    expect(first.ok ? second : first).toMatchObject({ error: { code: "RATE_LIMITED" } });
    peer.received.push({
      event: FETCHED,
      args: [{ ...(first.ok ? first : second), stream: "big" }],
    });
    // The whole range is pulled, every page admitted though the bucket is deep in debt.
    await peer.catchUp("big");
    expect(peer.offsets("big")).toEqual(range(1, 8_000));
    // About 250 tokens owed: every other read is charged up front, and refused…
    const fetch = (stream: string, after: number) =>
      peer.request<FetchReply>(FRAMES.fetch, { stream, epoch, after, limit: 10 });
    const refused = { ok: false, error: { code: "RATE_LIMITED" } };
    expect(await fetch("big", 0)).toMatchObject(refused); // a re-read of what was served
    expect(await fetch("big", 7_990)).toMatchObject(refused);
    const otherEpoch = (await server.store.head("other")).epoch;
    expect(
      await peer.request(FRAMES.fetch, { stream: "other", epoch: otherEpoch, after: 0, limit: 10 }),
    ).toMatchObject(refused); // a stream the socket is not subscribed to
    expect(await peer.request(FRAMES.history, { stream: "big", limit: 10 })).toMatchObject(refused);
    // …and so are the next frames: the catch-up was paid for.
    expect(await headsCode(peer, ["big"])).toBe("RATE_LIMITED");
    peer.socket.emit(FRAMES.subscribe, { stream: "other", position: null, from: "earliest" });
    expect(await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError)).toMatchObject({
      stream: "other",
      error: { code: "RATE_LIMITED" },
    });
  });

  it("G11: a message costs 3 tokens, plus 1 per full 32 KiB of payload", async () => {
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 10 } });
    server.assured.on("echo", (data) => data);
    const peer = await server.connect(assuredAuth());
    const codes: string[] = [];
    // 4 + 3 + 3 = 10 tokens: the fourth is refused.
    const payloads = [new Uint8Array(40 * KiB), "a", "b", "c"];
    for (const [seq, data] of payloads.entries()) {
      const reply = await peer.send("echo", data, `m${seq}`, seq + 1);
      codes.push(reply.ok ? "ok" : "error" in reply ? reply.error.code : "stored");
    }
    expect(codes).toEqual(["ok", "ok", "ok", "RATE_LIMITED"]);
  });

  it("G11: with identify, the sockets of one principal share one bucket, handshake included; other principals have their own", async () => {
    server = await startAssured({
      identify: (socket) => (socket.handshake.auth as { user: string }).user,
      limits: { tokensPerSecond: 1, burstTokens: 10 },
    });
    const first = await server.connect({
      user: "alice",
      ...assuredAuth(streams(6).map((stream) => ({ stream, position: null }))),
    });
    await first.until(() => first.frames(FRAMES.subscribed).length === 6);
    // Alice's second socket shares what is left of her bucket: about 4 tokens.
    const second = await server.connect({ user: "alice", ...assuredAuth() });
    const bob = await server.connect({ user: "bob", ...assuredAuth() });
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) codes.push(await headsCode(second, ["x"]));
    expect(codes.slice(0, 4)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(codes.slice(-1)).toEqual(["RATE_LIMITED"]);
    expect(await headsCode(first, ["x"])).toBe("RATE_LIMITED");
    for (let i = 0; i < 8; i++) expect(await headsCode(bob, ["x"])).toBe("ok");
  });

  it("G11: without identify each socket has its own bucket (client ids are chosen by clients)", async () => {
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 4 } });
    const clientId = "same-client";
    const one = await server.connect(assuredAuth([], clientId));
    const two = await server.connect(assuredAuth([], clientId));
    for (let i = 0; i < 4; i++) expect(await headsCode(one, ["x"])).toBe("ok");
    expect(await headsCode(one, ["x"])).toBe("RATE_LIMITED");
    for (let i = 0; i < 4; i++) expect(await headsCode(two, ["x"])).toBe("ok");
  });

  it("G11: the default limits never refuse a client with 256 subscriptions that checks its heads and fetches its gaps", async () => {
    server = await startAssured();
    const all = streams(256);
    for (const stream of all.slice(0, 32)) await seed(server.store, stream, 100);
    const peer = await server.connect(
      assuredAuth(all.map((stream) => ({ stream, position: { epoch: "x", offset: 0 } }))),
    );
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 256);
    expect(peer.frames(FRAMES.subscribeError)).toEqual([]);
    // A position check of every stream, and a gap fetch (the client's default limit, 500) on 16.
    expect(await headsCode(peer, all)).toBe("ok");
    const { epoch } = await server.store.head("s1");
    const replies = await Promise.all(
      all
        .slice(0, 16)
        .map((stream) =>
          peer.request<FetchReply>(FRAMES.fetch, { stream, epoch, after: 50, limit: 500 }),
        ),
    );
    expect(replies.every((r) => r.ok)).toBe(true);
    // And the client's default window of small messages (128).
    server.assured.on("echo", (data) => data);
    const sent = await Promise.all(range(1, 128).map((n) => peer.send("echo", n, `m${n}`, n)));
    expect(sent.every((r) => r.ok)).toBe(true);
  });
});
