import {
  type AssuredErrorData,
  decode,
  encode,
  MemoryDedupStore,
  MemoryEventStore,
} from "@assured/core";
import { type MessageReply, unpackRecords, type WirePage } from "@assured/core/protocol";
import { newId } from "@assured/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawPeer } from "../src/raw-peer.js";
import { RecordingClient } from "../src/recording-client.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";
import { type StoreSnapshot, snapshotStreams } from "../src/store-snapshot.js";

const MAX_PAYLOAD = 64 * 1024;
const STORED_STREAMS = ["ledger", "secret:vault"];

type ErrorReply = { ok: false; error: AssuredErrorData };

const store = new MemoryEventStore();
const dedupStore = new MemoryDedupStore();
let server: RunningSocketServer;
let good: RecordingClient;
let bad: RawPeer;
let before: StoreSnapshot;
let epoch: string;
const peers: RawPeer[] = [];
let beat = 0;

/**
 * Another raw peer with Assured's handshake fields, or the given `auth.assured`, or (`null`)
 * no `auth` at all.
 */
function rawPeer(assured: unknown = { v: 2, clientId: newId(), subscriptions: [] }): RawPeer {
  const peer = new RawPeer(server.url, assured === null ? undefined : { assured });
  peers.push(peer);
  return peer;
}

/**
 * Proves the well-behaved client is still served: an event published now reaches its
 * handler, and a message it sends now is answered by the handler.
 */
async function heartbeat(): Promise<void> {
  const n = ++beat;
  await server.assured.publish("heartbeat", "e", { n });
  await good.reached("heartbeat", n, 5_000);
  expect(await good.client.emit("echo", { n })).toEqual({ n });
}

beforeAll(async () => {
  for (let i = 1; i <= 50; i++) await store.append("ledger", [{ name: "e", payload: encode(i) }]);
  await store.append("secret:vault", [{ name: "e", payload: encode("password") }]);
  epoch = (await store.head("ledger")).epoch;
  before = await snapshotStreams(store, STORED_STREAMS);
  server = await startSocketServer({
    store,
    dedupStore,
    authorize: (_socket, stream) => !stream.startsWith("secret:"),
    limits: { maxPayloadBytes: MAX_PAYLOAD, tokensPerSecond: 200, burstTokens: 300 },
  });
  server.assured.on("echo", (data) => data);
  good = new RecordingClient(server.url);
  good.client.subscribe("heartbeat", { from: "earliest" });
  await good.client.connect();
  bad = await rawPeer().connect();
  await heartbeat();
});

afterAll(async () => {
  for (const peer of peers) peer.close();
  await good?.close();
  await server?.close();
});

describe("bad input from one client leaves the server and other clients unaffected", () => {
  it("G12: unauthorized subscribe, handshake subscription, fetch and heads are refused with UNAUTHORIZED", async () => {
    const refused = await bad.sendExpecting<{ stream: string; error: AssuredErrorData }>(
      "assured:sub-error",
      "assured:sub",
      { stream: "secret:vault", position: null, from: "earliest" },
    );
    expect(refused.stream).toBe("secret:vault");
    expect(refused.error.code).toBe("UNAUTHORIZED");

    const fetched = await bad.request<ErrorReply>("assured:fetch", {
      stream: "secret:vault",
      epoch: "",
      after: 0,
      limit: 10,
    });
    expect(fetched).toMatchObject({ ok: false, error: { code: "UNAUTHORIZED" } });

    const heads = await bad.request<{ ok: true; heads: Record<string, unknown> }>("assured:heads", {
      streams: ["secret:vault", "ledger"],
    });
    expect(heads.ok).toBe(true);
    expect(Object.keys(heads.heads)).toEqual(["ledger"]);

    const viaHandshake = rawPeer({
      v: 2,
      clientId: newId(),
      subscriptions: [
        { stream: "secret:vault", position: null, from: "earliest" },
        { stream: "ledger", position: { epoch, offset: 45 } },
      ],
    });
    await viaHandshake.connect();
    const subError = await viaHandshake.changes.until(
      () => viaHandshake.frames("assured:sub-error")[0],
    );
    expect(subError).toMatchObject({ stream: "secret:vault", error: { code: "UNAUTHORIZED" } });
    // The authorized subscription of the same handshake is served: offsets 46–50.
    await viaHandshake.changes.until(() =>
      viaHandshake.frames("assured:subscribed").find((f) => f.stream === "ledger"),
    );
    await viaHandshake.roundTrip();
    // Protocol v2: the catch-up 46–50 travels as the subscribe reply's first page.
    expect(
      viaHandshake
        .frames<{ stream: string; records: WirePage }>("assured:subscribed")
        .filter((f) => f.stream === "ledger")
        .flatMap((f) => unpackRecords(f.stream, f.records).records.map((r) => r.offset)),
    ).toEqual([46, 47, 48, 49, 50]);
    const batches = [...bad.received, ...viaHandshake.received].filter(
      (f) =>
        (f.event === "assured:batch" || f.event === "assured:subscribed") &&
        (f.args[0] as { stream: string }).stream === "secret:vault",
    );
    expect(batches).toEqual([]);
    await heartbeat();
  });

  it("G12: garbage assured:sub frames (wrong types, missing fields, huge arrays) get BAD_FRAME or INVALID_STREAM", async () => {
    const asError = async (frame: unknown) =>
      (await bad.sendExpecting<AssuredErrorData>("assured:error", "assured:sub", frame)).code;
    const asSubError = async (frame: unknown) =>
      (
        await bad.sendExpecting<{ stream: string; error: AssuredErrorData }>(
          "assured:sub-error",
          "assured:sub",
          frame,
        )
      ).error.code;

    expect(await asError("ledger")).toBe("BAD_FRAME");
    expect(await asError(42)).toBe("BAD_FRAME");
    expect(await asError(null)).toBe("BAD_FRAME");
    expect(await asError([])).toBe("BAD_FRAME");
    expect(await asError(new Array(100_000).fill(0))).toBe("BAD_FRAME");
    expect(await asError({})).toBe("INVALID_STREAM");
    expect(await asError({ stream: 5 })).toBe("INVALID_STREAM");
    expect(await asError({ stream: { $gt: "" } })).toBe("INVALID_STREAM");
    expect(await asSubError({ stream: "" })).toBe("INVALID_STREAM");
    expect(await asSubError({ stream: "x".repeat(300) })).toBe("INVALID_STREAM");
    expect(await asSubError({ stream: "ledger", from: "middle" })).toBe("BAD_FRAME");
    expect(await asSubError({ stream: "ledger", position: "abc" })).toBe("BAD_FRAME");
    expect(
      (await bad.sendExpecting<AssuredErrorData>("assured:error", "assured:unsub", 7)).code,
    ).toBe("BAD_FRAME");
    await heartbeat();
  });

  it("G12: negative, fractional, NaN and huge offsets and foreign or malformed epochs in subscriptions", async () => {
    const subError = async (position: unknown) =>
      (
        await bad.sendExpecting<{ error: AssuredErrorData }>("assured:sub-error", "assured:sub", {
          stream: "ledger",
          position,
        })
      ).error.code;
    expect(await subError({ epoch, offset: -1 })).toBe("INVALID_OFFSET");
    expect(await subError({ epoch, offset: 1.5 })).toBe("INVALID_OFFSET");
    expect(await subError({ epoch, offset: Number.NaN })).toBe("INVALID_OFFSET");
    expect(await subError({ epoch, offset: 2 ** 60 })).toBe("INVALID_OFFSET");
    expect(await subError({ epoch, offset: "5" })).toBe("INVALID_OFFSET");
    expect(await subError({ epoch: 42, offset: 5 })).toBe("INVALID_EPOCH");
    expect(await subError({ epoch: "e".repeat(200), offset: 5 })).toBe("INVALID_EPOCH");

    // A foreign epoch, or an offset beyond the head, is never trusted: not recovered, and
    // nothing is replayed.
    const outcome = (position: unknown) =>
      bad.sendExpecting<Record<string, unknown>>("assured:subscribed", "assured:sub", {
        stream: "ledger",
        position,
      });
    expect(await outcome({ epoch: "someone-elses-epoch", offset: 3 })).toMatchObject({
      stream: "ledger",
      epoch,
      recovered: false,
      reason: "epoch",
      start: 50,
      head: 50,
    });
    expect(await outcome({ epoch, offset: 999 })).toMatchObject({
      recovered: false,
      reason: "epoch",
      start: 50,
    });
    await bad.roundTrip();
    expect(bad.frames("assured:batch")).toEqual([]);
    await heartbeat();
  });

  it("G12: bad fetch and heads requests get typed errors in their ack", async () => {
    const fetchCode = async (frame: unknown) =>
      (await bad.request<ErrorReply>("assured:fetch", frame)).error.code;
    const valid = { stream: "ledger", epoch, after: 0, limit: 10 };
    expect(await fetchCode({ ...valid, after: -1 })).toBe("INVALID_OFFSET");
    expect(await fetchCode({ ...valid, after: 1.5 })).toBe("INVALID_OFFSET");
    expect(await fetchCode({ ...valid, after: Number.NaN })).toBe("INVALID_OFFSET");
    expect(await fetchCode({ ...valid, after: 1e300 })).toBe("INVALID_OFFSET");
    expect(await fetchCode({ ...valid, epoch: 42 })).toBe("INVALID_EPOCH");
    expect(await fetchCode({ ...valid, epoch: "e".repeat(200) })).toBe("INVALID_EPOCH");
    expect(await fetchCode({ ...valid, stream: 7 })).toBe("INVALID_STREAM");
    expect(await fetchCode({ ...valid, limit: 0 })).toBe("INVALID_ARGUMENT");
    expect(await fetchCode({ ...valid, limit: "10" })).toBe("INVALID_ARGUMENT");
    expect(await fetchCode("ledger")).toBe("BAD_FRAME");
    expect(await fetchCode(null)).toBe("BAD_FRAME");

    // A foreign epoch gets the current one and no records; a huge limit is lowered.
    expect(
      await bad.request("assured:fetch", { ...valid, epoch: "someone-elses-epoch", after: 10 }),
    ).toMatchObject({ ok: true, epoch, head: 50, records: { count: 0 } });
    const lowered = await bad.request<{ ok: true; records: { count: number } }>("assured:fetch", {
      ...valid,
      limit: 1e9,
    });
    expect(lowered.ok).toBe(true);
    expect(lowered.records.count).toBe(50);

    const headsCode = async (frame: unknown) =>
      (await bad.request<ErrorReply>("assured:heads", frame)).error.code;
    expect(await headsCode({ streams: "ledger" })).toBe("BAD_FRAME");
    expect(await headsCode({ streams: [1, 2] })).toBe("INVALID_STREAM");
    expect(await headsCode({ streams: Array.from({ length: 300 }, (_, i) => `s${i}`) })).toBe(
      "LIMIT_EXCEEDED",
    );

    // Request frames sent without an ack are answered on assured:error.
    for (const event of ["assured:fetch", "assured:heads", "assured:msg"]) {
      expect((await bad.sendExpecting<AssuredErrorData>("assured:error", event, valid)).code).toBe(
        "BAD_FRAME",
      );
    }
    await heartbeat();
  });

  it("G9/G12: malformed, unknown, undecodable, oversized and conflicting messages get typed errors", async () => {
    const reply = (frame: unknown) => bad.request<MessageReply>("assured:msg", frame);
    const code = async (frame: unknown) => {
      const r = await reply(frame);
      expect(r.ok).toBe(false);
      return (r as ErrorReply).error.code;
    };
    const valid = { id: newId(), seq: 1, name: "echo", payload: encode({ v: 1 }) };
    expect(await code({ ...valid, payload: "hello" })).toBe("BAD_FRAME");
    expect(await code({ ...valid, payload: { 0: 1, length: 1 } })).toBe("BAD_FRAME");
    expect(await code({ ...valid, id: undefined })).toBe("INVALID_ARGUMENT");
    expect(await code({ ...valid, id: 12 })).toBe("INVALID_ARGUMENT");
    expect(await code({ ...valid, seq: -1 })).toBe("BAD_FRAME");
    expect(await code({ ...valid, seq: 1.5 })).toBe("BAD_FRAME");
    expect(await code({ ...valid, name: 42 })).toBe("INVALID_ARGUMENT");
    expect(await code({ ...valid, name: "no-such-handler" })).toBe("UNKNOWN_EVENT");
    expect(await code({ ...valid, payload: new Uint8Array([0xc1]) })).toBe("CODEC_ERROR");
    expect(await code({ ...valid, payload: new Uint8Array(MAX_PAYLOAD + 1) })).toBe(
      "PAYLOAD_TOO_LARGE",
    );
    expect(await code([valid])).toBe("BAD_FRAME");
    expect(await code("assured:msg")).toBe("BAD_FRAME");

    // The same id with another payload is refused; the first answer stays stored.
    expect(await reply(valid)).toMatchObject({ id: valid.id, ok: true });
    expect(await code({ ...valid, seq: 2, payload: encode({ v: 2 }) })).toBe(
      "IDEMPOTENCY_CONFLICT",
    );
    const again = await reply(valid);
    expect(again).toMatchObject({ id: valid.id, ok: true });
    expect(decode((again as { payload: Uint8Array }).payload)).toEqual({ v: 1 });

    // Without a client id (no handshake fields) and no identify hook there is no principal.
    const anonymous = await rawPeer(null).connect();
    expect(
      ((await anonymous.request<MessageReply>("assured:msg", valid)) as ErrorReply).error.code,
    ).toBe("BAD_FRAME");

    // The well-behaved client gets typed rejections too, and keeps working.
    await expect(good.client.emit("echo", { big: "x".repeat(MAX_PAYLOAD) })).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
    });
    await expect(good.client.emit("no-such-handler", 1)).rejects.toMatchObject({
      code: "UNKNOWN_EVENT",
    });
    await heartbeat();
  });

  it("G12: bad handshakes get typed errors and no subscriptions", async () => {
    const handshakeError = async (assured: unknown) => {
      const peer = await rawPeer(assured).connect();
      return peer.changes.until(() => peer.frames<AssuredErrorData>("assured:error")[0]);
    };
    // A protocol v1 client: the final PROTOCOL_VERSION, naming what to upgrade.
    const v1 = await handshakeError({ v: 1, clientId: newId(), subscriptions: [] });
    expect(v1).toMatchObject({ code: "PROTOCOL_VERSION", details: { version: 2, peerVersion: 1 } });
    expect(v1.message).toMatch(/upgrade @assured\/client/);
    expect((await handshakeError({ v: "2", clientId: newId(), subscriptions: [] })).code).toBe(
      "BAD_FRAME",
    );
    expect((await handshakeError("v1")).code).toBe("BAD_FRAME");
    expect((await handshakeError({ v: 2, clientId: 42, subscriptions: [] })).code).toBe(
      "INVALID_ARGUMENT",
    );
    expect((await handshakeError({ v: 2, clientId: newId(), subscriptions: "ledger" })).code).toBe(
      "BAD_FRAME",
    );
    const many = Array.from({ length: 300 }, (_, i) => ({ stream: `s${i}`, position: null }));
    expect((await handshakeError({ v: 2, clientId: newId(), subscriptions: many })).code).toBe(
      "LIMIT_EXCEEDED",
    );
    await heartbeat();
  });

  it("G11/G12: oversized publishes and bad stream names are refused before the store", async () => {
    await expect(
      server.assured.publish("ledger", "e", { big: "x".repeat(MAX_PAYLOAD) }),
    ).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    await expect(server.assured.publish("", "e", 1)).rejects.toMatchObject({
      code: "INVALID_STREAM",
    });
    await expect(server.assured.publish("s".repeat(300), "e", 1)).rejects.toMatchObject({
      code: "INVALID_STREAM",
    });
    await expect(server.assured.publish("ledger", "e", () => 1)).rejects.toMatchObject({
      code: "CODEC_ERROR",
    });
    await heartbeat();
  });

  it("G11: a packet beyond Socket.IO's maxHttpBufferSize closes only that connection", async () => {
    const peer = await rawPeer().connect();
    peer.socket.emit("assured:msg", {
      id: newId(),
      seq: 1,
      name: "echo",
      payload: new Uint8Array(2 * 1024 * 1024),
    });
    await peer.changes.until(() => !peer.socket.connected, {
      what: "the oversized peer to be cut",
    });
    await heartbeat();
    expect(bad.socket.connected).toBe(true);
  });

  it("G11: a flood of frames from one socket is rate limited while another client is served", async () => {
    const flooder = await rawPeer().connect();
    const started = Date.now();
    const floodReplies = Promise.all(
      Array.from({ length: 1_000 }, () =>
        flooder.request<{ ok: boolean; error?: AssuredErrorData }>("assured:heads", {
          streams: ["ledger"],
        }),
      ),
    );
    for (let i = 0; i < 400; i++) flooder.socket.emit("assured:sub", "garbage");
    await heartbeat();
    const replies = await floodReplies;
    const seconds = (Date.now() - started) / 1_000;
    const served = replies.filter((r) => r.ok).length;
    const limited = replies.filter((r) => !r.ok);
    // The bucket (300 tokens, 200 per second; a one-stream heads costs 1) bounds what the
    // flooder gets served.
    expect(served).toBeGreaterThan(0);
    expect(served).toBeLessThanOrEqual(300 + Math.ceil(200 * seconds));
    expect(limited.length).toBe(1_000 - served);
    expect(limited.every((r) => r.error?.code === "RATE_LIMITED")).toBe(true);
    await flooder.changes.until(() =>
      flooder.frames<AssuredErrorData>("assured:error").some((e) => e.code === "RATE_LIMITED"),
    );
    await heartbeat();
  });

  it("G12: after all of it the store holds exactly what it held before, and the bad peer is still served", async () => {
    expect(await snapshotStreams(store, STORED_STREAMS)).toEqual(before);
    expect(bad.socket.connected).toBe(true);
    const page = await bad.request<{ ok: true; records: WirePage; head: number }>("assured:fetch", {
      stream: "ledger",
      epoch,
      after: 0,
      limit: 100,
    });
    expect(page).toMatchObject({ ok: true, head: 50 });
    expect(page.records.count).toBe(50);
    expect(good.errors.map((e) => e.code)).toEqual([]);
    expect(good.offsets("heartbeat")).toEqual(Array.from({ length: beat }, (_, i) => i + 1));
  });
});
